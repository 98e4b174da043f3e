/**
 * deploy/prometheus-alerts.yml against what /metrics really exposes. Three daemons' worth of Metrics
 * instances (a calm one, a troubled one, one that cannot be scraped) are fed through their methods
 * minute by minute; every minute each renders its exposition text, which is parsed and turned into
 * promtool input series the way Prometheus would store the scrape (job and instance added, empty
 * labels dropped, a series that leaves the scrape marked stale). Debian's `promtool test rules` then
 * evaluates the shipped rules on that data, so a rule naming a metric or label that our /metrics does
 * not expose finds nothing and its test fails. Each rule is checked firing and not firing.
 *
 * Times: promtool evaluates with time() starting at the Unix epoch, so the test's clock runs from 0
 * and certificates issued before the test have negative notBefore timestamps.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { budgetUsage, emptyBudget, LETS_ENCRYPT_LIMITS, recordOrder, type BudgetState } from '../../src/acme/rate-budget.js';
import type { DeliveryRecord, DeliveryStatus } from '../../src/delivery/types.js';
import { Metrics, type CertificateMetric } from '../../src/metrics/metrics.js';
import { parseExposition, promtool, seriesKey, valuesNotation, withoutDescriptions } from '../support/prometheus.js';

const RULES_FILE = fileURLToPath(new URL('../../deploy/prometheus-alerts.yml', import.meta.url));
const SHIPPED_JOB = 'marathon-acme';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Scrapes at minutes 0..LAST_MINUTE, one per minute like a 1m scrape interval. */
const LAST_MINUTE = 45;
/** When the troubled daemon's problems partly clear up. */
const RECOVERY_MINUTE = 40;

// ---------------------------------------------------------------------------------------------------
// The data set: what each daemon's parts report, through the Metrics methods the daemon calls.

interface Target {
  instance: string;
  /** Undefined for a target that cannot be scraped: Prometheus then has only `up` 0 for it. */
  metrics: Metrics | undefined;
  /** Called before each scrape with the test clock set to that minute. */
  tick(minute: number): void;
}

function cert(domain: string, appId: string | undefined, notBefore: number, notAfter: number, renewAt: number | undefined): CertificateMetric {
  return { domain, appId, notBefore, notAfter, renewAt };
}

function delivery(lb: string, name: string, status: DeliveryStatus, failing: boolean, lastServedAt: number | undefined): DeliveryRecord {
  return { lb, name, status, failing, checkedAt: 0, lastServedAt, detail: status === 'served' ? undefined : `seen: ${status}` };
}

function spend(orders: number, names: (i: number) => string, from: number, to: number): BudgetState {
  let state = emptyBudget();
  for (let i = 0; i < orders; i++) state = recordOrder(state, [names(i)], from + Math.floor(((to - from) * i) / orders), LETS_ENCRYPT_LIMITS);
  return state;
}

const LB1 = 'http://***@lb1.example.test:9090';
const LB2 = 'http://lb2.example.test:9090';
const LB3 = 'http://lb3.example.test:9090';
const LE = 'https://acme-v02.api.letsencrypt.org/directory';
const SECOND_CA = 'https://acme.second.example.test/directory';

function targets(clock: { now: number }): Target[] {
  // Everything fine, including cases a fixed-days rule or a missing grace would wrongly alert on.
  const calm = new Metrics({ defaultMetrics: false });
  calm.setCertificates([
    cert('calm.example.test', '/calm', -10 * DAY, 80 * DAY, 50 * DAY),
    // A 6-day certificate with 2 days left: over a fifth of its lifetime, though far below 30 days.
    cert('short.example.test', '/calm', -4 * DAY, 2 * DAY, DAY),
    // 20 of 90 days left (over a fifth); its renewal became due an hour ago, within the margin.
    cert('adopted.example.test', undefined, -70 * DAY, 20 * DAY, -HOUR),
  ]);
  calm.setFailures([{ domain: 'adopted.example.test', kind: 'renew', failures: 2 }]);
  calm.setDelivery([
    delivery(LB1, 'calm.example.test', 'served', false, -MINUTE),
    delivery(LB1, 'short.example.test', 'served', false, -MINUTE),
    // Just renewed, LB still reloading: stale but within the grace, so not failing.
    delivery(LB2, 'short.example.test', 'stale', false, -2 * DAY),
    delivery(LB2, 'calm.example.test', 'unchecked', false, undefined),
  ]);
  calm.setRole('leader', -DAY);
  calm.setStreamState('attached');
  const calmBudget = spend(10, (i) => `app${i}.calm.test`, -2 * HOUR, -MINUTE);
  calm.setCaSource(() => [{ ca: LE, budget: budgetUsage(calmBudget, clock.now, LETS_ENCRYPT_LIMITS), unavailableSince: undefined }]);

  const troubled = new Metrics({ defaultMetrics: false });
  const troubledCerts = [
    cert('soon.example.test', '/shop', -5 * DAY, DAY, undefined),
    cert('late.example.test', '/shop', -75 * DAY, 15 * DAY, undefined),
    cert('expired.example.test', undefined, -100 * DAY, -10 * DAY, undefined),
  ];
  troubled.setCertificates([...troubledCerts, cert('overdue.example.test', '/blog', -61 * DAY, 29 * DAY, -3 * HOUR)]);
  const stillFailing = [
    { domain: 'new.example.test', kind: 'issue' as const, failures: 3 },
    { domain: 'flaky.example.test', kind: 'issue' as const, failures: 1 },
  ];
  troubled.setFailures([{ domain: 'overdue.example.test', kind: 'renew', failures: 4 }, ...stillFailing]);
  const unreachable = ['soon', 'late', 'overdue'].map((n) => delivery(LB3, `${n}.example.test`, 'unreachable', false, -DAY));
  troubled.setDelivery([
    delivery(LB1, 'soon.example.test', 'stale', true, -3 * DAY),
    delivery(LB1, 'late.example.test', 'stale', true, -3 * DAY),
    delivery(LB1, 'overdue.example.test', 'served', false, -MINUTE),
    delivery(LB2, 'soon.example.test', 'other', true, undefined),
    delivery(LB2, 'late.example.test', 'served', false, -MINUTE),
    delivery(LB2, 'overdue.example.test', 'stale', false, -HOUR),
    ...unreachable,
  ]);
  troubled.setRole('leader', -DAY);
  troubled.lbRuntimeConfigured(LB1);
  troubled.setStreamState('disconnected');
  troubled.syncSucceeded(-HOUR);
  // 230 new orders in the last two hours: 85 % of the 270 planned per 3 hours.
  const troubledBudget = spend(230, (i) => `app${i}.shop${i % 12}.test`, -2 * HOUR, -MINUTE);
  // The second CA has given no answer since five minutes before the scrapes began.
  troubled.setCaSource(() => [
    { ca: LE, budget: budgetUsage(troubledBudget, clock.now, LETS_ENCRYPT_LIMITS), unavailableSince: undefined },
    { ca: SECOND_CA, budget: undefined, unavailableSince: -5 * MINUTE },
  ]);

  const follower = new Metrics({ defaultMetrics: false });
  follower.setRole('follower', 0);
  follower.setZkState('connected');

  return [
    {
      instance: 'calm:8000',
      metrics: calm,
      tick(minute) {
        calm.syncSucceeded(clock.now);
        calm.marathonEvent(clock.now);
        if (minute % 10 === 0) calm.notification('success');
      },
    },
    {
      instance: 'troubled:8000',
      metrics: troubled,
      tick(minute) {
        if (minute === 20) troubled.notification('failure');
        if (minute === 25) troubled.lbRuntimeUpdates(LB1, 2, 1);
        if (minute !== RECOVERY_MINUTE) return;
        // The overdue renewal finally succeeds, lb1 reloads, the event stream comes back.
        troubled.setCertificates([...troubledCerts, cert('overdue.example.test', '/blog', clock.now, clock.now + 90 * DAY, undefined)]);
        troubled.setFailures(stillFailing);
        troubled.setDelivery([
          delivery(LB1, 'soon.example.test', 'served', false, clock.now),
          delivery(LB1, 'late.example.test', 'served', false, clock.now),
          delivery(LB1, 'overdue.example.test', 'unchecked', false, undefined),
          delivery(LB2, 'soon.example.test', 'other', true, undefined),
          delivery(LB2, 'late.example.test', 'served', false, -MINUTE),
          delivery(LB2, 'overdue.example.test', 'unchecked', false, undefined),
          ...unreachable,
        ]);
        troubled.setStreamState('attached');
      },
    },
    { instance: 'gone:8000', metrics: undefined, tick() {} },
    {
      // A follower of another group (--zk): it never syncs and has no event stream, which is no
      // problem; at minute 10 it loses ZooKeeper, which is.
      instance: 'follower:8000',
      metrics: follower,
      tick(minute) {
        if (minute === 10) follower.setZkState('disconnected');
      },
    },
  ];
}

// ---------------------------------------------------------------------------------------------------
// From exposition text to promtool input series.

interface Scraped {
  /** Series (promtool notation) → value per minute, undefined where the scrape did not have it. */
  series: Map<string, Array<number | undefined>>;
  /** Every metric name some scrape exposed. */
  names: Set<string>;
}

async function scrapeAll(job: string): Promise<Scraped> {
  const clock = { now: 0 };
  const all = targets(clock);
  const series = new Map<string, Array<number | undefined>>();
  const names = new Set<string>();
  const put = (key: string, minute: number, value: number): void => {
    const values = series.get(key) ?? new Array<number | undefined>(LAST_MINUTE + 1).fill(undefined);
    assert.equal(values[minute], undefined, `${key} twice in one scrape`);
    values[minute] = value;
    series.set(key, values);
  };
  for (let minute = 0; minute <= LAST_MINUTE; minute++) {
    clock.now = minute * MINUTE;
    for (const target of all) {
      target.tick(minute);
      put(seriesKey('up', { job, instance: target.instance }), minute, target.metrics === undefined ? 0 : 1);
      if (target.metrics === undefined) continue;
      for (const s of parseExposition(await target.metrics.render())) {
        names.add(s.name);
        put(seriesKey(s.name, { ...s.labels, job, instance: target.instance }), minute, s.value);
      }
    }
  }
  return { series, names };
}

function inputSeries(scraped: Scraped): Array<{ series: string; values: string }> {
  return [...scraped.series].map(([series, values]) => ({ series, values: valuesNotation(values) }));
}

// ---------------------------------------------------------------------------------------------------
// What the rules file says, read with just enough YAML for its layout.

interface RuleText {
  alert: string;
  expr: string;
  /** Labels the annotations read with `$labels.x` that must exist (`with $labels.x` makes one optional). */
  requiredLabels: string[];
}

/** `key: value` or `key: |` / `key: >-` followed by more deeply indented lines. */
function field(lines: readonly string[], key: string): string | undefined {
  const start = lines.findIndex((l) => new RegExp(`^\\s*${key}:`).test(l));
  if (start === -1) return undefined;
  const line = lines[start] ?? '';
  const indent = line.search(/\S/);
  const inline = line.slice(line.indexOf(':') + 1).trim();
  if (inline !== '|' && inline !== '>-') return inline;
  const body: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (l.trim() !== '' && l.search(/\S/) <= indent) break;
    body.push(l.trim());
  }
  return body.join('\n');
}

function readRules(text: string): RuleText[] {
  const chunks = text.split(/^\s*- alert: /m).slice(1);
  return chunks.map((chunk) => {
    const lines = chunk.split('\n');
    const alert = (lines[0] ?? '').trim();
    const expr = field(lines, 'expr');
    assert.ok(expr !== undefined && expr !== '', `${alert} has an expr`);
    const annotations = lines.slice(lines.findIndex((l) => /^\s*annotations:/.test(l))).join('\n');
    const optional = new Set([...annotations.matchAll(/with \$labels\.(\w+)/g)].map((m) => m[1] ?? ''));
    const required = new Set([...annotations.matchAll(/\$labels\.(\w+)/g)].map((m) => m[1] ?? '').filter((l) => !optional.has(l)));
    return { alert, expr, requiredLabels: [...required] };
  });
}

// ---------------------------------------------------------------------------------------------------
// The expectations.

interface Expected {
  labels: Record<string, string>;
  summary: string;
}

interface Case {
  evalTime: string;
  alert: string;
  alerts: Expected[];
}

function cases(job: string): Case[] {
  const troubled = { job, instance: 'troubled:8000' };
  const warning = { severity: 'warning' };
  const critical = { severity: 'critical' };
  const soonSummary = (domain: string): string => `The certificate for ${domain} has less than a fifth of its lifetime left`;
  const expiresSoon: Expected[] = [
    { labels: { ...troubled, ...warning, domain: 'soon.example.test', app_id: '/shop' }, summary: soonSummary('soon.example.test') },
    { labels: { ...troubled, ...warning, domain: 'late.example.test', app_id: '/shop' }, summary: soonSummary('late.example.test') },
    { labels: { ...troubled, ...warning, domain: 'expired.example.test' }, summary: soonSummary('expired.example.test') },
  ];
  const issuance: Expected = {
    labels: { ...troubled, ...warning, domain: 'new.example.test', kind: 'issue' },
    summary: 'Issuing a first certificate for new.example.test failed 3 times in a row',
  };
  const wrong: Expected = {
    labels: { ...troubled, ...critical, lb: LB2 },
    summary: `marathon-lb ${LB2} serves foreign or default certificates (names affected: 1)`,
  };
  const tlsUnreachable: Expected = {
    labels: { ...troubled, ...warning, lb: LB3 },
    summary: `marathon-acme cannot reach the TLS port of marathon-lb ${LB3}`,
  };
  const down: Expected = { labels: { job, instance: 'gone:8000', ...critical }, summary: 'marathon-acme on gone:8000 cannot be scraped' };
  const marathon: Expected = {
    labels: { ...troubled, ...warning },
    summary: 'marathon-acme on troubled:8000 has not read the apps from Marathon for a while',
  };
  const budget: Expected = {
    labels: { ...troubled, ...warning, ca: LE, limit: 'new_orders' },
    summary: "marathon-acme's new_orders rate budget is 85.19% spent",
  };
  const notifications: Expected = {
    labels: { ...troubled, ...warning, outcome: 'failure' },
    summary: 'marathon-acme on troubled:8000 could not deliver notifications',
  };
  return [
    // Three minutes in: only the rules without a `for` fire yet.
    { evalTime: '3m', alert: 'MarathonAcmeCertificateExpiresSoon', alerts: [] },
    {
      evalTime: '3m',
      alert: 'MarathonAcmeCertificateExpired',
      alerts: [{ labels: { ...troubled, ...critical, domain: 'expired.example.test' }, summary: 'The certificate for expired.example.test has expired' }],
    },
    { evalTime: '3m', alert: 'MarathonAcmeRenewalOverdue', alerts: [] },
    { evalTime: '3m', alert: 'MarathonAcmeDown', alerts: [] },
    { evalTime: '3m', alert: 'MarathonAcmeMarathonUnreachable', alerts: [] },
    { evalTime: '3m', alert: 'MarathonAcmeMarathonEventStreamDown', alerts: [] },
    { evalTime: '3m', alert: 'MarathonAcmeLoadBalancerTlsUnreachable', alerts: [] },
    { evalTime: '3m', alert: 'MarathonAcmeRateBudgetNearlySpent', alerts: [] },
    { evalTime: '3m', alert: 'MarathonAcmeCaUnavailable', alerts: [] },
    { evalTime: '3m', alert: 'MarathonAcmeLbRuntimeFailing', alerts: [] },
    { evalTime: '3m', alert: 'MarathonAcmeIssuanceFailing', alerts: [issuance] },
    { evalTime: '3m', alert: 'MarathonAcmeDeliveryWrongCertificate', alerts: [wrong] },
    { evalTime: '3m', alert: 'MarathonAcmeNotificationsFailing', alerts: [] },
    { evalTime: '3m', alert: 'MarathonAcmeZooKeeperUnreachable', alerts: [] },

    // Half an hour in: everything wrong with the troubled daemon fires, nothing of the calm one.
    { evalTime: '30m', alert: 'MarathonAcmeCertificateExpiresSoon', alerts: expiresSoon },
    {
      evalTime: '30m',
      alert: 'MarathonAcmeRenewalOverdue',
      alerts: [{ labels: { ...troubled, ...warning, domain: 'overdue.example.test', app_id: '/blog' }, summary: 'The renewal of overdue.example.test is overdue' }],
    },
    {
      evalTime: '30m',
      alert: 'MarathonAcmeRenewalFailing',
      alerts: [{ labels: { ...troubled, ...warning, domain: 'overdue.example.test', kind: 'renew' }, summary: 'Renewing overdue.example.test failed 4 times in a row' }],
    },
    { evalTime: '30m', alert: 'MarathonAcmeIssuanceFailing', alerts: [issuance] },
    {
      evalTime: '30m',
      alert: 'MarathonAcmeDeliveryStale',
      alerts: [{ labels: { ...troubled, ...warning, lb: LB1 }, summary: `marathon-lb ${LB1} serves old certificates (names affected: 2)` }],
    },
    { evalTime: '30m', alert: 'MarathonAcmeDeliveryWrongCertificate', alerts: [wrong] },
    { evalTime: '30m', alert: 'MarathonAcmeLoadBalancerTlsUnreachable', alerts: [tlsUnreachable] },
    { evalTime: '30m', alert: 'MarathonAcmeDown', alerts: [down] },
    { evalTime: '30m', alert: 'MarathonAcmeAbsent', alerts: [] },
    { evalTime: '30m', alert: 'MarathonAcmeMarathonUnreachable', alerts: [marathon] },
    {
      evalTime: '30m',
      alert: 'MarathonAcmeMarathonEventStreamDown',
      alerts: [{ labels: { ...troubled, ...warning, state: 'attached' }, summary: 'marathon-acme on troubled:8000 has no Marathon event stream' }],
    },
    { evalTime: '30m', alert: 'MarathonAcmeRateBudgetNearlySpent', alerts: [budget] },
    {
      evalTime: '30m',
      alert: 'MarathonAcmeCaUnavailable',
      alerts: [{ labels: { ...troubled, ...warning, ca: SECOND_CA, primary: 'false' }, summary: `marathon-acme cannot get answers from the ACME CA ${SECOND_CA}` }],
    },
    { evalTime: '30m', alert: 'MarathonAcmeNotificationsFailing', alerts: [notifications] },
    {
      evalTime: '30m',
      alert: 'MarathonAcmeLbRuntimeFailing',
      alerts: [{ labels: { ...troubled, ...warning, lb: LB1, outcome: 'failure' }, summary: `marathon-acme cannot load certificates into ${LB1} over its runtime API` }],
    },
    { evalTime: '30m', alert: 'MarathonAcmeNoLeader', alerts: [] },
    {
      evalTime: '30m',
      alert: 'MarathonAcmeZooKeeperUnreachable',
      alerts: [{ labels: { job, instance: 'follower:8000', ...warning, state: 'connected' }, summary: 'marathon-acme on follower:8000 is not connected to ZooKeeper' }],
    },

    // After the recovery: what was fixed resolves, the rest keeps firing.
    { evalTime: '41m', alert: 'MarathonAcmeRenewalOverdue', alerts: [] },
    { evalTime: '41m', alert: 'MarathonAcmeRenewalFailing', alerts: [] },
    { evalTime: '41m', alert: 'MarathonAcmeDeliveryStale', alerts: [] },
    { evalTime: '41m', alert: 'MarathonAcmeMarathonEventStreamDown', alerts: [] },
    { evalTime: '45m', alert: 'MarathonAcmeCertificateExpiresSoon', alerts: expiresSoon },
    { evalTime: '45m', alert: 'MarathonAcmeDeliveryWrongCertificate', alerts: [wrong] },
    { evalTime: '45m', alert: 'MarathonAcmeIssuanceFailing', alerts: [issuance] },
  ];
}

/** A Prometheus that scrapes only some other job: the rules must notice that ours is missing. */
function absentCases(job: string): Case[] {
  const absent: Expected = { labels: { job, severity: 'critical' }, summary: 'Prometheus has no marathon-acme target' };
  return [
    { evalTime: '5m', alert: 'MarathonAcmeAbsent', alerts: [] },
    { evalTime: '15m', alert: 'MarathonAcmeAbsent', alerts: [absent] },
  ];
}

/** Only the follower is scraped: no instance leads, while the follower's missing syncs alert nothing. */
function leaderlessCases(job: string): Case[] {
  const noLeader: Expected = { labels: { job, severity: 'critical' }, summary: `No marathon-acme instance of ${job} leads` };
  return [
    { evalTime: '3m', alert: 'MarathonAcmeNoLeader', alerts: [] },
    { evalTime: '10m', alert: 'MarathonAcmeNoLeader', alerts: [noLeader] },
    { evalTime: '30m', alert: 'MarathonAcmeMarathonUnreachable', alerts: [] },
    { evalTime: '30m', alert: 'MarathonAcmeMarathonEventStreamDown', alerts: [] },
  ];
}

function alertTests(list: readonly Case[]): object[] {
  return list.map((c) => ({
    eval_time: c.evalTime,
    alertname: c.alert,
    exp_alerts: c.alerts.map((a) => ({ exp_labels: a.labels, exp_annotations: { summary: a.summary } })),
  }));
}

// ---------------------------------------------------------------------------------------------------

describe('the shipped Prometheus alert rules', () => {
  let dir = '';
  let rulesText = '';
  let rules: RuleText[] = [];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ma-promtool-'));
    rulesText = await readFile(RULES_FILE, 'utf8');
    rules = readRules(rulesText);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('pass promtool check rules', async () => {
    const out = await promtool(['check', 'rules', RULES_FILE], dir);
    assert.match(out, new RegExp(`SUCCESS: ${rules.length} rules found`));
  });

  it('name only metrics that /metrics exposes, and select every series by the one job label', async () => {
    const { names } = await scrapeAll(SHIPPED_JOB);
    // Comments and annotations too: an operator told to query a metric must find it.
    const used = new Set(rulesText.match(/\bmarathon_acme_[a-z0-9_]+/g) ?? []);
    assert.ok(used.size >= 10, 'the rules use our metrics');
    for (const name of used) assert.ok(names.has(name), `${name} is in the rules but not in the scrape`);
    for (const { alert, expr } of rules) {
      const selectors = [...expr.matchAll(/\b(marathon_acme_[a-z0-9_]+|up)\b(\{[^}]*\})?/g)];
      assert.ok(selectors.length > 0, alert);
      for (const [selector, , matchers] of selectors) {
        assert.ok(matchers?.includes(`job="${SHIPPED_JOB}"`), `${alert}: ${selector} must select job="${SHIPPED_JOB}"`);
      }
    }
  });

  for (const job of [SHIPPED_JOB, 'acme-prod']) {
    it(`fire exactly when the scraped data says so (job label ${job})`, async () => {
      const scraped = await scrapeAll(job);
      const renamed = rulesText.replaceAll(`job="${SHIPPED_JOB}"`, `job="${job}"`);
      const rulesFile = join(dir, `rules-${job}.yml`);
      await writeFile(rulesFile, withoutDescriptions(renamed));
      assert.doesNotMatch(withoutDescriptions(renamed), /description:/);

      const calmOnly = [...scraped.series].filter(([key]) => key.includes('instance="calm:8000"'));
      const elsewhere = calmOnly.map(([key, values]) => ({ series: key.replace(`job="${job}"`, 'job="node"'), values: valuesNotation(values) }));
      const main = cases(job);
      const absent = absentCases(job);
      const followerOnly = [...scraped.series]
        .filter(([key]) => key.includes('instance="follower:8000"'))
        .map(([series, values]) => ({ series, values: valuesNotation(values) }));
      const leaderless = leaderlessCases(job);
      const testFile = join(dir, `test-${job}.yml`);
      // JSON is YAML, and spares this test a YAML writer.
      await writeFile(
        testFile,
        JSON.stringify({
          rule_files: [rulesFile],
          evaluation_interval: '1m',
          tests: [
            { name: 'three daemons', interval: '1m', input_series: inputSeries(scraped), alert_rule_test: alertTests(main) },
            { name: 'no marathon-acme target', interval: '1m', input_series: elsewhere, alert_rule_test: alertTests(absent) },
            { name: 'only a follower', interval: '1m', input_series: followerOnly, alert_rule_test: alertTests(leaderless) },
          ],
        }),
      );
      await promtool(['test', 'rules', testFile], dir);

      // Every rule is seen firing somewhere, and the labels its annotations print are on its alerts.
      const firing = [...main, ...absent, ...leaderless].filter((c) => c.alerts.length > 0);
      for (const { alert, requiredLabels } of rules) {
        const seen = firing.filter((c) => c.alert === alert).flatMap((c) => c.alerts);
        assert.ok(seen.length > 0, `${alert} is tested firing`);
        for (const label of requiredLabels) {
          assert.ok(seen.every((a) => label in a.labels), `${alert}'s annotations print $labels.${label}, which its alerts carry`);
        }
      }
      assert.deepEqual(new Set([...main, ...absent].map((c) => c.alert)), new Set(rules.map((r) => r.alert)), 'every rule has a case');
    });
  }
});
