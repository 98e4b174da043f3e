/**
 * Three real executables with --zk on one storage directory, against a real ZooKeeper, pebble behind
 * the counting ACME proxy, the Marathon emulator and a round-robin proxy on the port pebble validates
 * (as marathon-lb would spread the CA's requests over the instances): one leads and orders, every one
 * answers validations, each name is ordered once, a killed leader is replaced, a stopped ZooKeeper
 * stops the ordering, and a leader cut off from ZooKeeper orders nothing once another leads.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { request } from 'undici';
import { parseBundle } from '../../src/certs/bundle.js';
import { AcmeProxy } from '../support/acme-proxy.js';
import { hostApp } from '../support/apps.js';
import { cleanupStack } from '../support/cleanup.js';
import { spawnDaemon, type DaemonProcess } from '../support/daemon-process.js';
import { eventually } from '../support/eventually.js';
import { startLbReceiver } from '../support/lb-receiver.js';
import { MarathonEmulator } from '../support/marathon-emulator.js';
import { pebbleTls, startPebble } from '../support/pebble.js';
import { freePort } from '../support/ports.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { startZooKeeper, type ZooKeeper } from '../support/zookeeper.js';

/** ZooKeeper's tickTime in the tests allows at most 4 s (20 ticks). */
const SESSION_TIMEOUT_S = 4;
/** Short, so that names a killed leader had in flight are ordered within the test. */
const ORDER_WINDOW_S = 15;

interface Cluster {
  zk: ZooKeeper;
  acme: AcmeProxy;
  marathon: MarathonEmulator;
  storage: string;
  /** The round-robin proxy on pebble's validation port, one target per instance. */
  validation: TcpProxy;
  instances: DaemonProcess[];
  /** Starts (again) instance `i` on its own port, reaching ZooKeeper at `zkUrl` (default: directly). */
  start(i: number, zkUrl?: string): DaemonProcess;
  addNames(names: readonly string[]): void;
  /** newOrder requests the CA accepted for exactly this name (badNonce retries are not orders). */
  ordersFor(name: string): number[];
  stored(): Promise<string[]>;
  leader(): Promise<number | undefined>;
  failMessage(): string;
}

async function startCluster(t: TestContext, count: number): Promise<Cluster> {
  const defer = cleanupStack(t);
  const zk = await startZooKeeper();
  defer(() => zk.stop());
  const httpPort = await freePort();
  const pebble = await startPebble({ httpPort });
  defer(() => pebble.stop());
  const acme = await AcmeProxy.start({ upstream: pebble.directoryUrl, caPem: (await pebbleTls()).caPem });
  defer(() => acme.stop());
  const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
  defer(() => marathon.stop());
  const lb = await startLbReceiver();
  defer(() => lb.stop());
  const storage = await mkdtemp(join(tmpdir(), 'ma-zk-ha-'));
  defer(() => rm(storage, { recursive: true, force: true }));
  const ports: number[] = [];
  for (let i = 0; i < count; i++) ports.push(await freePort());
  const validation = await startTcpProxy(ports.map((port) => ({ port })), httpPort);
  defer(() => validation.stop());
  const instances: DaemonProcess[] = [];
  const args = (zkUrl: string): string[] => [
    '--acme', acme.directoryUrl, '--acme-ca-file', pebble.caFile, '--marathon', marathon.url, '--lb', lb.url,
    '--no-preflight', '--key-type', 'ecdsa-p256', '--zk', zkUrl,
    '--zk-session-timeout', String(SESSION_TIMEOUT_S), '--zk-order-window', String(ORDER_WINDOW_S), storage,
  ];
  const cluster: Cluster = {
    zk,
    acme,
    marathon,
    storage,
    validation,
    instances,
    start: (i, zkUrl = zk.url('/marathon-acme')) => {
      const instance = spawnDaemon(defer, ports[i] ?? 0, args(zkUrl));
      instances[i] = instance;
      return instance;
    },
    addNames: (names) => {
      for (const name of names) marathon.addApp(hostApp(`/${name.split('.')[0] ?? name}`, { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: name }));
    },
    ordersFor: (name) => acme.orders.flatMap((o, i) => (o.status === 201 && o.identifiers.join() === name ? [acme.orderTimes[i] ?? 0] : [])),
    stored: async () => (await readdir(join(storage, 'certs')).catch(() => [])).filter((f) => f.endsWith('.pem')).map((f) => f.slice(0, -4)),
    leader: async () => {
      const roles = await Promise.all(instances.map((i) => i.role()));
      const leaders = roles.flatMap((r, i) => (r === 'leader' ? [i] : []));
      assert.ok(leaders.length <= 1, `never two leaders at once: ${JSON.stringify(roles)}`);
      return leaders[0];
    },
    failMessage: () => instances.map((inst, i) => `--- instance ${i} ---\n${inst.log().slice(-6_000)}`).join('\n'),
  };
  return cluster;
}

function names(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}.example.test`);
}

/** Every stored bundle is whole: key, leaf and chain, the key the leaf's. */
async function assertBundlesWhole(storage: string): Promise<void> {
  for (const file of await readdir(join(storage, 'certs'))) {
    const parsed = parseBundle(await readFile(join(storage, 'certs', file), 'utf8'));
    assert.ok(parsed.ok, `certs/${file} is a usable bundle${parsed.ok ? '' : `: ${parsed.reason}`}`);
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

describe('three instances with --zk against a real ZooKeeper', () => {
  it('orders 20 new names once each, whichever instance the CA\'s validations reach', async (t) => {
    const c = await startCluster(t, 3);
    for (let i = 0; i < 3; i++) c.start(i);
    await eventually('one leads, two follow', async () => {
      const roles = await Promise.all(c.instances.map((i) => i.role()));
      return roles.filter((r) => r === 'leader').length === 1 && roles.filter((r) => r === 'follower').length === 2;
    }, 30_000);
    const wanted = names('ha', 20);
    c.addNames(wanted);
    await eventually('all 20 issued', async () => (await c.stored()).length === 20, 90_000).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${c.failMessage()}`);
    });
    for (const name of wanted) assert.equal(c.ordersFor(name).length, 1, `${name} was ordered once`);
    for (const [i, n] of c.validation.accepted.entries()) assert.ok(n > 0, `instance ${i} got validation requests (${JSON.stringify(c.validation.accepted)})`);
    await assertBundlesWhole(c.storage);
    t.diagnostic(`validation connections per instance: ${JSON.stringify(c.validation.accepted)}`);
    const healths = await Promise.all(c.instances.map((i) => i.health()));
    assert.deepEqual(healths.map((h) => h?.['zookeeper']), ['connected', 'connected', 'connected']);
    const leader = healths.find((h) => h?.['role'] === 'leader');
    assert.ok(healths.filter((h) => h?.['role'] === 'follower').every((h) => typeof h?.['leader'] === 'string' && h['leader'] !== ''), 'followers know who leads');
    assert.ok(leader !== undefined);
    const followerIndex = healths.findIndex((h) => h?.['role'] === 'follower');
    const res = await request(`http://127.0.0.1:${c.instances[followerIndex]?.port ?? 0}/status.json`);
    const view = (await res.body.json()) as { instance: { role: string; leader: string; zookeeper: string }; certificates: unknown[] };
    assert.equal(view.instance.role, 'follower');
    assert.equal(view.instance.zookeeper, 'connected');
    assert.equal(view.instance.leader, leader['leader'], 'status names the leader /health names');
    assert.equal(view.certificates.length, 20, "a follower's status shows the stored certificates");

    // A clean stop (SIGTERM, as Marathon stops a task) hands over without waiting for a session expiry.
    const leaderIndex = healths.findIndex((h) => h?.['role'] === 'leader');
    const stoppedAt = Date.now();
    await c.instances[leaderIndex]?.terminate();
    await eventually('another instance leads', async () => (await c.leader()) !== undefined, 10_000);
    const handover = Date.now() - stoppedAt;
    t.diagnostic(`after SIGTERM of the leader, another led ${handover} ms later`);
    assert.ok(handover < SESSION_TIMEOUT_S * 1000, `the stopped leader closed its session (${handover} ms)`);
  });

  it('replaces a leader killed mid-work within seconds, five times over, and orders no name twice within the window', async (t) => {
    const c = await startCluster(t, 3);
    for (let i = 0; i < 3; i++) c.start(i);
    await eventually('a leader', async () => (await c.leader()) !== undefined, 30_000);
    const wanted = names('kill', 20);
    c.addNames(wanted.slice(0, 10));
    const takeovers: number[] = [];
    const placed = (): number => c.acme.orders.filter((o) => o.status === 201).length;
    for (let round = 0; round < 5; round++) {
      // Rounds 0 and 2 kill the leader while it is ordering: right after its first new order reached the CA.
      if (round === 0 || round === 2) {
        const before = placed();
        if (round === 2) c.addNames(wanted.slice(10));
        await eventually('the leader is ordering', () => placed() > before, 30_000);
      }
      const leader = await c.leader();
      assert.ok(leader !== undefined, 'a leader before the kill');
      const killed = c.instances[leader];
      assert.ok(killed !== undefined);
      const killedAt = Date.now();
      await killed.kill();
      let next: number | undefined;
      await eventually('another instance leads', async () => {
        next = await c.leader();
        return next !== undefined && next !== leader;
      }, 20_000);
      takeovers.push(Date.now() - killedAt);
      c.start(leader);
      await eventually('the killed instance is back as a follower', async () => (await c.instances[leader]?.role()) === 'follower', 30_000);
    }
    t.diagnostic(`takeover after kill -9 (session timeout ${SESSION_TIMEOUT_S} s): ${takeovers.join(', ')} ms; median ${median(takeovers)} ms`);
    assert.ok(median(takeovers) < 10_000, `another instance led within 10 s (median ${median(takeovers)} ms)`);
    const killsDone = Date.now();
    await eventually('all 20 issued', async () => (await c.stored()).length === 20, 120_000).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${c.failMessage()}`);
    });
    const reordered = wanted.filter((name) => c.ordersFor(name).length > 1);
    t.diagnostic(`all issued ${Date.now() - killsDone} ms after the last takeover; ordered again after the window: ${reordered.join(', ') || 'none'}`);
    for (const name of wanted) {
      const times = c.ordersFor(name);
      assert.ok(times.length >= 1, `${name} was ordered`);
      for (let i = 1; i < times.length; i++) {
        const gap = (times[i] ?? 0) - (times[i - 1] ?? 0);
        // The window runs from the recorded intent, a moment before the first order reached the CA.
        assert.ok(gap >= ORDER_WINDOW_S * 1000 - 1_000, `${name} was ordered again only after the hand-over window (${gap} ms later)`);
      }
    }
    await assertBundlesWhole(c.storage);
  });

  it('starts no order once ZooKeeper is gone, and completes the work when it is back', async (t) => {
    const c = await startCluster(t, 3);
    for (let i = 0; i < 3; i++) c.start(i);
    await eventually('a leader', async () => (await c.leader()) !== undefined, 30_000);
    const wanted = names('zkdown', 20);
    c.addNames(wanted);
    await eventually('the first orders are placed', () => c.acme.orders.filter((o) => o.status === 201).length >= 3, 30_000);
    const stoppedAt = Date.now();
    await c.zk.kill();
    const ordersBefore = c.acme.orderTimes.filter((at) => at <= stoppedAt).length;
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    // An order admitted just before the kill may reach the CA a few milliseconds after it.
    const late = c.acme.orderTimes.filter((at) => at > stoppedAt + 250);
    assert.deepEqual(late, [], `no order started after ZooKeeper went (${ordersBefore} before)`);
    const roles = await Promise.all(c.instances.map((i) => i.health()));
    assert.ok(roles.every((h) => h?.['role'] !== 'leader'), `no instance leads without ZooKeeper: ${JSON.stringify(roles)}`);
    assert.ok(roles.every((h) => h?.['status'] === 'ok'), 'every instance stays healthy and keeps answering');
    const restartedAt = Date.now();
    await c.zk.restart();
    await eventually('one leads again', async () => (await c.leader()) !== undefined, 30_000);
    const ledAt = Date.now();
    await eventually('all 20 issued', async () => (await c.stored()).length === 20, 120_000).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${c.failMessage()}`);
    });
    t.diagnostic(`after the restart: a leader in ${ledAt - restartedAt} ms, all issued ${Date.now() - ledAt} ms later (${ordersBefore} orders before the stop)`);
    await assertBundlesWhole(c.storage);
  });

  it('waits for a ZooKeeper that is down at start, healthy and answering, and leads once it is up', async (t) => {
    const c = await startCluster(t, 1);
    await c.zk.kill();
    const instance = c.start(0);
    await eventually('listening', async () => (await instance.health()) !== undefined, 30_000);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const waiting = await instance.health();
    assert.equal(instance.child.exitCode, null, 'it did not exit');
    assert.equal(waiting?.['status'], 'ok', `healthy while it waits: ${JSON.stringify(waiting)}`);
    assert.equal(waiting['role'], 'candidate');
    assert.notEqual(waiting['zookeeper'], 'connected');
    await c.zk.restart();
    await eventually('it leads', async () => (await instance.role()) === 'leader', 30_000);
    c.addNames(['late.example.test']);
    await eventually('and issues', async () => (await c.stored()).includes('late.example.test'), 60_000);
  });

  it('keeps a leader cut off from ZooKeeper from ordering once another leads', async (t) => {
    const defer = cleanupStack(t);
    const c = await startCluster(t, 2);
    const zkProxy = await startTcpProxy([{ port: c.zk.port }]);
    defer(() => zkProxy.stop());
    c.start(0, `zk://127.0.0.1:${zkProxy.port}/marathon-acme`);
    await eventually('instance 0 leads', async () => (await c.instances[0]?.role()) === 'leader', 30_000);
    c.start(1);
    await eventually('instance 1 follows', async () => (await c.instances[1]?.role()) === 'follower', 30_000);
    c.addNames(['before.example.test']);
    await eventually('issued before the partition', async () => (await c.stored()).includes('before.example.test'), 60_000);

    const partitionedAt = Date.now();
    zkProxy.pause();
    await eventually('instance 1 leads', async () => (await c.instances[1]?.role()) === 'leader', 20_000);
    t.diagnostic(`instance 1 led ${Date.now() - partitionedAt} ms into the partition`);
    const h0 = await c.instances[0]?.health();
    assert.notEqual(h0?.['role'], 'leader', `the partitioned instance does not lead: ${JSON.stringify(h0)}`);
    const after = names('partition', 5);
    c.addNames(after);
    await eventually('the new leader issues', () => after.every((n) => c.ordersFor(n).length > 0), 60_000);
    // The Marathon events reached both; only the new leader may order.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    for (const name of after) assert.equal(c.ordersFor(name).length, 1, `${name} was ordered once, by the new leader`);
    const requested = (c.instances[0]?.log() ?? '').split('\n').filter((line) => line.includes('requesting a certificate') && line.includes('partition'));
    assert.deepEqual(requested, [], 'the cut-off instance never requested one');
    zkProxy.resume();
    await eventually('instance 0 is back as a follower', async () => (await c.instances[0]?.role()) === 'follower', 30_000);
  });
});
