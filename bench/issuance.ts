/**
 * `issuance`: 50 new names from zero. The real executable (bin/marathon-acme) starts against an empty
 * storage directory, a Marathon emulator with 50 labelled apps and two marathon-lb stand-ins, and the
 * clock stops when all 50 bundles are in certs/ and each LB was signalled after the last of them was
 * written. The peer is Debian's certbot issuing the same 50 names one run per name, as a cron or
 * deploy script would, against a pebble started with the same settings in the same run.
 *
 * Where our time goes comes from three sources in the same run: the daemon's own log lines (each order
 * logs `requesting a certificate`, then `certificate issued` with its durationMs), its /metrics (every
 * HTTP request to the CA is timed by ACME resource, so request counts and time per order fall out),
 * and key generation timed separately in this process with the same node:crypto call the daemon uses.
 *
 * Also exports the pieces `reaction` reuses: an LB stand-in that keeps the arrival time of every
 * signal, the test for "delivered" (bundles in certs/, each LB signalled after the last write), the
 * ACME request totals from /metrics, and a polling wait.
 */
import { spawn } from 'node:child_process';
import { generateKeyPair } from 'node:crypto';
import { access, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { createSecureContext, rootCertificates } from 'node:tls';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { request } from 'undici';
import { hostApp } from '../test/support/apps.js';
import { pebbleTls, startPebble, type Pebble } from '../test/support/pebble.js';
import type { LbReceiver } from '../test/support/lb-receiver.js';
import { freePort } from '../test/support/ports.js';
import { Cleanup } from './cleanup.js';
import { startStage } from './stage.js';
import { processCpuMs, spawnDaemon, type DaemonProcess } from './daemon-process.js';
import { percentiles, type Benchmark, type Figure } from './report.js';

const NAMES = 50;
/** The default of --max-concurrent-orders, then the two points of the curve the issue asks for. */
const CONCURRENCY = [4, 8, 16] as const;
/** Not a performance limit: only turns a hang into a crash report that says what was awaited. */
const RUN_LIMIT_MS = 120_000;
/** A certbot run that fails (pebble rejects 5 % of nonces; certbot retries a badNonce only once) is rerun, as a script would. */
const CERTBOT_TRIES = 3;

const generateKeyPairAsync = promisify(generateKeyPair);

/** Polls `check` every 10 ms until it returns a value; the limit only turns a hang into an error. */
export async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, limitMs = RUN_LIMIT_MS): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${limitMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * When every one of `names` has its bundle in certs/ and every LB got a signal after the last of those
 * writes: the last write (the newest mtime: the daemon writes to .tmp/, fsyncs and renames, which
 * keeps the mtime) and, per LB, the arrival of its first signal after it. Undefined while not yet.
 */
export async function deliveredAt(storage: string, names: readonly string[], lbs: readonly LbReceiver[]): Promise<{ lastWrite: number; signalled: number[] } | undefined> {
  const certs = join(storage, 'certs');
  const present = new Set(await readdir(certs).catch(() => []));
  if (!names.every((n) => present.has(`${n}.pem`))) return undefined;
  let lastWrite = 0;
  for (const name of names) lastWrite = Math.max(lastWrite, (await stat(join(certs, `${name}.pem`))).mtimeMs);
  const signalled: number[] = [];
  for (const lb of lbs) {
    // mtime has sub-millisecond precision, Date.now() whole milliseconds: compare on whole ones.
    const after = lb.usr1Times.find((t) => t >= Math.floor(lastWrite));
    if (after === undefined) return undefined;
    signalled.push(after);
  }
  return { lastWrite, signalled };
}

/** Per ACME resource: how many HTTP requests the daemon sent and the seconds they took, from /metrics. */
export async function acmeRequestTotals(port: number): Promise<Map<string, { count: number; seconds: number }>> {
  const response = await request(`http://127.0.0.1:${port}/metrics`);
  const text = await response.body.text();
  const totals = new Map<string, { count: number; seconds: number }>();
  for (const match of text.matchAll(/^marathon_acme_acme_request_duration_seconds_(sum|count)\{endpoint="([^"]+)"\} (\S+)$/gm)) {
    const [, kind, endpoint, value] = match;
    if (endpoint === undefined || value === undefined) continue;
    const entry = totals.get(endpoint) ?? { count: 0, seconds: 0 };
    if (kind === 'sum') entry.seconds = Number(value);
    else entry.count = Number(value);
    totals.set(endpoint, entry);
  }
  return totals;
}

export function labelledApp(id: string, name: string): ReturnType<typeof hostApp> {
  return hostApp(id, { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: name });
}

export function median(values: readonly number[]): number {
  return percentiles(values).median;
}

/** Writes each figure's note to stderr: the terminal table has no room for them, BENCHMARKS.md does. */
export function logNotes(figures: readonly Figure[]): void {
  for (const f of figures) if (f.note !== undefined) process.stderr.write(`[bench] ${f.bench}: ${f.figure}: ${f.note}\n`);
}

interface DaemonRun {
  keyType: string;
  concurrency: number;
  /** Spawn to the last LB's first signal after the last write. */
  totalMs: number;
  /** Spawn to `ACME account ready` (process start, storage init, account key, registration). */
  accountReadyMs: number;
  /** Spawn to the first `requesting a certificate`. */
  firstOrderMs: number;
  /** First `requesting a certificate` to the last `certificate issued`. */
  orderingMs: number;
  /** Last `certificate issued` to the last LB signal (store, state, signal). */
  tailMs: number;
  /** durationMs of every `certificate issued` line. */
  orderMs: number[];
  acme: Map<string, { count: number; seconds: number }>;
  /** CPU seconds (user + system, all threads) of the daemon and of its pebble over the run. */
  daemonCpuS: number;
  pebbleCpuS: number;
  load: Load;
}

/**
 * The 1-minute load average when a run started and ended. Other work on the machine (another
 * benchmark, a build) slows every figure and not each one alike, so it is reported with them.
 */
interface Load {
  before: number;
  after: number;
}

function loadText(load: Load): string {
  return `load ${load.before.toFixed(1)}→${load.after.toFixed(1)} on ${cpus().length} cores`;
}

/**
 * One registered domain per name, as a run against Let's Encrypt would need (its budget keeps 45
 * new certificates per registered domain per week; pebble gets no budget by default, see
 * src/acme/rate-limits.ts), so that the figures stay comparable with the earlier runs.
 */
function names(): string[] {
  return Array.from({ length: NAMES }, (_, i) => `app.issuance${i}.test`);
}

/** What a run that did not finish got to, for the error message. */
export async function progress(storage: string, lbs: readonly LbReceiver[], daemon: DaemonProcess): Promise<string> {
  const files = await readdir(join(storage, 'certs')).catch(() => []);
  const problems = daemon.lines
    .filter((l) => l.level !== 'info')
    .slice(-3)
    .map((l) => `${l.msg}: ${JSON.stringify(l.fields['err'] ?? '')}`);
  return `${files.length} bundles in certs/, LB signals ${lbs.map((l) => l.usr1Times.length).join('/')}; last warnings: ${problems.join(' | ') || 'none'}`;
}

async function daemonRun(keyType: string, concurrency: number): Promise<DaemonRun> {
  const stack = new Cleanup();
  try {
    const { httpPort, pebble, marathon, lbs, storage } = await startStage(stack, 'issuance');
    const wanted = names();
    wanted.forEach((name, i) => {
      marathon.addApp(labelledApp(`/issuance/app${i}`, name));
    });

    const cpuSeconds = async (pid: number): Promise<number> => (await processCpuMs(pid)) / 1000;
    const pebbleCpuAtStart = await cpuSeconds(pebble.pid);
    const loadBefore = loadavg()[0] ?? NaN;
    const started = Date.now();
    const daemon = spawnDaemon({
      acme: pebble, marathon: marathon.url, lbs, listenPort: httpPort, storage,
      args: ['--key-type', keyType, '--max-concurrent-orders', String(concurrency)],
    });
    stack.defer('marathon-acme', () => daemon.stop());
    const done = await until(`${NAMES} bundles and a signal to each LB after the last write (${keyType}, ${concurrency} concurrent)`, () => {
      daemon.assertRunning();
      return deliveredAt(storage, wanted, lbs);
    }).catch(async (err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}; ${await progress(storage, lbs, daemon)}`);
    });
    const acme = await acmeRequestTotals(httpPort);
    const daemonCpuS = await cpuSeconds(daemon.pid);
    const pebbleCpuS = (await cpuSeconds(pebble.pid)) - pebbleCpuAtStart;
    const end = Math.max(...done.signalled);
    // The daemon's own timestamps: on the same clock as `started` and the LBs' arrival times.
    const firstOf = (msg: string): number => daemon.lines.find((l) => l.msg === msg)?.loggedAt ?? NaN;
    const issued = daemon.lines.filter((l) => l.msg === 'certificate issued');
    const lastIssued = Math.max(...issued.map((l) => l.loggedAt));
    return {
      keyType,
      concurrency,
      totalMs: end - started,
      accountReadyMs: firstOf('ACME account ready') - started,
      firstOrderMs: firstOf('requesting a certificate') - started,
      orderingMs: lastIssued - firstOf('requesting a certificate'),
      tailMs: end - lastIssued,
      orderMs: issued.map((l) => Number(l.fields['durationMs'])),
      acme,
      daemonCpuS,
      pebbleCpuS,
      load: { before: loadBefore, after: loadavg()[0] ?? NaN },
    };
  } finally {
    await stack.run();
  }
}

interface CertbotRun {
  load: Load;
  totalMs: number;
  perNameMs: number[];
  failedRuns: number;
}

function certbotOnce(pebble: Pebble, port: number, dir: string, name: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    // The command line of ../shared/reference/test-environment.md; certbot's defaults otherwise
    // (2.x: an ECDSA P-256 key per certificate).
    const child = spawn(
      'certbot',
      [
        'certonly', '--standalone', '--http-01-port', String(port), '--http-01-address', '127.0.0.1', '--server', pebble.directoryUrl,
        '--register-unsafely-without-email', '--agree-tos', '--non-interactive',
        '--config-dir', join(dir, 'config'), '--work-dir', join(dir, 'work'), '--logs-dir', join(dir, 'logs'), '-d', name,
      ],
      { env: { ...process.env, REQUESTS_CA_BUNDLE: pebble.caFile }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-4_096);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('error', reject);
    child.once('exit', (code) => {
      resolve({ code, output });
    });
  });
}

async function certbotRun(): Promise<CertbotRun> {
  const stack = new Cleanup();
  try {
    const port = await freePort();
    // A pebble of its own, started exactly like the daemon's (startPebble's defaults: VA without
    // sleep, no authorization reuse, 5 % of nonces rejected), its validator pointed at certbot's port.
    const pebble = await startPebble({ httpPort: port });
    stack.defer('pebble (certbot)', () => pebble.stop());
    // One fresh config dir for the whole series: the first run registers the account, the rest reuse it.
    const dir = await mkdtemp(join(tmpdir(), 'ma-bench-certbot-'));
    stack.defer('certbot directory', () => rm(dir, { recursive: true, force: true }));
    const perNameMs: number[] = [];
    let failedRuns = 0;
    const loadBefore = loadavg()[0] ?? NaN;
    const started = performance.now();
    for (const name of names()) {
      const nameStarted = performance.now();
      for (let attempt = 1; ; attempt++) {
        const { code, output } = await certbotOnce(pebble, port, dir, name);
        if (code === 0) break;
        failedRuns++;
        if (attempt >= CERTBOT_TRIES) throw new Error(`certbot failed ${attempt} times for ${name}: ${output}`);
      }
      perNameMs.push(performance.now() - nameStarted);
    }
    const totalMs = performance.now() - started;
    for (const name of names()) await access(join(dir, 'config', 'live', name, 'fullchain.pem'));
    return { totalMs, perNameMs, failedRuns, load: { before: loadBefore, after: loadavg()[0] ?? NaN } };
  } finally {
    await stack.run();
  }
}

interface KeyTiming {
  /** Milliseconds per key, generated one at a time. */
  sequentialMs: number[];
  /** Wall time for NAMES keys, four at a time (as many as the default orders in flight). */
  fourAtATimeMs: number;
}

/** The daemon's key generation (src/acme/issuer.ts generateCertificateKey), timed in this process. */
async function keyTiming(type: 'rsa2048' | 'ecdsa-p256'): Promise<KeyTiming> {
  const generate = (): Promise<unknown> =>
    type === 'rsa2048' ? generateKeyPairAsync('rsa', { modulusLength: 2048, publicExponent: 0x10001 }) : generateKeyPairAsync('ec', { namedCurve: 'P-256' });
  const sequentialMs: number[] = [];
  for (let i = 0; i < NAMES; i++) {
    const t = performance.now();
    await generate();
    sequentialMs.push(performance.now() - t);
  }
  const t = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next++ < NAMES) await generate();
    }),
  );
  return { sequentialMs, fourAtATimeMs: performance.now() - t };
}

/**
 * The trust store the daemon builds once when --acme-ca-file is set (src/acme/acme-agent.ts: ~145 PEM
 * roots plus the extra file), timed here with pebble's CA as the extra file. It shows what building it
 * per TLS connection, as Node does for an agent given `ca` instead of `secureContext`, would cost.
 */
async function trustStoreBuildMs(): Promise<number[]> {
  const extra = (await pebbleTls()).caPem;
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    createSecureContext({ ca: [...rootCertificates, extra] });
    times.push(performance.now() - t);
  }
  return times;
}

function seconds(ms: number): number {
  return ms / 1000;
}

export function acmeSummary(acme: ReadonlyMap<string, { count: number; seconds: number }>, orders: number): { requestsPerOrder: number; httpMsPerOrder: number; noncesPerOrder: number; challengePolls: number; orderPolls: number } {
  let count = 0;
  let secs = 0;
  for (const [endpoint, entry] of acme) {
    // The directory and account requests belong to start-up, not to the orders.
    if (endpoint === 'directory' || endpoint === 'newAccount' || endpoint === 'account') continue;
    count += entry.count;
    secs += entry.seconds;
  }
  return {
    requestsPerOrder: count / orders,
    httpMsPerOrder: (secs * 1000) / orders,
    // Only when no Replay-Nonce of an earlier answer is left (orders in flight at once share them).
    noncesPerOrder: (acme.get('newNonce')?.count ?? 0) / orders,
    // An authorization is read once, its challenge answered, then the authorization is polled until
    // the challenge is validated (one name per order here).
    challengePolls: (acme.get('authz')?.count ?? 0) / orders - 1,
    // Status polls of an order that finalize left "processing".
    orderPolls: (acme.get('order')?.count ?? 0) / orders,
  };
}

export const issuance: Benchmark = {
  name: 'issuance',
  tools: ['pebble', 'certbot'],
  async run(): Promise<Figure[]> {
    const runs: DaemonRun[] = [];
    for (const concurrency of CONCURRENCY) {
      process.stderr.write(`[bench] issuance: marathon-acme, rsa2048, --max-concurrent-orders ${concurrency}…\n`);
      runs.push(await daemonRun('rsa2048', concurrency));
    }
    process.stderr.write('[bench] issuance: marathon-acme, ecdsa-p256, --max-concurrent-orders 4…\n');
    const ecdsa = await daemonRun('ecdsa-p256', 4);
    process.stderr.write(`[bench] issuance: certbot, ${NAMES} names one by one (about 3 s each)…\n`);
    const certbot = await certbotRun();
    process.stderr.write('[bench] issuance: key generation in this process…\n');
    const rsaKeys = await keyTiming('rsa2048');
    const ecKeys = await keyTiming('ecdsa-p256');
    const trustStore = await trustStoreBuildMs();

    const peer = { name: 'certbot', value: seconds(certbot.totalMs) };
    const figures: Figure[] = [];
    const byConcurrency = (run: DaemonRun): string => `--max-concurrent-orders ${run.concurrency}${run.concurrency === 4 ? ' (default)' : ''}`;
    for (const run of runs) {
      const isDefault = run.concurrency === 4;
      const ratio = certbot.totalMs / run.totalMs;
      const orders = percentiles(run.orderMs);
      figures.push({
        bench: 'issuance',
        figure: `${NAMES} certificates from zero, RSA 2048 (default), ${byConcurrency(run)}`,
        value: seconds(run.totalMs),
        unit: 's',
        peer,
        target: isDefault ? '≥ 10× faster than certbot' : 'concurrency curve',
        met: isDefault ? ratio >= 10 : undefined,
        note:
          `daemon start to the last LB signal after the last write; start-up ${seconds(run.firstOrderMs).toFixed(2)} s, ` +
          `orders ${seconds(run.orderingMs).toFixed(2)} s (median ${orders.median} ms, p95 ${orders.p95} ms each), ` +
          `store+signal ${run.tailMs} ms after the last order; ${loadText(run.load)}; certbot: one name at a time, ${loadText(certbot.load)}, failed runs redone: ${certbot.failedRuns}`,
      });
    }
    const ecRatio = certbot.totalMs / ecdsa.totalMs;
    figures.push({
      bench: 'issuance',
      figure: `${NAMES} certificates from zero, ECDSA P-256 (certbot's key type), --max-concurrent-orders 4`,
      value: seconds(ecdsa.totalMs),
      unit: 's',
      peer,
      target: 'like for like with certbot 2.x (P-256)',
      met: undefined,
      note: `${ecRatio.toFixed(1)}× certbot; orders ${seconds(ecdsa.orderingMs).toFixed(2)} s, median ${median(ecdsa.orderMs)} ms each; ${loadText(ecdsa.load)}`,
    });
    figures.push({
      bench: 'issuance',
      figure: 'certbot: one name, one run (median)',
      value: seconds(median(certbot.perNameMs)),
      unit: 's',
      target: 'informational',
      met: undefined,
      note: `Python start, account lookup, order, standalone challenge server; p95 ${seconds(percentiles(certbot.perNameMs).p95).toFixed(2)} s`,
    });

    // Where the time goes, from the default run.
    const base = runs[0];
    if (base === undefined) throw new Error('no default run');
    const summary = acmeSummary(base.acme, NAMES);
    figures.push({
      bench: 'issuance',
      figure: 'start-up: spawn to the first order (default run)',
      value: seconds(base.firstOrderMs),
      unit: 's',
      target: 'informational',
      met: undefined,
      note: `spawn to "ACME account ready" ${seconds(base.accountReadyMs).toFixed(2)} s (Node start, storage init, RSA account key, registration), then the first sync`,
    });
    figures.push({
      bench: 'issuance',
      figure: 'one order, request to issued (default run, median)',
      value: median(base.orderMs),
      unit: 'ms',
      target: 'informational',
      met: undefined,
      note: `p95 ${percentiles(base.orderMs).p95} ms; ${base.concurrency} in flight on ${cpus().length} cores`,
    });
    figures.push({
      bench: 'issuance',
      figure: 'ACME HTTP time per order (default run)',
      value: summary.httpMsPerOrder,
      unit: 'ms',
      target: 'informational',
      met: undefined,
      note:
        `${summary.requestsPerOrder.toFixed(1)} requests per order, ${summary.noncesPerOrder.toFixed(1)} of them HEAD newNonce (each answer's Replay-Nonce signs the next request); ` +
        `${summary.challengePolls.toFixed(2)} challenge polls and ${summary.orderPolls.toFixed(2)} order polls per order; times include waiting for the busy event loop`,
    });
    figures.push({
      bench: 'issuance',
      figure: 'daemon CPU time over the 50-name run (default run)',
      value: base.daemonCpuS,
      unit: 's',
      target: 'informational',
      met: undefined,
      note: `wall ${seconds(base.totalMs).toFixed(1)} s on ${cpus().length} cores; pebble used ${base.pebbleCpuS.toFixed(1)} s; ECDSA run: daemon ${ecdsa.daemonCpuS.toFixed(1)} s CPU in ${seconds(ecdsa.totalMs).toFixed(1)} s`,
    });
    figures.push({
      bench: 'issuance',
      figure: 'CA trust store build, once per daemon (median)',
      value: median(trustStore),
      unit: 'ms',
      target: 'informational',
      met: undefined,
      note: `createSecureContext({ca: [${rootCertificates.length} system roots, --acme-ca-file]}), built once at start and shared by every TLS connection to the CA; built per connection it cost this much about 7 times per order`,
    });
    figures.push({
      bench: 'issuance',
      figure: 'RSA 2048 key generation, one key (median)',
      value: median(rsaKeys.sequentialMs),
      unit: 'ms',
      target: 'informational',
      met: undefined,
      note: `p95 ${percentiles(rsaKeys.sequentialMs).p95.toFixed(0)} ms; ${NAMES} keys four at a time: ${seconds(rsaKeys.fourAtATimeMs).toFixed(2)} s wall on ${cpus().length} cores (overlaps the order's validation)`,
    });
    figures.push({
      bench: 'issuance',
      figure: 'ECDSA P-256 key generation, one key (median)',
      value: median(ecKeys.sequentialMs),
      unit: 'ms',
      target: 'informational',
      met: undefined,
      note: `${NAMES} keys four at a time: ${ecKeys.fourAtATimeMs.toFixed(0)} ms; the ${NAMES}-name run took ${seconds(ecdsa.totalMs).toFixed(1)} s with P-256, ${seconds(base.totalMs).toFixed(1)} s with RSA 2048 (one run each)`,
    });
    logNotes(figures);
    return figures;
  },
};
