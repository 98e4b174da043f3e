import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Agent } from 'undici';
import { probeDirectory } from '../../src/acme/directory-probe.js';
import type { DirectoryVerdict } from '../../src/acme/directory-verdict.js';
import type { CertificateAuthority } from '../../src/acme/issuer.js';
import { AcmeConfigError } from '../../src/acme/issuer.js';
import { registerAccountUntilReady } from '../../src/daemon/account-registration.js';
import { ManualClock } from '../support/manual-clock.js';
import { memoryLogger } from '../support/memory-logger.js';
import { freePort } from '../support/ports.js';

describe('probeDirectory against a local server', () => {
  let server: Server;
  let base = '';
  const agent = new Agent();
  const hanging: Array<() => void> = [];

  before(async () => {
    server = createServer((req, res) => {
      const path = req.url ?? '/';
      if (path === '/dir') {
        const dir = { newNonce: `${base}/nonce`, newAccount: `${base}/acct`, newOrder: `${base}/order` };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(dir));
      } else if (path === '/moved') {
        res.writeHead(301, { location: '/dir' }).end();
      } else if (path === '/loop') {
        res.writeHead(302, { location: '/loop' }).end();
      } else if (path === '/page') {
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html><head><title>Our company</title></head></html>');
      } else if (path === '/huge') {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end(`<html><head><title>Big</title></head>${'<p>x</p>'.repeat(200_000)}</html>`);
      } else if (path === '/hang') {
        hanging.push(() => res.destroy());
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    for (const h of hanging) h();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await agent.close();
  });

  const reasonOf = (v: DirectoryVerdict): string => (v.kind === 'valid' ? '' : v.reason);
  const check = (path: string, timeoutMs = 5_000): Promise<DirectoryVerdict> => probeDirectory(`${base}${path}`, { dispatcher: agent, timeoutMs });

  it('finds a directory, also behind a redirect', async () => {
    assert.deepEqual(await check('/dir'), { kind: 'valid' });
    assert.deepEqual(await check('/moved'), { kind: 'valid' });
  });

  it('calls an HTML page permanent, reading only the start of a huge one', async () => {
    const page = await check('/page');
    assert.equal(page.kind, 'permanent');
    assert.match(reasonOf(page), /an HTML page titled "Our company"/);
    const huge = await check('/huge');
    assert.match(reasonOf(huge), /an HTML page titled "Big"/);
  });

  it('calls a 404 and a redirect loop permanent', async () => {
    assert.equal((await check('/nothing')).kind, 'permanent');
    const loop = await check('/loop');
    assert.match(reasonOf(loop), /redirected too often/);
  });

  it('calls a timeout and a refused connection transient, and reports the time taken either way', async () => {
    const durations: number[] = [];
    const slow = await probeDirectory(`${base}/hang`, { dispatcher: agent, timeoutMs: 200, onDuration: (s) => durations.push(s) });
    assert.deepEqual(slow, { kind: 'transient', reason: `GET ${base}/hang: no answer within 200 ms (--acme-timeout)` });
    const closed = await probeDirectory(`http://127.0.0.1:${await freePort()}/dir`, { dispatcher: agent, timeoutMs: 2_000, onDuration: (s) => durations.push(s) });
    assert.equal(closed.kind, 'transient');
    assert.match(reasonOf(closed), /ECONNREFUSED/);
    assert.equal(durations.length, 2);
    assert.ok((durations[0] ?? 0) >= 0.15, `the timeout took ${durations[0]} s`);
  });

  it('knows the v1 host without sending anything', async () => {
    let connects = 0;
    const counting = new Agent({
      connect: (_options, callback) => {
        connects++;
        callback(new Error('no connection expected'), null);
      },
    });
    const verdict = await probeDirectory('https://acme-v01.api.letsencrypt.org/directory', { dispatcher: counting, timeoutMs: 1_000 });
    await counting.close();
    assert.equal(verdict.kind, 'permanent');
    assert.equal(connects, 0);
  });
});

/** A CA whose registration is scripted; counts the attempts. */
function fakeCa(results: Array<Error | undefined>): CertificateAuthority & { attempts: number } {
  return {
    directoryUrl: 'https://ca.example.test/directory',
    attempts: 0,
    ensureAccount() {
      const result = results[this.attempts++];
      return result === undefined ? Promise.resolve() : Promise.reject(result);
    },
    issue: () => Promise.reject(new Error('not used')),
    renewalInfoUrl: () => Promise.resolve(undefined),
  };
}

function register(ca: CertificateAuthority, verdicts: DirectoryVerdict[] | undefined) {
  const clock = new ManualClock();
  const { logger, lines } = memoryLogger();
  const stop = new AbortController();
  const seen = { errors: [] as string[], ready: 0, fatal: [] as Error[], checks: 0 };
  const done = registerAccountUntilReady({
    ca,
    checkDirectory: verdicts === undefined ? undefined : () => {
      const verdict = verdicts[Math.min(seen.checks++, verdicts.length - 1)];
      return Promise.resolve(verdict ?? { kind: 'valid' });
    },
    clock,
    logger,
    random: () => 0.5,
    signal: stop.signal,
    onError: (message) => seen.errors.push(message),
    onReady: () => { seen.ready++; },
    onFatal: (err) => seen.fatal.push(err),
  });
  return { clock, lines, stop, seen, done };
}

describe('registerAccountUntilReady with a directory check', () => {
  it('stops at once on a permanent verdict, without registering, with a fatal log line', async () => {
    const ca = fakeCa([]);
    const { seen, lines, done } = register(ca, [{ kind: 'permanent', reason: '--acme x: this is an ACME v1 directory' }]);
    await done;
    assert.equal(ca.attempts, 0);
    assert.deepEqual(seen.fatal.map((e) => e.message), ['--acme x: this is an ACME v1 directory']);
    assert.equal(seen.ready, 0);
    const fatal = lines.filter((l) => l.level === 'fatal');
    assert.deepEqual(fatal.map((l) => [l.msg, l['err']]), [['the --acme URL is not an ACME v2 directory; stopping', '--acme x: this is an ACME v1 directory']]);
  });

  it('retries a transient verdict with backoff, then registers once the directory is valid, checking it no more', async () => {
    const ca = fakeCa([new Error('newAccount failed'), undefined]);
    const { clock, seen, done } = register(ca, [{ kind: 'transient', reason: 'GET x answered 503' }, { kind: 'valid' }]);
    await clock.advance(0);
    assert.deepEqual(seen.errors, ['GET x answered 503']);
    assert.equal(ca.attempts, 0, 'no registration while the directory is not there');
    await clock.advance(5 * 60_000);
    assert.equal(seen.checks, 2);
    assert.equal(ca.attempts, 1, 'registered right after the valid verdict');
    assert.deepEqual(seen.errors, ['GET x answered 503', 'newAccount failed']);
    await clock.advance(5 * 60_000);
    await done;
    assert.equal(seen.checks, 2, 'a valid directory is not checked again');
    assert.equal(ca.attempts, 2);
    assert.equal(seen.ready, 1);
  });

  it('without a check (a stand-in CA) registers as before, and a configuration the CA lacks is fatal', async () => {
    const ca = fakeCa([new AcmeConfigError('--acme-profile x: the CA offers only y')]);
    const { seen, done } = register(ca, undefined);
    await done;
    assert.equal(ca.attempts, 1);
    assert.deepEqual(seen.fatal.map((e) => e.message), ['--acme-profile x: the CA offers only y']);
  });
});
