/**
 * The marathon-lb stand-in against Debian's real HAProxy: what it serves, how it reloads, and the
 * marathon-lb quirks it reproduces. If it drifts from marathon-lb, the delivery tests built on it
 * prove nothing.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CertStore } from '../../src/certs/store.js';
import { cleanupStack } from '../support/cleanup.js';
import { eventually } from '../support/eventually.js';
import { startMarathonLb, type MarathonLb, type MarathonLbOptions } from '../support/marathon-lb.js';

const exec = promisify(execFile);
const NAME = 'app.example.test';

interface Reply {
  status: number;
  body: string;
}

/** One request on a fresh connection; rejects on connection errors (refused, reset). */
function send(url: string, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** SHA-256 fingerprint of the leaf HAProxy presents for `servername` (undefined: no SNI). */
function servedFingerprint(port: number, servername?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(servername === undefined ? {} : { servername }) }, () => {
      const fingerprint = socket.getPeerX509Certificate()?.fingerprint256;
      socket.destroy();
      if (fingerprint === undefined) reject(new Error('no peer certificate'));
      else resolve(fingerprint);
    });
    socket.on('error', reject);
  });
}

function fingerprintOf(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

async function refused(url: string): Promise<boolean> {
  try {
    await send(url);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ECONNREFUSED';
  }
}

/** A self-signed bundle made by openssl (key first, as the daemon writes them). */
async function selfSigned(dir: string, name: string): Promise<string> {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  await exec('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`]);
  return (await readFile(key, 'utf8')) + (await readFile(cert, 'utf8'));
}

interface Setup {
  store: CertStore;
  defaultFingerprint: string;
  bundle: string;
  start(options?: Partial<MarathonLbOptions>): Promise<MarathonLb>;
}

async function setup(t: Parameters<typeof cleanupStack>[0]): Promise<Setup> {
  const defer = cleanupStack(t);
  const dir = await mkdtemp(join(tmpdir(), 'ma-mlb-test-'));
  defer(() => rm(dir, { recursive: true, force: true }));
  const store = new CertStore(dir);
  await store.init(new Date());
  const defaultFingerprint = fingerprintOf(await readFile(join(dir, 'default.pem'), 'utf8'));
  const bundle = await selfSigned(dir, NAME);
  return {
    store,
    defaultFingerprint,
    bundle,
    start: async (options = {}) => {
      // Nothing listens on acmePort: these tests look at TLS and the control listener only.
      const lb = await startMarathonLb({ storageDir: dir, acmePort: 9, ...options });
      defer(() => lb.stop());
      return lb;
    },
  };
}

/** Waits out the start-up window in which a signal kills marathon-lb (not an assertion on time). */
async function pastStartup(lb: MarathonLb, windowMs = 500): Promise<void> {
  const left = lb.startedAt + windowMs + 50 - Date.now();
  if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
}

async function getPids(lb: MarathonLb): Promise<number[]> {
  const reply = await send(`${lb.url}/_haproxy_getpids`);
  assert.equal(reply.status, 200);
  return reply.body.split(' ').filter((p) => p !== '').map(Number);
}

describe('marathon-lb stand-in (real HAProxy)', () => {
  it('serves a certificate written into certs/ only after a USR1 reload, and the pids show the reload', async (t) => {
    const s = await setup(t);
    const lb = await s.start();
    const health = await send(`${lb.url}/_haproxy_health_check`);
    assert.equal(health.status, 200);
    assert.match(health.body, /Service ready/);
    assert.equal(await servedFingerprint(lb.httpsPort, NAME), s.defaultFingerprint);

    await s.store.write(NAME, s.bundle);
    assert.equal(await servedFingerprint(lb.httpsPort, NAME), s.defaultFingerprint, 'HAProxy reads certs/ only when it starts');
    const before = await getPids(lb);
    assert.equal(before.length, 1);

    await pastStartup(lb);
    const reply = await send(`${lb.url}/_mlb_signal/usr1`, 'POST');
    assert.deepEqual(reply, { status: 200, body: 'Sent SIGUSR1 signal to marathon-lb' });
    assert.equal(lb.reloads, 0, 'marathon-lb answers before it has reloaded');
    await lb.idle();
    assert.equal(lb.reloads, 1);
    assert.equal(lb.usr1Reloads, 1);
    assert.equal(await servedFingerprint(lb.httpsPort, NAME), fingerprintOf(s.bundle));
    assert.equal(await servedFingerprint(lb.httpsPort), s.defaultFingerprint, 'no SNI still gets default.pem');

    const after = await getPids(lb);
    assert.ok(after.some((pid) => !before.includes(pid)), `a new HAProxy process after the reload: ${before.join(' ')} -> ${after.join(' ')}`);
    await eventually('the old HAProxy process to finish draining', async () => !(await getPids(lb)).some((pid) => before.includes(pid)));
  });

  it("makes the first file in certs/ the default certificate with the original's crt order", async (t) => {
    const s = await setup(t);
    await s.store.write(NAME, s.bundle);
    const recommended = await s.start();
    const original = await s.start({ certOrder: 'certs-first' });
    assert.equal(await servedFingerprint(recommended.httpsPort, 'unknown.example.test'), s.defaultFingerprint);
    assert.equal(await servedFingerprint(original.httpsPort, 'unknown.example.test'), fingerprintOf(s.bundle));
    assert.equal(await servedFingerprint(original.httpsPort), fingerprintOf(s.bundle), 'clients without SNI too');
  });

  it('answers 200 to a USR1 during a Marathon-event reload but drops it, so a certificate written meanwhile is not served', async (t) => {
    const s = await setup(t);
    const lb = await s.start();
    await pastStartup(lb);
    const eventReload = lb.reloadForMarathonEvent();
    // Its new HAProxy has read certs/ and taken over; marathon-lb is still in its reload (settling).
    await eventually('the event reload to replace HAProxy', () => lb.reloads === 1);
    assert.equal(lb.reloading, true);
    await s.store.write(NAME, s.bundle);
    const reply = await send(`${lb.url}/_mlb_signal/usr1`, 'POST');
    assert.equal(reply.status, 200);
    await eventReload;
    assert.equal(lb.swallowed, 1);
    assert.equal(lb.usr1, 1);
    assert.equal(lb.reloads, 1, 'only the event reload ran');
    assert.equal(lb.usr1Reloads, 0);
    assert.equal(await servedFingerprint(lb.httpsPort, NAME), s.defaultFingerprint, 'the new HAProxy had already read certs/');

    await send(`${lb.url}/_mlb_signal/usr1`, 'POST');
    await lb.idle();
    assert.equal(lb.usr1Reloads, 1, 'a USR1 sent again once the reload is over is not lost');
    assert.equal(await servedFingerprint(lb.httpsPort, NAME), fingerprintOf(s.bundle));
  });

  it('dies from a USR1 in its start-up window and stays down until restarted', async (t) => {
    const s = await setup(t);
    const lb = await s.start({ startupWindowMs: 60_000 });
    const reply = await send(`${lb.url}/_mlb_signal/usr1`, 'POST');
    assert.equal(reply.status, 200, 'the signal was delivered; it is marathon-lb that dies of it');
    await eventually('the control listener to go away', () => refused(`${lb.url}/_haproxy_health_check`));
    assert.equal(lb.killed, true);
    await eventually('HAProxy to go down with it', async () => lb.pids().length === 0 && (await refused(lb.httpUrl)));
    assert.equal(lb.reloads, 0);

    await lb.restart();
    assert.equal(lb.killed, false);
    assert.equal((await send(`${lb.url}/_haproxy_health_check`)).status, 200);
    assert.equal(await servedFingerprint(lb.httpsPort, NAME), s.defaultFingerprint);
  });

  it('survives a USR1 after its start-up window', async (t) => {
    const s = await setup(t);
    const lb = await s.start({ startupWindowMs: 200 });
    await pastStartup(lb, 200);
    assert.equal((await send(`${lb.url}/_mlb_signal/usr1`, 'POST')).status, 200);
    await lb.idle();
    assert.equal(lb.killed, false);
    assert.equal(lb.reloads, 1);
  });

  it('with a broken reload acknowledges USR1 and keeps serving what it had', async (t) => {
    const s = await setup(t);
    const lb = await s.start({ brokenReload: true, startupWindowMs: 0 });
    const pids = lb.pids();
    await s.store.write(NAME, s.bundle);
    assert.equal((await send(`${lb.url}/_mlb_signal/usr1`, 'POST')).status, 200);
    await lb.idle();
    assert.equal(lb.ignored, 1);
    assert.equal(lb.reloads, 0);
    assert.deepEqual(await getPids(lb), pids, 'no new HAProxy process');
    assert.equal(await servedFingerprint(lb.httpsPort, NAME), s.defaultFingerprint);

    lb.setBrokenReload(false);
    await send(`${lb.url}/_mlb_signal/usr1`, 'POST');
    await lb.idle();
    assert.equal(await servedFingerprint(lb.httpsPort, NAME), fingerprintOf(s.bundle));
  });
});
