/**
 * The daemon's side of `marathon-acme renew`: looks into requests/ every two seconds, takes each new
 * request, has it acted on and writes the answer next to it. Polling rather than fs.watch: the storage
 * directory is often on NFS, where change notifications do not arrive from other hosts.
 */
import type { Logger } from '../log.js';
import type { ForcedRenewal } from '../sync/forced-renewal.js';
import type { Clock } from '../util/clock.js';
import { formatResult, parseRequest, requestFileName, type RenewRequestFile, type RenewResult } from './protocol.js';
import { RequestFiles } from './request-files.js';
import { MAX_REQUEST_AGE_MS, planSweep } from './sweep.js';
import { errorText } from '../util/error-text.js';

const POLL_MS = 2_000;

export interface RequestWatcherOptions {
  storageDir: string;
  clock: Clock;
  logger: Logger;
  /** Ends the watching; requests being acted on are still answered. */
  signal: AbortSignal;
  /** Acts on one request. */
  renew: (request: RenewRequestFile) => Promise<ForcedRenewal[]>;
  pollMs?: number | undefined;
  maxAgeMs?: number | undefined;
}

/** Resolves once `signal` has aborted and every request taken has been answered. */
export async function watchRenewRequests(options: RequestWatcherOptions): Promise<void> {
  const { clock, logger, signal } = options;
  const files = new RequestFiles(options.storageDir);
  // Created by the daemon, so the directory (and its mode 0700) says who may ask: its user, and root.
  await files.ensureDir().catch((err: unknown) => {
    logger.error({ dir: files.dir, err: errorText(err) }, 'cannot create the directory for renew requests; `marathon-acme renew` cannot reach this daemon');
  });
  const busy = new Map<string, Promise<void>>();
  const mentioned = new Set<string>();
  let lastError: string | undefined;
  const act = (id: string): void => {
    const run = answer(files, id, options)
      .catch((err: unknown) => {
        logger.error({ request: id, err: errorText(err) }, 'cannot answer a renew request');
      })
      .finally(() => busy.delete(id));
    busy.set(id, run);
  };
  while (!signal.aborted) {
    try {
      const plan = planSweep(await files.list(), clock.now(), new Set(busy.keys()), options.maxAgeMs ?? MAX_REQUEST_AGE_MS);
      for (const fileName of plan.unknown.filter((f) => !mentioned.has(f))) {
        mentioned.add(fileName);
        logger.warn({ file: `${files.dir}/${fileName}` }, 'not a renew request; left alone');
      }
      for (const fileName of plan.expire) {
        if (await files.remove(fileName)) logger.warn({ file: `${files.dir}/${fileName}` }, 'removed a renew request that was not acted on within an hour');
      }
      for (const fileName of plan.discard) await files.remove(fileName);
      for (const id of plan.take) if (await files.take(id)) act(id);
      for (const id of plan.resume) {
        logger.info({ request: id }, 'acting on a renew request taken before a restart');
        act(id);
      }
      lastError = undefined;
    } catch (err) {
      // Said once per kind of trouble, not every two seconds while the volume is away.
      if (errorText(err) !== lastError) logger.warn({ dir: files.dir, err: errorText(err) }, 'cannot look for renew requests; trying again');
      lastError = errorText(err);
    }
    await clock.sleep(options.pollMs ?? POLL_MS, signal);
  }
  await Promise.allSettled(busy.values());
}

async function answer(files: RequestFiles, id: string, options: RequestWatcherOptions): Promise<void> {
  const { clock, logger } = options;
  const taken = requestFileName(id, 'taken');
  const text = await files.read(taken);
  if (text === undefined) return;
  const parsed = parseRequest(text);
  let result: RenewResult;
  if (!parsed.ok) {
    logger.warn({ file: `${files.dir}/${taken}`, reason: parsed.reason }, 'ignoring a malformed renew request');
    result = { answeredAt: clock.now(), rejected: `the daemon cannot act on this request: ${parsed.reason}`, outcomes: [] };
  } else {
    const { request } = parsed;
    logger.info({ request: id, names: request.all ? 'all' : request.names, requestedBy: request.requestedBy }, 'renew request received');
    try {
      const outcomes = await options.renew(request);
      result = { answeredAt: clock.now(), rejected: undefined, outcomes };
      const count = (kind: ForcedRenewal['outcome']): number => outcomes.filter((o) => o.outcome === kind).length;
      logger.info({ request: id, renewed: count('renewed'), failed: count('failed'), notManaged: count('not-managed') }, 'renew request answered');
    } catch (err) {
      logger.error({ request: id, err: errorText(err) }, 'acting on a renew request failed');
      result = { answeredAt: clock.now(), rejected: `the daemon failed to act on it: ${errorText(err)}`, outcomes: [] };
    }
  }
  await files.write(requestFileName(id, 'result'), formatResult(result));
  await files.remove(taken);
}
