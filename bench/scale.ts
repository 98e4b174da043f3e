/**
 * `scale`: the real executable against a Marathon emulator holding 10,000 apps, 5,000 of them
 * labelled for our group with their certificates already in certs/. Measured: the time from spawning
 * the process to its first complete sync, the duration of a sync that changes nothing (as the daemon
 * logs it), and the peak RSS. The peer, measured in the same run on the same bytes, is a bare
 * `JSON.parse` of the /v2/apps payload: a sync cannot be cheaper than reading the list once.
 *
 * The helpers below (log-reading child process, certificate generation, cleanup) are shared with the
 * storm and renewal benchmarks, which also run the real executable.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { formatBundle } from '../src/certs/bundle.js';
import { CertStore } from '../src/certs/store.js';
import { hostApp, type AppJson } from '../test/support/apps.js';
import { FakeCa } from '../test/support/fake-ca.js';
import { startLbReceiver } from '../test/support/lb-receiver.js';
import { MarathonEmulator } from '../test/support/marathon-emulator.js';
import { startPebble } from '../test/support/pebble.js';
import { freePort } from '../test/support/ports.js';
import { percentiles, type Benchmark, type Figure } from './report.js';

const BIN = fileURLToPath(new URL('../bin/marathon-acme', import.meta.url));
/** The node flags on bin/marathon-acme's `#!/usr/bin/env -S node ...` line. */
const LAUNCHER_NODE_FLAGS = (/^#!.*\bnode\b(.*)$/m.exec(readFileSync(BIN, 'utf8'))?.[1] ?? '').split(' ').filter((f) => f !== '');
export const DAY = 86_400_000;
/** Let's Encrypt's lifetime; the renewal rule (a third left) is proportional, so any would do. */
export const LIFETIME_MS = 90 * DAY;
export const MB = 1e6;
/** USER_HZ, the unit of /proc/<pid>/stat times: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS = 100;

const APPS = 10_000;
const OURS = 5_000;
/** Periodic syncs measured once start-up work is over. */
const NOOP_SYNCS = 6;
/** JSON.parse runs in each pause between two measured syncs (a sync comes every 2 s). */
const PARSES_PER_GAP = 2;

export function log(message: string): void {
  process.stderr.write(`[bench]   ${message}\n`);
}

/**
 * Cleanup steps run in reverse order, each one even when an earlier one failed, so a benchmark that
 * crashes half-way still stops every server and child process it started.
 */
export class Cleanup {
  private readonly steps: Array<() => Promise<unknown> | undefined> = [];

  add(step: () => Promise<unknown> | undefined): void {
    this.steps.push(step);
  }

  async run(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step();
      } catch (err) {
        // The benchmark's own error (if any) is the one worth reporting; this one is only noted.
        log(`cleanup step failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
}

/** The domain of our app number i; the stored certificate for it is certs/<domain>.pem. */
export function domainOf(i: number, prefix = 'app'): string {
  return `${prefix}${i}.example.test`;
}

/** Apps labelled for our group (`external`), one domain each. */
export function ourApps(count: number, prefix = 'app'): AppJson[] {
  return Array.from({ length: count }, (_, i) =>
    hostApp(`/bench/${prefix}${i}`, { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: domainOf(i, prefix) }),
  );
}

/** Apps the daemon must ignore: one in five labelled for another group, the rest merely routed. */
export function otherApps(count: number): AppJson[] {
  return Array.from({ length: count }, (_, i) =>
    i % 5 === 0
      ? hostApp(`/bench/other${i}`, { HAPROXY_GROUP: 'internal', MARATHON_ACME_0_DOMAIN: `other${i}.example.test` })
      : hostApp(`/bench/plain${i}`, { HAPROXY_0_VHOST: `plain${i}.example.test` }),
  );
}

/** Ours and the others interleaved, so that our apps are spread over the whole list as in a cluster. */
export function mixedApps(ours: AppJson[], others: AppJson[]): AppJson[] {
  const mixed: AppJson[] = [];
  const n = Math.max(ours.length, others.length);
  for (let i = 0; i < n; i++) {
    const a = ours[i];
    const b = others[i];
    if (a !== undefined) mixed.push(a);
    if (b !== undefined) mixed.push(b);
  }
  return mixed;
}

/**
 * Bundles valid from the moment they are made, by domain; generated once per run (FakeCa takes a
 * few milliseconds each) and shared by every benchmark that needs stored certificates.
 */
const currentBundles = new Map<string, string>();

/** Bundle texts for `names`, issued at `issuedAt` (default: now, and cached) with a 90-day lifetime. */
export async function bundlesFor(names: readonly string[], issuedAt?: number): Promise<Array<[string, string]>> {
  const cached = issuedAt === undefined;
  const ca = new FakeCa(LIFETIME_MS, () => issuedAt ?? Date.now());
  const out: Array<[string, string]> = [];
  const started = performance.now();
  for (const name of names) {
    let text = cached ? currentBundles.get(name) : undefined;
    if (text === undefined) {
      const issued = await ca.issue([name]);
      text = formatBundle(issued.keyPem, issued.chainPem);
      if (cached) currentBundles.set(name, text);
    }
    out.push([name, text]);
  }
  log(`${names.length} certificate bundles ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return out;
}

/** Writes the bundles through the store (fsynced, renamed into certs/), a few at a time. */
export async function storeBundles(storage: string, bundles: ReadonlyArray<readonly [string, string]>): Promise<void> {
  const store = new CertStore(storage);
  await store.init(new Date());
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let entry = bundles[next++]; entry !== undefined; entry = bundles[next++]) await store.write(entry[0], entry[1]);
    }),
  );
}

export interface LogLine {
  msg: string;
  level: string;
  time: string;
  /** performance.now() when the bench read the line. */
  at: number;
  [field: string]: unknown;
}

export interface DaemonProcess {
  pid: number;
  /** performance.now() just before the spawn. */
  spawnedAt: number;
  lines: LogLine[];
  /** The first line from index `since` on that matches; rejects on timeout or exit. */
  waitFor(what: string, match: (line: LogLine) => boolean, timeoutMs: number, since?: number): Promise<LogLine>;
  /** VmRSS and VmHWM from /proc/<pid>/status, in bytes. */
  memory(): Promise<{ rss: number; hwm: number }>;
  /** User + system CPU time the process has used so far, in ms (from /proc/<pid>/stat). */
  cpuMs(): Promise<number>;
  /**
   * Resolves once the process has used under 5 % of a core for a whole `quietMs`: the work that
   * start-up set off (loading certificates, the start-up renewal check) is over.
   */
  settle(quietMs: number, timeoutMs: number): Promise<void>;
  /** SIGTERM, then SIGKILL if it has not exited within 15 s; resolves with how it exited. */
  stop(): Promise<string>;
}

export interface DaemonOptions {
  acme: string;
  acmeCaFile?: string | undefined;
  marathon: string;
  lb: string;
  listenPort: number;
  storage: string;
  extraArgs?: readonly string[];
}

/** Runs bin/marathon-acme with JSON logs on stdout, every line parsed and kept. */
export function startDaemon(options: DaemonOptions): DaemonProcess {
  const args = [
    '--acme', options.acme,
    ...(options.acmeCaFile === undefined ? [] : ['--acme-ca-file', options.acmeCaFile]),
    '--marathon', options.marathon,
    '--lb', options.lb,
    '--listen', `127.0.0.1:${options.listenPort}`,
    '--no-preflight',
    '--key-type', 'ecdsa-p256',
    '--log-format', 'json',
    ...(options.extraArgs ?? []),
    options.storage,
  ];
  const spawnedAt = performance.now();
  // The executable as installed, node flags of its #! line included. BENCH_CPU_PROF=<dir>: under
  // node --cpu-prof with the same flags instead, a .cpuprofile per daemon written when it stops.
  const profileDir = process.env['BENCH_CPU_PROF'];
  const [file, ...prefix] = profileDir === undefined || profileDir === ''
    ? [BIN]
    : [process.execPath, ...LAUNCHER_NODE_FLAGS, '--cpu-prof', `--cpu-prof-dir=${profileDir}`, BIN];
  const child = spawn(file, [...prefix, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: LogLine[] = [];
  const listeners = new Set<() => void>();
  let stderr = '';
  let exit: string | undefined;
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = `code ${String(code)} signal ${String(signal)}`;
      resolve(exit);
      for (const l of listeners) l();
    });
  });
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (pending + chunk).split('\n');
    pending = parts.pop() ?? '';
    const at = performance.now();
    for (const text of parts) {
      if (text.trim() === '') continue;
      try {
        lines.push({ ...(JSON.parse(text) as LogLine), at });
      } catch {
        lines.push({ msg: text, level: 'raw', time: '', at });
      }
    }
    for (const l of listeners) l();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4_000);
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${BIN}`);

  const cpuMs = (): Promise<number> => processCpuMs(pid);

  return {
    pid,
    spawnedAt,
    lines,
    waitFor(what, match, timeoutMs, since = 0) {
      return new Promise<LogLine>((resolve, reject) => {
        let scanned = since;
        const check = (): void => {
          for (; scanned < lines.length; scanned++) {
            const line = lines[scanned];
            if (line !== undefined && match(line)) {
              done();
              resolve(line);
              return;
            }
          }
          if (exit !== undefined) {
            done();
            reject(new Error(`marathon-acme exited (${exit}) before ${what}; stderr: ${stderr}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    async memory() {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
      return { rss: kib('VmRSS') * 1024, hwm: kib('VmHWM') * 1024 };
    },
    cpuMs,
    async settle(quietMs, timeoutMs) {
      const deadline = performance.now() + timeoutMs;
      let windowStart = performance.now();
      let windowCpu = await cpuMs();
      while (performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        const now = performance.now();
        const cpu = await cpuMs();
        if (cpu - windowCpu > 0.05 * (now - windowStart)) {
          windowStart = now;
          windowCpu = cpu;
        } else if (now - windowStart >= quietMs) {
          return;
        }
      }
      throw new Error(`marathon-acme was still busy after ${timeoutMs} ms`);
    },
    async stop() {
      if (exit !== undefined) return exit;
      child.kill('SIGTERM');
      // The daemon waits up to 10 s for work in flight; past that it is stuck, not stopping.
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** User + system CPU time process `pid` has used so far, in ms. */
export async function processCpuMs(pid: number): Promise<number> {
  // utime and stime are fields 14 and 15; the command name before them may contain spaces, hence the split at ')'.
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

export const isSyncCompleted = (apps: number) => (line: LogLine): boolean => line.msg === 'sync completed' && line['apps'] === apps;

/** The /v2/apps body exactly as the daemon receives it. */
export async function fetchAppList(url: string): Promise<{ text: string; ms: number }> {
  const started = performance.now();
  const response = await request(`${url}/v2/apps`);
  const text = await response.body.text();
  if (response.statusCode !== 200) throw new Error(`the emulator answered ${response.statusCode}`);
  return { text, ms: performance.now() - started };
}

async function run(): Promise<Figure[]> {
  const cleanup = new Cleanup();
  try {
    const ours = ourApps(OURS);
    const bundles = await bundlesFor(ours.map((_, i) => domainOf(i)));
    const storage = await mkdtemp(join(tmpdir(), 'ma-bench-scale-'));
    cleanup.add(() => rm(storage, { recursive: true, force: true }));
    await storeBundles(storage, bundles);

    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    cleanup.add(() => marathon.stop());
    marathon.replaceAppsSilently(mixedApps(ours, otherApps(APPS - OURS)));

    const fetches: number[] = [];
    let payload = '';
    for (let i = 0; i < 5; i++) {
      const fetched = await fetchAppList(marathon.url);
      fetches.push(fetched.ms);
      payload = fetched.text;
    }
    const fetchMs = percentiles(fetches).median;
    // The peer: JSON.parse of the very bytes the daemon receives. It is timed while the daemon idles
    // between its measured syncs, so both see the same load on the machine; a few runs first warm it up.
    const parses: number[] = [];
    const parsePeer = (runs: number, keep: boolean): void => {
      for (let i = 0; i < runs; i++) {
        const started = performance.now();
        const parsed = JSON.parse(payload) as { apps: unknown[] };
        if (keep) parses.push(performance.now() - started);
        if (parsed.apps.length !== APPS) throw new Error(`the payload has ${parsed.apps.length} apps`);
      }
    };
    parsePeer(3, false);

    const lb = await startLbReceiver();
    cleanup.add(() => lb.stop());
    const listenPort = await freePort();
    const pebble = await startPebble({ httpPort: listenPort });
    cleanup.add(() => pebble.stop());

    const requestsBefore = marathon.appsRequests;
    const daemon = startDaemon({
      acme: pebble.directoryUrl, acmeCaFile: pebble.caFile, marathon: marathon.url, lb: lb.url, listenPort, storage,
      extraArgs: ['--sync-interval', '2'],
    });
    cleanup.add(() => daemon.stop());
    const first = await daemon.waitFor('the first complete sync', isSyncCompleted(APPS), 120_000);
    const startupMs = first.at - daemon.spawnedAt;
    // CPU used so far: start-up cost with the machine's other load taken out (it includes the start-up
    // renewal check, which began before the first sync completed).
    const startupCpuMs = await daemon.cpuMs();
    const startupHwm = (await daemon.memory()).hwm;
    const since = (msg: string): string => {
      const line = daemon.lines.find((l) => l.msg === msg);
      return line === undefined ? '?' : `${((line.at - daemon.spawnedAt) / 1000).toFixed(2)} s`;
    };
    const loaded = daemon.lines.find((l) => l.msg === 'loaded stored certificates');
    if (loaded?.['count'] !== OURS) throw new Error(`the daemon loaded ${String(loaded?.['count'])} certificates, expected ${OURS}`);

    // The start-up renewal check reads every stored certificate again, concurrently with the first
    // syncs; a sync that changes nothing is measured once that is over.
    await daemon.settle(1_200, 120_000);
    const settledMs = performance.now() - daemon.spawnedAt;
    let from = daemon.lines.length;
    // Between syncs the daemon is idle, so its CPU time over whole sync periods is what the syncs cost it.
    let cpuFrom = 0;
    const noop: number[] = [];
    for (let i = 0; i < NOOP_SYNCS; i++) {
      const line = await daemon.waitFor(`no-op sync ${i + 1}`, isSyncCompleted(APPS), 30_000, from);
      from = daemon.lines.indexOf(line) + 1;
      if (line['issued'] !== 0 || line['failed'] !== 0 || line['retired'] !== 0 || line['wanted'] !== OURS) {
        throw new Error(`a sync that should change nothing did: ${JSON.stringify(line)}`);
      }
      noop.push(Number(line['durationMs']));
      if (i === 0) cpuFrom = await daemon.cpuMs();
      parsePeer(PARSES_PER_GAP, true);
    }
    const cpuPerSync = ((await daemon.cpuMs()) - cpuFrom) / (NOOP_SYNCS - 1);
    const { hwm, rss } = await daemon.memory();
    const ordered = daemon.lines.filter((l) => l.msg === 'requesting a certificate').length;
    if (ordered > 0) throw new Error(`${ordered} certificates were ordered; every one was stored and valid`);
    const exit = await daemon.stop();
    if (exit !== 'code 0 signal null') throw new Error(`marathon-acme stopped with ${exit}`);
    const noopMs = percentiles(noop).median;
    const parseMs = percentiles(parses).median;
    log(`/v2/apps: ${(payload.length / MB).toFixed(1)} MB; JSON.parse median ${parseMs.toFixed(1)} ms (${parses.length} runs between the syncs); GET from the bench ${fetchMs.toFixed(1)} ms`);
    log(`no-op syncs (ms): ${noop.join(', ')}; GET /v2/apps answered ${marathon.appsRequests - requestsBefore} times`);

    return [
      {
        bench: 'scale',
        figure: `start-up to first complete sync (${OURS.toLocaleString('en')} stored certificates, ${APPS.toLocaleString('en')} apps)`,
        value: startupMs / 1000,
        unit: 's',
        target: '< 5 s',
        met: startupMs < 5_000,
        note: `from spawn: certificates loaded ${since('loaded stored certificates')}, listening ${since('serving HTTP-01 challenges, ping, health, metrics and status')}, ACME account ready ${since('ACME account ready')}, first sync completed ${(startupMs / 1000).toFixed(2)} s (its own durationMs ${String(first['durationMs'])}); ${(startupCpuMs / 1000).toFixed(1)} s of CPU by then`,
      },
      {
        bench: 'scale',
        figure: `sync that changes nothing (${APPS.toLocaleString('en')} apps, ${(payload.length / MB).toFixed(1)} MB list)`,
        value: noopMs,
        unit: 'ms',
        peer: { name: 'JSON.parse of the same /v2/apps', value: parseMs },
        target: '≤ 3× JSON.parse',
        met: noopMs <= 3 * parseMs,
        note: `median of ${noop.length} periodic syncs (durationMs as logged: ${noop.join(', ')}) after start-up work ended at ${(settledMs / 1000).toFixed(1)} s; the daemon's own CPU per sync ${cpuPerSync.toFixed(0)} ms (${(cpuPerSync / parseMs).toFixed(1)}× JSON.parse); the emulator's GET /v2/apps alone (its serialised list sent and read, all in the bench process) takes ${fetchMs.toFixed(0)} ms`,
      },
      {
        bench: 'scale',
        figure: 'peak RSS (VmHWM) of the executable',
        value: hwm / MB,
        unit: 'MB',
        target: '< 150 MB',
        met: hwm < 150 * MB,
        note: `after start-up, the start-up renewal check and ${noop.length} more complete syncs of ${APPS.toLocaleString('en')} apps; the peak was ${(startupHwm / MB).toFixed(0)} MB by the first complete sync, RSS at the end ${(rss / MB).toFixed(0)} MB`,
      },
    ];
  } finally {
    await cleanup.run();
  }
}

export const scale: Benchmark = { name: 'scale', tools: ['pebble'], run };
