import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Reporting } from '../../src/daemon/reporting.js';
import { silentLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics/metrics.js';
import type { Notifier } from '../../src/notify/notifier.js';
import type { CertificateManager } from '../../src/sync/certificates.js';
import type { ManagedCertificate } from '../../src/sync/manager-types.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 5, 1);

/** What Reporting reads of a CertificateManager; the rest is not used. */
function manager(certificates: ManagedCertificate[]): CertificateManager {
  return { certificates: () => certificates, failing: () => [], managed: new Map(certificates.map((c) => [c.name, c])) } as unknown as CertificateManager;
}

function reporting(metrics: Metrics): Reporting {
  return new Reporting({
    metrics,
    notifier: { update: () => undefined } as unknown as Notifier,
    clock: { now: () => NOW, sleep: () => Promise.resolve() },
    logger: silentLogger(),
    // Nothing to count there; the counts are not what this test is about.
    storageDir: '/nonexistent/marathon-acme-test',
    wanted: () => undefined,
    delivery: () => [],
  });
}

function renewalSeries(text: string): Map<string, number> {
  const series = new Map<string, number>();
  for (const m of text.matchAll(/^marathon_acme_certificate_renewal_timestamp_seconds\{domain="([^"]*)",app_id="[^"]*"\} (\S+)$/gm)) {
    series.set(m[1] ?? '', Number(m[2]));
  }
  return series;
}

describe('Reporting: the renewal-time gauge', () => {
  it('is there from issuance: the lifetime rule until a renewal check decides, then the decided time', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const fresh = { name: 'fresh.example.test', appId: '/shop', notBefore: NOW, notAfter: NOW + 90 * DAY, renewAt: undefined, ca: undefined };
    const decided = { name: 'decided.example.test', appId: '/shop', notBefore: NOW - 10 * DAY, notAfter: NOW + 80 * DAY, renewAt: NOW + 55 * DAY, ca: 'https://acme.example.test/dir' };
    await reporting(metrics).update(manager([fresh, decided]));
    const series = renewalSeries(await metrics.render());
    assert.equal(series.get('fresh.example.test'), (NOW + 60 * DAY) / 1000, 'a third of 90 days before expiry, as /status says');
    assert.equal(series.get('decided.example.test'), (NOW + 55 * DAY) / 1000);
  });
});
