/**
 * The CA misbehaving: rejected nonces, 5xx answers, no connection at all, requests never answered, a
 * validation that fails for real. The daemon must keep serving, back off instead of looping, and
 * issue every certificate once the CA works again. The CA is Debian's pebble behind the counting,
 * fault-injecting proxy; Marathon is the emulator.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { request } from 'undici';
import type { Config } from '../../src/config.js';
import { Daemon } from '../../src/daemon.js';
import { OffsetClock } from '../../src/util/clock.js';
import { AcmeProxy, type CaMode } from '../support/acme-proxy.js';
import { hostApp } from '../support/apps.js';
import { cleanupStack } from '../support/cleanup.js';
import { testConfig } from '../support/config.js';
import { eventually } from '../support/eventually.js';
import { faultCase } from '../support/fault-report.js';
import { startLbReceiver } from '../support/lb-receiver.js';
import { MarathonEmulator } from '../support/marathon-emulator.js';
import { memoryLogger } from '../support/memory-logger.js';
import { pebbleTls, startPebble, type PebbleOptions } from '../support/pebble.js';
import { freePort } from '../support/ports.js';

interface StoredFailure {
  failures: number;
  lastError: { type: string | null; detail: string; status: number | null };
  nextAttemptAt: string;
  lastFailureAt: string;
}

interface StoredState {
  certificates: Record<string, { failure?: StoredFailure }>;
}

const ACCOUNT_RETRY = 'ACME account is not ready; retrying after a pause';

/** The wait a failure record imposes, as state.json stores it. */
function backoffMs(failure: StoredFailure): number {
  return Date.parse(failure.nextAttemptAt) - Date.parse(failure.lastFailureAt);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function domain(i: number): string {
  return `fault${i}.example.test`;
}

function app(i: number): object {
  return hostApp(`/f${i}`, { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: domain(i) });
}

interface RunOptions {
  /** Apps (fault0.example.test, ...) Marathon has when the daemon starts. */
  apps: number;
  pebble?: Omit<PebbleOptions, 'httpPort'>;
  /** The CA's state when the daemon starts. */
  mode?: CaMode;
  clock?: OffsetClock;
  overrides?: Partial<Config>;
  /**
   * Where pebble's validator knocks: the daemon (by default), or a server of its own that answers 404
   * to every token, so that validation really fails at the CA.
   */
  validator?: 'daemon' | 'wrong-answer';
}

async function run(t: TestContext, options: RunOptions) {
  const defer = cleanupStack(t);
  const httpPort = await freePort();
  let validations = 0;
  if (options.validator === 'wrong-answer') {
    const wrong = createServer((_req, res) => {
      validations++;
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not the token\n');
    });
    await new Promise<void>((resolve) => wrong.listen(httpPort, '127.0.0.1', resolve));
    defer(
      () =>
        new Promise<void>((resolve) => {
          wrong.close(() => {
            resolve();
          });
          wrong.closeAllConnections();
        }),
    );
  }
  const pebble = await startPebble({ httpPort, ...options.pebble });
  defer(() => pebble.stop());
  const proxy = await AcmeProxy.start({ upstream: pebble.directoryUrl, caPem: (await pebbleTls()).caPem });
  defer(() => proxy.stop());
  if (options.mode !== undefined) proxy.setMode(options.mode);
  const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
  defer(() => marathon.stop());
  for (let i = 0; i < options.apps; i++) marathon.addApp(app(i));
  const lb = await startLbReceiver();
  defer(() => lb.stop());
  const storage = await mkdtemp(join(tmpdir(), 'ma-cafault-'));
  defer(() => rm(storage, { recursive: true, force: true }));
  const config = testConfig({
    storageDir: storage,
    acmeDirectoryUrl: proxy.directoryUrl,
    marathonUrls: [marathon.url],
    lbUrls: [lb.url],
    listen: { host: '127.0.0.1', port: options.validator === 'wrong-answer' ? await freePort() : httpPort },
    acmeCaFile: pebble.caFile,
    keyType: 'ecdsa-p256',
    ...options.overrides,
  });
  const { logger, lines } = memoryLogger();
  const daemon = new Daemon({ config, logger, ...(options.clock === undefined ? {} : { clock: options.clock }) });
  await daemon.start();
  defer(() => daemon.stop(1_000));
  const files = async (): Promise<string[]> => (await readdir(join(storage, 'certs'))).sort();
  const readState = async (): Promise<StoredState> =>
    JSON.parse(await readFile(join(storage, 'state.json'), 'utf8').catch(() => '{"certificates":{}}')) as StoredState;
  const failures = async (): Promise<StoredFailure[]> =>
    Object.values((await readState()).certificates).flatMap((c) => (c.failure === undefined ? [] : [c.failure]));
  const get = async (path: string): Promise<{ status: number; text: string }> => {
    const res = await request(`http://127.0.0.1:${daemon.port}${path}`);
    return { status: res.statusCode, text: await res.body.text() };
  };
  /** `/ready` by default: the daemon's judgement; `/health` is liveness only. */
  const health = async (path: '/health' | '/ready' = '/ready'): Promise<{ status: number; problems: string[] }> => {
    const res = await get(path);
    return { status: res.status, problems: (JSON.parse(res.text) as { problems?: string[] }).problems ?? [] };
  };
  const created = (): number => proxy.orders.filter((o) => o.status === 201).length;
  return { daemon, proxy, marathon, files, failures, get, health, lines, created, validations: () => validations };
}

describe('CA faults', () => {
  it('issues every certificate while pebble rejects half of all nonces', async (t) => {
    const rec = faultCase(t, { area: 'CA', fault: 'pebble rejects half of all nonces (badNonce)', tried: '10 apps, one certificate each' });
    const started = Date.now();
    const { files, proxy } = await run(t, { apps: 10, pebble: { env: { PEBBLE_WFE_NONCEREJECT: '50' } } });
    await eventually('ten certificates', async () => (await files()).length === 10, 90_000);
    rec.observe(`10 of 10 certificates in ${seconds(Date.now() - started)}`);
    const rejected = proxy.orders.filter((o) => o.status === 400).length;
    rec.observe(`newOrder answered 201 ×${proxy.orders.filter((o) => o.status === 201).length} and 400 (badNonce, resent with a fresh nonce) ×${rejected}`);
  });

  it('backs off when the CA answers 500, and completes once it recovers', async (t) => {
    const rec = faultCase(t, { area: 'CA', fault: 'newOrder answered 500 serverInternal', tried: '3 apps, the first order of each' });
    const clock = new OffsetClock();
    const { daemon, proxy, files, failures } = await run(t, { apps: 3, clock });
    proxy.failNext('/order-plz', 3, 500);
    await eventually('three failures remembered', async () => (await failures()).filter((f) => f.lastError.status === 500).length === 3);
    await daemon.whenIdle();
    assert.deepEqual(await files(), [], 'nothing issued while the CA fails');
    rec.observe(`backoff in state.json: ${[...new Set((await failures()).map(backoffMs))].map(seconds).join(', ')}`);
    daemon.requestSync('test: within the backoff');
    await daemon.whenIdle();
    assert.equal(proxy.orders.filter((o) => o.status === 500).length, 3, 'no retry inside the one-minute backoff');
    rec.observe('3 orders answered 500, none resent within the backoff');
    clock.advance(61_000);
    const resumed = Date.now();
    daemon.requestSync('test: backoff over');
    await eventually('all three once the CA works again', async () => (await files()).length === 3);
    rec.observe(`all 3 certificates ${seconds(Date.now() - resumed)} after the backoff ended`);
  });

  it('keeps serving while the CA is unreachable at start, retries with backoff, and issues everything once it is back', async (t) => {
    const rec = faultCase(t, { area: 'CA', fault: 'CA unreachable at start (every connection reset)', tried: '3 apps; CA down for 3 account attempts' });
    const started = Date.now();
    const { proxy, files, get, health, lines, created } = await run(t, { apps: 3, mode: 'refuse' });
    const pauses = (): number[] => lines.filter((l) => l.msg === ACCOUNT_RETRY).map((l) => Number(l['retryInMs']));
    await eventually('three failed account attempts', () => pauses().length >= 3);

    const down = await health();
    assert.equal(down.status, 503);
    assert.ok(down.problems.some((p) => /^ACME account not registered: .*ECONNRESET/.test(p)), JSON.stringify(down.problems));
    assert.equal((await get('/.well-known/acme-challenge/ping')).status, 200, 'challenges are still served');
    const alive = await health('/health');
    assert.equal(alive.status, 200, 'alive: a CA down at start is no reason for a restart');
    assert.ok(alive.problems.some((p) => p.startsWith('ACME account not registered')), 'and tells the problem');
    assert.equal(proxy.orders.length, 0);
    assert.deepEqual(await files(), []);
    const seen = pauses();
    const attempts = [...proxy.refusedConnections];
    // The floor of the account backoff is 1 s, and each pause at least as long as the one before.
    assert.ok(seen.every((ms) => ms >= 1_000), JSON.stringify(seen));
    assert.ok(seen.every((ms, i) => i === 0 || ms >= (seen[i - 1] ?? 0)), JSON.stringify(seen));
    // One connection per attempt (the directory request), plus perhaps the attempt under way now.
    assert.ok(attempts.length <= seen.length + 1, `${attempts.length} connections for ${seen.length} failed attempts`);
    const span = (attempts.at(-1) ?? started) - (attempts[0] ?? started);
    rec.observe(`${attempts.length} connection attempts in ${seconds(span)}, pauses ${seen.map(seconds).join(', ')}`);
    rec.observe(`/ready 503 "${down.problems.find((p) => p.startsWith('ACME')) ?? ''}", /health 200; challenges answered`);

    proxy.setMode('up');
    const upAt = Date.now();
    await eventually('all three once the CA is back', async () => (await files()).length === 3, 60_000);
    const recovered = Date.now() - upAt;
    await eventually('ready', async () => (await health()).status === 200);
    assert.equal(created(), 3, 'one order per certificate');
    rec.observe(`all 3 certificates ${seconds(recovered)} after the CA came back; ${created()} orders; /ready 200`);
  });

  it('times out stalled requests, remembers the failures with backoff, keeps serving, and issues everything after the CA and the backoff are over', async (t) => {
    const rec = faultCase(t, { area: 'CA', fault: 'CA accepts requests and never answers (--acme-timeout 2)', tried: '3 apps added during the stall' });
    const clock = new OffsetClock();
    const { daemon, proxy, marathon, files, failures, get, health, created } = await run(t, { apps: 0, clock, overrides: { acmeTimeoutMs: 2_000 } });
    await eventually('ready: account registered, first sync done', async () => (await health()).status === 200);
    await daemon.whenIdle();

    proxy.setMode('stall');
    const stalledAt = Date.now();
    for (let i = 0; i < 3; i++) marathon.addApp(app(i));
    daemon.requestSync('test: apps added while the CA stalls');
    await eventually('three timeouts remembered', async () => (await failures()).length === 3);
    const failedAfter = Date.now() - stalledAt;
    await daemon.whenIdle();
    const remembered = await failures();
    for (const f of remembered) assert.match(f.lastError.detail, /no answer within 2000 ms/);
    assert.deepEqual([...new Set(remembered.map(backoffMs))], [60_000], 'the first failure waits a minute');
    const stalled = proxy.stalledRequests.length;
    assert.equal(stalled, 3, 'one attempt per order, none resent after its timeout');
    rec.observe(`3 orders failed on the 2 s timeout within ${seconds(failedAfter)} (${stalled} requests left unanswered: ${[...new Set(proxy.stalledRequests.map((r) => r.replace(/^(\S+ \/[^/]*).*$/, '$1')))].join(', ')})`);
    rec.observe(`backoff in state.json: ${seconds(60_000)} for each; detail "${remembered[0]?.lastError.detail ?? ''}"`);

    assert.equal((await health()).status, 200, '/ready answers 200: failing orders alone are not a readiness problem (the alerts tell them)');
    assert.equal((await get('/.well-known/acme-challenge/ping')).status, 200, 'challenges are still served');
    for (let i = 0; i < 3; i++) {
      daemon.requestSync(`test: within the backoff ${i}`);
      await daemon.whenIdle();
    }
    assert.equal(proxy.stalledRequests.length, stalled, 'nothing sent to the CA within the backoff');
    rec.observe('/ready 200 and challenges answered during the stall; 3 more syncs within the backoff sent nothing');

    proxy.setMode('up');
    clock.advance(61_000);
    const upAt = Date.now();
    daemon.requestSync('test: CA back, backoff over');
    await eventually('all three certificates', async () => (await files()).length === 3, 60_000);
    await daemon.whenIdle();
    assert.deepEqual(await failures(), [], 'success clears the failures');
    rec.observe(`all 3 certificates ${seconds(Date.now() - upAt)} after the CA came back and the backoff ended; ${created()} orders completed`);
  });

  it('answers a failed validation with backoff: many syncs inside it make exactly one order, the next comes after it', async (t) => {
    const rec = faultCase(t, { area: 'CA', fault: 'invalid authorization (the validator gets 404 for the token)', tried: '1 app, 2 backoff periods, 6 syncs in each' });
    const clock = new OffsetClock();
    const { daemon, files, failures, lines, created, validations } = await run(t, { apps: 1, clock, validator: 'wrong-answer' });
    const syncs = (): number => lines.filter((l) => l.msg === 'sync completed').length;
    await eventually('the failed validation remembered', async () => (await failures())[0]?.failures === 1, 60_000);
    await daemon.whenIdle();
    const first = (await failures())[0];
    assert.ok(first !== undefined);
    assert.equal(first.lastError.type, 'unauthorized', JSON.stringify(first.lastError));
    assert.equal(backoffMs(first), 60_000);
    assert.equal(created(), 1);

    const syncsBefore = syncs();
    for (let i = 0; i < 6; i++) {
      daemon.requestSync(`test: within the first backoff ${i}`);
      await daemon.whenIdle();
    }
    assert.ok(syncs() - syncsBefore >= 6, `${syncs() - syncsBefore} syncs ran`);
    assert.equal(created(), 1, 'no order within the backoff');
    rec.observe(`problem type "${first.lastError.type}" in state.json, backoff ${seconds(backoffMs(first))}; ${syncs() - syncsBefore} syncs within it: still 1 order`);

    clock.advance(61_000);
    for (let i = 0; i < 6; i++) daemon.requestSync(`test: after the first backoff ${i}`);
    await eventually('the second failure remembered', async () => (await failures())[0]?.failures === 2, 60_000);
    await daemon.whenIdle();
    for (let i = 0; i < 6; i++) {
      daemon.requestSync(`test: within the second backoff ${i}`);
      await daemon.whenIdle();
    }
    const second = (await failures())[0];
    assert.ok(second !== undefined);
    assert.equal(created(), 2, 'exactly one more order after the backoff');
    assert.equal(backoffMs(second), 600_000, 'the second failure waits ten minutes');
    assert.deepEqual(await files(), []);
    rec.observe(`after the backoff: exactly 1 more order (2 in all), then backoff ${seconds(backoffMs(second))}; pebble's validator knocked ${validations()} times`);
  });
});
