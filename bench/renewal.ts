/**
 * `renewal`: 5,000 stored certificates of which a set is due (issued long enough ago that less than
 * a third of their lifetime is left), renewed by the real executable from pebble, so every renewal is
 * a real ACME order with a real HTTP-01 validation (pebble's validator is not told to sleep). Measured:
 * how long the due set takes, how the orders spread over time (from the daemon's own log lines), and
 * whether the renewals stay inside the client-side rate budget (src/acme/rate-budget.ts), which at
 * Let's Encrypt they do not count against: the ledger in state.json must show no orders spent.
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseBundle } from '../src/certs/bundle.js';
import { parseState } from '../src/state/state.js';
import { startLbReceiver } from '../test/support/lb-receiver.js';
import { MarathonEmulator } from '../test/support/marathon-emulator.js';
import { startPebble } from '../test/support/pebble.js';
import { freePort } from '../test/support/ports.js';
import { Cleanup } from './cleanup.js';
import { spawnDaemon, type LogLine } from './daemon-process.js';
import type { Benchmark, Figure } from './report.js';
import { bundlesFor, DAY, domainOf, log, mixedApps, ourApps, storeBundles } from './scale.js';

const STORED = 5_000;
const DUE = 500;
/** 61 of 90 days gone: 29 days left, under the third (30 days) that makes a certificate due, and far from the 1/20 emergency. */
const DUE_AGE_MS = 61 * DAY;
/** Real orders take about a second each at four at a time; this only turns a hang into an error. */
const RENEWAL_LIMIT_MS = 10 * 60_000;

/** Orders per minute of the run, from the daemon's 'requesting a certificate' lines. */
function perMinute(orders: readonly LogLine[], startMs: number): number[] {
  const buckets: number[] = [];
  for (const line of orders) {
    const minute = Math.floor((line.loggedAt - startMs) / 60_000);
    buckets[minute] = (buckets[minute] ?? 0) + 1;
  }
  // Minutes without an order are holes in the array; they count as zero.
  return Array.from({ length: buckets.length }, (_, i) => buckets[i] ?? 0);
}

async function run(): Promise<Figure[]> {
  const cleanup = new Cleanup();
  try {
    const current = ourApps(STORED - DUE);
    const due = ourApps(DUE, 'due');
    const storage = await mkdtemp(join(tmpdir(), 'ma-bench-renewal-'));
    cleanup.defer('storage directory', () => rm(storage, { recursive: true, force: true }));
    await storeBundles(storage, [
      ...(await bundlesFor(current.map((_, i) => domainOf(i)))),
      ...(await bundlesFor(due.map((_, i) => domainOf(i, 'due')), Date.now() - DUE_AGE_MS)),
    ]);

    // Every stored certificate is wanted by an app, so the syncs order nothing and keep nothing from retiring.
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    cleanup.defer('Marathon emulator', () => marathon.stop());
    marathon.replaceAppsSilently(mixedApps(current, due));
    const lb = await startLbReceiver();
    cleanup.defer('LB stand-in', () => lb.stop());
    const listenPort = await freePort();
    const pebble = await startPebble({ httpPort: listenPort });
    cleanup.defer('pebble', () => pebble.stop());
    const daemon = spawnDaemon({
      acme: pebble, marathon: marathon.url, lbs: [lb], listenPort, storage,
      // Pebble is not Let's Encrypt, so no budget applies by default; this run is about Let's Encrypt's.
      args: ['--key-type', 'ecdsa-p256', '--sync-interval', '0', '--rate-limits', 'letsencrypt'],
    });
    cleanup.defer('marathon-acme', () => daemon.stop());

    const planned = await daemon.waitFor('the renewal plan', (l) => l.msg === 'renewing certificates', 120_000);
    // The daemon's own CPU time per order does not depend on what else the machine is doing.
    const cpuAtPlan = await daemon.cpuMs();
    const done = await daemon.waitFor('the end of the renewal check', (l) => l.msg === 'renewal check completed', RENEWAL_LIMIT_MS);
    const cpuPerOrder = ((await daemon.cpuMs()) - cpuAtPlan) / DUE;
    const checkStarted = daemon.lines.find((l) => l.msg === 'checking stored certificates for renewal');
    const orders = daemon.lines.filter((l) => l.msg === 'requesting a certificate');
    const stored = daemon.lines.filter((l) => l.msg === 'certificate stored');
    const failures = daemon.lines.filter((l) => l.level === 'error');
    const state = parseState(await readFile(join(storage, 'state.json'), 'utf8')).state;
    const renewedBundle = parseBundle(await readFile(join(storage, 'certs', `${domainOf(0, 'due')}.pem`), 'utf8'));
    const exit = await daemon.stop();
    if (exit !== 'code 0 signal null') throw new Error(`marathon-acme stopped with ${exit}`);

    if (planned.fields['count'] !== DUE) throw new Error(`the daemon planned ${String(planned.fields['count'])} renewals, expected ${DUE}`);
    if (orders.some((l) => l.fields['reason'] !== 'renewal')) throw new Error('an order that was not a renewal was placed');
    if (!renewedBundle.ok || renewedBundle.bundle.leaf.notBefore.getTime() < Date.now() - DAY) throw new Error('due0 was not replaced by a new certificate');
    const renewed = Number(done.fields['renewed']);
    const failed = Number(done.fields['failed']);
    const seconds = (done.readAt - planned.readAt) / 1000;
    const startMs = planned.loggedAt;
    const minutes = perMinute(orders, startMs);
    const busiest = Math.max(...minutes);
    const ledger = [...state.cas.values()][0]?.budget ?? { orders: [], certs: {} };
    const budgetOrders = ledger.orders.length;
    const budgetCerts = Object.values(ledger.certs).reduce((n, times) => n + times.length, 0);
    log(`${renewed} renewed, ${failed} failed, ${orders.length} orders, ${stored.length} stored, ${failures.length} error lines in ${seconds.toFixed(1)} s; orders per minute: ${minutes.join(', ')}`);
    log(`budget ledger after the run: ${budgetOrders} orders, ${budgetCerts} certificates`);

    return [
      {
        bench: 'renewal',
        figure: `renew the ${DUE} due of ${STORED.toLocaleString('en')} stored certificates (pebble, real orders)`,
        value: seconds,
        unit: 's',
        target: `all ${DUE} renewed`,
        met: renewed === DUE && failed === 0,
        note: `${renewed} renewed, ${failed} failed, ${(seconds / Math.max(1, renewed)).toFixed(2)} s per certificate at --max-concurrent-orders 4, ${cpuPerOrder.toFixed(0)} ms of the daemon's CPU per order; the renewal check started ${checkStarted === undefined ? '?' : ((planned.readAt - checkStarted.readAt) / 1000).toFixed(1)} s before its first order (reading and scheduling the ${STORED.toLocaleString('en')} certificates)`,
      },
      {
        bench: 'renewal',
        figure: 'orders in the busiest minute',
        value: busiest,
        unit: 'orders',
        target: 'informational',
        met: undefined,
        note: `orders per minute from the first: ${minutes.join(', ')}; without ARI (pebble 2.4 has none) every due certificate is due at once and --max-concurrent-orders alone paces them`,
      },
      {
        bench: 'renewal',
        figure: `rate budget spent by ${orders.length} renewal orders`,
        value: budgetOrders,
        unit: 'orders',
        target: '0 (renewals exempt, as at LE)',
        met: budgetOrders === 0 && budgetCerts === 0,
        note: `state.json ledger after the run: ${budgetOrders} new orders (budget 270 per 3 h), ${budgetCerts} certificates per registered domain (budget 45 per 7 d); ${orders.length} orders went out in ${seconds.toFixed(0)} s, so counted they would have hit the 270 cap`,
      },
    ];
  } finally {
    await cleanup.run();
  }
}

export const renewal: Benchmark = { name: 'renewal', tools: ['pebble'], run };
