/**
 * `failover`: what high availability on ZooKeeper (`--zk`) costs and buys, with the real executable.
 *
 * - Takeover: three instances on one storage directory and a ZooKeeper 3.8 with its default
 *   tickTime (2 s, so the daemon's default 6 s session is granted as asked), behind a round-robin
 *   proxy on the port pebble validates. Ten times: kill -9 the leader, add an app at once, and time
 *   the kill to the first `requesting a certificate` for the new name by another instance (the
 *   session expiry, the election, the new term's start and its first sync); the killed instance is
 *   started again as a follower before the next round.
 * - Overhead: the 50-name issuance of `issuance` once by a single instance without `--zk` and once by
 *   three with `--zk`, each behind the same proxy, alternating three times; timed from adding the 50
 *   apps to a running, registered leader until every bundle is stored and each LB was signalled
 *   after the last write. The difference is the fencing transaction per order, the challenge
 *   published on two boards, and the followers.
 */
import { request } from 'undici';
import { freePort } from '../test/support/ports.js';
import { startTcpProxy } from '../test/support/tcp-proxy.js';
import { startZooKeeper } from '../test/support/zookeeper.js';
import { Cleanup } from './cleanup.js';
import { spawnDaemon, type DaemonProcess } from './daemon-process.js';
import { deliveredAt, labelledApp, until } from './issuance.js';
import { percentiles, type Benchmark, type Figure } from './report.js';
import { startStage, type Stage } from './stage.js';

const TAKEOVER_ROUNDS = 10;
const ISSUANCE_NAMES = 50;
const OVERHEAD_PAIRS = 3;
/** ZooKeeper's own default tickTime: sessions of 4 to 40 s, the daemon's default 6 s granted. */
const ZK_TICK_MS = 2_000;

async function role(port: number): Promise<unknown> {
  try {
    const res = await request(`http://127.0.0.1:${port}/health`, { headersTimeout: 2_000, bodyTimeout: 2_000 });
    return ((await res.body.json()) as Record<string, unknown>)['role'];
  } catch {
    return undefined;
  }
}

interface Group {
  ports: number[];
  daemons: Array<DaemonProcess | undefined>;
  start(i: number): DaemonProcess;
  /** The index of the one instance that says it leads (polled until there is exactly one). */
  leader(): Promise<number>;
}

interface Cluster extends Stage {
  group(count: number, zkUrl: string | undefined): Promise<Group>;
}

/** The issuance stage, plus groups of instances behind a round-robin proxy on pebble's validation port. */
async function cluster(stack: Cleanup): Promise<Cluster> {
  const stage = await startStage(stack, 'failover');
  const { httpPort, pebble, marathon, lbs, storage } = stage;
  return {
    ...stage,
    async group(count, zkUrl) {
      const ports: number[] = [];
      for (let i = 0; i < count; i++) ports.push(await freePort());
      const proxy = await startTcpProxy(ports.map((port) => ({ port })), httpPort);
      stack.defer('validation proxy', () => proxy.stop());
      const daemons: Array<DaemonProcess | undefined> = [];
      const start = (i: number): DaemonProcess => {
        const daemon = spawnDaemon({
          acme: pebble, marathon: marathon.url, lbs, listenPort: ports[i] ?? 0, storage,
          args: ['--key-type', 'ecdsa-p256', ...(zkUrl === undefined ? [] : ['--zk', zkUrl])],
        });
        daemons[i] = daemon;
        stack.defer('marathon-acme', () => daemon.stop());
        return daemon;
      };
      for (let i = 0; i < count; i++) start(i);
      return {
        ports,
        daemons,
        start,
        leader: () =>
          until('exactly one leader', async () => {
            const roles = await Promise.all(ports.map(role));
            const leaders = roles.flatMap((r, i) => (r === 'leader' ? [i] : []));
            return leaders.length === 1 ? leaders[0] : undefined;
          }),
      };
    },
  };
}

async function takeovers(): Promise<number[]> {
  const stack = new Cleanup();
  try {
    const zk = await startZooKeeper({ tickMs: ZK_TICK_MS });
    stack.defer('ZooKeeper', () => zk.stop());
    const s = await cluster(stack);
    const group = await s.group(3, zk.url('/marathon-acme'));
    const times: number[] = [];
    for (let round = 0; round < TAKEOVER_ROUNDS; round++) {
      const leader = await group.leader();
      const killed = group.daemons[leader];
      if (killed === undefined) throw new Error('no process for the leader');
      await until('every instance running and the others following', async () => {
        const roles = await Promise.all(group.ports.map(role));
        return roles.filter((r) => r === 'follower').length === 2 ? true : undefined;
      });
      const name = `app.failover${round}.test`;
      const killedAt = Date.now();
      process.kill(killed.pid, 'SIGKILL');
      s.marathon.addApp(labelledApp(`/failover/app${round}`, name));
      const ordered = await until(`another instance orders ${name}`, () => {
        for (const daemon of group.daemons) {
          if (daemon === undefined || daemon === killed) continue;
          const line = daemon.lines.find((l) => l.msg === 'requesting a certificate' && l.fields['domain'] === name);
          if (line !== undefined) return line.loggedAt;
        }
        return undefined;
      });
      times.push(ordered - killedAt);
      process.stderr.write(`[bench] failover: round ${round + 1}: kill -9 to the new leader's first order ${ordered - killedAt} ms\n`);
      await until(`${name} stored`, () => deliveredAt(s.storage, [name], []));
      await killed.stop();
      group.start(leader);
    }
    return times;
  } finally {
    await stack.run();
  }
}

/** Milliseconds from adding ISSUANCE_NAMES apps to a registered leader until all are stored and signalled. */
async function issuance(ha: boolean, run: number): Promise<number> {
  const stack = new Cleanup();
  try {
    const zk = ha ? await startZooKeeper({ tickMs: ZK_TICK_MS }) : undefined;
    if (zk !== undefined) stack.defer('ZooKeeper', () => zk.stop());
    const s = await cluster(stack);
    const group = await s.group(ha ? 3 : 1, zk?.url('/marathon-acme'));
    const leader = group.daemons[await group.leader()];
    await leader?.waitFor('ACME account ready', (l) => l.msg === 'ACME account ready', 60_000);
    const names = Array.from({ length: ISSUANCE_NAMES }, (_, i) => `app.ha${run}x${i}.test`);
    const started = Date.now();
    names.forEach((name, i) => {
      s.marathon.addApp(labelledApp(`/ha/app${i}`, name));
    });
    const done = await until(`${ISSUANCE_NAMES} bundles and a signal to each LB (${ha ? 'three with --zk' : 'one without'})`, () => deliveredAt(s.storage, names, s.lbs));
    return Math.max(...done.signalled) - started;
  } finally {
    await stack.run();
  }
}

export const failover: Benchmark = {
  name: 'failover',
  tools: ['pebble', 'zookeeper'],
  async run(): Promise<Figure[]> {
    const times = await takeovers();
    const { median, p95 } = percentiles(times);
    const single: number[] = [];
    const ha: number[] = [];
    for (let pair = 0; pair < OVERHEAD_PAIRS; pair++) {
      single.push(await issuance(false, pair * 2));
      ha.push(await issuance(true, pair * 2 + 1));
      process.stderr.write(`[bench] failover: issuance pair ${pair + 1}: one instance ${single.at(-1)} ms, three with --zk ${ha.at(-1)} ms\n`);
    }
    const singleMs = percentiles(single).median;
    const haMs = percentiles(ha).median;
    const overhead = ((haMs - singleMs) / singleMs) * 100;
    return [
      {
        bench: 'failover',
        figure: `kill -9 of the leader to the next leader's first order, median of ${times.length}`,
        value: median / 1000,
        unit: 's',
        target: '< 10 s',
        met: median < 10_000,
        note: `all ${times.length}: ${times.map((t) => (t / 1000).toFixed(1)).join(', ')} s; --zk-session-timeout 6 s (the default): the dead leader's session expires, the next instance in line leads, opens the storage, syncs and orders`,
      },
      {
        bench: 'failover',
        figure: `kill -9 of the leader to the next leader's first order, p95 of ${times.length}`,
        value: p95 / 1000,
        unit: 's',
        target: 'informational',
        met: undefined,
      },
      {
        bench: 'failover',
        figure: `${ISSUANCE_NAMES} new names, three instances with --zk`,
        value: haMs / 1000,
        unit: 's',
        peer: { name: 'one instance without --zk', value: singleMs / 1000 },
        target: 'HA overhead < 10 %',
        met: overhead < 10,
        note: `overhead ${overhead.toFixed(1)} %, medians of ${OVERHEAD_PAIRS} alternating runs (one: ${single.map((t) => (t / 1000).toFixed(2)).join(', ')} s; three with --zk: ${ha.map((t) => (t / 1000).toFixed(2)).join(', ')} s); both behind the same round-robin proxy on the validation port`,
      },
    ];
  },
};
