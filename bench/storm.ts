/**
 * `storm`: 2,000 api_post_events within 2 s (a deployment touching many apps) against the running
 * executable with 1,000 apps, 500 of them ours with their certificates stored. Counted: the full syncs
 * (GET /v2/apps) the storm costs, which the coalescer should hold to one at once plus one a second;
 * and the resident memory before and after, which should not grow with the events. The storm is run
 * twice: the first one may still grow V8's heap to its working size, the second shows whether the
 * events leave anything behind.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startLbReceiver } from '../test/support/lb-receiver.js';
import { MarathonEmulator } from '../test/support/marathon-emulator.js';
import { startPebble } from '../test/support/pebble.js';
import { freePort } from '../test/support/ports.js';
import { Cleanup } from './cleanup.js';
import { spawnDaemon, type DaemonProcess } from './daemon-process.js';
import type { Benchmark, Figure } from './report.js';
import { bundlesFor, domainOf, isSyncCompleted, log, MB, mixedApps, otherApps, ourApps, storeBundles } from './scale.js';

const APPS = 1_000;
const OURS = 500;
const EVENTS = 2_000;
const BATCHES = 20;
/** 20 batches 100 ms apart: the last one goes out 1.9 s after the first. */
const BATCH_GAP_MS = 100;

interface StormResult {
  stormMs: number;
  syncs: number;
  syncLines: number;
  rssBefore: number;
  rssAfter: number;
}

async function runStorm(daemon: DaemonProcess, marathon: MarathonEmulator, apps: readonly object[]): Promise<StormResult> {
  const requestsBefore = marathon.appsRequests;
  const linesBefore = daemon.lines.length;
  const rssBefore = (await daemon.memory()).rss;
  const started = performance.now();
  let sent = 0;
  for (let batch = 0; batch < BATCHES; batch++) {
    // Batches on a fixed schedule from the start, so the storm lasts 1.9 s however long a batch takes.
    const due = started + batch * BATCH_GAP_MS - performance.now();
    if (due > 0) await new Promise((resolve) => setTimeout(resolve, due));
    for (let i = 0; i < EVENTS / BATCHES; i++) {
      const app = apps[sent % apps.length];
      if (app !== undefined) marathon.updateApp(app);
      sent++;
    }
  }
  const stormMs = performance.now() - started;
  // The sync queued behind the storm waits up to 1 s for its turn; 1.5 s without work means it ran.
  await daemon.settle(1_500, 60_000);
  const syncLines = daemon.lines.slice(linesBefore).filter((l) => l.msg === 'starting a sync').length;
  return { stormMs, syncs: marathon.appsRequests - requestsBefore, syncLines, rssBefore, rssAfter: (await daemon.memory()).rss };
}

async function run(): Promise<Figure[]> {
  const cleanup = new Cleanup();
  try {
    const ours = ourApps(OURS);
    const storage = await mkdtemp(join(tmpdir(), 'ma-bench-storm-'));
    cleanup.defer('storage directory', () => rm(storage, { recursive: true, force: true }));
    await storeBundles(storage, await bundlesFor(ours.map((_, i) => domainOf(i))));

    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    cleanup.defer('Marathon emulator', () => marathon.stop());
    const apps = mixedApps(ours, otherApps(APPS - OURS));
    marathon.replaceAppsSilently(apps);
    const lb = await startLbReceiver();
    cleanup.defer('LB stand-in', () => lb.stop());
    const listenPort = await freePort();
    const pebble = await startPebble({ httpPort: listenPort });
    cleanup.defer('pebble', () => pebble.stop());
    // No periodic sync: every sync counted is one the events caused.
    const daemon = spawnDaemon({
      acme: pebble, marathon: marathon.url, lbs: [lb], listenPort, storage,
      args: ['--key-type', 'ecdsa-p256', '--sync-interval', '0'],
    });
    cleanup.defer('marathon-acme', () => daemon.stop());
    await daemon.waitFor('the first complete sync', isSyncCompleted(APPS), 60_000);
    await daemon.settle(1_500, 60_000);

    const first = await runStorm(daemon, marathon, apps);
    const second = await runStorm(daemon, marathon, apps);
    const { hwm } = await daemon.memory();
    const ordered = daemon.lines.filter((l) => l.msg === 'requesting a certificate').length;
    if (ordered > 0) throw new Error(`${ordered} certificates were ordered; every one was stored and valid`);
    const exit = await daemon.stop();
    if (exit !== 'code 0 signal null') throw new Error(`marathon-acme stopped with ${exit}`);
    const mb = (bytes: number): string => `${(bytes / MB).toFixed(1)} MB`;
    for (const [i, r] of [first, second].entries()) {
      log(`storm ${i + 1}: ${EVENTS} events in ${(r.stormMs / 1000).toFixed(2)} s → ${r.syncs} GET /v2/apps, ${r.syncLines} 'starting a sync'; RSS ${mb(r.rssBefore)} → ${mb(r.rssAfter)}`);
    }
    const growth = first.rssAfter - first.rssBefore;
    const leak = second.rssAfter - second.rssBefore;
    return [
      {
        bench: 'storm',
        figure: `full syncs for ${EVENTS.toLocaleString('en')} api_post_events in ${(first.stormMs / 1000).toFixed(1)} s (${APPS.toLocaleString('en')} apps)`,
        value: first.syncs,
        unit: 'syncs',
        target: '≤ 3',
        met: first.syncs <= 3,
        note: `GET /v2/apps answered during and after the storm (the daemon logged ${first.syncLines} 'starting a sync'); the second storm cost ${second.syncs}`,
      },
      {
        bench: 'storm',
        figure: 'RSS growth over the storm',
        value: growth / MB,
        unit: 'MB',
        target: 'flat: < 10 MB',
        met: growth < 10 * MB,
        note: `RSS ${mb(first.rssBefore)} before, ${mb(first.rssAfter)} after; a second storm: ${mb(second.rssBefore)} → ${mb(second.rssAfter)} (${leak >= 0 ? '+' : ''}${mb(leak)}); peak (VmHWM) ${mb(hwm)}`,
      },
    ];
  } finally {
    await cleanup.run();
  }
}

export const storm: Benchmark = { name: 'storm', tools: ['pebble'], run };
