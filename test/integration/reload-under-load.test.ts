/**
 * HTTP-01 answers from the daemon's real HTTP server, through a real HAProxy that the marathon-lb
 * stand-in reloads while the answers are being fetched. marathon-lb reloads when an app is added,
 * which is when that app's names are ordered, so a validation that fails during a reload costs a
 * backoff and counts against the CA's failed-validation limit.
 *
 * Requests open a new connection each, as the CA's validators do. Connection errors (resets while the
 * old HAProxy hands its listeners over; marathon-lb 1.15 hides them with a SYN-dropping firewall rule
 * the stand-in cannot set) are the LB's and are reported, not asserted; every HTTP answer must be
 * the key authorization.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { ChallengeResponder } from '../../src/acme/challenges.js';
import { CertStore } from '../../src/certs/store.js';
import { closeServer, createHttpServer, listen } from '../../src/http/server.js';
import { silentLogger } from '../../src/log.js';
import { cleanupStack } from '../support/cleanup.js';
import { startMarathonLb, type MarathonLb, type MarathonLbOptions } from '../support/marathon-lb.js';

const TOKEN = 'reload-token_0123456789';
const KEY_AUTHORIZATION = `${TOKEN}.thumbprint-of-the-account-key`;
const HOST = 'app.example.test';

interface Tally {
  sent: number;
  /** HTTP answers by status; `200 wrong body` when a 200 did not carry the key authorization. */
  answers: Record<string, number>;
  /** Requests that got no HTTP answer, by error code. */
  errors: Record<string, number>;
}

function count(into: Record<string, number>, key: string): void {
  into[key] = (into[key] ?? 0) + 1;
}

/** One challenge GET on a new connection, as pebble and Let's Encrypt send them. */
function fetchChallenge(port: number, tally: Tally): Promise<void> {
  tally.sent++;
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path: `/.well-known/acme-challenge/${TOKEN}`, headers: { Host: HOST }, agent: false, timeout: 15_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          count(tally.answers, res.statusCode === 200 && body !== KEY_AUTHORIZATION ? '200 wrong body' : String(res.statusCode));
          resolve();
        });
        res.on('error', (err: NodeJS.ErrnoException) => {
          count(tally.errors, err.code ?? err.message);
          resolve();
        });
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'TIMEOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => {
      count(tally.errors, err.code ?? err.message);
      resolve();
    });
    req.end();
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    setTimeout(resolve, ms);
  });
}

interface Rig {
  daemon: Server;
  lb: MarathonLb;
}

async function rig(t: TestContext, lbOptions: Partial<MarathonLbOptions> = {}): Promise<Rig> {
  const defer = cleanupStack(t);
  const responder = new ChallengeResponder();
  responder.add(TOKEN, KEY_AUTHORIZATION);
  const daemon = createHttpServer({ responder, health: () => ({ healthy: true, problems: [], details: {} }), logger: silentLogger() });
  const address: AddressInfo = await listen(daemon, '127.0.0.1', 0);
  defer(() => closeServer(daemon));
  const dir = await mkdtemp(join(tmpdir(), 'ma-reload-load-'));
  defer(() => rm(dir, { recursive: true, force: true }));
  await new CertStore(dir).init(new Date());
  const lb = await startMarathonLb({ storageDir: dir, acmePort: address.port, startupWindowMs: 0, ...lbOptions });
  defer(() => lb.stop());
  return { daemon, lb };
}

function report(t: TestContext, what: string, tally: Tally, lb: MarathonLb): void {
  const terminations: Record<string, number> = {};
  for (const logged of lb.requests()) count(terminations, `${logged.status} ${logged.termination}`);
  t.diagnostic(`${what}: ${tally.sent} requests, ${lb.usr1Reloads} reloads; answers ${JSON.stringify(tally.answers)}; no answer ${JSON.stringify(tally.errors)}; HAProxy logged ${JSON.stringify(terminations)}`);
}

function assertOnlyKeyAuthorizations(tally: Tally, lb: MarathonLb): void {
  const { '200': ok = 0, ...others } = tally.answers;
  assert.deepEqual(others, {}, 'every HTTP answer through the reloads is the key authorization');
  const serverFailures = lb.requests().filter((r) => r.status >= 500 || r.termination.startsWith('S'));
  assert.deepEqual(serverFailures, [], 'HAProxy logged no request that failed on the server side');
  // Not a performance bound: it only shows the load really went through HAProxy.
  assert.ok(ok >= tally.sent * 0.9, `most requests were answered (${ok} of ${tally.sent})`);
}

describe('challenge answers while marathon-lb reloads HAProxy', () => {
  it('closes the connection after challenge answers, and only after those', async (t) => {
    const { daemon } = await rig(t);
    const { port } = daemon.address() as AddressInfo;
    const connectionHeader = (path: string) =>
      new Promise<string | undefined>((resolve, reject) => {
        // Asks for keep-alive, as HAProxy does when it keeps server connections.
        request({ host: '127.0.0.1', port, path, agent: false, headers: { Connection: 'keep-alive' } }, (res) => {
          res.resume();
          res.socket.destroy();
          resolve(res.headers.connection);
        })
          .on('error', reject)
          .end();
      });
    assert.equal(await connectionHeader(`/.well-known/acme-challenge/${TOKEN}`), 'close');
    assert.equal(await connectionHeader('/.well-known/acme-challenge/ping'), 'close');
    assert.equal(await connectionHeader('/.well-known/acme-challenge/unknown-token'), 'close');
    assert.equal(await connectionHeader('/health'), 'keep-alive');
  });

  it("answers every challenge through reloads with marathon-lb's own config (one server connection per request)", async (t) => {
    const { lb } = await rig(t, { reloadSettleMs: 200 });
    const tally: Tally = { sent: 0, answers: {}, errors: {} };
    let reloading = true;
    const reloads = (async () => {
      for (let i = 0; i < 5; i++) {
        await sleep(150);
        await fetchSignal(lb);
        await lb.idle();
      }
      reloading = false;
    })();
    // At least 2,000 requests, and on until the five reloads are over; never more than 20,000.
    const load = Array.from({ length: 8 }, async () => {
      while ((reloading || tally.sent < 2_000) && tally.sent < 20_000) await fetchChallenge(lb.httpPort, tally);
    });
    await Promise.all([reloads, ...load]);
    report(t, 'http-server-close', tally, lb);
    assert.equal(lb.usr1Reloads, 5);
    assertOnlyKeyAuthorizations(tally, lb);
  });

  it('answers every challenge through reloads when HAProxy keeps and reuses idle server connections', async (t) => {
    const { daemon, lb } = await rig(t, { serverReuse: 'always', reloadSettleMs: 200 });
    // Node closes a keep-alive connection about 1 s plus keepAliveTimeout after its last answer. The
    // daemon's 5 s makes the race with HAProxy's reuse rare per request (hours of traffic); 1 ms puts
    // it at the ~1 s pauses below, so the rounds land on it within seconds. Answers that close their
    // connection never leave one idle, whatever this timeout is.
    daemon.keepAliveTimeout = 1;
    const tally: Tally = { sent: 0, answers: {}, errors: {} };
    const signals: Promise<void>[] = [];
    for (let round = 0; round < 12; round++) {
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          for (let i = 0; i < 2; i++) await fetchChallenge(lb.httpPort, tally);
        }),
      );
      if (round % 3 === 1) signals.push(fetchSignal(lb));
      // Pauses sweep 950-1049 ms, across the moment Node's timer fires on the idle connections.
      await sleep(950 + ((round * 37) % 100));
    }
    await Promise.all(signals);
    await lb.idle();
    report(t, 'http-reuse always', tally, lb);
    assert.ok(lb.usr1Reloads >= 3, `reloads during the rounds: ${lb.usr1Reloads}`);
    assertOnlyKeyAuthorizations(tally, lb);
  });
});

/** POST /_mlb_signal/usr1 as the daemon does; the stand-in answers 200 whatever it does next. */
function fetchSignal(lb: MarathonLb): Promise<void> {
  return new Promise((resolve, reject) => {
    request(`${lb.url}/_mlb_signal/usr1`, { method: 'POST', agent: false }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) resolve();
        else reject(new Error(`USR1 answered ${res.statusCode}`));
      });
    })
      .on('error', reject)
      .end();
  });
}
