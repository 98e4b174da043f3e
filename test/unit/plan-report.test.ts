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

  it('without setup steps or wanted names there is nothing to do', () => {
    assert.equal(formatPlan(buildPlan({ ...empty, wanted: [] })), 'nothing to do: no app wants a certificate and none is stored\n');
  });
});
