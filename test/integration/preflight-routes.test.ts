/**
 * The preflight end to end against pebble (behind the counting ACME proxy):
 * - hairpin NAT: the name's DNS points at an address that refuses connections from here, while the
 *   route through marathon-lb works → the certificate is issued;
 * - no route works: strict never orders; advisory orders once at the third failed preflight, then
 *   not again for a day (the daemon's clock is moved instead of waiting);
 * - a new app's name waits for marathon-lb's reload (getpids) before its preflight.
 *
 * Layout: the daemon listens on a port of its own; a marathon-lb stand-in (node:http) forwards
 * 127.0.0.1:<httpPort>, the port pebble validates on and the preflight port, to the daemon for the
 * names it routes, and answers 404 for the others (HAProxy with no matching backend). It binds
 * 127.0.0.1 only, so the same port on 127.0.0.2 refuses: that is the name's "public address".
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { Config } from '../../src/config.js';
import { Daemon } from '../../src/daemon.js';
import { closeServer, listen } from '../../src/http/server.js';
import { OffsetClock } from '../../src/util/clock.js';
import { AcmeProxy } from '../support/acme-proxy.js';
import { hostApp } from '../support/apps.js';
import { cleanupStack } from '../support/cleanup.js';
import { testConfig } from '../support/config.js';
import { eventually } from '../support/eventually.js';
import { startLbReceiver } from '../support/lb-receiver.js';
import { MarathonEmulator } from '../support/marathon-emulator.js';
import { memoryLogger, type LogLine } from '../support/memory-logger.js';
import { pebbleTls, startPebble, type Pebble } from '../support/pebble.js';
import { freePort } from '../support/ports.js';

const MINUTE = 60_000;
const DAY = 86_400_000;

interface FailureJson {
  failures: number;
  lastError: { type: string | null; detail: string };
  preflightFailures?: number;
  orderedAnywayAt?: string;
}

/** marathon-lb's HTTP frontend: forwards the names in `routed` to the daemon, 404 for the rest. */
async function startLbFrontend(port: number, daemonPort: number, routed: ReadonlySet<string>): Promise<{ server: Server; probes: Array<{ host: string; at: number }> }> {
  const probes: Array<{ host: string; at: number }> = [];
  const server = createServer((req, res) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    probes.push({ host, at: Date.now() });
    if (!routed.has(host)) {
      res.writeHead(404, { 'content-type': 'text/plain', 'content-length': 10 });
      res.end('no route\r\n');
      return;
    }
    const upstream = httpRequest({ host: '127.0.0.1', port: daemonPort, path: req.url, method: req.method, headers: req.headers, agent: false }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  await listen(server, '127.0.0.1', port);
  return { server, probes };
}

describe('preflight routes through marathon-lb and DNS, against pebble', () => {
  let pebble: Pebble;
  let proxy: AcmeProxy;
  let httpPort = 0;

  before(async () => {
    httpPort = await freePort();
    pebble = await startPebble({ httpPort });
    proxy = await AcmeProxy.start({ upstream: pebble.directoryUrl, caPem: (await pebbleTls()).caPem });
  });
  after(async () => {
    await proxy.stop();
    await pebble.stop();
  });

  const ordersFor = (name: string) => proxy.orders.filter((o) => o.status === 201 && o.identifiers.join() === name);

  async function run(t: TestContext, opts: { name: string; routed: boolean; preflight: Config['preflight']; lbUrl?: string; clock?: OffsetClock }) {
    const defer = cleanupStack(t);
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    defer(() => marathon.stop());
    marathon.addApp(hostApp(`/${opts.name.split('.')[0] ?? 'app'}`, { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: opts.name }));
    const daemonPort = await freePort();
    const frontend = await startLbFrontend(httpPort, daemonPort, new Set(opts.routed ? [opts.name] : []));
    defer(() => closeServer(frontend.server));
    let lbUrl = opts.lbUrl;
    if (lbUrl === undefined) {
      const receiver = await startLbReceiver();
      defer(() => receiver.stop());
      lbUrl = receiver.url;
    }
    const storage = await mkdtemp(join(tmpdir(), 'ma-preflight-'));
    defer(() => rm(storage, { recursive: true, force: true }));
    const config = testConfig({
      storageDir: storage,
      acmeDirectoryUrl: proxy.directoryUrl,
      acmeCaFile: pebble.caFile,
      marathonUrls: [marathon.url],
      lbUrls: [lbUrl],
      listen: { host: '127.0.0.1', port: daemonPort },
      preflight: opts.preflight,
      preflightPort: httpPort,
    });
    const { logger, lines } = memoryLogger();
    // The name's public address: 127.0.0.2, where nothing listens on httpPort.
    const lookup = (host: string): Promise<string[]> => Promise.resolve(host === opts.name ? ['127.0.0.2'] : ['127.0.0.1']);
    const daemon = new Daemon({ config, logger, lookup, ...(opts.clock === undefined ? {} : { clock: opts.clock }) });
    await daemon.start();
    defer(() => daemon.stop(1_000));
    const failure = async (): Promise<FailureJson | undefined> => {
      const text = await readFile(join(storage, 'state.json'), 'utf8').catch(() => '{"certificates":{}}');
      return (JSON.parse(text) as { certificates: Record<string, { failure?: FailureJson }> }).certificates[opts.name]?.failure;
    };
    const hasCertificate = () => readFile(join(storage, 'certs', `${opts.name}.pem`)).then(() => true, () => false);
    return { daemon, lines, failure, hasCertificate, probes: frontend.probes };
  }

  const logged = (lines: readonly LogLine[], msg: string) => lines.filter((l) => l.msg === msg);

  for (const mode of ['advisory', 'strict'] as const) {
    it(`issues through marathon-lb when the name's public address refuses from here (hairpin NAT), ${mode}`, async (t) => {
      const name = `hairpin-${mode}.example.test`;
      const { daemon, lines, failure, hasCertificate } = await run(t, { name, routed: true, preflight: mode });
      await eventually('the certificate', hasCertificate);
      await daemon.whenIdle();
      assert.equal(ordersFor(name).length, 1, 'ordered at the first attempt');
      assert.equal(await failure(), undefined, 'no attempt ever failed');
      const [hairpin, ...more] = logged(lines, 'preflight: only the route through marathon-lb works from here (hairpin NAT?); ordering');
      assert.equal(more.length, 0);
      assert.equal(hairpin?.level, 'info');
      assert.match(String(hairpin['why']), new RegExp(`marathon-lb 127\\.0\\.0\\.1:${httpPort}.*connection refused at 127\\.0\\.0\\.2:${httpPort}`));
    });
  }

  /** Moves the daemon's clock past the name's retry time (or by `by`), then runs a sync and waits for it. */
  async function attempt(daemon: Daemon, clock: OffsetClock, by: number): Promise<void> {
    clock.advance(by);
    daemon.requestSync('test: retry');
    await daemon.whenIdle();
  }

  it('strict: never orders a name that no route reaches, however long it fails', async (t) => {
    const clock = new OffsetClock();
    const name = 'unrouted-strict.example.test';
    const { daemon, failure } = await run(t, { name, routed: false, preflight: 'strict', clock });
    await eventually('the first failed preflight', async () => (await failure()) !== undefined);
    await daemon.whenIdle();
    for (const wait of [MINUTE, 10 * MINUTE, 100 * MINUTE, DAY, DAY]) await attempt(daemon, clock, wait + 1_000);
    const f = await failure();
    assert.equal(f?.preflightFailures, 6);
    assert.equal(f.lastError.type, 'preflight:connection');
    assert.match(f.lastError.detail, /^no route reaches this daemon: public DNS: connection refused at 127\.0\.0\.2.*marathon-lb 127\.0\.0\.1:\d+: .*answered 404.*strict preflight: no order until the preflight passes$/);
    assert.equal(f.orderedAnywayAt, undefined);
    assert.equal(ordersFor(name).length, 0, 'the CA never saw it');
  });

  it('advisory: orders once at the third failed preflight, says so, then not again for a day', async (t) => {
    const clock = new OffsetClock();
    const name = 'unrouted-advisory.example.test';
    const { daemon, lines, failure } = await run(t, { name, routed: false, preflight: 'advisory', clock });
    await eventually('the first failed preflight', async () => (await failure()) !== undefined);
    await daemon.whenIdle();
    assert.equal(ordersFor(name).length, 0);
    assert.match((await failure())?.lastError.detail ?? '', /one real order a day is sent anyway \(1 so far\)$/);

    await attempt(daemon, clock, MINUTE + 1_000);
    assert.equal(ordersFor(name).length, 0, 'not at the second failure');
    await attempt(daemon, clock, 10 * MINUTE + 1_000);
    assert.equal(ordersFor(name).length, 1, 'one order at the third failure');
    const anyway = await failure();
    assert.equal(anyway?.preflightFailures, 3);
    assert.ok(anyway.orderedAnywayAt !== undefined);
    // The CA could not validate either; the record says both what it said and why it was asked.
    assert.notEqual(anyway.lastError.type, 'preflight:connection');
    assert.match(anyway.lastError.detail, /\[sent despite the failing preflight: the preflight failed 3 times in a row .*advisory mode sends one real order a day anyway/);
    const [warned, ...again] = logged(lines, 'preflight failed again; advisory mode sends one real order a day anyway');
    assert.equal(warned?.level, 'warn');
    assert.equal(again.length, 0);

    await attempt(daemon, clock, 100 * MINUTE + 1_000);
    const held = await failure();
    assert.equal(held?.lastError.type, 'preflight:connection');
    assert.equal(held.preflightFailures, 4);
    assert.match(held.lastError.detail, /next order sent anyway is due at /);
    const dueAt = Date.parse(anyway.orderedAnywayAt) + DAY;
    // Up to just before the day is over: no order (the name is not even tried).
    await attempt(daemon, clock, dueAt - clock.now() - MINUTE);
    assert.equal(ordersFor(name).length, 1);
    await attempt(daemon, clock, 2 * MINUTE);
    assert.equal(ordersFor(name).length, 2, 'the next order anyway, a day after the first');
  });

  it("waits for marathon-lb's reload (a new pid in getpids) before checking a new app's name", async (t) => {
    const defer = cleanupStack(t);
    // marathon-lb's stats port: getpids shows a new HAProxy pid from the third look on, as after a reload.
    const looks: number[] = [];
    const stats = createServer((req, res) => {
      let body = 'Not Found';
      let status = 404;
      if (req.url === '/_haproxy_getpids') {
        looks.push(Date.now());
        status = 200;
        body = looks.length < 3 ? '4242' : '4242 4343';
      } else if (req.url === '/_mlb_signal/usr1') {
        status = 200;
        body = 'Sent SIGUSR1 signal to marathon-lb';
      }
      res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    const port = (await listen(stats, '127.0.0.1', 0)).port;
    defer(() => closeServer(stats));
    const name = 'settle.example.test';
    const { daemon, lines, hasCertificate, probes } = await run(t, { name, routed: true, preflight: 'advisory', lbUrl: `http://127.0.0.1:${port}` });
    await eventually('the certificate', hasCertificate);
    await daemon.whenIdle();
    const [waited] = logged(lines, 'waited for marathon-lb to reload before checking new names');
    assert.deepEqual((waited?.['lbs'] as Array<{ outcome: string }> | undefined)?.map((l) => l.outcome), ['reloaded']);
    const firstProbe = probes.find((p) => p.host === name)?.at ?? 0;
    assert.ok(looks.length >= 3 && (looks[2] ?? Infinity) <= firstProbe, 'the first probe came after the reload was seen');
  });
});
