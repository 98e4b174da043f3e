/**
 * Marathon misbehaving in every way the issue lists: instances down at start or dying mid-stream,
 * stalled or trickling answers, 5xx and non-JSON answers, app lists of the wrong shape, an event
 * storm, a huge app list. The daemon must stay up, fail over, recover, and miss no labelled app once
 * Marathon answers properly again. The CA is Debian's pebble; Marathon is the emulator.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import type { Config } from '../../src/config.js';
import { Daemon } from '../../src/daemon.js';
import { MarathonClient } from '../../src/marathon/client.js';
import { hostApp, type AppJson } from '../support/apps.js';
import { cleanupStack } from '../support/cleanup.js';
import { testConfig } from '../support/config.js';
import { eventually } from '../support/eventually.js';
import { faultCase } from '../support/fault-report.js';
import { startLbReceiver } from '../support/lb-receiver.js';
import { MarathonEmulator, type EmulatorMode } from '../support/marathon-emulator.js';
import { memoryLogger, type LogLine } from '../support/memory-logger.js';
import { startPebble, type Pebble } from '../support/pebble.js';
import { freePort } from '../support/ports.js';

const BIN = fileURLToPath(new URL('../../bin/marathon-acme', import.meta.url));

function labelled(prefix: string, count: number, from = 0): AppJson[] {
  return Array.from({ length: count }, (_, i) =>
    hostApp(`/${prefix}${from + i}`, { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: `${prefix.toLowerCase()}${from + i}.example.test` }),
  );
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

describe('Marathon faults', () => {
  let pebble: Pebble;
  let httpPort = 0;

  before(async () => {
    httpPort = await freePort();
    pebble = await startPebble({ httpPort, validitySeconds: 3600 });
  });
  after(() => pebble.stop());

  /** `count` Marathon instances serving the same apps (any instance answers for the leader). */
  async function setup(t: TestContext, options: { instances?: number; apps?: AppJson[]; modes?: EmulatorMode[]; overrides?: Partial<Config> } = {}) {
    const defer = cleanupStack(t);
    const instances: MarathonEmulator[] = [];
    for (let i = 0; i < (options.instances ?? 2); i++) {
      const emulator = await MarathonEmulator.start({ heartbeatMs: 0 });
      defer(() => emulator.stop());
      for (const app of options.apps ?? []) emulator.addApp(app);
      const mode = options.modes?.[i];
      if (mode !== undefined) await emulator.setMode(mode);
      instances.push(emulator);
    }
    const lb = await startLbReceiver();
    defer(() => lb.stop());
    const storage = await mkdtemp(join(tmpdir(), 'ma-mfault-'));
    defer(() => rm(storage, { recursive: true, force: true }));
    const config = testConfig({
      storageDir: storage,
      acmeDirectoryUrl: pebble.directoryUrl,
      marathonUrls: instances.map((e) => e.url),
      lbUrls: [lb.url],
      listen: { host: '127.0.0.1', port: httpPort },
      acmeCaFile: pebble.caFile,
      keyType: 'ecdsa-p256',
      ...options.overrides,
    });
    const { logger, lines } = memoryLogger();
    const daemon = new Daemon({ config, logger });
    await daemon.start();
    defer(() => daemon.stop(1_000));
    const certs = async (): Promise<string[]> => (await readdir(join(storage, 'certs'))).sort();
    /** `/ready` by default: the daemon's judgement; `/health` is liveness only. */
    const health = async (path: '/health' | '/ready' = '/ready'): Promise<{ status: number; problems: string[] }> => {
      const res = await request(`http://127.0.0.1:${daemon.port}${path}`);
      const body = (await res.body.json()) as { problems?: string[] };
      return { status: res.statusCode, problems: body.problems ?? [] };
    };
    return { instances, lb, storage, daemon, certs, health, lines };
  }

  /** Every app in `apps` has its certificate file. */
  function allIssued(apps: AppJson[], files: string[]): boolean {
    return apps.every((app) => files.includes(`${String(app.labels['MARATHON_ACME_0_DOMAIN'])}.pem`));
  }

  it('waits while every Marathon URL is down at start, then catches up', async (t) => {
    const rec = faultCase(t, { area: 'Marathon', fault: 'all Marathon URLs down at start', tried: '2 instances refusing connections for 4 s, 4 labelled apps' });
    const apps = labelled('allDown', 4);
    const { instances, certs, health, daemon } = await setup(t, { apps, modes: ['down', 'down'] });
    await new Promise((r) => setTimeout(r, 4_000));
    const down = await health();
    assert.equal(down.status, 503);
    assert.ok(down.problems.some((p) => /Marathon/.test(p)), JSON.stringify(down.problems));
    assert.deepEqual(await certs(), []);
    const alive = await health('/health');
    assert.equal(alive.status, 200, 'alive: Marathon away is no reason for a restart');
    assert.ok(alive.problems.some((p) => /Marathon/.test(p)), 'and tells the problem');
    rec.observe(`/ready 503 while down ("${down.problems.find((p) => /Marathon/.test(p))?.slice(0, 80) ?? ''}…"), /health 200 telling it`);
    const upAt = Date.now();
    await instances[1]?.setMode('up');
    await eventually('all four certificates', async () => allIssued(apps, await certs()), 60_000);
    rec.observe(`4/4 issued ${((Date.now() - upAt) / 1000).toFixed(1)} s after the second instance came back`);
    await daemon.whenIdle();
    assert.equal((await health()).status, 200);
    rec.observe('/ready 200 after recovery');
  });

  it('fails over when the active instance dies mid-stream, and misses no app added meanwhile', async (t) => {
    const rec = faultCase(t, { area: 'Marathon', fault: 'active instance dies mid-stream', tried: '2 instances; the one holding the stream goes down; 2 apps added while it is down' });
    const apps = labelled('midStream', 2);
    const { instances, certs } = await setup(t, { apps });
    const [first, second] = instances;
    assert.ok(first !== undefined && second !== undefined);
    await eventually('first two certificates', async () => allIssued(apps, await certs()));
    await eventually('stream on the first instance', () => first.openStreams === 1);
    await first.setMode('down');
    const later = labelled('midStream', 2, 2);
    for (const app of later) {
      first.addApp(app);
      second.addApp(app);
    }
    const downAt = Date.now();
    await eventually('apps added while the first was down', async () => allIssued([...apps, ...later], await certs()), 60_000);
    rec.observe(`stream moved to the second instance (${second.eventStreamRequests} stream request(s)); 2/2 new apps issued ${((Date.now() - downAt) / 1000).toFixed(1)} s after the failure`);
  });

  for (const mode of ['stall', 'stall-body', 'trickle'] as const) {
    const what = { stall: 'accepts and never answers (headers stall)', 'stall-body': 'sends headers and half the app list, then stalls', trickle: 'sends the app list one byte every 50 ms' }[mode];
    it(`fails over when an instance ${what}`, async (t) => {
      const rec = faultCase(t, { area: 'Marathon', fault: `first instance ${what}`, tried: '2 instances, --marathon-timeout 1 s, 3 labelled apps' });
      const apps = labelled(`slow${mode.replace('-', '')}`, 3);
      const started = Date.now();
      const { instances, certs, lines } = await setup(t, { apps, modes: [mode], overrides: { marathonTimeoutMs: 1_000 } });
      await eventually('all three certificates through the second instance', async () => allIssued(apps, await certs()), 60_000);
      const failures = lines.filter((l) => l.msg === 'Marathon request failed, trying the next instance' && String(l['url']).includes(`:${instances[0]?.port ?? 0}/v2/apps`));
      assert.ok(failures.length >= 1, 'the slow instance was given up on');
      rec.observe(`gave up on the first instance with "${String(failures[0]?.['err']).slice(0, 70)}"; 3/3 issued ${((Date.now() - started) / 1000).toFixed(1)} s after start`);
    });
  }

  it('stays up while every instance answers 500 or non-JSON, and recovers', async (t) => {
    const rec = faultCase(t, { area: 'Marathon', fault: '5xx and non-JSON answers', tried: '3 instances: 500, an HTML page, JSON cut off half-way; then one recovers' });
    const apps = labelled('broken', 3);
    const { instances, certs, health, daemon, lines } = await setup(t, { instances: 3, apps, modes: ['error500', 'html', 'truncated-json'] });
    await eventually('a failed sync', () => lines.some((l) => l.msg.startsWith('sync failed')));
    const failure = String(lines.find((l) => l.msg.startsWith('sync failed'))?.['err']);
    assert.match(failure, /500 Server Error/);
    assert.match(failure, /Content-Type 'text\/html'/);
    assert.match(failure, /not JSON/);
    assert.equal((await health()).status, 503);
    assert.deepEqual(await certs(), []);
    assert.equal((await health('/health')).status, 200);
    rec.observe('one sync error naming all three causes; /ready 503, /health 200; no certificate');
    await instances[2]?.setMode('up');
    daemon.requestSync('test: Marathon repaired');
    await eventually('all three certificates', async () => allIssued(apps, await certs()), 60_000);
    await daemon.whenIdle();
    assert.equal((await health()).status, 200);
    rec.observe('3/3 issued once the third instance answered properly; /ready 200');
  });

  it('issues for the valid apps of an app list full of wrong types', async (t) => {
    const garbage: unknown[] = [
      null,
      42,
      'app',
      [],
      { id: 7, labels: { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'number-id.example.test' } },
      { labels: { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'no-id.example.test' } },
      { id: '/labels-string', labels: 'HAPROXY_GROUP=external' },
      { id: '/labels-array', labels: [['HAPROXY_GROUP', 'external']] },
      { id: '/ports-object', labels: { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'ports-object.example.test' }, portDefinitions: { port: 80 } },
      { id: '/ports-string', labels: { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'ports-string.example.test' }, portDefinitions: '80', ports: '80' },
      { id: '/domain-number', labels: { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 5 } },
      { id: '/group-object', labels: { HAPROXY_GROUP: { name: 'external' }, MARATHON_ACME_0_DOMAIN: 'group-object.example.test' } },
      { id: '/networks-odd', labels: { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'networks-odd.example.test' }, networks: 'host', container: 3 },
    ];
    const rec = faultCase(t, { area: 'Marathon', fault: 'app list with wrong types', tried: `${garbage.length} malformed entries (ids, labels, ports, groups of the wrong type) around 3 valid apps` });
    const valid = labelled('typed', 3);
    const { instances, certs, lines, daemon } = await setup(t, { instances: 1 });
    instances[0]?.serveRawApps([valid[0], ...garbage.slice(0, 7), valid[1], ...garbage.slice(7), valid[2]]);
    daemon.requestSync('test: malformed app list');
    await eventually('the valid apps issued', async () => allIssued(valid, await certs()), 60_000);
    const files = await certs();
    assert.deepEqual(files, valid.map((a) => `${String(a.labels['MARATHON_ACME_0_DOMAIN'])}.pem`).sort(), 'nothing for the malformed entries');
    const warned = new Set(lines.filter((l) => l.level === 'warn' && typeof l['appId'] === 'string').map((l) => String(l['appId'])));
    for (const id of ['/labels-string', '/labels-array', '/ports-object', '/ports-string', '/domain-number']) {
      assert.ok(warned.has(id), `a warning names ${id}; warned: ${[...warned].join(', ')}`);
    }
    assert.equal(warned.size, garbage.length, 'one warning for each malformed entry, by id or list position');
    rec.observe(`3/3 valid apps issued, nothing else; a warning for each of the ${warned.size} malformed entries, naming its id or list position`);
  });

  it('coalesces an event storm of 3,000 api_post_events, with bounded memory, and misses nothing', async (t) => {
    const rec = faultCase(t, { area: 'Marathon', fault: 'event storm', tried: '3,000 api_post_events within about 2 s, an app added at the end' });
    const apps = labelled('storm', 2);
    const { instances, certs, daemon } = await setup(t, { instances: 1, apps });
    const marathon = instances[0];
    assert.ok(marathon !== undefined);
    await eventually('initial certificates', async () => allIssued(apps, await certs()));
    await daemon.whenIdle();
    const before = { requests: marathon.appsRequests, heap: process.memoryUsage().heapUsed };
    let peakHeap = before.heap;
    const started = Date.now();
    for (let batch = 0; batch < 30; batch++) {
      for (let i = 0; i < 100; i++) marathon.updateApp(apps[(batch + i) % apps.length] ?? {});
      peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
      await new Promise((r) => setTimeout(r, 60));
    }
    const [late] = labelled('storm', 1, 2);
    assert.ok(late !== undefined);
    marathon.addApp(late);
    const stormMs = Date.now() - started;
    await eventually('the app added at the end of the storm', async () => allIssued([late], await certs()), 60_000);
    await daemon.whenIdle();
    const syncs = marathon.appsRequests - before.requests;
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    assert.ok(syncs <= Math.ceil(stormMs / 1_000) + 2, `${syncs} syncs for a ${stormMs} ms storm: at most one a second`);
    assert.ok(peakHeap - before.heap < 64 * 2 ** 20, `heap grew by ${mib(peakHeap - before.heap)}`);
    rec.observe(`3,001 events in ${(stormMs / 1000).toFixed(1)} s → ${syncs} full syncs; heap growth at most ${mib(peakHeap - before.heap)}; the last app issued`);
  });

  it('syncs a 10,000-app list and issues for its labelled apps, in bounded memory', async (t) => {
    const rec = faultCase(t, { area: 'Marathon', fault: 'huge app list', tried: '10,000 apps (20 labelled for our group, 1,996 for another group), the real executable, a full sync every 2 s' });
    const defer = cleanupStack(t);
    const wanted = labelled('huge', 20);
    const others = Array.from({ length: 9_980 }, (_, i) =>
      i % 5 === 0
        ? hostApp(`/big/other${i}`, { HAPROXY_GROUP: 'internal', MARATHON_ACME_0_DOMAIN: `other${i}.example.test` })
        : hostApp(`/big/plain${i}`, { HAPROXY_0_VHOST: `plain${i}.example.test` }),
    );
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    defer(() => marathon.stop());
    marathon.replaceAppsSilently([...others.slice(0, 5_000), ...wanted, ...others.slice(5_000)]);
    const listBytes = Buffer.byteLength(JSON.stringify({ apps: marathon.apps }));
    const lb = await startLbReceiver();
    defer(() => lb.stop());
    const storage = await mkdtemp(join(tmpdir(), 'ma-huge-'));
    defer(() => rm(storage, { recursive: true, force: true }));
    const child = spawn(BIN, [
      '--acme', pebble.directoryUrl, '--acme-ca-file', pebble.caFile, '--marathon', marathon.url, '--lb', lb.url,
      '--listen', `127.0.0.1:${httpPort}`, '--no-preflight', '--key-type', 'ecdsa-p256', '--sync-interval', '2', storage,
    ], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => { resolve(`code ${String(code)} signal ${String(signal)}`); }));
    defer(async () => {
      child.kill('SIGKILL');
      await exited;
    });
    const syncs: number[] = [];
    let pending = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (pending + chunk).split('\n');
      pending = parts.pop() ?? '';
      for (const line of parts) {
        const entry = JSON.parse(line) as LogLine;
        if (entry.msg === 'sync completed' && entry['apps'] === 10_000) syncs.push(Number(entry['durationMs']));
      }
    });
    const certs = async (): Promise<string[]> => readdir(join(storage, 'certs')).catch(() => []);
    await eventually('the twenty labelled apps', async () => allIssued(wanted, await certs()), 90_000);
    await eventually('two more full syncs that change nothing', () => syncs.length >= 3, 30_000);
    const status = await readFile(`/proc/${String(child.pid)}/status`, 'utf8');
    const peakKiB = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1]);
    assert.equal((await certs()).length, 20, 'nothing for the other group or unlabelled apps');
    child.kill('SIGTERM');
    assert.equal(await exited, 'code 0 signal null');
    assert.ok(peakKiB > 0 && peakKiB < 512 * 1024, `peak RSS ${peakKiB} KiB`);
    const noop = syncs.slice(1);
    rec.observe(`app list ${mib(listBytes)}; 20/20 issued; syncs that changed nothing took ${Math.min(...noop)}–${Math.max(...noop)} ms; peak RSS of the daemon ${mib(peakKiB * 1024)}`);
  });

  it('refuses an app list larger than the limit instead of reading it all', async (t) => {
    const rec = faultCase(t, { area: 'Marathon', fault: 'app list larger than the body limit', tried: '2,000 apps (about 1 MiB) against a 256 KiB limit; then the same list within the limit' });
    const defer = cleanupStack(t);
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    defer(() => marathon.stop());
    marathon.replaceAppsSilently(labelled('limit', 2_000));
    const dispatcher = new Agent();
    defer(() => dispatcher.close());
    const { logger } = memoryLogger();
    const small = new MarathonClient({ urls: [marathon.url], timeoutMs: 2_000, dispatcher, logger, maxAppsBytes: 256 * 1024 });
    await assert.rejects(small.getApps(), /larger than 262144 bytes/);
    const roomy = new MarathonClient({ urls: [marathon.url], timeoutMs: 2_000, dispatcher, logger });
    assert.equal((await roomy.getApps()).length, 2_000);
    rec.observe('refused with "the answer is larger than 262144 bytes"; the default limit (400 MiB) reads all 2,000 apps');
  });
});
