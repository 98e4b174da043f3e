/**
 * The controller with every peer faked and time under the test's control: signal after a change,
 * look at what each LB serves, send again when the reload does not show, fail after the grace, and
 * signal again from the periodic check.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeliveryController, type DeliveryControllerOptions } from '../../src/delivery/controller.js';
import type { Probe } from '../../src/delivery/checker.js';
import type { ServedLeaf } from '../../src/delivery/probe.js';
import type { DeliveryRecord } from '../../src/delivery/types.js';
import type { StoredLeaf } from '../../src/delivery/verdict.js';
import type { MarathonLbApi } from '../../src/lb/lb-api.js';
import { memoryLogger } from '../support/memory-logger.js';
import { ManualClock } from '../support/manual-clock.js';

let serial = 0;
const leaf = (names: string[], notBefore: number): ServedLeaf => ({
  fingerprint256: (++serial).toString(16).padStart(64, '0'),
  serialHex: serial.toString(16),
  names,
  issuer: 'CN=test CA',
  notBefore,
  notAfter: notBefore + 86_400_000,
});
const DEFAULT = leaf(['*'], 0);

/** One fake marathon-lb: what its HAProxy loaded, and whether a signal makes it load the disk. */
class FakeLb {
  loaded = new Map<string, ServedLeaf>();
  reloadWorks = true;
  tlsUp = true;
  readonly signals: number[] = [];

  constructor(
    readonly host: string,
    private readonly disk: Map<string, ServedLeaf>,
    private readonly clock: ManualClock,
  ) {}

  api(): MarathonLbApi {
    return {
      signalReload: () => {
        this.signals.push(this.clock.now());
        if (this.reloadWorks) this.loaded = new Map(this.disk);
        return Promise.resolve();
      },
      health: () => Promise.resolve({ kind: 'absent' }),
      pids: () => Promise.resolve({ kind: 'absent' }),
    };
  }
}

function world(lbCount: number, options: Partial<DeliveryControllerOptions> = {}) {
  const clock = new ManualClock(1_000_000);
  const disk = new Map<string, ServedLeaf>();
  const lbs = Array.from({ length: lbCount }, (_, i) => new FakeLb(`lb${i}`, disk, clock));
  const byHost = new Map(lbs.map((lb) => [lb.host, lb]));
  const probe: Probe = (o) => {
    const lb = byHost.get(o.host);
    if (lb === undefined || !lb.tlsUp) return Promise.resolve({ ok: false, error: `connection to ${o.host}:${o.port} failed: ECONNREFUSED` });
    return Promise.resolve({ ok: true, leaf: lb.loaded.get(o.servername) ?? DEFAULT });
  };
  const { logger, lines } = memoryLogger();
  const published: Array<readonly DeliveryRecord[]> = [];
  const controller = new DeliveryController({
    lbUrls: lbs.map((lb) => `http://${lb.host}:9090`),
    checkPort: 443,
    checkIntervalMs: 3_600_000,
    dispatcher: undefined as never,
    clock,
    logger,
    random: () => 1,
    expected: () => new Map<string, StoredLeaf>([...disk].map(([name, l]) => [name, { fingerprint256: l.fingerprint256, notBefore: l.notBefore, names: l.names }])),
    defaultFingerprint: () => DEFAULT.fingerprint256,
    onRecords: (records) => published.push(records),
    probe,
    api: (endpoint) => {
      const lb = byHost.get(new URL(endpoint.base).hostname);
      assert.ok(lb);
      return lb.api();
    },
    ...options,
  });
  const write = (name: string): void => {
    disk.set(name, leaf([name], clock.now()));
  };
  const runFor = async (ms: number, step = 250): Promise<void> => {
    await flush();
    for (let t = 0; t < ms; t += step) {
      await clock.advance(step);
      await flush();
    }
  };
  return { clock, disk, lbs, controller, lines, published, write, runFor };
}

async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
}

const statusOf = (controller: DeliveryController, lb: string, name: string) => controller.records().find((r) => r.lb === lb && r.name === name);

describe('DeliveryController', () => {
  it('signals a written certificate, reports it served, and does not signal a good LB again', async () => {
    const w = world(2);
    w.write('a.test');
    w.controller.changed(['a.test'], 'new a.test');
    await w.runFor(2_000);
    for (const lb of w.lbs) assert.equal(lb.signals.length, 1, lb.host);
    await w.controller.settled();
    for (const lb of ['http://lb0:9090', 'http://lb1:9090']) {
      const r = statusOf(w.controller, lb, 'a.test');
      assert.equal(r?.status, 'served');
      assert.equal(r.failing, false);
      assert.ok(r.lastServedAt !== undefined);
    }
    assert.ok(w.published.length > 0, 'records were published after the looks');
    assert.deepEqual(w.controller.lbSummaries().map((s) => [s.level, s.served, s.pendingSignal, s.summary]), [
      ['ok', 1, false, 'all 1 served'],
      ['ok', 1, false, 'all 1 served'],
    ]);
  });

  it('sends the signal again to an LB that accepts but does not reload, fails it after the grace, and keeps the other LB apart', async () => {
    const w = world(2);
    const [good, broken] = w.lbs;
    assert.ok(good !== undefined && broken !== undefined);
    w.write('a.test');
    w.controller.changed(['a.test'], 'new a.test');
    await w.runFor(2_000);
    // Both serve the first leaf; then a renewal that only the good LB picks up.
    broken.reloadWorks = false;
    await w.runFor(10_000);
    w.write('a.test');
    w.controller.changed(['a.test'], 'renewed a.test');
    await w.runFor(60_000);
    assert.equal(good.signals.length, 2, 'the good LB: one signal per change');
    assert.ok(broken.signals.length >= 4, `the broken LB was signalled again (${broken.signals.length})`);
    const stale = statusOf(w.controller, 'http://lb1:9090', 'a.test');
    assert.equal(stale?.status, 'stale');
    assert.equal(stale.failing, false, 'not failing within the grace');
    assert.equal(w.controller.lbSummaries()[1]?.level, 'warn');
    await w.runFor(260_000, 1_000);
    const failed = statusOf(w.controller, 'http://lb1:9090', 'a.test');
    assert.equal(failed?.failing, true);
    assert.match(failed.detail ?? '', /older certificate/);
    const signalsAtFailure = broken.signals.length;
    assert.ok(signalsAtFailure <= 8, `bounded: ${signalsAtFailure} signals`);
    const failure = w.lines.find((l) => l.msg.startsWith('delivery failure'));
    assert.equal(failure?.['lb'], 'http://lb1:9090');
    assert.equal(failure['domain'], 'a.test');
    assert.equal(failure['status'], 'stale');
    assert.deepEqual(w.controller.lbSummaries().map((s) => [s.lb, s.level, s.stale, s.failing]), [
      ['http://lb0:9090', 'ok', 0, 0],
      ['http://lb1:9090', 'bad', 1, 1],
    ]);
    await w.runFor(600_000, 5_000);
    assert.equal(broken.signals.length, signalsAtFailure, 'no more signals until the next delivery check');

    // The periodic check signals again; this time the reload works, and the recovery is logged.
    broken.reloadWorks = true;
    w.controller.start();
    await w.runFor(5_000);
    assert.equal(broken.signals.length, signalsAtFailure + 1);
    assert.equal(statusOf(w.controller, 'http://lb1:9090', 'a.test')?.failing, false);
    assert.ok(w.lines.some((l) => l.msg.startsWith('delivery recovered') && l['lb'] === 'http://lb1:9090'));
    await w.controller.stop();
  });

  it('does not resend to an LB whose TLS port is unreachable: the accepted signal stands', async () => {
    const w = world(1);
    const [lb] = w.lbs;
    assert.ok(lb !== undefined);
    lb.tlsUp = false;
    w.write('a.test');
    w.controller.changed(['a.test'], 'new a.test');
    await w.runFor(60_000);
    await w.controller.settled();
    assert.equal(lb.signals.length, 1);
    assert.equal(statusOf(w.controller, 'http://lb0:9090', 'a.test')?.status, 'unreachable');
    const summary = w.controller.lbSummaries()[0];
    assert.equal(summary?.level, 'warn');
    assert.equal(summary.unreachable, 1);
    assert.match(summary.summary, /TLS port unreachable/);
  });

  it('the first periodic check signals an LB that serves something else for a stored name', async () => {
    const w = world(1);
    const [lb] = w.lbs;
    assert.ok(lb !== undefined);
    w.write('a.test');
    w.write('b.test');
    lb.loaded = new Map([...w.disk].filter(([name]) => name === 'a.test'));
    w.controller.start();
    await w.runFor(3_000);
    assert.equal(lb.signals.length, 1);
    await w.controller.settled();
    assert.deepEqual(w.controller.records().map((r) => [r.name, r.status]), [['a.test', 'served'], ['b.test', 'served']]);
    await w.controller.stop();
  });

  it('with the check off keeps no records and confirms by accepted signals', async () => {
    const w = world(1, { checkPort: 0 });
    w.write('a.test');
    w.controller.changed(['a.test'], 'new a.test');
    w.controller.start();
    await w.runFor(2_000);
    await w.controller.settled();
    assert.equal(w.lbs[0]?.signals.length, 1);
    assert.deepEqual(w.controller.records(), []);
    assert.match(w.controller.lbSummaries()[0]?.summary ?? '', /delivery check off; last signal accepted/);
  });

  it('persists the records to delivery.json through the store', async () => {
    const files = new Map<string, string>();
    const w = world(1, { store: { writeFileAtomic: (path, text) => Promise.resolve(void files.set(path, text)) } });
    w.write('a.test');
    w.controller.changed(['a.test'], 'new a.test');
    await w.runFor(2_000);
    await w.controller.settled();
    await w.controller.stop();
    const written = JSON.parse(files.get('delivery.json') ?? '{}') as { checkPort: number; records: Array<{ name: string; status: string }> };
    assert.equal(written.checkPort, 443);
    assert.deepEqual(written.records.map((r) => [r.name, r.status]), [['a.test', 'served']]);
  });
});
