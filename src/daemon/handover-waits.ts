/**
 * The names a previous leader may still be ordering (from the order intents it left in ZooKeeper),
 * each with the time until which the new leader leaves it alone. The fence refuses to order them
 * until then; when the time has passed, the term reads the storage directory again (the old order may
 * have completed and stored a certificate), and only then may a sync order what is still missing.
 */
import type { Logger } from '../log.js';
import type { CertificateManager } from '../sync/certificates.js';
import { isAborted, type Clock } from '../util/clock.js';

/**
 * Logs what waits and resolves once the last wait is over (or `signal` ended the term), then calls
 * `due` so that a sync comes; resolves at once when nothing waits.
 */
export async function awaitHandover(held: ReadonlyMap<string, number>, clock: Clock, logger: Logger, signal: AbortSignal, due: () => void): Promise<void> {
  if (held.size === 0) return;
  const last = Math.max(...held.values());
  logger.info(
    { names: [...held.keys()], until: new Date(last).toISOString() },
    'a previous leader recorded orders for these names shortly before this instance took the lead: they are not ordered before then, and only if the storage directory still lacks them',
  );
  await clock.sleep(Math.max(0, last - clock.now()), signal);
  if (!isAborted(signal)) due();
}

/** Names whose wait is over are looked up in the storage directory again, then free to be ordered. */
export async function endHandoverWaits(held: Map<string, number>, manager: CertificateManager, now: number, logger: Logger): Promise<void> {
  const over = [...held].filter(([, until]) => until <= now).map(([name]) => name);
  if (over.length === 0) return;
  await manager.refresh();
  for (const name of over) held.delete(name);
  logger.info({ names: over, stored: over.filter((n) => manager.managed.has(n)) }, 'hand-over wait over: read the storage directory again before ordering these names');
}
