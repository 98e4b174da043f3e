import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderStatusPage, type StatusView } from '../../src/status/page.js';
import type { StatusRow } from '../../src/status/report.js';

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
    keyType: 'ECDSA P-256',
    serial: '01',
    notBefore: '2026-11-01T00:00:00.000Z',
    notAfter: '2027-01-30T00:00:00.000Z',
    daysLeft: 59,
    nextRenewalAt: '2026-12-31T12:00:00.000Z',
    lastError: null,
    ...overrides,
  };
}

function view(certificates: StatusRow[]): StatusView {
  return {
    generatedAt: '2026-12-01T12:00:00.000Z',
    version: '1.0.0',
    marathon: { level: 'ok', summary: 'synced', urls: ['http://***@marathon:8080'], eventStream: 'attached', lastSyncAt: '2026-12-01T11:59:00.000Z' },
    account: { level: 'ok', summary: 'registered', directory: 'https://acme.example/dir' },
    lbs: [
      { url: 'http://lb1:9090', level: 'ok', summary: 'last reload accepted' },
      { url: 'http://lb2:9090', level: 'bad', summary: 'reload owed: connection refused' },
    ],
    certificates,
  };
}

describe('status page', () => {
  it('shows every certificate in the given (urgency) order, colour-coded by state, with its details', () => {
    const html = renderStatusPage(view([
      row({ name: 'old.example.com', state: 'expired', daysLeft: -3, lastError: 'urn:ietf:params:acme:error:rateLimited: too many' }),
      row({ name: 'soon.example.com', state: 'expiring soon', daysLeft: 2 }),
      row({ name: 'shop.example.com', state: 'valid', names: ['shop.example.com', 'www.shop.example.com'] }),
    ]));
    const order = ['old.example.com', 'soon.example.com', 'shop.example.com'].map((n) => html.indexOf(`<strong>${n}</strong>`));
    assert.ok(order.every((i, k) => i > 0 && (k === 0 || i > (order[k - 1] ?? 0))), `rows in order: ${order.join(',')}`);
    assert.match(html, /<tr class="bad"><td data-label="Name"><div><strong>old\.example\.com/);
    assert.match(html, /<span class="badge ok">valid<\/span>/);
    assert.match(html, /expired 3 d ago/);
    assert.match(html, /www\.shop\.example\.com/);
    assert.match(html, /rateLimited: too many/);
    assert.match(html, /3 certificates \(1 expired, 1 expiring soon, 1 valid\)/);
    assert.match(html, /<section class="card bad"><h2>marathon-lb http:\/\/lb2:9090<\/h2><p class="summary">reload owed: connection refused/);
  });

  it('escapes everything that comes from apps, the CA or the disk', () => {
    const html = renderStatusPage(view([row({ name: '<script>alert(1)</script>', state: 'unusable', lastError: '"><img src=x onerror=alert(1)>' })]));
    assert.doesNotMatch(html, /<script>|<img/);
    assert.match(html, /&#60;script&#62;alert\(1\)&#60;\/script&#62;/);
  });

  it('is self-contained and readable on a phone: no scripts, no external assets, a viewport', () => {
    const html = renderStatusPage(view([row({ name: 'shop.example.com', state: 'valid' })]));
    assert.doesNotMatch(html, /<script|<link|src=|url\(/i);
    assert.deepEqual([...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]), ['status.json']);
    assert.match(html, /<meta name="viewport" content="width=device-width, initial-scale=1">/);
    assert.match(html, /@media \(max-width: 48rem\)/);
  });

  it('says so when nothing is stored yet', () => {
    assert.match(renderStatusPage(view([])), /No certificates stored yet/);
  });
});
