/**
 * `status-page`: /status for a cluster-sized storage directory: 5,000 certificates (a renewal wall of
 * 2,000 issued on one day, the rest spread out, some due, expiring or expired), 30 names without a
 * certificate (pending or failing) and the delivery records of 3 marathon-lb (one serves everything,
 * one has stale answers, one is unreachable). Measured: the time to read the directory and build the
 * rows (readStatus, as the daemon does for every fresh view), the time to render the HTML, the page's
 * weight raw and gzipped, and in Debian's chromium the time to load it and to apply the filter once.
 * Informational: no target, nothing asserted on time.
 */
import { execFile } from 'node:child_process';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { summariseLb } from '../src/delivery/lb-summary.js';
import type { DeliveryRecord } from '../src/delivery/types.js';
import { listen } from '../src/http/server.js';
import { readStatus } from '../src/status/command.js';
import { lbState } from '../src/status/components.js';
import { renderStatusPage, type StatusView } from '../src/status/page.js';
import { Cleanup } from './cleanup.js';
import type { Benchmark, Figure } from './report.js';
import { bundlesFor, DAY, domainOf, log, storeBundles } from './scale.js';

const LBS = ['http://lb1.example.test:9090', 'http://lb2.example.test:9090', 'http://lb3.example.test:9090'];
/** Issued this many days ago, how many: a wall, a spread, and the problem cases. */
const COHORTS: ReadonlyArray<{ prefix: string; count: number; daysAgo: number[] }> = [
  { prefix: 'wall', count: 2_000, daysAgo: [45] },
  { prefix: 'spread', count: 2_800, daysAgo: Array.from({ length: 28 }, (_, i) => 2 + 2 * i) },
  { prefix: 'due', count: 100, daysAgo: [65] },
  { prefix: 'soon', count: 50, daysAgo: [87] },
  { prefix: 'expired', count: 50, daysAgo: [95] },
];
const PENDING = 10;
const FAILING = 20;
const STALE_ON_LB2 = 40;
const RUNS = 3;
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function chromiumPath(): Promise<string> {
  const fromEnv = process.env['CHROMIUM_PATH'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return (await promisify(execFile)('sh', ['-c', 'command -v chromium'])).stdout.trim();
}

async function prepare(storage: string, now: number): Promise<string[]> {
  const bundles: Array<[string, string]> = [];
  const names: string[] = [];
  for (const cohort of COHORTS) {
    const per = Math.ceil(cohort.count / cohort.daysAgo.length);
    for (const [k, daysAgo] of cohort.daysAgo.entries()) {
      const group = Array.from({ length: Math.min(per, cohort.count - k * per) }, (_, i) => domainOf(k * per + i, cohort.prefix));
      bundles.push(...(await bundlesFor(group, now - daysAgo * DAY)));
      names.push(...group);
    }
  }
  await storeBundles(storage, bundles);
  const failure = (i: number) => ({
    failures: 1 + (i % 4),
    lastError: { type: 'unauthorized', detail: `Invalid response from http://${domainOf(i, 'failing')}/.well-known/acme-challenge/x: 404`, status: 403 },
    nextAttemptAt: new Date(now + (i + 1) * 600_000).toISOString(),
    lastFailureAt: new Date(now - 60_000).toISOString(),
  });
  const certificates = Object.fromEntries(Array.from({ length: FAILING }, (_, i) => [domainOf(i, 'failing'), { failure: failure(i) }]));
  await writeFile(join(storage, 'state.json'), JSON.stringify({ version: 1, certificates }));
  return names;
}

function deliveryRecords(names: readonly string[], now: number): DeliveryRecord[] {
  const records: DeliveryRecord[] = [];
  names.forEach((name, i) => {
    records.push({ lb: LBS[0] ?? '', name, status: 'served', failing: false, checkedAt: now - 60_000, lastServedAt: now - 60_000, detail: undefined });
    const stale = i < STALE_ON_LB2;
    records.push({
      lb: LBS[1] ?? '',
      name,
      status: stale ? 'stale' : 'served',
      failing: stale && i % 4 === 0,
      checkedAt: now - 60_000,
      lastServedAt: stale ? now - 3 * DAY : now - 60_000,
      detail: stale ? 'serial 0a1b2c, notAfter 2027-01-02' : undefined,
    });
    records.push({ lb: LBS[2] ?? '', name, status: 'unreachable', failing: false, checkedAt: now - 60_000, lastServedAt: undefined, detail: 'connect ECONNREFUSED' });
  });
  return records;
}

async function run(): Promise<Figure[]> {
  const cleanup = new Cleanup();
  try {
    const now = Date.now();
    const storage = await mkdtemp(join(tmpdir(), 'ma-bench-status-'));
    cleanup.defer('storage directory', () => rm(storage, { recursive: true, force: true }));
    const names = await prepare(storage, now);
    const records = deliveryRecords(names, now);
    const wanted = [...names, ...Array.from({ length: PENDING }, (_, i) => domainOf(i, 'pending')), ...Array.from({ length: FAILING }, (_, i) => domainOf(i, 'failing'))]
      .map((name, i) => ({ name, appId: `/bench/app${i}`, portIndex: 0 }));

    const readMs: number[] = [];
    const renderMs: number[] = [];
    let html = '';
    for (let i = 0; i < RUNS; i++) {
      const started = performance.now();
      const report = await readStatus(storage, now, { wanted, delivery: { checkPort: 443, records, lbs: LBS } });
      const read = performance.now();
      const summaries = LBS.map((lb) => summariseLb(lb, records, undefined, true));
      const view: StatusView = {
        generatedAt: report.generatedAt,
        version: 'bench',
        marathon: { level: 'ok', summary: 'last sync succeeded', urls: ['http://marathon.example.test:8080'], eventStream: 'attached', lastSyncAt: report.generatedAt },
        account: { level: 'ok', summary: 'registered', directory: 'https://acme.example.test/directory' },
        lbs: summaries.map((s) => lbState(s.lb, false, undefined, s)),
        delivery: { checkPort: 443, lastCheckedAt: report.delivery?.lastCheckedAt ?? null, lbs: summaries },
        cas: [],
        certificates: report.certificates,
      };
      html = renderStatusPage(view);
      readMs.push(read - started);
      renderMs.push(performance.now() - read);
    }
    const rows = names.length + PENDING + FAILING;
    const bytes = Buffer.byteLength(html);
    const gzipBytes = gzipSync(html).length;

    const server = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': String(bytes) }).end(html);
    });
    const { port } = await listen(server, '127.0.0.1', 0);
    cleanup.defer('page server', () => new Promise((resolve) => server.close(resolve)));
    const browser = await chromium.launch({ executablePath: await chromiumPath(), args: CHROMIUM_ARGS });
    cleanup.defer('chromium', () => browser.close());
    const loadMs: number[] = [];
    const filterMs: number[] = [];
    let shownAfterFilter = -1;
    for (let i = 0; i < RUNS; i++) {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      await page.goto(`http://127.0.0.1:${port}/status`, { waitUntil: 'load' });
      loadMs.push(await page.evaluate(() => {
        // In the page: the DOM's performance, not node:perf_hooks' (whose entry types lack 'navigation').
        const nav = window.performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined;
        return nav === undefined ? NaN : nav.loadEventEnd - nav.startTime;
      }));
      // From the keystroke to the frame after the one that shows the filtered rows.
      const filtered = await page.evaluate(async () => {
        const input = document.getElementById('filter-text') as HTMLInputElement;
        const started = performance.now();
        input.value = 'due';
        input.dispatchEvent(new Event('input'));
        await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
        return { ms: performance.now() - started, shown: document.querySelectorAll('#certificates tbody tr:not([hidden])').length };
      });
      filterMs.push(filtered.ms);
      shownAfterFilter = filtered.shown;
      await page.close();
    }
    if (shownAfterFilter !== COHORTS.find((c) => c.prefix === 'due')?.count) throw new Error(`the filter left ${shownAfterFilter} rows shown, not the due ones`);
    const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
    log(`readStatus ${readMs.map((v) => v.toFixed(0)).join(', ')} ms; render ${renderMs.map((v) => v.toFixed(0)).join(', ')} ms; load ${loadMs.map((v) => v.toFixed(0)).join(', ')} ms; filter ${filterMs.map((v) => v.toFixed(0)).join(', ')} ms (${shownAfterFilter} rows shown)`);
    const what = `${names.length.toLocaleString('en')} certificates, ${PENDING + FAILING} names without one, ${LBS.length} LBs`;
    return [
      { bench: 'status-page', figure: `read the storage directory and build the rows (${what})`, value: median(readMs), unit: 'ms', target: 'informational', met: undefined, note: `readStatus, median of ${RUNS}; the daemon does this once per fresh /status view (a view is reused for 2 s)` },
      { bench: 'status-page', figure: 'render the /status HTML', value: median(renderMs), unit: 'ms', target: 'informational', met: undefined, note: `renderStatusPage, median of ${RUNS}, ${rows.toLocaleString('en')} rows` },
      { bench: 'status-page', figure: 'page weight', value: bytes / 1e6, unit: 'MB', target: 'informational', met: undefined, note: `${(gzipBytes / 1e3).toFixed(0)} kB gzipped (the daemon sends it uncompressed; a proxy in front may compress it)` },
      { bench: 'status-page', figure: 'page weight gzipped', value: gzipBytes / 1e3, unit: 'kB', target: 'informational', met: undefined },
      { bench: 'status-page', figure: 'load in chromium (navigation to load event)', value: median(loadMs), unit: 'ms', target: 'informational', met: undefined, note: `1280×800, median of ${RUNS}: parse, style, layout of ${rows.toLocaleString('en')} rows and the chart` },
      { bench: 'status-page', figure: 'filter once in chromium (keystroke to rendered frame)', value: median(filterMs), unit: 'ms', target: 'informational', met: undefined, note: `"due" typed into the filter: ${shownAfterFilter} rows stay shown; median of ${RUNS}` },
    ];
  } finally {
    await cleanup.run();
  }
}

export const statusPage: Benchmark = { name: 'status-page', tools: ['chromium'], run };
