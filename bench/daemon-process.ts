/**
 * The daemon under benchmark: the real executable (bin/marathon-acme) started as a child process
 * with JSON logs on stdout (what a log shipper reads), every line parsed and kept, and the process
 * observed from outside through /proc (CPU time, memory). Every benchmark that runs the executable
 * starts it with `spawnDaemon`.
 *
 * It runs as installed, node flags and variables of its `#!/usr/bin/env -S ...` line included. With
 * BENCH_CPU_PROF=<dir> it runs under `node <those flags> --cpu-prof` instead, and each daemon writes
 * a .cpuprofile into <dir> when it stops.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../bin/marathon-acme', import.meta.url));
const LAUNCHER_LINE = /^#!\S*env -S (.*?)\bnode\b(.*)$/m.exec(readFileSync(BIN, 'utf8'));
/** The node flags on bin/marathon-acme's `#!/usr/bin/env -S [VAR=value ...] node ...` line. */
const LAUNCHER_NODE_FLAGS = (LAUNCHER_LINE?.[2] ?? '').split(' ').filter((f) => f !== '');
/** The environment variables that line sets (glibc's malloc settings). */
const LAUNCHER_ENV = Object.fromEntries(
  (LAUNCHER_LINE?.[1] ?? '')
    .split(' ')
    .filter((a) => a.includes('='))
    .map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]),
);
/** USER_HZ, the unit of /proc/<pid>/stat times: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS = 100;
/** How much of the daemon's stderr is kept for error messages. */
const STDERR_KEPT = 8_192;

/** One line of the daemon's log. */
export interface LogLine {
  msg: string;
  /** pino's level label (`info`, `warn`, ...); `raw` for a line that was not JSON. */
  level: string;
  /** The daemon's own timestamp (its `time` field) as epoch milliseconds; NaN for a raw line. */
  loggedAt: number;
  /** performance.now() when the bench read the line. */
  readAt: number;
  /** Every field of the line as logged (`msg`, `level` and `time` included). */
  fields: Record<string, unknown>;
}

export interface DaemonOptions {
  /** The CA: its directory URL and the CA certificate its HTTPS answers chain to (pebble gives both). */
  acme: { directoryUrl: string; caFile: string };
  marathon: string;
  /** The marathon-lb stand-ins to signal. */
  lbs: ReadonlyArray<{ url: string }>;
  /** The port of --listen on 127.0.0.1: where the CA's validator must fetch HTTP-01 challenges. */
  listenPort: number;
  storage: string;
  /** Any further options, e.g. `--key-type`, `--sync-interval`. */
  args?: readonly string[];
}

export interface DaemonProcess {
  pid: number;
  /** performance.now() just before the spawn. */
  spawnedAt: number;
  /** Every log line so far, in order. */
  readonly lines: readonly LogLine[];
  /** The first line from index `since` on that matches; rejects on timeout or exit. */
  waitFor(what: string, match: (line: LogLine) => boolean, timeoutMs: number, since?: number): Promise<LogLine>;
  /** Throws when the daemon has exited: a crash must end the benchmark, not a wait. */
  assertRunning(): void;
  /** VmRSS and VmHWM from /proc/<pid>/status, in bytes. */
  memory(): Promise<{ rss: number; hwm: number }>;
  /** User + system CPU time the process has used so far, in ms (see processCpuMs). */
  cpuMs(): Promise<number>;
  /**
   * Resolves once the process has used under 5 % of a core for a whole `quietMs`: the work that
   * start-up set off (loading certificates, the start-up renewal check) is over.
   */
  settle(quietMs: number, timeoutMs: number): Promise<void>;
  /** SIGTERM, then SIGKILL if it has not exited within 15 s; resolves with how it exited. Safe to call twice. */
  stop(): Promise<string>;
}

/** User + system CPU time process `pid` has used so far, all its threads, in ms (Linux /proc). */
export async function processCpuMs(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces and parentheses; utime and stime are fields 14 and 15.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

function parseLine(text: string, readAt: number): LogLine {
  let fields: Record<string, unknown>;
  try {
    fields = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { msg: text, level: 'raw', loggedAt: NaN, readAt, fields: {} };
  }
  const { msg, level, time } = fields;
  return {
    msg: typeof msg === 'string' ? msg : '',
    level: typeof level === 'string' ? level : '',
    loggedAt: typeof time === 'string' ? Date.parse(time) : NaN,
    readAt,
    fields,
  };
}

/** Starts the daemon against `options` with JSON logs on stdout and keeps every line it logs. */
export function spawnDaemon(options: DaemonOptions): DaemonProcess {
  const args = [
    '--log-format', 'json',
    '--acme', options.acme.directoryUrl, '--acme-ca-file', options.acme.caFile,
    '--marathon', options.marathon,
    '--lb', options.lbs.map((l) => l.url).join(','),
    // The benchmark names resolve only through pebble's DNS stub, not the system resolver the
    // preflight check uses; in production the preflight adds one HTTP round trip per name.
    '--listen', `127.0.0.1:${options.listenPort}`, '--no-preflight',
    ...(options.args ?? []),
    options.storage,
  ];
  const profileDir = process.env['BENCH_CPU_PROF'];
  const [file, ...prefix] = profileDir === undefined || profileDir === ''
    ? [BIN]
    : [process.execPath, ...LAUNCHER_NODE_FLAGS, '--cpu-prof', `--cpu-prof-dir=${profileDir}`, BIN];
  const spawnedAt = performance.now();
  const child = spawn(file, [...prefix, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...LAUNCHER_ENV } });
  const lines: LogLine[] = [];
  /** Called after every batch of new lines and at the exit. */
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
  // A failed spawn also leaves child.pid undefined, which throws below; without a listener this
  // 'error' would instead end the whole bench process.
  child.once('error', (err) => {
    stderr += `${err.message}\n`;
  });
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (pending + chunk).split('\n');
    pending = parts.pop() ?? '';
    const readAt = performance.now();
    for (const text of parts) if (text.trim() !== '') lines.push(parseLine(text, readAt));
    for (const l of listeners) l();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_KEPT);
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${file}`);

  const cpuMs = (): Promise<number> => processCpuMs(pid);
  let stopping: Promise<string> | undefined;

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
    assertRunning(): void {
      if (exit !== undefined) {
        const last = lines.slice(-5).map((l) => `${l.msg} ${JSON.stringify(l.fields['err'] ?? '')}`).join('\n');
        throw new Error(`marathon-acme exited (${exit}); stderr: ${stderr.trim()}\nlast log lines:\n${last}`);
      }
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
    stop() {
      stopping ??= (async () => {
        if (exit !== undefined) return exit;
        child.kill('SIGTERM');
        // The daemon waits up to 10 s for work in flight; past that it is stuck, not stopping.
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        try {
          return await exited;
        } finally {
          clearTimeout(timer);
        }
      })();
      return stopping;
    },
  };
}
