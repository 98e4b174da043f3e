import { Agent } from 'undici';
import { CertStore } from '../certs/store.js';
import { summarizeBundle } from '../certs/summary.js';
import type { CertSummary, FailureRecord } from '../certs/plan.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { selectWantedNames } from '../marathon/apps.js';
import { MarathonClient } from '../marathon/client.js';
import { parseState, STATE_FILE } from '../state/state.js';
import { buildPlan, formatPlan, type PlanLine } from './report.js';

/**
 * Reads Marathon and the storage directory and prints what the daemon would do now. Read-only: it
 * creates no file, contacts no CA and signals no load balancer.
 */
export async function runPlan(config: Config, logger: Logger, now: number): Promise<{ lines: PlanLine[]; text: string }> {
  const store = new CertStore(config.storageDir);
  const { certs, corrupt } = await store.list();
  const managed = new Map<string, CertSummary>();
  for (const cert of certs) {
    managed.set(cert.name, summarizeBundle(cert.name, cert.bundle));
  }
  const stateText = await store.readText(STATE_FILE);
  const state = stateText === undefined ? undefined : parseState(stateText).state;
  const failures = new Map<string, FailureRecord>();
  const lastWanted = new Map<string, number>();
  const schedule = new Map<string, number>();
  for (const [name, cert] of state?.certificates ?? []) {
    if (cert.failure !== undefined) failures.set(name, cert.failure);
    if (cert.lastWantedAt !== undefined) lastWanted.set(name, cert.lastWantedAt);
    // A stored renewal time counts only for the certificate it was decided for.
    const stored = managed.get(name);
    if (cert.renewal !== undefined && stored !== undefined && cert.renewal.serial === stored.serialHex) schedule.set(name, cert.renewal.renewAt);
  }

  const dispatcher = new Agent();
  try {
    const client = new MarathonClient({ urls: config.marathonUrls, timeoutMs: config.marathonTimeoutMs, dispatcher, logger });
    const apps = await client.getApps();
    const selection = selectWantedNames(apps, {
      group: config.group,
      multipleDomains: config.multipleDomains,
      allowedDomains: config.allowedDomains,
      maxNamesPerApp: config.maxNamesPerApp,
    });
    const lines = buildPlan({
      wanted: selection.names,
      warnings: selection.warnings,
      managed,
      corrupt,
      failures,
      lastWanted,
      schedule,
      now,
      retireAfterMs: config.retireAfterMs,
    });
    return { lines, text: formatPlan(lines) };
  } finally {
    await dispatcher.destroy();
  }
}
