/**
 * Keeps what the daemon tells the outside world (Prometheus gauges, webhook notifications) in step
 * with what it knows: the stored certificates, the failing names and the delivery check's records.
 * Called after every sync, renewal check and delivery look; cheap when nothing changed.
 */
import { lifetimeRenewalTime } from '../certs/renewal-schedule.js';
import type { DeliveryRecord } from '../delivery/types.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { countStoredFiles } from '../metrics/stored-files.js';
import type { NotifySnapshot } from '../notify/conditions.js';
import type { Notifier } from '../notify/notifier.js';
import type { CertificateManager } from '../sync/certificates.js';
import type { FailingName, ManagedCertificate } from '../sync/manager-types.js';
import type { Clock } from '../util/clock.js';

export interface ReportingOptions {
  metrics: Metrics;
  notifier: Notifier;
  clock: Clock;
  logger: Logger;
  storageDir: string;
  /** The names apps want, from the last successful sync; undefined before the first. */
  wanted: () => ReadonlySet<string> | undefined;
  /** The delivery check's records (empty when the check is off). */
  delivery: () => readonly DeliveryRecord[];
}

/**
 * The renewal time decided for this very certificate, else the lifetime rule. A certificate just
 * issued or renewed gets its decision only at the next renewal check (up to --renewal-interval
 * later); until then the lifetime rule is what that check decides without ARI, and what /status
 * shows meanwhile, so the gauge is there from the moment the certificate is.
 */
function renewalTime(cert: Pick<ManagedCertificate, 'notBefore' | 'notAfter' | 'renewAt'>): number {
  return cert.renewAt ?? lifetimeRenewalTime(cert);
}

export class Reporting {
  constructor(private readonly options: ReportingOptions) {}

  /**
   * Brings gauges and notifications up to date. `gauges: false` after a sync that changed no
   * certificate: rebuilding thousands of per-certificate series then costs more than the rest of a
   * no-op sync, for the same values. A storage directory that cannot be listed only costs the counts.
   */
  async update(manager: CertificateManager, options: { gauges: boolean } = { gauges: true }): Promise<void> {
    const { metrics } = this.options;
    const certificates = manager.certificates();
    const failing = this.failing(manager);
    if (options.gauges) {
      metrics.setCertificates(certificates.map((c) => ({ domain: c.name, appId: c.appId, notBefore: c.notBefore, notAfter: c.notAfter, renewAt: renewalTime(c), ca: c.ca })));
    }
    metrics.setFailures(failing.map((f) => ({ domain: f.name, kind: f.kind, failures: f.failures })));
    this.notify(certificates, failing);
    try {
      const files = await countStoredFiles(this.options.storageDir);
      metrics.setStoredCounts({ managed: manager.managed.size, ...files });
    } catch (err) {
      this.options.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'cannot count the retired and unmanaged certificates for the metrics; the counts are tried again after the next sync');
    }
  }

  /** After a delivery look: the delivery series and the notifications that depend on them. */
  deliveryChanged(manager: CertificateManager | undefined, records: readonly DeliveryRecord[]): void {
    this.options.metrics.setDelivery(records);
    if (manager !== undefined) this.notify(manager.certificates(), this.failing(manager), records);
  }

  /**
   * A name that failed and that no app wants any more is not a problem to report: its failure record
   * is kept only so that a quick return of the app does not retry early.
   */
  private failing(manager: CertificateManager): FailingName[] {
    const wanted = this.options.wanted();
    const all = manager.failing();
    return wanted === undefined ? all : all.filter((f) => f.kind === 'renew' || wanted.has(f.name));
  }

  private notify(
    certificates: ReturnType<CertificateManager['certificates']>,
    failing: readonly FailingName[],
    delivery: readonly DeliveryRecord[] = this.options.delivery(),
  ): void {
    const snapshot: NotifySnapshot = {
      now: this.options.clock.now(),
      certificates: certificates.map((c) => ({ name: c.name, appId: c.appId, notBefore: c.notBefore, notAfter: c.notAfter })),
      failures: failing.map((f) => ({ name: f.name, kind: f.kind, failures: f.failures, problem: { type: f.problem.type, detail: f.problem.detail }, nextAttemptAt: f.nextAttemptAt, appId: f.appId })),
      delivery,
    };
    this.options.notifier.update(snapshot);
  }
}
