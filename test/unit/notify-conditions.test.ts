import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { activeConditions, lifetimeKind, type Condition, type NotifySnapshot } from '../../src/notify/conditions.js';
import { EMPTY_MEMORY, step, type NotifyEvent, type NotifyMemory } from '../../src/notify/dedup.js';
import type { DeliveryRecord } from '../../src/delivery/types.js';

const DAY = 86_400_000;
const T0 = Date.parse('2026-12-01T10:00:00Z');

function snapshot(parts: Partial<NotifySnapshot> = {}): NotifySnapshot {
  return { now: T0, certificates: [], failures: [], delivery: [], ...parts };
}

function failure(name: string, failures: number, kind: 'issue' | 'renew' = 'issue'): NotifySnapshot['failures'][number] {
  return { name, kind, failures, problem: { type: 'unauthorized', detail: `no route to ${name}` }, nextAttemptAt: T0 + 3_600_000, appId: '/shop' };
}

function delivery(name: string, lb: string, failing: boolean): DeliveryRecord {
  return { lb, name, status: failing ? 'stale' : 'served', failing, checkedAt: T0, lastServedAt: T0 - DAY, detail: failing ? 'serial 01' : undefined };
}

describe('notification conditions', () => {
  it('reports an issue or renewal from the Nth failure in a row, with the CA problem and the next attempt', () => {
    const certificates = [{ name: 'b.example', appId: '/b', notBefore: T0 - DAY, notAfter: T0 + 89 * DAY }];
    const failures = [failure('a.example', 2), failure('b.example', 3, 'renew'), failure('c.example', 7)];
    const conditions = activeConditions(snapshot({ certificates, failures }), { failureThreshold: 3 });
    assert.deepEqual([...conditions.keys()], ['failure:b.example', 'failure:c.example']);
    assert.deepEqual(conditions.get('failure:b.example'), {
      key: 'failure:b.example',
      kind: 'renewal-failing',
      name: 'b.example',
      appId: '/shop',
      lb: undefined,
      failures: 3,
      problem: { type: 'unauthorized', detail: 'no route to b.example' },
      nextAttemptAt: T0 + 3_600_000,
      notAfter: T0 + 89 * DAY,
      delivery: undefined,
    });
    assert.equal(conditions.get('failure:c.example')?.kind, 'issue-failing');
    assert.equal(conditions.get('failure:c.example')?.notAfter, undefined);
    assert.equal(activeConditions(snapshot({ failures }), { failureThreshold: 1 }).size, 3);
  });

  it('takes the app of a failing name from its stored certificate when the failure has none', () => {
    const certificates = [{ name: 'a.example', appId: '/a', notBefore: T0 - DAY, notAfter: T0 + 89 * DAY }];
    const conditions = activeConditions(snapshot({ certificates, failures: [{ ...failure('a.example', 3), appId: undefined }] }), { failureThreshold: 3 });
    assert.equal(conditions.get('failure:a.example')?.appId, '/a');
  });

  it('reports a certificate with less than a fifth of its lifetime left, and then as expired', () => {
    const notBefore = T0;
    const notAfter = T0 + 90 * DAY;
    assert.equal(lifetimeKind(notBefore, notAfter, notAfter - 18 * DAY), undefined, 'exactly a fifth left');
    assert.equal(lifetimeKind(notBefore, notAfter, notAfter - 18 * DAY + 1), 'expiring');
    assert.equal(lifetimeKind(notBefore, notAfter, notAfter - 1), 'expiring');
    assert.equal(lifetimeKind(notBefore, notAfter, notAfter), 'expired');
    // A 6-day certificate is expiring with under 28.8 hours left, not with 30 days.
    assert.equal(lifetimeKind(T0, T0 + 6 * DAY, T0 + 6 * DAY - 29 * 3_600_000), undefined);
    assert.equal(lifetimeKind(T0, T0 + 6 * DAY, T0 + 6 * DAY - 28 * 3_600_000), 'expiring');
    // No lifetime to take a share of: only the expiry counts.
    assert.equal(lifetimeKind(T0, T0, T0 - 1), undefined);
    assert.equal(lifetimeKind(T0 + DAY, T0, T0 - 1), undefined);
    assert.equal(lifetimeKind(T0 + DAY, T0, T0), 'expired');

    const certificates = [
      { name: 'fresh.example', appId: '/a', notBefore: T0 - DAY, notAfter: T0 + 89 * DAY },
      { name: 'old.example', appId: '/b', notBefore: T0 - 80 * DAY, notAfter: T0 + 10 * DAY },
      { name: 'gone.example', appId: undefined, notBefore: T0 - 91 * DAY, notAfter: T0 - DAY },
    ];
    const conditions = activeConditions(snapshot({ certificates }), { failureThreshold: 3 });
    assert.deepEqual(
      [...conditions.values()].map((c) => [c.key, c.kind, c.appId, c.notAfter]),
      [
        ['lifetime:old.example', 'expiring', '/b', T0 + 10 * DAY],
        ['lifetime:gone.example', 'expired', undefined, T0 - DAY],
      ],
    );
  });

  it('reports each failing delivery per LB and name, with what was served instead', () => {
    const certificates = [{ name: 'a.example', appId: '/a', notBefore: T0 - DAY, notAfter: T0 + 89 * DAY }];
    const records = [delivery('a.example', 'http://lb1:9090', true), delivery('a.example', 'http://lb2:9090', false), delivery('b.example', 'http://lb1:9090', true)];
    const conditions = activeConditions(snapshot({ certificates, delivery: records }), { failureThreshold: 3 });
    assert.deepEqual([...conditions.keys()], ['delivery:a.example|http://lb1:9090', 'delivery:b.example|http://lb1:9090']);
    const a = conditions.get('delivery:a.example|http://lb1:9090');
    assert.equal(a?.kind, 'delivery-failing');
    assert.equal(a.lb, 'http://lb1:9090');
    assert.equal(a.appId, '/a');
    assert.equal(a.notAfter, T0 + 89 * DAY);
    assert.deepEqual(a.delivery, { status: 'stale', detail: 'serial 01', lastServedAt: T0 - DAY });
  });
});

function cond(key: string, kind: Condition['kind'], failures?: number): Condition {
  return { key, kind, name: key.split(':')[1] ?? key, appId: undefined, lb: undefined, failures, problem: undefined, nextAttemptAt: undefined, notAfter: undefined, delivery: undefined };
}

function conditions(...list: Condition[]): Map<string, Condition> {
  return new Map(list.map((c) => [c.key, c]));
}

function summary(events: readonly NotifyEvent[]): string[] {
  return events.map((e) => `${e.state} ${e.condition.key} ${e.condition.kind}`);
}

describe('notification deduplication', () => {
  it('tells a condition when it appears, changes kind and clears, and nothing in between', () => {
    let memory: NotifyMemory = EMPTY_MEMORY;
    const feed = (current: Map<string, Condition>, at: number): NotifyEvent[] => {
      const result = step(memory, current, at);
      memory = result.memory;
      return result.events;
    };
    assert.deepEqual(summary(feed(conditions(cond('lifetime:a', 'expiring')), T0)), ['firing lifetime:a expiring']);
    assert.deepEqual(feed(conditions(cond('lifetime:a', 'expiring')), T0 + 5_000), []);
    assert.deepEqual(feed(conditions(cond('lifetime:a', 'expiring')), T0 + 10_000), []);
    const expired = feed(conditions(cond('lifetime:a', 'expired'), cond('failure:a', 'renewal-failing', 3)), T0 + DAY);
    assert.deepEqual(summary(expired), ['firing lifetime:a expired', 'firing failure:a renewal-failing']);
    assert.equal(expired[0]?.since, T0 + DAY);
    // More failures of the same kind are the same problem.
    assert.deepEqual(feed(conditions(cond('lifetime:a', 'expired'), cond('failure:a', 'renewal-failing', 9)), T0 + 2 * DAY), []);
    const cleared = feed(conditions(), T0 + 3 * DAY);
    assert.deepEqual(summary(cleared), ['resolved lifetime:a expired', 'resolved failure:a renewal-failing']);
    assert.equal(cleared[1]?.condition.failures, 9, 'a recovery describes the condition as last seen');
    assert.equal(cleared[1].since, T0 + DAY);
    assert.equal(cleared[1].at, T0 + 3 * DAY);
    assert.deepEqual(feed(conditions(), T0 + 4 * DAY), []);
  });

  it('does not change the memory it is given', () => {
    const first = step(EMPTY_MEMORY, conditions(cond('lifetime:a', 'expiring')), T0);
    step(first.memory, conditions(), T0 + 1);
    assert.equal(EMPTY_MEMORY.size, 0);
    assert.equal(first.memory.size, 1);
  });

  it('after a restart (empty memory) tells each active condition once more, and only once', () => {
    const current = conditions(cond('lifetime:a', 'expiring'), cond('failure:b', 'issue-failing', 4));
    const before = step(EMPTY_MEMORY, current, T0);
    const restarted = step(EMPTY_MEMORY, current, T0 + DAY);
    assert.deepEqual(summary(restarted.events), summary(before.events));
    assert.deepEqual(step(restarted.memory, current, T0 + DAY + 5_000).events, []);
  });

  const kinds: Condition['kind'][] = ['expired', 'delivery-failing', 'renewal-failing', 'issue-failing', 'expiring'];
  const conditionSet = fc
    .dictionary(fc.constantFrom('lifetime:a', 'lifetime:b', 'failure:a', 'delivery:a|lb1', 'delivery:a|lb2'), fc.constantFrom(...kinds), { maxKeys: 5 })
    .map((d) => conditions(...Object.entries(d).map(([key, kind]) => cond(key, kind))));

  it('is unaffected by the same snapshot fed again and again, and its events track the conditions exactly', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(conditionSet, fc.integer({ min: 1, max: 4 })), { maxLength: 12 }), (sequence) => {
        let once: NotifyMemory = EMPTY_MEMORY;
        let repeated: NotifyMemory = EMPTY_MEMORY;
        let previous = new Map<string, Condition>();
        const told = new Map<string, Condition['kind']>();
        let at = T0;
        for (const [current, times] of sequence) {
          const single = step(once, current, at);
          once = single.memory;
          const all: NotifyEvent[] = [];
          for (let i = 0; i < times; i++) {
            const r = step(repeated, current, at + i);
            repeated = r.memory;
            all.push(...r.events);
          }
          assert.deepEqual(summary(all), summary(single.events));
          // One event per change, none otherwise.
          const changes = [...current].filter(([k, c]) => previous.get(k)?.kind !== c.kind).length + [...previous.keys()].filter((k) => !current.has(k)).length;
          assert.equal(single.events.length, changes);
          for (const e of single.events) {
            if (e.state === 'firing') told.set(e.condition.key, e.condition.kind);
            else told.delete(e.condition.key);
          }
          assert.deepEqual(new Map([...told].sort()), new Map([...current].map(([k, c]) => [k, c.kind] as const).sort()));
          previous = current;
          at += 60_000;
        }
      }),
    );
  });
});
