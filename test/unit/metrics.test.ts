import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Agent } from 'undici';
import { AcmeClient } from '../../src/acme/protocol/client.js';
import type { AcmeEndpoint } from '../../src/acme/protocol/endpoints.js';
import { AcmeTransport } from '../../src/acme/protocol/transport.js';
import { budgetUsage, checkBudget, emptyBudget, recordOrder, type BudgetLimits, type BudgetState } from '../../src/acme/rate-budget.js';
import type { DeliveryRecord } from '../../src/delivery/types.js';
import { Metrics, problemLabel } from '../../src/metrics/metrics.js';
import { countStoredFiles } from '../../src/metrics/stored-files.js';
import { silentLogger } from '../../src/log.js';
import { JumpingClock } from '../support/manual-clock.js';
import { makePrivateCa } from '../support/private-ca.js';
import { answerJson, startFakeCa, type ScriptedAnswer } from '../support/scripted-acme.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict reader of the text exposition format (version 0.0.4) as far as prom-client writes it:
 * every line is a HELP, a TYPE or a sample; every sample belongs to a family whose TYPE came first.
 * Throws naming the line it cannot read.
 */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
  const labelPair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/y;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta !== null) {
      if (meta[1] === 'TYPE') {
        assert.match(meta[3] ?? '', /^(counter|gauge|histogram|summary|untyped)$/, `TYPE line: ${line}`);
        types.set(meta[2] ?? '', meta[3] ?? '');
      }
      continue;
    }
    const m = sampleLine.exec(line);
    if (m === null) throw new Error(`not an exposition line: ${JSON.stringify(line)}`);
    const name = m[1] ?? '';
    const family = [...types.keys()].find((f) => name === f || (name.startsWith(f) && /^_(bucket|sum|count|total|created)$/.test(name.slice(f.length))));
    if (family === undefined) throw new Error(`sample without a TYPE: ${line}`);
    const labels: Record<string, string> = {};
    const rawLabels = m[2] ?? '';
    labelPair.lastIndex = 0;
    while (labelPair.lastIndex < rawLabels.length) {
      const pair = labelPair.exec(rawLabels);
      if (pair === null) throw new Error(`bad labels in ${JSON.stringify(line)}`);
      labels[pair[1] ?? ''] = (pair[2] ?? '').replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    // Prometheus reads values with Go's ParseFloat, which takes NaN and Inf in any case (prom-client
    // writes "Nan" for an event-loop histogram that has no samples yet).
    const raw = m[3] ?? '';
    const value = /^nan$/i.test(raw) ? NaN : Number(raw.replace(/^([+-]?)inf$/i, '$1Infinity'));
    if (Number.isNaN(value) && !/^nan$/i.test(raw)) throw new Error(`bad value in ${JSON.stringify(line)}`);
    samples.push({ name, labels, value });
  }
  return samples;
}

async function samples(metrics: Metrics, name: string): Promise<Sample[]> {
  return parseExposition(await metrics.render()).filter((s) => s.name === name);
}

async function value(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const found = (await samples(metrics, name)).filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} matches ${found.length} series`);
  return found[0]?.value;
}

const NOT_BEFORE = 'marathon_acme_certificate_not_before_timestamp_seconds';
const NOT_AFTER = 'marathon_acme_certificate_not_after_timestamp_seconds';
const RENEW_AT = 'marathon_acme_certificate_renewal_timestamp_seconds';
const ATTEMPTS = 'marathon_acme_certificate_attempts_total';

describe('metrics', () => {
  it('shows one not-after and one renewal series per certificate, in seconds, labelled with domain and app', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.setCertificates([
      { domain: 'a.example.test', appId: '/a', notBefore: 1_792_224_000_000, notAfter: 1_800_000_000_000, renewAt: 1_790_000_000_500 },
      { domain: 'old.example.test', appId: undefined, notBefore: 1_692_224_000_250, notAfter: 1_700_000_000_000, renewAt: undefined },
    ]);
    assert.deepEqual(await samples(metrics, NOT_AFTER), [
      { name: NOT_AFTER, labels: { domain: 'a.example.test', app_id: '/a' }, value: 1_800_000_000 },
      { name: NOT_AFTER, labels: { domain: 'old.example.test', app_id: '' }, value: 1_700_000_000 },
    ]);
    assert.deepEqual(await samples(metrics, NOT_BEFORE), [
      { name: NOT_BEFORE, labels: { domain: 'a.example.test', app_id: '/a' }, value: 1_792_224_000 },
      { name: NOT_BEFORE, labels: { domain: 'old.example.test', app_id: '' }, value: 1_692_224_000.25 },
    ]);
    // Without a renewal time (the daemon always has one: see reporting.ts), no series.
    assert.deepEqual(await samples(metrics, RENEW_AT), [
      { name: RENEW_AT, labels: { domain: 'a.example.test', app_id: '/a' }, value: 1_790_000_000.5 },
    ]);
  });

  it('drops the series of a certificate that went away or changed app', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.setCertificates([
      { domain: 'keep.example.test', appId: '/one', notBefore: 1_990_000_000_000, notAfter: 2_000_000_000_000, renewAt: 1_900_000_000_000 },
      { domain: 'retired.example.test', appId: '/gone', notBefore: 1_990_000_000_000, notAfter: 2_000_000_000_000, renewAt: 1_900_000_000_000 },
    ]);
    metrics.setCertificates([{ domain: 'keep.example.test', appId: '/two', notBefore: 2_090_000_000_000, notAfter: 2_100_000_000_000, renewAt: 2_000_000_000_000 }]);
    for (const name of [NOT_BEFORE, NOT_AFTER, RENEW_AT]) {
      const series = await samples(metrics, name);
      assert.deepEqual(series.map((s) => s.labels), [{ domain: 'keep.example.test', app_id: '/two' }], name);
    }
    metrics.setCertificates([]);
    assert.deepEqual(await samples(metrics, NOT_AFTER), []);
    assert.deepEqual(await samples(metrics, NOT_BEFORE), []);
  });

  it('counts attempts by kind, outcome and a bounded problem label, with the success series there from the start', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    assert.equal(await value(metrics, ATTEMPTS, { kind: 'issue', outcome: 'success', problem: 'none' }), 0);
    assert.equal(await value(metrics, ATTEMPTS, { kind: 'renew', outcome: 'success', problem: 'none' }), 0);
    metrics.certificateAttempt('issue', 'success', undefined);
    metrics.certificateAttempt('issue', 'success', 'rateLimited');
    metrics.certificateAttempt('renew', 'failure', 'rateLimited');
    metrics.certificateAttempt('renew', 'failure', 'rateLimited');
    metrics.certificateAttempt('issue', 'failure', 'timeout');
    metrics.certificateAttempt('issue', 'failure', 'preflight:dns');
    metrics.certificateAttempt('issue', 'failure', 'preflight:wrong-answer');
    for (let i = 0; i < 50; i++) metrics.certificateAttempt('issue', 'failure', `urn:example:ca:error:${i}`);
    const series = await samples(metrics, ATTEMPTS);
    const byKey = Object.fromEntries(series.map((s) => [`${s.labels['kind']}/${s.labels['outcome']}/${s.labels['problem']}`, s.value]));
    assert.deepEqual(byKey, {
      'issue/success/none': 2,
      'renew/success/none': 0,
      'renew/failure/rateLimited': 2,
      'issue/failure/timeout': 1,
      'issue/failure/preflight': 2,
      'issue/failure/other': 50,
    });
  });

  it('maps problem types onto a closed set of labels', () => {
    assert.equal(problemLabel('success', 'badNonce'), 'none');
    for (const type of ['rateLimited', 'badNonce', 'connection', 'dns', 'unauthorized', 'alreadyReplaced', 'serverInternal']) {
      assert.equal(problemLabel('failure', type), type);
    }
    for (const type of ['network', 'timeout', 'budget']) assert.equal(problemLabel('failure', type), type);
    assert.equal(problemLabel('failure', 'preflight:connection'), 'preflight');
    assert.equal(problemLabel('failure', undefined), 'unknown');
    assert.equal(problemLabel('failure', 'about:blank'), 'other');
    assert.equal(problemLabel('failure', 'urn:ietf:params:acme:error:rateLimited'), 'other', 'protocol/problem.ts strips the prefix; a full URN is not a known type');
  });

  it('times ACME requests by endpoint in a histogram', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.observeAcmeRequest('newOrder', 0.07);
    metrics.observeAcmeRequest('newOrder', 3);
    metrics.observeAcmeRequest('renewalInfo', 0.01);
    const name = 'marathon_acme_acme_request_duration_seconds';
    assert.equal(await value(metrics, `${name}_count`, { endpoint: 'newOrder' }), 2);
    assert.equal(await value(metrics, `${name}_sum`, { endpoint: 'newOrder' }), 3.07);
    assert.equal(await value(metrics, `${name}_bucket`, { endpoint: 'newOrder', le: '0.1' }), 1);
    assert.equal(await value(metrics, `${name}_bucket`, { endpoint: 'newOrder', le: '+Inf' }), 2);
    assert.equal(await value(metrics, `${name}_count`, { endpoint: 'renewalInfo' }), 1);
  });

  it('shows the event stream state as one 1 among its states, and event and sync times in seconds', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const state = async () =>
      Object.fromEntries((await samples(metrics, 'marathon_acme_marathon_event_stream_state')).map((s) => [s.labels['state'] ?? '', s.value]));
    assert.deepEqual(await state(), { connecting: 0, attached: 0, disconnected: 1 });
    metrics.setStreamState('attached');
    assert.deepEqual(await state(), { connecting: 0, attached: 1, disconnected: 0 });
    assert.equal(await value(metrics, 'marathon_acme_marathon_last_event_timestamp_seconds'), 0);
    metrics.marathonEvent(1_750_000_000_250);
    metrics.syncSucceeded(1_750_000_001_000);
    assert.equal(await value(metrics, 'marathon_acme_marathon_last_event_timestamp_seconds'), 1_750_000_000.25);
    assert.equal(await value(metrics, 'marathon_acme_marathon_last_sync_success_timestamp_seconds'), 1_750_000_001);
  });

  it('shows whether this instance leads, since when, and how often that changed after its start', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.setRole('follower', 1_750_000_000_000);
    assert.deepEqual(
      [await value(metrics, 'marathon_acme_leader'), await value(metrics, 'marathon_acme_leader_since_timestamp_seconds'), await value(metrics, 'marathon_acme_leadership_changes_total')],
      [0, 0, 0],
      'the role it starts in is no change',
    );
    metrics.setRole('leader', 1_750_000_002_500);
    metrics.setRole('leader', 1_750_000_009_000);
    assert.deepEqual(
      [await value(metrics, 'marathon_acme_leader'), await value(metrics, 'marathon_acme_leader_since_timestamp_seconds'), await value(metrics, 'marathon_acme_leadership_changes_total')],
      [1, 1_750_000_002.5, 1],
      'leading again is no change, and keeps its start',
    );
    metrics.setRole('follower', 1_750_000_010_000);
    assert.equal(await value(metrics, 'marathon_acme_leadership_changes_total'), 2);
    assert.equal(await value(metrics, 'marathon_acme_leader_since_timestamp_seconds'), 0);
    metrics.setRole('candidate', 1_750_000_011_000);
    metrics.setRole('follower', 1_750_000_012_000);
    assert.equal(await value(metrics, 'marathon_acme_leadership_changes_total'), 2, 'follower and candidate both do not lead: no change');
  });

  it('shows the ZooKeeper session state as one series per state, only with --zk', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    assert.deepEqual(await samples(metrics, 'marathon_acme_zookeeper_state'), [], 'no series without --zk');
    metrics.setZkState('connecting');
    metrics.setZkState('connected');
    const states = Object.fromEntries((await samples(metrics, 'marathon_acme_zookeeper_state')).map((s) => [s.labels['state'] ?? '', s.value]));
    assert.deepEqual(states, { connecting: 0, connected: 1, disconnected: 0, expired: 0, closed: 0 });
    metrics.setZkState('disconnected');
    assert.equal(await value(metrics, 'marathon_acme_zookeeper_state', { state: 'disconnected' }), 1);
    assert.equal(await value(metrics, 'marathon_acme_zookeeper_state', { state: 'connected' }), 0);
  });

  it('counts LB signals by LB and outcome, and certificate files by state', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.lbSignal('http://***@lb1:9090', 'success');
    metrics.lbSignal('http://***@lb1:9090', 'failure');
    metrics.lbSignal('http://***@lb1:9090', 'success');
    metrics.lbSignal('http://lb2:9090', 'failure');
    assert.equal(await value(metrics, 'marathon_acme_lb_signals_total', { lb: 'http://***@lb1:9090', outcome: 'success' }), 2);
    assert.equal(await value(metrics, 'marathon_acme_lb_signals_total', { lb: 'http://***@lb1:9090', outcome: 'failure' }), 1);
    assert.equal(await value(metrics, 'marathon_acme_lb_signals_total', { lb: 'http://lb2:9090', outcome: 'failure' }), 1);
    metrics.setStoredCounts({ managed: 3, retired: 1, unmanaged: 0 });
    const counts = Object.fromEntries((await samples(metrics, 'marathon_acme_certificates')).map((s) => [s.labels['state'] ?? '', s.value]));
    assert.deepEqual(counts, { managed: 3, retired: 1, unmanaged: 0 });
  });

  it('shows consecutive failures per wanted name and kind, and drops a name that left the list', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const name = 'marathon_acme_certificate_consecutive_failures';
    metrics.setFailures([
      { domain: 'new.example.test', kind: 'issue', failures: 3 },
      { domain: 'stored.example.test', kind: 'renew', failures: 1 },
    ]);
    assert.deepEqual(await samples(metrics, name), [
      { name, labels: { domain: 'new.example.test', kind: 'issue' }, value: 3 },
      { name, labels: { domain: 'stored.example.test', kind: 'renew' }, value: 1 },
    ]);
    metrics.setFailures([{ domain: 'stored.example.test', kind: 'renew', failures: 2 }]);
    assert.deepEqual(await samples(metrics, name), [{ name, labels: { domain: 'stored.example.test', kind: 'renew' }, value: 2 }]);
    metrics.setFailures([]);
    assert.deepEqual(await samples(metrics, name), []);
  });

  it('shows each (lb, domain) delivery as one status series, a failing flag and the last time it was served', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const record = (lb: string, name: string, status: DeliveryRecord['status'], failing: boolean, lastServedAt: number | undefined): DeliveryRecord => ({
      lb, name, status, failing, lastServedAt, checkedAt: 1_750_000_100_000, detail: status === 'served' ? undefined : 'something else',
    });
    metrics.setDelivery([
      record('http://***@lb1:9090', 'a.example.test', 'served', false, 1_750_000_100_000),
      record('http://***@lb1:9090', 'b.example.test', 'stale', true, 1_749_000_000_500),
      record('http://lb2:9090', 'a.example.test', 'other', false, undefined),
      record('http://lb2:9090', 'b.example.test', 'unchecked', false, undefined),
    ]);
    const status = await samples(metrics, 'marathon_acme_delivery_status');
    assert.deepEqual(status.map((s) => [s.labels['lb'], s.labels['domain'], s.labels['status'], s.value]), [
      ['http://***@lb1:9090', 'a.example.test', 'served', 1],
      ['http://***@lb1:9090', 'b.example.test', 'stale', 1],
      ['http://lb2:9090', 'a.example.test', 'other', 1],
      ['http://lb2:9090', 'b.example.test', 'unchecked', 1],
    ]);
    const failing = await samples(metrics, 'marathon_acme_delivery_failing');
    assert.deepEqual(failing.map((s) => [s.labels['lb'], s.labels['domain'], s.value]), [
      ['http://***@lb1:9090', 'a.example.test', 0],
      ['http://***@lb1:9090', 'b.example.test', 1],
      ['http://lb2:9090', 'a.example.test', 0],
      ['http://lb2:9090', 'b.example.test', 0],
    ]);
    const served = await samples(metrics, 'marathon_acme_delivery_last_served_timestamp_seconds');
    assert.deepEqual(served.map((s) => [s.labels['lb'], s.labels['domain'], s.value]), [
      ['http://***@lb1:9090', 'a.example.test', 1_750_000_100],
      ['http://***@lb1:9090', 'b.example.test', 1_749_000_000.5],
    ]);

    // The stale name got served: its status series changes label, and lb2 is no longer checked.
    metrics.setDelivery([record('http://***@lb1:9090', 'b.example.test', 'served', false, 1_750_000_200_000)]);
    const after = await samples(metrics, 'marathon_acme_delivery_status');
    assert.deepEqual(after.map((s) => [s.labels['lb'], s.labels['domain'], s.labels['status'], s.value]), [['http://***@lb1:9090', 'b.example.test', 'served', 1]]);
    assert.equal((await samples(metrics, 'marathon_acme_delivery_failing')).length, 1);
    assert.equal(await value(metrics, 'marathon_acme_delivery_last_served_timestamp_seconds', { domain: 'b.example.test' }), 1_750_000_200);
  });

  it('counts notifications by outcome, both series there from the start', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const name = 'marathon_acme_notifications_total';
    assert.equal(await value(metrics, name, { outcome: 'success' }), 0);
    assert.equal(await value(metrics, name, { outcome: 'failure' }), 0);
    metrics.notification('success');
    metrics.notification('failure');
    metrics.notification('success');
    assert.equal(await value(metrics, name, { outcome: 'success' }), 2);
    assert.equal(await value(metrics, name, { outcome: 'failure' }), 1);
  });

  it('reads the rate budget at each scrape, so spent slots leave the gauges as time passes', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    assert.deepEqual(await samples(metrics, 'marathon_acme_rate_budget_used'), [], 'no source, no made-up numbers');
    const limits: BudgetLimits = { ordersPerWindow: 10, orderWindowMs: 3 * HOUR, certsPerDomainPerWindow: 5, domainWindowMs: 7 * DAY };
    let now = 1_750_000_000_000;
    let state = emptyBudget();
    for (const name of ['a.example.com', 'b.example.com', 'c.example.org']) state = recordOrder(state, [name], now - 2 * HOUR, limits);
    state = recordOrder(state, ['d.example.com'], now - 4 * DAY, limits);
    state = recordOrder(state, ['e.example.net'], now - HOUR / 2, limits);
    let down: number | undefined = undefined;
    metrics.setCaSource(() => [
      { ca: 'https://ca.example/dir', budget: budgetUsage(state, now, limits), unavailableSince: undefined },
      { ca: 'https://other.example/dir', budget: undefined, unavailableSince: down },
    ]);
    const read = async (name: string, label: string) => Object.fromEntries((await samples(metrics, name)).map((s) => [s.labels[label] ?? '', s.value]));
    assert.deepEqual(await read('marathon_acme_rate_budget_used', 'limit'), { new_orders: 4, certificates_per_domain: 3 });
    assert.deepEqual(await read('marathon_acme_rate_budget_limit', 'limit'), { new_orders: 10, certificates_per_domain: 5 });
    assert.deepEqual(await read('marathon_acme_rate_budget_domain_certificates', 'registered_domain'), { 'example.com': 3, 'example.net': 1, 'example.org': 1 });
    now += 2 * HOUR;
    assert.deepEqual(await read('marathon_acme_rate_budget_used', 'limit'), { new_orders: 1, certificates_per_domain: 3 }, 'orders older than 3 h left the window');
    now += 4 * DAY;
    assert.deepEqual(await read('marathon_acme_rate_budget_used', 'limit'), { new_orders: 0, certificates_per_domain: 2 });
    now += 7 * DAY;
    assert.deepEqual(await read('marathon_acme_rate_budget_used', 'limit'), { new_orders: 0, certificates_per_domain: 0 });
    assert.deepEqual(await samples(metrics, 'marathon_acme_rate_budget_domain_certificates'), []);
    assert.deepEqual((await samples(metrics, 'marathon_acme_rate_budget_limit')).map((s) => s.labels['ca']), ['https://ca.example/dir', 'https://ca.example/dir'], 'only a CA with a budget has budget series');
    assert.deepEqual((await samples(metrics, 'marathon_acme_ca_available')).map((s) => [s.labels['ca'], s.labels['primary'], s.value]), [['https://ca.example/dir', 'true', 1], ['https://other.example/dir', 'false', 1]]);
    down = now - 60_000;
    assert.deepEqual((await samples(metrics, 'marathon_acme_ca_available')).map((s) => s.value), [1, 0]);
    assert.deepEqual((await samples(metrics, 'marathon_acme_ca_unavailable_since_timestamp_seconds')).map((s) => [s.labels['ca'], s.value]), [['https://other.example/dir', down / 1000]]);
  });

  it('renders valid exposition text with the Prometheus content type, process metrics included by default', async () => {
    const metrics = new Metrics();
    metrics.setCertificates([{ domain: 'a.example.test', appId: '/quote"back\\slash', notBefore: 1_790_000_000_000, notAfter: 1_800_000_000_000, renewAt: 1_790_000_000_000 }]);
    metrics.observeAcmeRequest('cert', 0.2);
    metrics.certificateAttempt('renew', 'failure', 'serverInternal');
    const text = await metrics.render();
    const parsed = parseExposition(text);
    assert.match(metrics.contentType, /^text\/plain; version=0\.0\.4; charset=utf-8$/);
    assert.ok(parsed.some((s) => s.name === 'process_cpu_user_seconds_total'), 'process metrics');
    assert.ok(parsed.some((s) => s.name === 'nodejs_eventloop_lag_seconds'), 'Node.js metrics');
    assert.equal(parsed.find((s) => s.name === NOT_AFTER)?.labels['app_id'], '/quote"back\\slash', 'label values are escaped and read back');
    for (const s of parsed.filter((p) => p.name.startsWith('marathon_acme_'))) {
      assert.match(s.name, /^marathon_acme_[a-z_]+$/, 'snake case under the prefix');
    }
    assert.ok(!parseExposition(await new Metrics({ defaultMetrics: false }).render()).some((s) => s.name.startsWith('process_')));
  });
});

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe('rate budget usage', () => {
  const limits: BudgetLimits = { ordersPerWindow: 4, orderWindowMs: 3 * HOUR, certsPerDomainPerWindow: 3, domainWindowMs: 7 * DAY };

  it('orders registered domains fullest first and reports the fullest as the per-domain use', () => {
    let state = emptyBudget();
    const now = 1_750_000_000_000;
    for (const name of ['x.b.example', 'a.example', 'y.b.example', 'z.c.example']) state = recordOrder(state, [name], now - HOUR, limits);
    const usage = budgetUsage(state, now, limits);
    assert.deepEqual(usage.newOrders, { used: 4, limit: 4, windowMs: 3 * HOUR });
    assert.deepEqual(usage.certificatesPerDomain, {
      used: 2,
      limit: 3,
      windowMs: 7 * DAY,
      byDomain: [{ domain: 'b.example', used: 2 }, { domain: 'a.example', used: 1 }, { domain: 'c.example', used: 1 }],
    });
    assert.deepEqual(budgetUsage(emptyBudget(), now, limits).certificatesPerDomain, { used: 0, limit: 3, windowMs: 7 * DAY, byDomain: [] });
  });

  it('reports a limit as reached exactly when checkBudget refuses an order', () => {
    const now = 1_750_000_000_000;
    // Times from before both windows to slightly in the future (a clock stepped back).
    const time = fc.integer({ min: now - 8 * DAY, max: now + HOUR });
    const stateArb = fc.record({
      orders: fc.array(time, { maxLength: 8 }),
      com: fc.array(time, { maxLength: 5 }),
      org: fc.array(time, { maxLength: 5 }),
    });
    fc.assert(
      fc.property(stateArb, ({ orders, com, org }) => {
        const state: BudgetState = { orders, certs: { 'example.com': com, 'example.org': org } };
        const usage = budgetUsage(state, now, limits);
        const comUsed = usage.certificatesPerDomain.byDomain.find((d) => d.domain === 'example.com')?.used ?? 0;
        const fits = usage.newOrders.used < usage.newOrders.limit && comUsed < usage.certificatesPerDomain.limit;
        assert.equal(checkBudget(state, ['www.example.com'], now, limits).allowed, fits);
        assert.ok(usage.certificatesPerDomain.byDomain.every((d) => d.used <= usage.certificatesPerDomain.used));
      }),
    );
  });
});

describe('ACME request labels', () => {
  it("labels every request of the ACME client with the endpoint the transport names, never a URL", async (t) => {
    const { cert, caPem } = await makePrivateCa();
    const ok = (body: unknown, headers: Record<string, string> = {}): ScriptedAnswer => (_req, res, nonce) => {
      answerJson(res, 200, body, { 'replay-nonce': nonce, ...headers });
    };
    const order = { status: 'pending', identifiers: [], authorizations: ['/authz/1'], finalize: '/finalize/1' };
    const { ca, directoryUrl } = await startFakeCa({
      'POST /new-order': ok(order, { location: '/order/1' }),
      'POST /authz/1': ok({ status: 'valid', identifier: { type: 'dns', value: 'a.example.test' }, challenges: [] }),
      'POST /chall/1': ok({ type: 'http-01', url: '/chall/1', token: 't', status: 'processing' }),
      'POST /finalize/1': ok({ ...order, status: 'processing' }),
      'POST /order/1': ok({ ...order, status: 'valid', certificate: '/cert/1' }),
      'POST /cert/1': (_req, res, nonce) => {
        res.writeHead(200, { 'content-type': 'application/pem-certificate-chain', 'replay-nonce': nonce }).end(cert + caPem);
      },
      'POST /key-change': ok({}),
      'POST /revoke-cert': ok({}),
    });
    const agent = new Agent();
    t.after(async () => {
      await ca.stop();
      await agent.close();
    });
    const metrics = new Metrics({ defaultMetrics: false });
    const clock = new JumpingClock(0);
    const transport = new AcmeTransport({
      dispatcher: agent,
      timeoutMs: 5_000,
      userAgent: 'marathon-acme/test',
      clock,
      onRequest: (endpoint, seconds) => {
        metrics.observeAcmeRequest(endpoint, seconds);
      },
    });
    const client = new AcmeClient({ directoryUrl, accountKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, transport, clock, logger: silentLogger() });
    await client.account({ termsOfServiceAgreed: true });
    const placed = await client.newOrder(['a.example.test']);
    await client.authorization(placed.authorizations[0] ?? '');
    await client.answerChallenge(ca.url('/chall/1'));
    await client.certificate(await client.finalize(placed, Buffer.from('csr')));
    await client.keyChange(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    await client.revoke(Buffer.from('der'));

    const labels = (await samples(metrics, 'marathon_acme_acme_request_duration_seconds_count')).map((s) => s.labels['endpoint']);
    const expected: AcmeEndpoint[] = ['directory', 'newNonce', 'newAccount', 'newOrder', 'authz', 'challenge', 'finalize', 'order', 'cert', 'keyChange', 'revokeCert'];
    assert.deepEqual([...labels].sort(), [...expected].sort());
  });
});

describe('stored file counts', () => {
  it('counts retired files and unmanaged .pem files, skipping dot-files and HAProxy side files', async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'ma-metrics-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    await mkdir(join(root, 'unmanaged-certs'));
    assert.deepEqual(await countStoredFiles(root), { retired: 0, unmanaged: 0 }, 'retired-certs/ is only made on first use');
    await mkdir(join(root, 'retired-certs'));
    for (const f of ['a.pem', 'a.pem.1', '.hidden']) await writeFile(join(root, 'retired-certs', f), 'x');
    for (const f of ['mine.pem', 'mine.pem.key', 'other.pem', 'other.pem.ocsp', '.tmp.pem']) await writeFile(join(root, 'unmanaged-certs', f), 'x');
    await mkdir(join(root, 'unmanaged-certs', 'sub.pem'));
    assert.deepEqual(await countStoredFiles(root), { retired: 2, unmanaged: 2 });
  });
});
