/**
 * The daemon as an operator runs it: bin/marathon-acme in a process of its own, so that a test can
 * kill -9 it. Its log is kept (the last 256 kB) for the test's failure message, and copied to stderr
 * with MARATHON_ACME_TEST_LOGS=1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';

const BIN = fileURLToPath(new URL('../../bin/marathon-acme', import.meta.url));
const LOG_LIMIT = 256 * 1024;

export interface DaemonProcess {
  readonly port: number;
  readonly child: ChildProcess;
  /** /health's JSON, or undefined while the process does not answer. */
  health(): Promise<Record<string, unknown> | undefined>;
  /** /health's `role`, or undefined while the process does not answer. */
  role(): Promise<unknown>;
  /** SIGKILL, and waits for the exit. */
  kill(): Promise<void>;
  /** SIGTERM, and waits for the exit (the daemon's own graceful stop). */
  terminate(): Promise<void>;
  log(): string;
}

export function spawnDaemon(defer: (cleanup: () => Promise<unknown>) => void, port: number, args: readonly string[], env: NodeJS.ProcessEnv = {}): DaemonProcess {
  const child = spawn(BIN, [...args, '--listen', `127.0.0.1:${port}`], { env: { PATH: process.env['PATH'], ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (chunk: Buffer): void => {
    if (process.env['MARATHON_ACME_TEST_LOGS'] === '1') process.stderr.write(chunk);
    log = (log + chunk.toString('utf8')).slice(-LOG_LIMIT);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  const signal = async (name: NodeJS.Signals): Promise<void> => {
    if (!running()) return;
    const exited = once(child, 'exit');
    child.kill(name);
    await exited;
  };
  defer(() => signal('SIGKILL'));
  const health = async (): Promise<Record<string, unknown> | undefined> => {
    try {
      const res = await request(`http://127.0.0.1:${port}/health`, { headersTimeout: 2_000, bodyTimeout: 2_000 });
      return (await res.body.json()) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  };
  return {
    port,
    child,
    health,
    role: async () => (await health())?.['role'],
    kill: () => signal('SIGKILL'),
    terminate: () => signal('SIGTERM'),
    log: () => log,
  };
}
