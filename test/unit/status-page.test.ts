import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { summariseLb } from '../../src/delivery/lb-summary.js';
import type { DeliveryRecord } from '../../src/delivery/types.js';
import type { RowDelivery } from '../../src/status/delivery-rows.js';
import type { CaStatus } from '../../src/status/budget-view.js';
import { renderStatusPage, type StatusView } from '../../src/status/page.js';
import type { StatusRow } from '../../src/status/report.js';

const LB1 = 'http://lb1:9090';
const LB2 = 'http://lb2:9090';

function row(overrides: Partial<StatusRow> & Pick<StatusRow, 'name' | 'state'>): StatusRow {
  return {
    names: [overrides.name],
    reason: 'because',
    location: 'certs',
    file: `certs/${overrides.name}.pem`,
    appId: '/shop',
    portIndex: 0,
    issuer: 'R11 (Let\'s Encrypt)',
    issuerDn: 'C=US, O=Let\'s Encrypt, CN=R11',
    ca: 'https://acme-v02.api.letsencrypt.org/directory',
    keyType: 'ECDSA P-256',
    serial: '01',
    notBefore: '2026-11-01T00:00:00.000Z',
    notAfter: '2027-01-30T00:00:00.000Z',
    daysLeft: 59,
    nextRenewalAt: '2026-12-31T12:00:00.000Z',
    lastError: null,
    failures: null,
    nextAttemptAt: null,
    delivery: [],
    ...overrides,
  };
}

function served(lb: string, status: RowDelivery['status'] = 'served', failing = false): RowDelivery {
  return { lb, status, failing, checkedAt: '2026-12-01T11:58:00.000Z', lastServedAt: null, detail: status === 'served' ? null : 'serial 0a' };
}

function view(certificates: StatusRow[], delivery: StatusView['delivery'] = null): StatusView {
  return {
    generatedAt: '2026-12-01T12:00:00.000Z',
    version: '1.0.0',
    marathon: { level: 'ok', summary: 'synced', urls: ['http://***@marathon:8080'], eventStream: 'attached', lastSyncAt: '2026-12-01T11:59:00.000Z' },
    account: { level: 'ok', summary: 'registered', directory: 'https://acme.example/dir' },
    lbs: [
      { url: LB1, level: 'ok', summary: 'last reload accepted' },
      { url: LB2, level: 'bad', summary: 'reload owed: connection refused' },
    ],
    delivery,
    cas: [],
    certificates,
  };
}

function record(lb: string, name: string, status: DeliveryRecord['status'], failing = false): DeliveryRecord {
  return { lb, name, status, failing, checkedAt: Date.parse('2026-12-01T11:58:00Z'), lastServedAt: undefined, detail: undefined };
}

describe('status page', () => {
  it('shows every row in the given (urgency) order, colour-coded by state, with its details', () => {
    const html = renderStatusPage(view([
      row({ name: 'old.example.com', state: 'expired', daysLeft: -3, lastError: 'urn:ietf:params:acme:error:rateLimited: too many', failures: 2 }),
      row({ name: 'soon.example.com', state: 'expiring soon', daysLeft: 2 }),
      row({ name: 'shop.example.com', state: 'valid', names: ['shop.example.com', 'www.shop.example.com'] }),
    ]));
    const order = ['old.example.com', 'soon.example.com', 'shop.example.com'].map((n) => html.indexOf(`<strong>${n}</strong>`));
    assert.ok(order.every((i, k) => i > 0 && (k === 0 || i > (order[k - 1] ?? 0))), `rows in order: ${order.join(',')}`);
    assert.match(html, /<tr class="bad order-failing"><td><strong>old\.example\.com/);
    assert.match(html, /<span class="badge ok">valid<\/span>/);
    assert.match(html, /expired 3 d ago/);
    assert.match(html, /www\.shop\.example\.com/);
    assert.match(html, /rateLimited: too many/, 'the last error, when the reason does not say it');
    assert.match(html, /3 certificates \(1 expired, 1 expiring soon, 1 valid\)/);
    assert.match(html, /<section class="card bad"><h2>marathon-lb http:\/\/lb2:9090<\/h2><p class="summary">reload owed: connection refused/);
  });

  it('counts what needs attention first, in the order of the rows, and says so when nothing does', () => {
    const html = renderStatusPage(view([
      row({ name: 'a.example.com', state: 'failing', location: null, file: null, failures: 3 }),
      row({ name: 'b.example.com', state: 'failing', location: null, file: null, failures: 1 }),
      row({ name: 'c.example.com', state: 'valid', delivery: [served(LB1, 'stale', true)] }),
      row({ name: 'd.example.com', state: 'renew due' }),
      row({ name: 'e.example.com', state: 'pending', location: null, file: null }),
      row({ name: 'f.example.com', state: 'valid', delivery: [served(LB1, 'other')] }),
    ]));
    const items = [...html.matchAll(/<li class="(\w+)" data-problem="(\w+)" data-count="(\d+)">([^<]+)<\/li>/g)].map((m) => `${m[1]} ${m[4]}`);
    assert.deepEqual(items, ['bad 2 failing orders', 'bad 1 delivery failure', 'warn 1 certificate not served yet by every LB', 'warn 1 renewal due', 'warn 1 name not issued yet']);
    assert.ok(html.indexOf('Needs attention') < html.indexOf('class="cards"'), 'before the cards');
    assert.match(html, /3 certificates, 3 names without one/);
    assert.match(renderStatusPage(view([row({ name: 'ok.example.com', state: 'valid' })])), /<section class="panel ok"><h2>No problems<\/h2>/);
  });

  it('has a delivery column per LB, failing answers highlighted, and LB cards with the counts', () => {
    const records = [record(LB1, 'shop.example.com', 'served'), record(LB2, 'shop.example.com', 'stale', true)];
    const delivery = { checkPort: 443, lastCheckedAt: '2026-12-01T11:58:00.000Z', lbs: [summariseLb(LB1, records, undefined, true), summariseLb(LB2, records, undefined, true)] };
    const html = renderStatusPage(view([row({ name: 'shop.example.com', state: 'valid', delivery: [served(LB1), served(LB2, 'stale', true)] })], delivery));
    assert.match(html, /<th class="d" title="http:\/\/lb1:9090">lb1:9090<\/th><th class="d" title="http:\/\/lb2:9090">lb2:9090<\/th>/);
    assert.match(html, /<td class="d served">served<\/td><td class="d stale failing" title="checked 2026-12-01 11:58 UTC; last served never"><strong>stale: failing<\/strong> <span class="note">serial 0a<\/span><\/td>/);
    assert.match(html, /<tr class="bad delivery-failure">/);
    assert.match(html, /<ul class="counts" data-lb="http:\/\/lb2:9090"><li class="zero" data-served="0">0 served<\/li><li class="warn" data-stale="1">1 stale<\/li>/);
    assert.match(html, /<li class="bad" data-failing="1">1 failing<\/li>/);
    assert.match(html, /delivery check on port 443, last 2026-12-01 11:58 UTC/);
    // On a phone each LB cell is labelled with its LB.
    assert.match(html, /#certificates td:nth-child\(6\)::before \{ content: "lb1:9090"; \}/);
    const off = renderStatusPage(view([row({ name: 'shop.example.com', state: 'valid' })]));
    assert.doesNotMatch(off, /<th class="d"/, 'no delivery columns without the check');
  });

  it('has a rate budget card that turns yellow at 80 % and red when a limit is reached', () => {
    const budget = (orders: number, perDomain: number): CaStatus['rateBudget'] => ({
      source: "Let's Encrypt's (the default for its directory)",
      limits: {
        newOrders: { used: orders, limit: 270, windowHours: 3 },
        certificatesPerDomain: { used: perDomain, limit: 45, windowDays: 7, fullest: perDomain === 0 ? [] : [{ domain: 'example.com', used: perDomain }] },
      },
    });
    const one = (rateBudget: CaStatus['rateBudget']): CaStatus => ({ directory: 'https://acme-v02.api.letsencrypt.org/directory', primary: true, unavailableSince: null, rateBudget });
    const cardOf = (rateBudget: CaStatus['rateBudget']): string => /<section class="card (\w+)"><h2>Rate budget<\/h2>.*?<\/section>/s.exec(renderStatusPage({ ...view([]), cas: [one(rateBudget)] }))?.[0] ?? '';
    const calm = cardOf(budget(12, 8));
    assert.match(calm, /card ok/);
    assert.match(calm, /12 of 270 new orders in 3 h/);
    assert.match(calm, /certificates per registered domain in 7 days: 8 of 45 at most \(example\.com 8\)/);
    assert.match(cardOf(budget(12, 36)), /card warn/, '80 % of the per-domain budget');
    assert.match(cardOf(budget(270, 0)), /card bad/);
    // Several CAs: a card each, named by host, the primary marked, an unavailable one yellow.
    const several = renderStatusPage({
      ...view([]),
      cas: [
        { ...one(budget(1, 1)), unavailableSince: '2026-12-06T08:00:00.000Z' },
        { directory: 'https://acme.zerossl.example/directory', primary: false, unavailableSince: null, rateBudget: { source: 'none', limits: null } },
      ],
    });
    assert.match(several, /<section class="card warn"><h2>CA acme-v02\.api\.letsencrypt\.org \(primary\)<\/h2>.*?unavailable since 2026-12-06 08:00 UTC/s);
    assert.match(several, /<section class="card ok"><h2>CA acme\.zerossl\.example<\/h2>.*?no rate budget/s);
    assert.match(cardOf({ source: 'none (--rate-limits none)', limits: null }), /card ok.*none.*--rate-limits none/s);
    assert.equal(cardOf(null), '', 'no card before the daemon has recorded its limits');
  });

  it('colours an LB card by the worse of its own state and its delivery summary', () => {
    const records = [record(LB1, 'shop.example.com', 'unreachable')];
    const delivery = { checkPort: 443, lastCheckedAt: null, lbs: [summariseLb(LB1, records, undefined, true)] };
    const html = renderStatusPage(view([row({ name: 'shop.example.com', state: 'valid' })], delivery));
    assert.match(html, /<section class="card warn"><h2>marathon-lb http:\/\/lb1:9090<\/h2>/);
    assert.match(html, /delivery check on port 443, last never/);
  });

  it('has a filter the inline script shows, with the states and problems present, and the 90-day picture', () => {
    const html = renderStatusPage(view([
      row({ name: 'a.example.com', state: 'failing', location: null, file: null, failures: 1, notAfter: null, daysLeft: null, nextRenewalAt: null }),
      row({ name: 'b.example.com', state: 'valid', notAfter: '2026-12-05T10:00:00.000Z', nextRenewalAt: '2026-12-03T10:00:00.000Z' }),
    ]));
    assert.match(html, /<form id="filter" class="filter" role="search" hidden>/, 'hidden until the script runs');
    const options = [...html.matchAll(/<option value="([^"]*)">([^<]*)<\/option>/g)].map((m) => `${m[1]}=${m[2]}`);
    assert.deepEqual(options, ['=everything (2)', 'problems=problems only (1)', 'flag:order-failing=failing orders (1)', 'state:failing=failing (1)', 'state:valid=valid (1)']);
    assert.match(html, /<div id="certificates" data-search-cells="0,4"><div class="head"><table>/);
    assert.equal(html.match(/<div class="chunk">/g)?.length, 1);
    assert.match(html, /<script>\(\(\) => \{[\s\S]*getElementById\('filter'\)[\s\S]*<\/script>/);
    assert.match(html, /<g data-day="2026-12-03" data-renewals="1" data-expiring="0">/);
    assert.match(html, /<g data-day="2026-12-05" data-renewals="0" data-expiring="1">/);
  });

  it('says a renewal is due now rather than show a time past, and says so when the 90 days hold nothing', () => {
    const html = renderStatusPage(view([row({ name: 'due.example.com', state: 'renew due', nextRenewalAt: '2026-11-30T08:00:00.000Z' })]));
    assert.match(html, /<td><strong>due now<\/strong><span class="note">since 2026-11-30 08:00 UTC<\/span><\/td>/);
    assert.match(html, /today includes 1 already due/);
    const far = renderStatusPage(view([row({ name: 'far.example.com', state: 'valid', notAfter: '2027-06-01T00:00:00.000Z', nextRenewalAt: '2027-04-01T00:00:00.000Z' })]));
    assert.match(far, /Nothing expires and no renewal is scheduled in the next 90 days\./);
  });

  it('splits a long table into chunks of rows, each with the header for screen readers, one column layout for all', () => {
    const rows = Array.from({ length: 600 }, (_, i) => row({ name: `app${i}.example.com`, state: 'valid' }));
    const html = renderStatusPage(view(rows));
    assert.equal(html.match(/<div class="chunk"><table><colgroup>/g)?.length, 3);
    assert.equal(html.match(/<thead class="repeat"><tr><th>Name<\/th>/g)?.length, 3);
    assert.equal(html.match(/<tr class="ok">/g)?.length, 600);
    const chunks = html.split('<div class="chunk">').slice(1);
    assert.deepEqual(chunks.map((c) => c.match(/<tr class="ok">/g)?.length), [250, 250, 100]);
    assert.ok(html.indexOf('app249.example.com') < html.indexOf('<div class="chunk">', html.indexOf('app0.example.com') + 1), 'in order');
  });

  it('escapes everything that comes from apps, the CA, the disk or the LB list', () => {
    const evil = 'http://"><img src=x>:1';
    const html = renderStatusPage(view(
      [row({ name: '<script>alert(1)</script>', state: 'unusable', lastError: '"><img src=x onerror=alert(1)>', delivery: [{ ...served(evil, 'other'), detail: '<b>x</b>' }] })],
      { checkPort: 443, lastCheckedAt: null, lbs: [{ lb: evil, level: 'warn', summary: '<i>', pendingSignal: false, served: 0, stale: 0, other: 1, unreachable: 0, failing: 0 }] },
    ));
    assert.doesNotMatch(html, /<script>alert|<img|<b>x|<i>/);
    assert.match(html, /&#60;script&#62;alert\(1\)&#60;\/script&#62;/);
    const css = html.slice(html.indexOf('<style>') + '<style>'.length, html.indexOf('</style>'));
    assert.doesNotMatch(css, /<|"><img/, 'an LB name cannot leave its CSS string');
  });

  it('is self-contained and readable on a phone: no external assets, two inline scripts, a viewport', () => {
    const html = renderStatusPage(view([row({ name: 'shop.example.com', state: 'valid' })]));
    assert.doesNotMatch(html, /<link|src=|url\(|<script src/i);
    assert.equal(html.match(/<script/g)?.length, 2, 'the filter and the refresh');
    assert.deepEqual([...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]), ['status.json', 'status']);
    assert.match(html, /<meta name="viewport" content="width=device-width, initial-scale=1">/);
    assert.match(html, /@media \(max-width: 48rem\)/);
  });

  it('says so when nothing is stored and nothing is wanted', () => {
    const html = renderStatusPage(view([]));
    assert.match(html, /No certificates stored, and no app is known to want one/);
    assert.equal(html.match(/<script/g)?.length, 1, 'no filter, only the refresh');
    assert.doesNotMatch(html, /filter-text/);
  });

  it('writes every time one way, UTC to the minute, also those inside reasons, summaries and errors', () => {
    const v = view([
      row({
        name: 'shop.example.com',
        state: 'renew due',
        reason: 'renewal due since 2026-11-30T08:00:00Z (ARI window 2026-11-29T00:00:00.000Z to 2026-12-01T00:00:00.000Z)',
        lastError: 'rateLimited: retry after 2026-12-01T13:00:05.123Z',
        failures: 1,
        nextRenewalAt: '2026-11-30T08:00:00.000Z',
        delivery: [{ ...served(LB1, 'stale', true), lastServedAt: '2026-11-29T10:00:00.000Z', detail: 'serial 0a, not after 2026-12-20T08:14:00Z' }],
      }),
    ], { checkPort: 443, lastCheckedAt: '2026-12-01T11:58:00.000Z', lbs: [{ lb: LB1, level: 'bad', summary: '', pendingSignal: false, served: 0, stale: 1, other: 0, unreachable: 0, failing: 1 }] });
    v.marathon.summary = 'last sync succeeded at 2026-12-01T11:59:00Z';
    v.lbs = [{ url: LB1, level: 'ok', summary: 'delivery check off; last signal accepted 2026-12-01T11:00:00.000Z' }];
    const html = renderStatusPage(v);
    assert.doesNotMatch(html, /\d{4}-\d\d-\d\dT\d\d/, 'no RFC 3339 time left');
    const times = [...html.matchAll(/\d{4}-\d\d-\d\d \d\d:\d\d UTC/g)].map((m) => m[0]);
    for (const expected of ['2026-12-01 12:00 UTC', '2026-12-01 11:59 UTC', '2026-11-30 08:00 UTC', '2026-11-29 00:00 UTC', '2026-12-01 13:00 UTC', '2026-12-20 08:14 UTC', '2026-12-01 11:00 UTC', '2026-12-01 11:58 UTC', '2026-11-29 10:00 UTC']) {
      assert.ok(times.includes(expected), `${expected} in ${times.join(', ')}`);
    }
  });

  it('says how old it is, links a reload, and reloads without JavaScript too', () => {
    const html = renderStatusPage(view([row({ name: 'shop.example.com', state: 'valid' })]));
    assert.match(html, /generated 2026-12-01 12:00 UTC<span id="age"><\/span> · version 1\.0\.0 · <a href="status\.json">status\.json<\/a> · <a href="status" id="reload" title="[^"]+">reload<\/a>/);
    assert.match(html, /<head>[\s\S]*<noscript><meta http-equiv="refresh" content="60"><\/noscript>[\s\S]*<\/head>/);
    assert.match(html, /<script>\(\(\) => \{\n {2}const age = document\.getElementById\('age'\);[\s\S]*location\.reload\(\)[\s\S]*<\/script>\n<\/body>/);
  });
});
