/**
 * Runs Debian's ZooKeeper 3.8 (the `zookeeper` package: /usr/share/java/zookeeper.jar and the jars its
 * manifest names) as a standalone server for a test: 127.0.0.1 on a free port, a data directory of its
 * own, tickTime 200 ms so that session timeouts from 400 ms up are allowed (ZooKeeper grants 2 to 20
 * ticks), and no admin server. `stop()` ends it and removes the directory; `kill()` and `restart()`
 * keep the directory, so that a test can take the ensemble away and bring the same one back (its
 * sessions survive in the snapshot and the log, as on a real cluster).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectFrame } from '../../src/zk/protocol.js';
import { freePort } from './ports.js';

export const ZOOKEEPER_JAR = '/usr/share/java/zookeeper.jar';
/** The JVM starts the server in 1–3 s on the test machines; the limit only turns a hang into an error. */
const STARTUP_LIMIT_MS = 30_000;
const OUTPUT_LIMIT = 64 * 1024;
/** What a test may ask for as a session timeout: ZooKeeper grants 2 to 20 ticks. */
export const ZK_TICK_MS = 200;

export interface ZooKeeper {
  port: number;
  /** `zk://127.0.0.1:<port><path>`. */
  url(path: string): string;
  /** Ends the server abruptly (SIGKILL); its data stays for restart(). */
  kill(): Promise<void>;
  /** Starts the server again on the same port and data. */
  restart(): Promise<void>;
  output(): string;
  stop(): Promise<void>;
}

/** `tickMs`: ZooKeeper's tickTime; the tests' 200 ms by default, ZooKeeper's own 2000 ms where realistic session timeouts matter (benchmarks). */
export async function startZooKeeper(options: { tickMs?: number } = {}): Promise<ZooKeeper> {
  if (!existsSync(ZOOKEEPER_JAR)) throw new Error(`${ZOOKEEPER_JAR} is missing: install Debian's zookeeper package (scripts/ensure-tools.sh zookeeper)`);
  const dir = await mkdtemp(join(tmpdir(), 'ma-zookeeper-'));
  const port = await freePort();
  const config = join(dir, 'zoo.cfg');
  await writeFile(
    config,
    [`tickTime=${options.tickMs ?? ZK_TICK_MS}`, `dataDir=${join(dir, 'data')}`, `clientPort=${port}`, 'clientPortAddress=127.0.0.1', 'admin.enableServer=false', 'maxClientCnxns=0', ''].join('\n'),
  );
  let child: ChildProcess | undefined;
  let output = '';
  const launch = async (): Promise<void> => {
    const started = spawn('java', ['-Xmx128m', '-XX:+UseSerialGC', '-cp', ZOOKEEPER_JAR, 'org.apache.zookeeper.server.ZooKeeperServerMain', config], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = started;
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-OUTPUT_LIMIT);
    };
    started.stdout.on('data', keep);
    started.stderr.on('data', keep);
    await waitUntilServing(port, started, () => output);
  };
  const end = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = once(running, 'exit');
    running.kill('SIGKILL');
    await exited;
  };
  try {
    await launch();
  } catch (err) {
    await end();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    url: (path) => `zk://127.0.0.1:${port}${path}`,
    kill: end,
    restart: async () => {
      await end();
      await launch();
    },
    output: () => output,
    stop: async () => {
      await end();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Ready when the server completes a ZooKeeper handshake: a listening port alone is not enough (the
 * JVM binds before the database is loaded), and the four-letter words are off by default in 3.8.
 */
async function waitUntilServing(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + STARTUP_LIMIT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`ZooKeeper exited with code ${child.exitCode}:\n${output()}`);
    if (await handshakes(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`ZooKeeper did not answer on 127.0.0.1:${port} within ${STARTUP_LIMIT_MS} ms:\n${output()}`);
}

function handshakes(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let settled = false;
    const done = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => { done(false); });
    socket.on('error', () => { done(false); });
    // While it loads its database the server accepts and closes connections without a word.
    socket.on('close', () => { done(false); });
    socket.on('connect', () => {
      // A new session's handshake: a server that answers it with a frame is serving.
      socket.write(connectFrame({ lastZxidSeen: 0n, timeoutMs: 4_000, sessionId: 0n, password: Buffer.alloc(16) }));
    });
    socket.on('data', (chunk) => { done(chunk.length >= 4); });
  });
}
