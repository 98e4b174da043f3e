/**
 * /metrics of a real daemon: Debian's pebble as the CA (behind the test proxy, which adds ARI and
 * injects faults), the Marathon emulator behind Basic auth, a marathon-lb receiver whose URL carries
 * credentials too. After one issuance the scrape must show what happened (the stored certificate's
 * expiry, the attempt, the ACME requests, the LB signal, the stream), and nothing secret; after the
 * app goes away, its certificate's series must go with it. Failed attempts carry a bounded problem.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { request } from 'undici';
import { parseBundle } from '../../src/certs/bundle.js';
import type { Config } from '../../src/config.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { AcmeProxy } from '../support/acme-proxy.js';
import { hostApp } from '../support/apps.js';
import { cleanupStack } from '../support/cleanup.js';
import { testConfig } from '../support/config.js';
import { eventually } from '../support/eventually.js';
import { startLbReceiver } from '../support/lb-receiver.js';
import { MarathonEmulator } from '../support/marathon-emulator.js';
import { pebbleTls, startPebble } from '../support/pebble.js';
import { freePort } from '../support/ports.js';

const MARATHON_USER = 'metrics-reader';
const MARATHON_PASSWORD = 'Marathon-S3cret:pw';
const LB_PASSWORD = 'Lb-S3cret-pw';
const DOMAIN = 'metrics.example.test';
const APP_ID = '/metrics-app';

/** The value of the one series written exactly as `series` (name plus labels in prom-client's order). */
function valueOf(text: string, series: string): number {
  const lines = text.split('\n').filter((line) => line.startsWith(`${series} `));
  assert.equal(lines.length, 1, `exactly one line for ${series}`);
  return Number(lines[0]?.slice(series.length + 1));
}

/** The base64 lines of every PEM private key in `pem`: any of them in the scrape would be key material. */
function keyLines(pem: string): string[] {
  const blocks = pem.match(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g) ?? [];
  return blocks.flatMap((block) => block.split('\n').filter((line) => /^[A-Za-z0-9+/=]{16,}$/.test(line)));
}

function app(id: string, domain: string): object {
  return hostApp(id, { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: domain });
}

/** Pebble behind the proxy, Marathon with Basic auth, one LB with credentials in its URL, a daemon. */
async function start(t: TestContext, options: { apps: object[]; overrides?: Partial<Config> }) {
  const defer = cleanupStack(t);
  const httpPort = await freePort();
  const pebble = await startPebble({ httpPort, validitySeconds: 3600 });
  defer(() => pebble.stop());
  const proxy = await AcmeProxy.start({ upstream: pebble.directoryUrl, caPem: (await pebbleTls()).caPem });
  defer(() => proxy.stop());
  const marathon = await MarathonEmulator.start({ heartbeatMs: 0, basicAuth: { user: MARATHON_USER, password: MARATHON_PASSWORD } });
  defer(() => marathon.stop());
  for (const a of options.apps) marathon.addApp(a);
  const lb = await startLbReceiver();
  defer(() => lb.stop());
  const storage = await mkdtemp(join(tmpdir(), 'ma-metrics-'));
  defer(() => rm(storage, { recursive: true, force: true }));
  const config = testConfig({
    storageDir: storage,
    acmeDirectoryUrl: proxy.directoryUrl,
    acmeCaFile: pebble.caFile,
    marathonUrls: [marathon.url.replace('http://', `http://${MARATHON_USER}:${encodeURIComponent(MARATHON_PASSWORD)}@`)],
    lbUrls: [lb.url.replace('http://', `http://lb-user:${LB_PASSWORD}@`)],
    listen: { host: '127.0.0.1', port: httpPort },
    keyType: 'ecdsa-p256',
    ...options.overrides,
  });
  const daemon = new Daemon({ config, logger: silentLogger() });
  await daemon.start();
  defer(() => daemon.stop(1_000));
  const scrape = async (): Promise<{ contentType: string; text: string }> => {
    const res = await request(`http://127.0.0.1:${daemon.port}/metrics`);
    assert.equal(res.statusCode, 200);
    return { contentType: String(res.headers['content-type']), text: await res.body.text() };
  };
  return { proxy, marathon, lb, storage, daemon, scrape };
}

describe('metrics of a running daemon', () => {
  it('shows the issued certificate, the attempt, ACME requests, the LB signal and the stream, and no secrets', async (t) => {
    // Short enough that the certificate retires at the first sync after its app is gone.
    const { proxy, marathon, lb, storage, daemon, scrape } = await start(t, { apps: [app(APP_ID, DOMAIN)], overrides: { retireAfterMs: 1 } });
    const windowStart = Date.now() + 10 * 60_000;
    const windowEnd = windowStart + 10 * 60_000;
    proxy.setDefaultWindow(() => ({ window: { start: new Date(windowStart), end: new Date(windowEnd) } }));

    const certFile = join(storage, 'certs', `${DOMAIN}.pem`);
    await eventually('the certificate', async () => (await readFile(certFile, 'utf8').catch(() => '')) !== '', 60_000);
    await daemon.whenIdle();
    await daemon.lbSettled();
    const bundleText = await readFile(certFile, 'utf8');
    const parsed = parseBundle(bundleText);
    assert.ok(parsed.ok, parsed.ok ? '' : parsed.reason);
    const certLabels = `{domain="${DOMAIN}",app_id="${APP_ID}"}`;
    // From issuance on, before any renewal check has looked at the certificate: the lifetime rule, as
    // /status shows it (the start-up check ran before the certificate existed).
    const leaf = parsed.bundle.leaf;
    const lifetimeRule = (leaf.notAfter.getTime() - (leaf.notAfter.getTime() - leaf.notBefore.getTime()) / 3) / 1000;
    const issuedRenewAt = valueOf((await scrape()).text, `marathon_acme_certificate_renewal_timestamp_seconds${certLabels}`);
    assert.ok(Math.abs(issuedRenewAt - lifetimeRule) < 0.001 || (issuedRenewAt >= windowStart / 1000 && issuedRenewAt <= windowEnd / 1000), `renewal at ${issuedRenewAt} right after issuance`);
    // A renewal check then decides it from the CA's ARI window.
    daemon.requestRenewalCheck('test');
    await daemon.whenIdle();

    const { contentType, text } = await scrape();
    assert.equal(contentType, 'text/plain; version=0.0.4; charset=utf-8');
    const notAfter = valueOf(text, `marathon_acme_certificate_not_after_timestamp_seconds${certLabels}`);
    assert.equal(notAfter, parsed.bundle.leaf.notAfter.getTime() / 1000, 'the not-after gauge is the stored certificate\'s notAfter');
    const renewAt = valueOf(text, `marathon_acme_certificate_renewal_timestamp_seconds${certLabels}`);
    assert.ok(renewAt >= windowStart / 1000 && renewAt <= windowEnd / 1000, `renewal at ${renewAt} lies in the CA's ARI window`);
    assert.equal(valueOf(text, 'marathon_acme_certificate_attempts_total{kind="issue",outcome="success",problem="none"}'), 1);
    assert.ok(!/marathon_acme_certificate_attempts_total\{[^}]*outcome="failure"/.test(text), 'no failed attempt');
    for (const endpoint of ['directory', 'newNonce', 'newAccount', 'newOrder', 'authz', 'challenge', 'finalize', 'cert', 'renewalInfo']) {
      const count = valueOf(text, `marathon_acme_acme_request_duration_seconds_count{endpoint="${endpoint}"}`);
      assert.ok(count >= 1, `${endpoint}: ${count} requests`);
    }
    const endpoints = new Set([...text.matchAll(/^marathon_acme_acme_request_duration_seconds_count\{endpoint="([^"]*)"\}/gm)].map((m) => m[1]));
    for (const endpoint of endpoints) assert.match(endpoint ?? '', /^[a-zA-Z]+$/, 'endpoint labels are resource names, never URLs');
    const maskedLb = lb.url.replace('http://', 'http://***@');
    assert.equal(valueOf(text, `marathon_acme_lb_signals_total{lb="${maskedLb}",outcome="success"}`), 1);
    assert.equal(lb.usr1, 1);
    assert.equal(valueOf(text, 'marathon_acme_marathon_event_stream_state{state="attached"}'), 1);
    assert.equal(valueOf(text, 'marathon_acme_marathon_event_stream_state{state="disconnected"}'), 0);
    const now = Date.now() / 1000;
    const lastEvent = valueOf(text, 'marathon_acme_marathon_last_event_timestamp_seconds');
    const lastSync = valueOf(text, 'marathon_acme_marathon_last_sync_success_timestamp_seconds');
    assert.ok(now - lastEvent < 120 && lastEvent <= now, `last event ${now - lastEvent} s ago`);
    assert.ok(now - lastSync < 120 && lastSync <= now, `last sync ${now - lastSync} s ago`);
    assert.equal(valueOf(text, 'marathon_acme_certificates{state="managed"}'), 1);
    assert.equal(valueOf(text, 'marathon_acme_certificates{state="retired"}'), 0);
    assert.ok(/^process_cpu_user_seconds_total /m.test(text), 'default process metrics');
    assert.ok(!text.includes('marathon_acme_rate_budget_limit{'), "pebble is not Let's Encrypt: no budget, so no budget series");
    const state = JSON.parse(await readFile(join(storage, 'state.json'), 'utf8')) as { rateLimits?: unknown; budget: { orders: unknown[] } };
    assert.deepEqual(state.rateLimits, { source: "none (the default for a CA other than Let's Encrypt)", limits: null }, 'state.json says which budget the daemon planned with');
    assert.deepEqual(state.budget.orders, [], 'and keeps no ledger without one');
    assert.equal(valueOf(text, `marathon_acme_certificate_ca_info{domain="${DOMAIN}",ca="${proxy.directoryUrl}"}`), 1, 'which CA issued it');

    const accountKey = await readFile(join(storage, 'client.key'), 'utf8');
    const secrets = [
      MARATHON_PASSWORD,
      encodeURIComponent(MARATHON_PASSWORD),
      Buffer.from(`${MARATHON_USER}:${MARATHON_PASSWORD}`).toString('base64'),
      MARATHON_USER,
      LB_PASSWORD,
      'PRIVATE KEY',
      ...keyLines(bundleText),
      ...keyLines(accountKey),
    ];
    assert.ok(keyLines(bundleText).length > 0 && keyLines(accountKey).length > 0, 'the key lines to look for were found');
    const leaked = secrets.filter((secret) => text.includes(secret)).map((s) => s.slice(0, 6));
    assert.deepEqual(leaked, [], 'no credential or key material in /metrics');

    marathon.removeApp(APP_ID);
    daemon.requestSync('test: app removed');
    await eventually('the certificate retired', async () => {
      await daemon.whenIdle();
      return !(await scrape()).text.includes('marathon_acme_certificate_not_after_timestamp_seconds{');
    });
    const after = (await scrape()).text;
    assert.ok(!after.includes('marathon_acme_certificate_renewal_timestamp_seconds{'), 'no renewal series left behind');
    assert.equal(valueOf(after, 'marathon_acme_certificates{state="managed"}'), 0);
    assert.equal(valueOf(after, 'marathon_acme_certificates{state="retired"}'), 1);
  });

  it('counts failed attempts with a bounded problem: the CA problem type, a timeout, an unreachable CA', async (t) => {
    const { proxy, marathon, daemon, scrape } = await start(t, { apps: [], overrides: { acmeTimeoutMs: 1_000 } });
    await eventually('the ACME account', () => daemon.health().details['accountReady'] === true);
    const failures = async (problem: string): Promise<number> => {
      const line = (await scrape()).text.split('\n').find((l) => l.startsWith(`marathon_acme_certificate_attempts_total{kind="issue",outcome="failure",problem="${problem}"} `));
      return line === undefined ? 0 : Number(line.split(' ')[1]);
    };
    // Each failed name waits at least a minute before its next attempt, so each is counted once here.
    proxy.failNext('/order-plz', 1, 429, 'rateLimited', 7200);
    marathon.addApp(app('/limited', 'limited.example.test'));
    await eventually('a rateLimited failure', async () => (await failures('rateLimited')) === 1);
    proxy.setMode('stall');
    marathon.addApp(app('/stalled', 'stalled.example.test'));
    await eventually('a timeout failure', async () => (await failures('timeout')) === 1);
    proxy.setMode('refuse');
    marathon.addApp(app('/refused', 'refused.example.test'));
    await eventually('a network failure', async () => (await failures('network')) === 1);
    const { text } = await scrape();
    const problems = [...text.matchAll(/^marathon_acme_certificate_attempts_total\{kind="issue",outcome="failure",problem="([^"]*)"\} (\S+)$/gm)].map((m) => `${m[1] ?? ''} ${m[2] ?? ''}`);
    assert.deepEqual(problems.sort(), ['network 1', 'rateLimited 1', 'timeout 1']);
    proxy.setMode('up');
  });
});
