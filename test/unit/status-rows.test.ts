import 'reflect-metadata';
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { formatBundle, parseBundle, type BundleResult } from '../../src/certs/bundle.js';
import type { DeliveryRecord } from '../../src/delivery/types.js';
import { emptyState, type CertState, type DaemonState, type FailureState } from '../../src/state/state.js';
import { formatStatusJson, formatStatusTable, type StatusReport } from '../../src/status/command.js';
import { deliveryView } from '../../src/status/delivery-rows.js';
import { buildStatus, type StatusRow, type StoredFile } from '../../src/status/report.js';
import { FakeCa } from '../support/fake-ca.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-11-28T12:00:00.000Z');
const LB1 = 'http://lb1.example.test:9090';
const LB2 = 'http://***@lb2.example.test:9090';

async function bundle(name: string, issuedDaysAgo: number): Promise<BundleResult> {
  const issued = await new FakeCa(90 * DAY, () => NOW - issuedDaysAgo * DAY).issue([name]);
  return parseBundle(formatBundle(issued.keyPem, issued.chainPem));
}

function certsFile(name: string, content: BundleResult): StoredFile {
  return { location: 'certs', file: `certs/${name}.pem`, name, content };
}

function stateWith(entries: Record<string, CertState>): DaemonState {
  const state = emptyState();
  for (const [name, entry] of Object.entries(entries)) state.certificates.set(name, entry);
  return state;
}

function failure(failures: number, detail: string, type = 'unauthorized', nextInMs = 3_600_000): FailureState {
  return { failures, lastError: { type, detail, status: 403 }, nextAttemptAt: NOW + nextInMs, lastFailureAt: NOW - 60_000 };
}

function record(lb: string, name: string, status: DeliveryRecord['status'], extra: Partial<DeliveryRecord> = {}): DeliveryRecord {
  return { lb, name, status, failing: false, checkedAt: NOW - 60_000, lastServedAt: status === 'served' ? NOW - 60_000 : undefined, detail: undefined, ...extra };
}

function named(rows: readonly StatusRow[], name: string): StatusRow {
  const row = rows.find((r) => r.name === name);
  assert.ok(row, `a row for ${name} in ${rows.map((r) => r.name).join(', ')}`);
  return row;
}

describe('status rows for names without a certificate', () => {
  let shop: BundleResult;
  before(async () => {
    shop = await bundle('shop.example.test', 10);
  });

  it('shows a wanted name without a file as pending, and one whose order failed as failing with the CA\'s reason and the next attempt', () => {
    const state = stateWith({ 'new.example.test': { failure: failure(3, 'Invalid response from http://new.example.test/.well-known/acme-challenge/x: 404') } });
    const rows = buildStatus({
      files: [certsFile('shop.example.test', shop)],
      state,
      now: NOW,
      wanted: [
        { name: 'shop.example.test', appId: '/shop', portIndex: 0 },
        { name: 'new.example.test', appId: '/new', portIndex: 1 },
        { name: 'wait.example.test', appId: '/wait', portIndex: 0, sans: ['wait.example.test', 'www.wait.example.test'] },
      ],
    });
    assert.deepEqual(rows.map((r) => `${r.state} ${r.name}`), ['failing new.example.test', 'pending wait.example.test', 'valid shop.example.test']);
    const failing = named(rows, 'new.example.test');
    assert.equal(failing.reason, 'no certificate yet: issuing it failed; 3 failed attempts, next attempt not before 2026-11-28T13:00:00Z: unauthorized: Invalid response from http://new.example.test/.well-known/acme-challenge/x: 404');
    assert.deepEqual(
      [failing.location, failing.file, failing.appId, failing.portIndex, failing.failures, failing.nextAttemptAt, failing.notAfter, failing.nextRenewalAt, failing.delivery],
      [null, null, '/new', 1, 3, '2026-11-28T13:00:00.000Z', null, null, []],
    );
    assert.match(failing.lastError ?? '', /^unauthorized: Invalid response/);
    const pending = named(rows, 'wait.example.test');
    assert.deepEqual(pending.names, ['wait.example.test', 'www.wait.example.test']);
    assert.equal(pending.reason, "no certificate yet: /wait port 0 wants it (the daemon's last sync); its first order is under way or due at the next sync");
    assert.equal(pending.failures, null);
    assert.deepEqual([named(rows, 'shop.example.test').appId, named(rows, 'shop.example.test').portIndex], ['/shop', 0], 'a file without a recorded owner: the app that wants it');
  });

  it('offline (wanted not known) shows every name state.json records as failing without a file, and no pending ones', () => {
    const state = stateWith({
      'new.example.test': { failure: failure(1, 'DNS problem: NXDOMAIN looking up A for new.example.test', 'dns', -60_000) },
      'shop.example.test': { failure: failure(2, 'Connection refused', 'connection') },
      'owned.example.test': { owner: { appId: '/owned', portIndex: 0 } },
    });
    const rows = buildStatus({ files: [certsFile('shop.example.test', shop)], state, now: NOW });
    assert.deepEqual(rows.map((r) => `${r.state} ${r.name}`), ['failing new.example.test', 'valid shop.example.test']);
    assert.equal(named(rows, 'new.example.test').reason, 'no certificate file: issuing it failed; 1 failed attempt, tried again at the next check: dns: DNS problem: NXDOMAIN looking up A for new.example.test');
    assert.equal(named(rows, 'shop.example.test').failures, 2, "the file's row carries its renewal failure");
  });

  it('tells a failing secondary name from a failure no app wants any more, and puts the latter last', () => {
    const state = stateWith({
      'www.wait.example.test': { failure: failure(1, 'preflight: no route', 'preflight:unreachable') },
      'gone.example.test': { failure: failure(4, 'rate limited', 'rateLimited') },
    });
    const rows = buildStatus({
      files: [certsFile('shop.example.test', shop)],
      state,
      now: NOW,
      wanted: [
        { name: 'shop.example.test', appId: '/shop', portIndex: 0 },
        { name: 'wait.example.test', appId: '/wait', portIndex: 2, sans: ['wait.example.test', 'www.wait.example.test'] },
      ],
    });
    assert.deepEqual(rows.map((r) => `${r.state} ${r.name}`), ['failing www.wait.example.test', 'pending wait.example.test', 'valid shop.example.test', 'failing gone.example.test']);
    const secondary = named(rows, 'www.wait.example.test');
    assert.match(secondary.reason, /^a name of the certificate for wait\.example\.test, which is issued without it until it validates; 1 failed attempt/);
    assert.deepEqual([secondary.appId, secondary.portIndex], ['/wait', 2]);
    assert.match(named(rows, 'gone.example.test').reason, /no app wanted it at the daemon's last sync, so it is not ordered again unless one does$/);
  });

  it('lists one row per wanted name, however many app ports want it', () => {
    const wanted = [
      { name: 'twice.example.test', appId: '/a', portIndex: 0 },
      { name: 'twice.example.test', appId: '/b', portIndex: 0 },
    ];
    const rows = buildStatus({ files: [], state: undefined, now: NOW, wanted });
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.appId, '/a');
  });
});

describe('status rows with the delivery check', () => {
  let shop: BundleResult;
  let blog: BundleResult;
  before(async () => {
    [shop, blog] = await Promise.all([bundle('shop.example.test', 10), bundle('blog.example.test', 20)]);
  });

  it('gives every certificate in certs/ one entry per LB, in the given LB order, unchecked where there is no record', () => {
    const records = [record(LB2, 'shop.example.test', 'served'), record(LB1, 'blog.example.test', 'unreachable', { detail: 'connect ECONNREFUSED' })];
    const rows = buildStatus({ files: [certsFile('shop.example.test', shop), certsFile('blog.example.test', blog)], state: undefined, now: NOW, delivery: { checkPort: 443, records, lbs: [LB1, LB2] } });
    assert.deepEqual(named(rows, 'shop.example.test').delivery, [
      { lb: LB1, status: 'unchecked', failing: false, checkedAt: null, lastServedAt: null, detail: null },
      { lb: LB2, status: 'served', failing: false, checkedAt: '2026-11-28T11:59:00.000Z', lastServedAt: '2026-11-28T11:59:00.000Z', detail: null },
    ]);
    assert.deepEqual(named(rows, 'blog.example.test').delivery.map((d) => [d.lb, d.status, d.detail]), [[LB1, 'unreachable', 'connect ECONNREFUSED'], [LB2, 'unchecked', null]]);
    assert.doesNotMatch(named(rows, 'blog.example.test').reason, /unreachable/, 'an unreachable LB is told on its card, not in every row');
    const withoutOrder = buildStatus({ files: [certsFile('shop.example.test', shop)], state: undefined, now: NOW, delivery: { checkPort: 443, records } });
    assert.deepEqual(named(withoutOrder, 'shop.example.test').delivery.map((d) => d.lb), [LB2, LB1], 'LBs as the records first name them');
  });

  it('has no delivery entries when the check is off, or for files outside certs/', async () => {
    const records = [record(LB1, 'shop.example.test', 'served')];
    const off = buildStatus({ files: [certsFile('shop.example.test', shop)], state: undefined, now: NOW, delivery: { checkPort: 0, records } });
    assert.deepEqual(named(off, 'shop.example.test').delivery, []);
    const hand = await bundle('hand.example.test', 1);
    const unmanaged = buildStatus({ files: [{ location: 'unmanaged-certs', file: 'unmanaged-certs/hand.pem', name: 'hand', content: hand }], state: undefined, now: NOW, delivery: { checkPort: 443, records } });
    assert.deepEqual(unmanaged[0]?.delivery, []);
  });

  it('puts a delivery failure right after failing orders and says in the reason which LB serves what', () => {
    const records = [
      record(LB1, 'shop.example.test', 'served'),
      record(LB2, 'shop.example.test', 'stale', { failing: true, lastServedAt: NOW - 3 * DAY, detail: 'serial 0a1b, notAfter 2026-12-20' }),
      record(LB1, 'blog.example.test', 'other', { detail: 'CN=default' }),
    ];
    const state = stateWith({ 'new.example.test': { failure: failure(1, 'boom') } });
    const rows = buildStatus({
      files: [certsFile('blog.example.test', blog), certsFile('shop.example.test', shop), { location: 'certs', file: 'certs/bad.pem', name: 'bad', content: { ok: false, reason: 'the file is empty' } }],
      state,
      now: NOW,
      delivery: { checkPort: 443, records, lbs: [LB1, LB2] },
    });
    assert.deepEqual(rows.map((r) => r.name), ['new.example.test', 'shop.example.test', 'bad', 'blog.example.test']);
    assert.match(
      named(rows, 'shop.example.test').reason,
      /; delivery failure: http:\/\/\*\*\*@lb2\.example\.test:9090 serves an older certificate \(serial 0a1b, notAfter 2026-12-20\), last served there at 2026-11-25T12:00:00Z; the reload signal is sent again$/,
    );
    assert.match(named(rows, 'blog.example.test').reason, /; http:\/\/lb1\.example\.test:9090 serves another certificate \(CN=default\) at its last check; checked again shortly$/);
    assert.equal(named(rows, 'blog.example.test').state, 'valid', 'a wrong answer not yet past the grace is no failure');
  });

  it('ranks problems first: expired, failing, delivery failure, unusable, expiring soon, renew due, pending, valid, retired', async () => {
    const files: StoredFile[] = [
      certsFile('valid.example.test', await bundle('valid.example.test', 1)),
      certsFile('due.example.test', await bundle('due.example.test', 70)),
      certsFile('soon.example.test', await bundle('soon.example.test', 88)),
      certsFile('expired.example.test', await bundle('expired.example.test', 95)),
      certsFile('renewfail.example.test', await bundle('renewfail.example.test', 65)),
      certsFile('undelivered.example.test', await bundle('undelivered.example.test', 5)),
      { location: 'certs', file: 'certs/broken.example.test.pem', name: 'broken.example.test', content: { ok: false, reason: 'the file is empty' } },
      { location: 'retired-certs', file: 'retired-certs/old.example.test.pem', name: 'old.example.test', content: await bundle('old.example.test', 30) },
    ];
    const state = stateWith({ 'renewfail.example.test': { failure: failure(2, 'x') }, 'nofile.example.test': { failure: failure(1, 'y') } });
    const wanted = ['valid', 'due', 'soon', 'expired', 'renewfail', 'undelivered', 'broken', 'nofile', 'pending'].map((n) => ({ name: `${n}.example.test`, appId: `/${n}`, portIndex: 0 }));
    const rows = buildStatus({ files, state, now: NOW, wanted, delivery: { checkPort: 443, records: [record(LB1, 'undelivered.example.test', 'stale', { failing: true })] } });
    assert.deepEqual(rows.map((r) => r.name.replace('.example.test', '')), ['expired', 'nofile', 'renewfail', 'undelivered', 'broken', 'soon', 'due', 'pending', 'valid', 'old']);
  });
});

describe('status output with the delivery check', () => {
  it('prints how many LBs serve each certificate and, after the table, each LB\'s counts and the last check', async () => {
    const shop = await bundle('shop.example.test', 10);
    const delivery = {
      checkPort: 443,
      records: [record(LB1, 'shop.example.test', 'served'), record(LB2, 'shop.example.test', 'stale', { failing: true, checkedAt: NOW - 30_000 })],
    };
    const report: StatusReport = {
      storageDir: '/data',
      generatedAt: new Date(NOW).toISOString(),
      delivery: deliveryView(delivery),
      cas: [],
      certificates: buildStatus({ files: [certsFile('shop.example.test', shop)], state: undefined, now: NOW, delivery }),
      warnings: [],
    };
    const text = formatStatusTable(report);
    const [header, row, blank, heading, lb1, lb2] = text.split('\n');
    assert.match(header ?? '', / APP +SERVED +REASON$/);
    assert.match(row ?? '', / - +1\/2 FAILING +renewal from .*; delivery failure: http:\/\/\*\*\*@lb2/);
    assert.equal(blank, '');
    assert.equal(heading, 'delivery check (TLS port 443, from delivery.json), last check 2026-11-28T11:59:30Z:');
    assert.equal(lb1, `  ${LB1}: 1 served, 0 stale, 0 other, 0 unreachable, 0 failing`);
    assert.equal(lb2, `  ${LB2}: 0 served, 1 stale, 0 other, 0 unreachable, 1 failing (bad)`);
    const json = JSON.parse(formatStatusJson(report)) as { delivery: { checkPort: number; lastCheckedAt: string; lbs: Array<Record<string, unknown>> } };
    assert.equal(json.delivery.checkPort, 443);
    assert.equal(json.delivery.lastCheckedAt, '2026-11-28T11:59:30.000Z');
    assert.deepEqual(json.delivery.lbs.map((l) => [l['lb'], l['served'], l['stale'], l['failing'], l['level']]), [[LB1, 1, 0, 0, 'ok'], [LB2, 0, 1, 1, 'bad']]);
    assert.equal(formatStatusTable({ ...report, certificates: [], delivery: { checkPort: 0, lastCheckedAt: null, lbs: [] } }), 'no certificates stored in /data\n\ndelivery check: off when delivery.json was written\n');
  });
});
