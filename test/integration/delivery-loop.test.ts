/**
 * The loop closed end to end: the daemon orders from Debian's pebble, writes into a storage directory
 * that Debian's HAProxy serves through the tests' marathon-lb stand-in (real reloads, marathon-lb's
 * quirks included), signals it, and then proves over TLS what each LB serves. An LB whose reload is
 * broken (it acknowledges the signal and never reloads) is reported stale, notified once on a
 * webhook, and alerted by the shipped Prometheus rules evaluated by promtool on a scrape of the
 * daemon's own /metrics.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { CertStore } from '../../src/certs/store.js';
import type { Config } from '../../src/config.js';
import { Daemon } from '../../src/daemon.js';
import { createLogger, silentLogger } from '../../src/log.js';
import type { NotificationBody } from '../../src/notify/message.js';
import { OffsetClock } from '../../src/util/clock.js';
import { hostApp } from '../support/apps.js';
import { cleanupStack } from '../support/cleanup.js';
import { testConfig } from '../support/config.js';
import { eventually } from '../support/eventually.js';
import { servedFingerprint } from '../support/served-leaf.js';
import { startMarathonLb, type MarathonLb } from '../support/marathon-lb.js';
import { MarathonEmulator } from '../support/marathon-emulator.js';
import { startPebble } from '../support/pebble.js';
import { freePort } from '../support/ports.js';
import { parseExposition, promtool, seriesKey, withoutDescriptions } from '../support/prometheus.js';
import { startWebhookReceiver } from '../support/webhook-receiver.js';

const RULES_FILE = fileURLToPath(new URL('../../deploy/prometheus-alerts.yml', import.meta.url));
const MINUTE = 60_000;

function testLogger() {
  return process.env['MARATHON_ACME_TEST_LOGS'] === '1' ? createLogger('debug', process.stderr) : silentLogger();
}

async function storedFingerprint(storage: string, name: string): Promise<string> {
  const text = await readFile(join(storage, 'certs', `${name}.pem`), 'utf8');
  const leaf = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text)?.[0] ?? '';
  return new X509Certificate(leaf).fingerprint256;
}

/** marathon_acme_delivery_status series as { "<lb> <domain>": status }. */
async function deliveryStatuses(port: number): Promise<Map<string, string>> {
  const text = await (await request(`http://127.0.0.1:${port}/metrics`)).body.text();
  const statuses = new Map<string, string>();
  for (const s of parseExposition(text)) {
    if (s.name === 'marathon_acme_delivery_status' && s.value === 1) statuses.set(`${s.labels['lb'] ?? ''} ${s.labels['domain'] ?? ''}`, s.labels['status'] ?? '');
  }
  return statuses;
}

async function setup(t: TestContext, lbCount: number, overrides: Partial<Config> = {}) {
  const defer = cleanupStack(t);
  const httpPort = await freePort();
  // A one-hour lifetime: the test moves the daemon's clock to the renewal time instead of waiting.
  const pebble = await startPebble({ httpPort, validitySeconds: 3600 });
  defer(() => pebble.stop());
  const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
  defer(() => marathon.stop());
  const storage = await mkdtemp(join(tmpdir(), 'ma-delivery-'));
  defer(() => rm(storage, { recursive: true, force: true }));
  // HAProxy refuses a configuration whose certs/ or default.pem is missing; the daemon's own start
  // would create them too, but the LBs start first here, as they do on a cluster.
  await new CertStore(storage).init(new Date());
  const lbs: MarathonLb[] = [];
  for (let i = 0; i < lbCount; i++) {
    const lb = await startMarathonLb({ storageDir: storage, acmePort: httpPort });
    defer(() => lb.stop());
    lbs.push(lb);
  }
  const hook = await startWebhookReceiver(defer);
  const clock = new OffsetClock();
  const config = testConfig({
    storageDir: storage,
    acmeDirectoryUrl: pebble.directoryUrl,
    acmeCaFile: pebble.caFile,
    marathonUrls: [marathon.url],
    lbUrls: lbs.map((lb) => lb.url),
    listen: { host: '127.0.0.1', port: httpPort },
    keyType: 'ecdsa-p256',
    deliveryCheckPort: lbs[0]?.httpsPort ?? 0,
    deliveryCheckIntervalMs: 0,
    notifyUrls: [hook.url],
    ...overrides,
  });
  const byUrl = new Map(lbs.map((lb) => [lb.url, lb]));
  const daemon = new Daemon({
    config,
    logger: testLogger(),
    clock,
    // Reloads take about a second here; a failure is declared 3 s after the signal instead of 5 min.
    deliveryTiming: { graceMs: 3_000 },
    // Every stand-in listens on 127.0.0.1, each on a TLS port of its own.
    deliveryTarget: (lb) => ({ host: '127.0.0.1', port: byUrl.get(lb)?.httpsPort ?? 0 }),
  });
  await daemon.start();
  defer(() => daemon.stop(2_000));
  return { daemon, marathon, lbs, storage, hook, clock, config };
}

describe('delivery: what every marathon-lb really serves (real HAProxy behind the stand-in)', () => {
  it('reports a new certificate served on every LB soon after the signal, without killing a starting LB', async (t) => {
    const { daemon, marathon, lbs, storage } = await setup(t, 2);
    const name = 'shop.example.test';
    const added = Date.now();
    marathon.addApp(hostApp('/shop', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: name }));
    await eventually('served on both LBs', async () => {
      const statuses = await deliveryStatuses(daemon.port);
      return lbs.every((lb) => statuses.get(`${lb.url} ${name}`) === 'served');
    });
    const elapsed = Date.now() - added;
    const stored = await storedFingerprint(storage, name);
    for (const lb of lbs) {
      assert.equal(await servedFingerprint(lb.httpsPort, name), stored, `${lb.url} presents the stored leaf`);
      assert.equal(lb.killed, false, 'no signal reached an LB in its first moments');
      assert.ok(lb.usr1Reloads >= 1, 'the LB reloaded for the signal');
    }
    t.diagnostic(`app added → stored certificate served on 2 LBs (checked over TLS): ${elapsed} ms`);
    const health = (await (await request(`http://127.0.0.1:${daemon.port}/health`)).body.json()) as Record<string, unknown>;
    assert.equal(health['deliveryFailures'], 0);
  });

  it('reports an LB whose reload is broken as stale, notifies once, and the shipped rules alert on it', async (t) => {
    const { daemon, marathon, lbs, storage, hook, clock } = await setup(t, 1);
    const [lb] = lbs;
    assert.ok(lb !== undefined);
    const name = 'blog.example.test';
    marathon.addApp(hostApp('/blog', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: name }));
    await eventually('the first certificate served', async () => (await deliveryStatuses(daemon.port)).get(`${lb.url} ${name}`) === 'served');
    const first = await storedFingerprint(storage, name);

    lb.setBrokenReload(true);
    // Past two thirds of the one-hour lifetime: the renewal check renews it.
    clock.advance(45 * MINUTE);
    daemon.requestRenewalCheck('test: renewal due');
    await eventually('the renewed certificate stored', async () => (await storedFingerprint(storage, name)) !== first);
    await eventually('reported stale', async () => (await deliveryStatuses(daemon.port)).get(`${lb.url} ${name}`) === 'stale');
    assert.equal(await servedFingerprint(lb.httpsPort, name), first, 'HAProxy still presents the old leaf');

    const firing = (): number =>
      hook.received
        .map((r) => JSON.parse(r.body) as NotificationBody)
        .flatMap((b) => b.events)
        .filter((e) => e.kind === 'delivery-failing' && e.state === 'firing' && e.name === name).length;
    await eventually('a delivery-failing notification', () => firing() === 1);
    // Ignored by the broken reload, or swallowed when it came during the first reload's settling.
    assert.ok(lb.ignored + lb.swallowed >= 1, 'the LB acknowledged signals it did not act on');
    const health = (await (await request(`http://127.0.0.1:${daemon.port}/health`)).body.json()) as Record<string, unknown>;
    assert.equal(health['deliveryFailures'], 1);

    // The shipped rules on the daemon's own scrape, as Prometheus would hold it for 20 minutes.
    const text = await (await request(`http://127.0.0.1:${daemon.port}/metrics`)).body.text();
    const instance = `127.0.0.1:${daemon.port}`;
    const input = [{ series: seriesKey('up', { job: 'marathon-acme', instance }), values: '1x20' }];
    // The process metrics (event loop lag can read NaN) are not what the rules look at.
    const ours = text.split('\n').filter((line) => /^(# (HELP|TYPE) )?marathon_acme_/.test(line)).join('\n');
    for (const s of parseExposition(ours)) input.push({ series: seriesKey(s.name, { ...s.labels, job: 'marathon-acme', instance }), values: `${s.value}x20` });
    const dir = await mkdtemp(join(tmpdir(), 'ma-delivery-rules-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const rules = join(dir, 'rules.yml');
    await writeFile(rules, withoutDescriptions(await readFile(RULES_FILE, 'utf8')));
    const tests = join(dir, 'test.yml');
    await writeFile(
      tests,
      JSON.stringify({
        rule_files: [rules],
        evaluation_interval: '1m',
        tests: [
          {
            interval: '1m',
            input_series: input,
            alert_rule_test: [
              {
                eval_time: '10m',
                alertname: 'MarathonAcmeDeliveryStale',
                exp_alerts: [
                  {
                    exp_labels: { severity: 'warning', job: 'marathon-acme', instance, lb: lb.url },
                    exp_annotations: { summary: `marathon-lb ${lb.url} serves old certificates (names affected: 1)` },
                  },
                ],
              },
              { eval_time: '10m', alertname: 'MarathonAcmeDeliveryWrongCertificate', exp_alerts: [] },
            ],
          },
        ],
      }),
    );
    await promtool(['test', 'rules', tests], dir);

    // Fed the same conditions for a while longer, the notifier stays quiet: one notification per condition.
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    assert.equal(firing(), 1, 'the stale LB was notified once');
  });
});
