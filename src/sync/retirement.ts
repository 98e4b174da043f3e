/**
 * Taking certificates out of certs/: the one an app port no longer uses because its label now names
 * another first name, and those no app has wanted for the whole grace period (--retire-after). Files
 * are moved to retired-certs/, never deleted; the caller persists state.json afterwards.
 */
import { planRetirement, type CertSummary } from '../certs/plan.js';
import type { CertStore } from '../certs/store.js';
import type { Logger } from '../log.js';
import type { WantedName } from '../marathon/apps.js';
import type { DaemonState } from '../state/state.js';

const HOUR = 3_600_000;

/** The certificate manager's own records that retirement reads and updates. */
export interface RetirementContext {
  state: DaemonState;
  store: CertStore;
  logger: Logger;
  /** The stored certificates by name; retired ones are taken out. */
  stored: Map<string, CertSummary>;
  /** The file serving a name where it is not `<name>.pem`. */
  fileNames: Map<string, string>;
  /** A name being ordered right now is left alone. */
  busy: (name: string) => boolean;
}

/**
 * When an app port got a new certificate under another primary name (its label changed), the
 * certificate it had before is taken out of certs/ at once instead of lingering there, unless some
 * app still wants that name.
 */
export async function retireReplaced(context: RetirementContext, wanted: readonly WantedName[], written: readonly string[]): Promise<void> {
  const stillWanted = new Set(wanted.map((w) => w.name));
  const { state, stored } = context;
  for (const name of written) {
    const owner = state.certificates.get(name)?.owner;
    if (owner === undefined) continue;
    for (const [other, cert] of state.certificates) {
      if (other === name || stillWanted.has(other) || !stored.has(other)) continue;
      if (cert.owner?.appId !== owner.appId || cert.owner.portIndex !== owner.portIndex) continue;
      if (context.busy(other)) continue;
      const movedTo = await retire(context, other);
      context.logger.info({ domain: other, replacedBy: name, appId: owner.appId, portIndex: owner.portIndex, movedTo }, 'certificate replaced by the port\'s new one; moved out of certs/');
    }
  }
}

/**
 * Retires what no app has wanted for `graceMs`, remembers when the others were last wanted, and drops
 * the records of names that have neither a certificate nor a failure. `changed`: state.json needs a write.
 */
export async function retireUnwanted(context: RetirementContext, wanted: readonly WantedName[], graceMs: number, now: number): Promise<{ retired: string[]; changed: boolean }> {
  const { state, stored, logger } = context;
  const lastWanted = new Map<string, number>();
  for (const [name, cert] of state.certificates) if (cert.lastWantedAt !== undefined) lastWanted.set(name, cert.lastWantedAt);
  const plan = planRetirement(stored, wanted, lastWanted, now, graceMs);
  let changed = false;
  for (const name of plan.touch) {
    const cert = state.certificates.get(name);
    // Hour granularity is plenty for a grace of days, and spares a state write at every sync.
    if (cert?.lastWantedAt !== undefined && now - cert.lastWantedAt < HOUR) continue;
    state.certificates.set(name, { ...cert, lastWantedAt: now });
    changed = true;
  }
  const retired: string[] = [];
  for (const name of plan.retire) {
    if (context.busy(name)) continue;
    const last = lastWanted.get(name) ?? now;
    const movedTo = await retire(context, name);
    retired.push(name);
    changed = true;
    logger.info(
      { domain: name, lastWantedAt: new Date(last).toISOString(), movedTo },
      'no app has wanted this certificate for the whole grace period (--retire-after): moved out of certs/, no longer renewed',
    );
  }
  for (const [name, cert] of state.certificates) {
    if (!stored.has(name) && cert.failure === undefined && !context.busy(name)) {
      state.certificates.delete(name);
      changed = true;
    }
  }
  return { retired, changed };
}

async function retire(context: RetirementContext, name: string): Promise<string> {
  const movedTo = await context.store.retire(name, context.fileNames.get(name));
  context.stored.delete(name);
  context.fileNames.delete(name);
  context.state.certificates.delete(name);
  return movedTo;
}
