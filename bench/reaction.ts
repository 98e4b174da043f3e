/**
 * `reaction`: how long after a label is added in Marathon the certificate is on disk and marathon-lb
 * was told to reload. The real executable runs idle against pebble (VA without sleep, no authorization
 * reuse) with default settings; each trial adds one app with a new MARATHON_ACME_0_DOMAIN label (the
 * emulator emits api_post_event, as Marathon does for POST /v2/apps) and stops the clock at the
 * arrival of the signal at the later of the two LB stand-ins. No peer: nothing else reacts to Marathon.
 *
 * The daemon's log splits each trial: event to `starting a sync`, to `requesting a certificate`, the
 * ACME order itself (`certificate issued`, durationMs), to `certificate stored`, to the LB signal.
 */
import { cpus, loadavg } from 'node:os';
import { Cleanup } from './cleanup.js';
import { startStage } from './stage.js';
import { spawnDaemon, type DaemonProcess, type LogLine } from './daemon-process.js';
import { acmeRequestTotals, acmeSummary, deliveredAt, labelledApp, logNotes, median, progress, until } from './issuance.js';
import { percentiles, type Benchmark, type Figure } from './report.js';

const TRIALS = 20;
/**
 * Syncs start at least 1 s apart (MIN_SYNC_INTERVAL_MS in src/daemon/leader-term.ts), so a label added sooner
 * after the previous sync would measure that pause, not an idle daemon. Wait this long after each trial.
 */
const IDLE_GAP_MS = 1_200;
const TRIAL_LIMIT_MS = 60_000;

interface Trial {
  /** Label added to the last LB's signal. */
  totalMs: number;
  /** The daemon's durationMs for the order (newOrder to certificate downloaded, key included). */
  orderMs: number;
  eventToSyncMs: number;
  syncToOrderMs: number;
  issuedToStoredMs: number;
  storedToSignalMs: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The first line at or after `from` with this message (and this domain, when given). */
function find(logs: readonly LogLine[], from: number, msg: string, domain?: string): LogLine | undefined {
  for (let i = from; i < logs.length; i++) {
    const line = logs[i];
    if (line !== undefined && line.msg === msg && (domain === undefined || line.fields['domain'] === domain)) return line;
  }
  return undefined;
}

/** Idle: registered, attached to the event stream, and the sync asked for by the registration is over. */
async function waitUntilIdle(daemon: DaemonProcess): Promise<void> {
  await until('the daemon registered, attached and synced', () => {
    daemon.assertRunning();
    const logs = daemon.lines;
    if (find(logs, 0, 'attached to the Marathon event stream; running a full sync') === undefined) return undefined;
    const afterAccount = logs.findIndex((l) => l.msg === 'starting a sync' && Array.isArray(l.fields['reasons']) && l.fields['reasons'].includes('ACME account ready'));
    if (afterAccount < 0) return undefined;
    return find(logs, afterAccount, 'sync completed') === undefined ? undefined : true;
  }, 60_000);
  await sleep(IDLE_GAP_MS);
}

export const reaction: Benchmark = {
  name: 'reaction',
  tools: ['pebble'],
  async run(): Promise<Figure[]> {
    const stack = new Cleanup();
    const trials: Trial[] = [];
    /** ACME requests of the trials alone: /metrics after them minus /metrics before. */
    const acme = new Map<string, { count: number; seconds: number }>();
    // Other work on the machine slows every trial; reported with the figures.
    let loadBefore = NaN;
    try {
      const { httpPort, pebble, marathon, lbs, storage } = await startStage(stack, 'reaction');
      const daemon = spawnDaemon({ acme: pebble, marathon: marathon.url, lbs, listenPort: httpPort, storage });
      stack.defer('marathon-acme', () => daemon.stop());
      await waitUntilIdle(daemon);
      const before = await acmeRequestTotals(httpPort);
      loadBefore = loadavg()[0] ?? NaN;

      for (let i = 0; i < TRIALS; i++) {
        const name = `app${i}.reaction.example.test`;
        const from = daemon.lines.length;
        const added = Date.now();
        marathon.addApp(labelledApp(`/reaction/app${i}`, name));
        const done = await until(`certificate for ${name} and both LBs signalled`, () => {
          daemon.assertRunning();
          return deliveredAt(storage, [name], lbs);
        }, TRIAL_LIMIT_MS).catch(async (err: unknown) => {
          throw new Error(`${err instanceof Error ? err.message : String(err)}; ${await progress(storage, lbs, daemon)}`);
        });
        // The log lines were written before the signal went out; the pipe may deliver them a moment later.
        const lines = await until(`the log lines of ${name}`, () => {
          const logs = daemon.lines;
          const sync = find(logs, from, 'starting a sync');
          const requested = find(logs, from, 'requesting a certificate', name);
          const issued = find(logs, from, 'certificate issued', name);
          const stored = find(logs, from, 'certificate stored', name);
          return sync && requested && issued && stored ? { sync, requested, issued, stored } : undefined;
        }, 10_000);
        const signalled = Math.max(...done.signalled);
        trials.push({
          totalMs: signalled - added,
          orderMs: Number(lines.issued.fields['durationMs']),
          // The daemon's own timestamps, on the clock of `added` and the LBs' arrival times (Date.now()).
          eventToSyncMs: lines.sync.loggedAt - added,
          syncToOrderMs: lines.requested.loggedAt - lines.sync.loggedAt,
          issuedToStoredMs: lines.stored.loggedAt - lines.issued.loggedAt,
          storedToSignalMs: signalled - lines.stored.loggedAt,
        });
        await sleep(IDLE_GAP_MS);
      }
      for (const [endpoint, entry] of await acmeRequestTotals(httpPort)) {
        const was = before.get(endpoint) ?? { count: 0, seconds: 0 };
        acme.set(endpoint, { count: entry.count - was.count, seconds: entry.seconds - was.seconds });
      }
    } finally {
      await stack.run();
    }

    const loadAfter = loadavg()[0] ?? NaN;
    const total = percentiles(trials.map((t) => t.totalMs));
    const order = percentiles(trials.map((t) => t.orderMs));
    const rest = percentiles(trials.map((t) => t.totalMs - t.orderMs));
    const stage = (pick: (t: Trial) => number): number => median(trials.map(pick));
    const http = acmeSummary(acme, TRIALS);
    const figures: Figure[] = [
      {
        bench: 'reaction',
        figure: `label added → certificate on disk, LBs signalled (median of ${TRIALS})`,
        value: total.median,
        unit: 'ms',
        target: 'median < 1 s',
        met: total.median < 1_000,
        note: `idle daemon, default settings (RSA 2048), pebble without VA sleep; min ${Math.min(...trials.map((t) => t.totalMs))} ms, max ${Math.max(...trials.map((t) => t.totalMs))} ms; load ${loadBefore.toFixed(1)}→${loadAfter.toFixed(1)} on ${cpus().length} cores`,
      },
      {
        bench: 'reaction',
        figure: `label added → certificate on disk, LBs signalled (p95 of ${TRIALS})`,
        value: total.p95,
        unit: 'ms',
        target: 'informational',
        met: undefined,
      },
      {
        bench: 'reaction',
        figure: 'of which the ACME order (daemon log durationMs, median)',
        value: order.median,
        unit: 'ms',
        target: 'informational',
        met: undefined,
        note: `p95 ${order.p95} ms; newOrder to certificate downloaded, key generation overlapping validation`,
      },
      {
        bench: 'reaction',
        figure: 'of which everything else (median)',
        value: rest.median,
        unit: 'ms',
        target: 'informational',
        met: undefined,
        note:
          `medians: event → sync start ${stage((t) => t.eventToSyncMs)} ms, sync start → order ${stage((t) => t.syncToOrderMs)} ms, ` +
          `issued → stored ${stage((t) => t.issuedToStoredMs)} ms, stored → last LB signal ${stage((t) => t.storedToSignalMs)} ms`,
      },
      {
        bench: 'reaction',
        figure: 'ACME HTTP time per order, one order at a time (mean)',
        value: http.httpMsPerOrder,
        unit: 'ms',
        target: 'informational',
        met: undefined,
        note:
          `${http.requestsPerOrder.toFixed(1)} requests per order, ${http.noncesPerOrder.toFixed(1)} of them HEAD newNonce; ${http.challengePolls.toFixed(2)} challenge polls, ` +
          `${http.orderPolls.toFixed(2)} order polls; the rest of the order's ${order.median} ms is status-poll back-off (first wait 50 ms, doubling) and CPU`,
      },
    ];
    logNotes(figures);
    return figures;
  },
};
