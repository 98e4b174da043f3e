/**
 * The running daemon's /status view: the offline report of the storage directory (the same rows as
 * `marathon-acme status`) plus what only the daemon knows: the names apps want now, the delivery
 * check's current records and the state of Marathon, the ACME account and each marathon-lb.
 */
import type { LbSummary } from '../delivery/lb-summary.js';
import type { DeliveryRecord } from '../delivery/types.js';
import type { WantedName } from '../marathon/apps.js';
import { readStatus } from '../status/command.js';
import { accountState, lbState, marathonState, type LbResult, type SyncStatus } from '../status/components.js';
import type { StatusView } from '../status/page.js';

export interface DaemonStatusInput {
  now: number;
  storageDir: string;
  version: string;
  acmeDirectoryUrl: string;
  sync: SyncStatus;
  eventStream: string;
  marathonUrls: string[];
  accountReady: boolean;
  accountError: string | undefined;
  /** From the last successful sync; undefined before the first. */
  wanted: readonly WantedName[] | undefined;
  lbs: readonly LbSummary[];
  /** The last answer each LB gave to a reload signal, by its displayed URL. */
  lastSignals: ReadonlyMap<string, LbResult>;
  /** 0: the delivery check is off. */
  checkPort: number;
  delivery: readonly DeliveryRecord[];
}

export async function buildDaemonStatusView(input: DaemonStatusInput): Promise<StatusView> {
  const report = await readStatus(input.storageDir, input.now, {
    wanted: input.wanted?.map((w) => ({ name: w.name, appId: w.appId, portIndex: w.portIndex, sans: w.sans })),
    // Always the live records (none with the check off): delivery.json may hold an earlier run's.
    delivery: { checkPort: input.checkPort, records: input.delivery, lbs: input.lbs.map((lb) => lb.lb) },
  });
  const s = input.sync;
  return {
    generatedAt: new Date(input.now).toISOString(),
    version: input.version,
    marathon: {
      ...marathonState(s, input.eventStream),
      urls: input.marathonUrls,
      eventStream: input.eventStream,
      lastSyncAt: s.lastSuccessAt === undefined ? null : new Date(s.lastSuccessAt).toISOString(),
    },
    account: { ...accountState(input.accountReady, input.accountError), directory: input.acmeDirectoryUrl },
    lbs: input.lbs.map((lb) => lbState(lb.lb, lb.pendingSignal, input.lastSignals.get(lb.lb), lb)),
    // The daemon's own per-LB summaries know the signal state too, which the records alone do not.
    delivery: report.delivery === null ? null : { ...report.delivery, lbs: [...input.lbs] },
    cas: report.cas,
    certificates: report.certificates,
  };
}
