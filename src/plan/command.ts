import { lstat, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CertStore, UNMANAGED } from '../certs/store.js';
import { summarizeBundle } from '../certs/summary.js';
import type { CertSummary, FailureRecord } from '../certs/plan.js';
import { redactUrlText, type Config } from '../config.js';
import type { Logger } from '../log.js';
import { selectWantedNames } from '../marathon/apps.js';
import { MarathonClient } from '../marathon/client.js';
import { parseState, STATE_FILE } from '../state/state.js';
import { createMarathonAgent } from '../util/trust-store.js';
import { buildPlan, formatPlan, type PlanLine, type SetupStep } from './report.js';

/**
 * Reads Marathon and the storage directory and prints what the daemon would do now. Read-only: it
 * creates no file, contacts no CA and signals no load balancer. A directory the daemon has never run
 * on is planned as its first run would go: what start-up would create, then an order for every name.
 */
export async function runPlan(config: Config, logger: Logger, now: number): Promise<{ lines: PlanLine[]; text: string }> {
  const store = new CertStore(config.storageDir);
  const layout = await inspectStorage(config.storageDir, config.acmeDirectoryUrl);
  const { certs, corrupt, duplicates } = layout.certs ? await store.list() : { certs: [], corrupt: [], duplicates: [] };
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

  const dispatcher = createMarathonAgent(config.marathonCaFile);
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
      setup: layout.setup,
      wanted: selection.names,
      warnings: selection.warnings,
      managed,
      corrupt,
      duplicates,
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

type Entry = 'missing' | 'directory' | 'file' | 'other';

async function entry(path: string): Promise<Entry> {
  try {
    const info = await stat(path);
    return info.isDirectory() ? 'directory' : info.isFile() ? 'file' : 'other';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') {
      throw new Error(`cannot access ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    // A dangling symbolic link is not missing to the daemon: it reports it and creates nothing there.
    const isLink = await lstat(path).then((l) => l.isSymbolicLink(), () => false);
    return isLink ? 'other' : 'missing';
  }
}

/**
 * What start-up (CertStore.init and the account key) would find and create. A missing root is an
 * error, not an empty plan: the daemon refuses to start without it, because creating it would hide a
 * mistyped path or a volume that failed to mount, and a plan that showed every name being issued
 * there would hide the same mistake.
 */
async function inspectStorage(root: string, acmeUrl: string): Promise<{ certs: boolean; setup: SetupStep[] }> {
  const rootEntry = await entry(root);
  if (rootEntry === 'missing') {
    throw new Error(
      `storage directory ${root} does not exist; the daemon would refuse to start (it never creates it, so that a wrong path or a volume that did not mount is noticed): create it or mount the volume, then plan again`,
    );
  }
  if (rootEntry !== 'directory') throw new Error(`storage directory ${root} is not a directory; the daemon would refuse to start`);
  const [certs, unmanaged, defaultPem, clientKey] = await Promise.all(
    ['certs', UNMANAGED, 'default.pem', 'client.key'].map((name) => entry(join(root, name))),
  );
  if (certs !== 'missing' && certs !== 'directory') throw new Error(`${join(root, 'certs')} exists but is not a directory; the daemon would refuse to start`);
  if (unmanaged !== 'missing' && unmanaged !== 'directory') throw new Error(`${join(root, UNMANAGED)} exists but is not a directory; the daemon would refuse to start`);
  const setup: SetupStep[] = [];
  if (certs === 'missing') setup.push({ subject: 'certs/', reason: 'the directory marathon-lb loads certificates from (HAProxy refuses its configuration while it is missing)' });
  if (unmanaged === 'missing') setup.push({ subject: `${UNMANAGED}/`, reason: 'the directory for certificates kept by hand (never touched by the daemon)' });
  if (defaultPem === 'missing') setup.push({ subject: 'default.pem', reason: 'a self-signed fallback certificate, so that HAProxy has one before any real certificate exists' });
  if (clientKey === 'missing') setup.push({ subject: 'client.key', reason: `a new ACME account key, registered as a new account with ${redactUrlText(acmeUrl)}` });
  return { certs: certs === 'directory', setup };
}
