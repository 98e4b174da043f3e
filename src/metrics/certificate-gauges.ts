/**
 * The per-certificate gauges: one series per certificate in certs/, made from the last list handed
 * to the metrics when Prometheus scrapes (see scrape-time-gauge.ts).
 */
import type { Registry } from 'prom-client';
import { ScrapeTimeGauge } from './scrape-time-gauge.js';

/** One certificate in certs/, as the per-certificate gauges show it. */
export interface CertificateMetric {
  /** The primary name (the file name in certs/). */
  domain: string;
  /** The app the certificate was last issued for; unknown for certificates adopted from an old volume. */
  appId: string | undefined;
  /** Epoch ms; with notAfter it gives the lifetime, so that alerts can be relative to it. */
  notBefore: number;
  /** Epoch ms. */
  notAfter: number;
  /** The ACME directory of the CA that issued it; unknown for certificates stored before this was kept. */
  ca?: string | undefined;
  /** Epoch ms of the renewal time; undefined leaves the certificate without a renewal series. */
  renewAt: number | undefined;
}

/** The timestamp gauges, labelled by domain and app; a certificate without the time has no series. */
const TIMESTAMPS: ReadonlyArray<{ name: string; help: string; at: (cert: CertificateMetric) => number | undefined }> = [
  {
    name: 'marathon_acme_certificate_not_before_timestamp_seconds',
    help: 'When each managed certificate became valid (its notBefore), as a Unix time.',
    at: (cert) => cert.notBefore,
  },
  {
    name: 'marathon_acme_certificate_not_after_timestamp_seconds',
    help: 'When each managed certificate expires (its notAfter), as a Unix time.',
    at: (cert) => cert.notAfter,
  },
  {
    name: 'marathon_acme_certificate_renewal_timestamp_seconds',
    help: 'When each managed certificate is due for renewal, as a Unix time; in the past while a due renewal has not succeeded.',
    at: (cert) => cert.renewAt,
  },
];

/** Registers the gauges with `registry`; nothing else holds them. */
export function registerCertificateGauges(registry: Registry, list: () => readonly CertificateMetric[]): void {
  const registers = [registry];
  for (const { name, help, at } of TIMESTAMPS) {
    new ScrapeTimeGauge({ name, help, labelNames: ['domain', 'app_id'], registers }, (add) => {
      for (const cert of list()) {
        const ms = at(cert);
        if (ms !== undefined) add({ domain: cert.domain, app_id: cert.appId ?? '' }, ms / 1000);
      }
    });
  }
  new ScrapeTimeGauge(
    {
      name: 'marathon_acme_certificate_ca_info',
      help: 'Always 1; the ca label is the ACME directory of the CA that issued each managed certificate (no series where it is not known).',
      labelNames: ['domain', 'ca'],
      registers,
    },
    (add) => {
      for (const cert of list()) if (cert.ca !== undefined) add({ domain: cert.domain, ca: cert.ca }, 1);
    },
  );
}
