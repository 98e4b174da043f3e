/**
 * The command's side of protocol.ts: make sure a daemon holds the storage directory, hand it the
 * request, wait for its answer, and clean up either way, so that a daemon started later never acts
 * on a request whoever asked has given up on.
 */
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describeHolder, type LocalHost } from '../storage/lock-holder.js';
import { localHost, lookAtLock } from '../storage/lock.js';
import type { Clock } from '../util/clock.js';
import { formatRequest, newRequestId, parseResult, requestFileName, type RenewResult } from './protocol.js';
import { RequestFiles } from './request-files.js';

/** How often the answer is looked for: the daemon looks for requests every 2 s. */
const POLL_MS = 500;

export type AskOutcome =
  | { kind: 'answered'; result: RenewResult }
  /** No live daemon holds the storage directory; nothing was asked. */
  | { kind: 'no-daemon'; reason: string }
  /** `renew --offline` holds the storage directory; nothing was asked. */
  | { kind: 'busy'; holder: string }
  /** Asked without waiting (`--wait 0`). */
  | { kind: 'queued'; file: string }
  /** Nobody took the request in time; it was withdrawn. */
  | { kind: 'not-taken' }
  /** The daemon took the request but had not answered in time; it goes on. */
  | { kind: 'unfinished' };

export interface AskOptions {
  storageDir: string;
  names: readonly string[];
  all: boolean;
  waitMs: number;
  clock: Clock;
  local?: LocalHost | undefined;
  pidAlive?: ((pid: number) => boolean) | undefined;
  pollMs?: number | undefined;
}

export async function askDaemon(options: AskOptions): Promise<AskOutcome> {
  const { storageDir, clock } = options;
  const local = options.local ?? (await localHost());
  const started = clock.now();
  const look = await lookAtLock(storageDir, { now: started, local, pidAlive: options.pidAlive });
  if (look.kind === 'free') return { kind: 'no-daemon', reason: `no marathon-acme holds the lock on ${storageDir}` };
  if (look.kind === 'held' && look.verdict.kind === 'stale') {
    return { kind: 'no-daemon', reason: `the lock on ${storageDir} is stale (${describeHolder(look.record, started)}; ${look.verdict.reason})` };
  }
  if (look.kind === 'held' && look.record.purpose !== 'daemon') return { kind: 'busy', holder: describeHolder(look.record, started) };

  const files = new RequestFiles(storageDir);
  // Root (`docker exec` into the container) writes for the daemon's user, who must read and rename it.
  const asRoot = process.getuid?.() === 0;
  await files.ensureDir(asRoot ? await ownerOf(storageDir) : undefined);
  const id = newRequestId(started, randomBytes(8).toString('hex'));
  const request = formatRequest({ names: [...options.names], all: options.all, requestedAt: started, requestedBy: { pid: process.pid, hostname: local.hostname } });
  await files.write(requestFileName(id, 'request'), request, asRoot ? await files.owner() : undefined);
  if (options.waitMs <= 0) return { kind: 'queued', file: join(files.dir, requestFileName(id, 'request')) };

  const deadline = started + options.waitMs;
  for (;;) {
    const result = await collect(files, id);
    if (result !== undefined) return { kind: 'answered', result };
    const left = deadline - clock.now();
    if (left <= 0) break;
    await clock.sleep(Math.min(options.pollMs ?? POLL_MS, left));
  }
  // Withdrawn by removing it: the daemon takes a request by renaming it, so exactly one of the two succeeds.
  if (await files.remove(requestFileName(id, 'request'))) return { kind: 'not-taken' };
  const late = await collect(files, id);
  return late === undefined ? { kind: 'unfinished' } : { kind: 'answered', result: late };
}

/** The daemon's answer, read and removed; undefined while there is none. */
async function collect(files: RequestFiles, id: string): Promise<RenewResult | undefined> {
  const name = requestFileName(id, 'result');
  const text = await files.read(name);
  if (text === undefined) return undefined;
  await files.remove(name);
  return parseResult(text) ?? { answeredAt: 0, rejected: `the daemon's answer ${join(files.dir, name)} could not be read`, outcomes: [] };
}

async function ownerOf(path: string): Promise<{ uid: number; gid: number }> {
  const info = await stat(path);
  return { uid: info.uid, gid: info.gid };
}
