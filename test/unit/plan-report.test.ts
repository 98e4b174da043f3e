import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildPlan, formatPlan } from '../../src/plan/report.js';

const empty = { warnings: [], managed: new Map(), corrupt: [], failures: new Map(), lastWanted: new Map(), schedule: new Map(), now: 0, retireAfterMs: 0 };

describe('plan report', () => {
  it('on a first run, lists what start-up creates before the orders', () => {
    const lines = buildPlan({
      ...empty,
      setup: [
        { subject: 'certs/', reason: 'the directory marathon-lb loads' },
        { subject: 'client.key', reason: 'a new ACME account key' },
      ],
      wanted: [{ name: 'shop.example.com', appId: '/shop', portIndex: 0 }],
    });
    assert.deepEqual(
      lines.map((l) => [l.action, l.subject]),
      [
        ['create', 'certs/'],
        ['create', 'client.key'],
        ['issue', 'shop.example.com'],
      ],
    );
    assert.equal(
      formatPlan(lines),
      [
        'create  certs/            the directory marathon-lb loads',
        'create  client.key        a new ACME account key',
        'issue   shop.example.com  no certificate yet: shop.example.com for app /shop port 0',
        '',
      ].join('\n'),
    );
  });

  it('plans moving out a second file serving a name, and keeps the name served by a file in other letter case', () => {
    const cert = { names: ['mixed.example.com'], notBefore: 0, notAfter: 90 * 86_400_000 };
    const lines = buildPlan({
      ...empty,
      managed: new Map([['mixed.example.com', { ...cert, name: 'mixed.example.com' }]]),
      duplicates: [{ name: 'mixed.example.com', file: 'mixed.example.com', kept: 'Mixed.Example.com' }],
      wanted: [{ name: 'mixed.example.com', appId: '/shop', portIndex: 0 }],
    });
    assert.deepEqual(
      lines.map((l) => [l.action, l.subject]),
      [
        ['retire', 'mixed.example.com'],
        ['keep', 'mixed.example.com'],
      ],
    );
    assert.match(lines[0]?.reason ?? '', /^certs\/mixed\.example\.com\.pem serves the same name as certs\/Mixed\.Example\.com\.pem .*moved to retired-certs\/$/);
  });

  it('without setup steps or wanted names there is nothing to do', () => {
    assert.equal(formatPlan(buildPlan({ ...empty, wanted: [] })), 'nothing to do: no app wants a certificate and none is stored\n');
  });
});
