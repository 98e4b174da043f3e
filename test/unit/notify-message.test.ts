import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Condition } from '../../src/notify/conditions.js';
import type { NotifyEvent } from '../../src/notify/dedup.js';
import { maskUserinfo, notificationBody } from '../../src/notify/message.js';

const T0 = Date.parse('2026-12-01T10:00:00Z');
const DAY = 86_400_000;

function condition(parts: Partial<Condition> & Pick<Condition, 'key' | 'kind' | 'name'>): Condition {
  return { appId: undefined, lb: undefined, failures: undefined, problem: undefined, nextAttemptAt: undefined, notAfter: undefined, delivery: undefined, ...parts };
}

const renewalFailing = condition({
  key: 'failure:shop.example',
  kind: 'renewal-failing',
  name: 'shop.example',
  appId: '/shop',
  failures: 3,
  problem: { type: 'unauthorized', detail: 'Invalid response from http://shop.example/.well-known/acme-challenge/x: 404' },
  nextAttemptAt: T0 + 3_600_000,
  notAfter: T0 + 9 * DAY,
});

const stale = condition({
  key: 'delivery:blog.example|http://***@lb1:9090',
  kind: 'delivery-failing',
  name: 'blog.example',
  lb: 'http://***@lb1:9090',
  notAfter: T0 + 60 * DAY,
  delivery: { status: 'stale', detail: 'serial 0a1b, expires 2026-12-20', lastServedAt: undefined },
});

const expired = condition({ key: 'lifetime:old.example', kind: 'expired', name: 'old.example', notAfter: T0 - DAY });

describe('notification body', () => {
  it('has a text for webhooks and the same facts structured, every field present, most serious first', () => {
    const events: NotifyEvent[] = [
      { state: 'resolved', condition: expired, at: T0, since: T0 - DAY },
      { state: 'firing', condition: renewalFailing, at: T0, since: T0 },
      { state: 'firing', condition: stale, at: T0, since: T0 },
    ];
    const body = notificationBody(events, { maxTextLines: 10 });
    assert.equal(
      body.text,
      [
        'marathon-acme: 2 firing, 1 resolved',
        '[FIRING] marathon-lb http://***@lb1:9090 does not serve the current certificate for blog.example: it serves an older certificate (serial 0a1b, expires 2026-12-20); never seen served.',
        '[FIRING] Renewing the certificate for shop.example (app /shop) failed 3 times in a row: unauthorized: Invalid response from http://shop.example/.well-known/acme-challenge/x: 404. Next attempt 2026-12-01 11:00 UTC. The current certificate expires 2026-12-10 10:00 UTC.',
        '[RESOLVED] The certificate for old.example is no longer expired (renewed or removed).',
      ].join('\n'),
    );
    assert.equal(body.source, 'marathon-acme');
    assert.equal(body.version, 1);
    assert.equal(body.firing, 2);
    assert.equal(body.resolved, 1);
    assert.deepEqual(body.events[1], {
      condition: 'failure:shop.example',
      kind: 'renewal-failing',
      state: 'firing',
      text: 'Renewing the certificate for shop.example (app /shop) failed 3 times in a row: unauthorized: Invalid response from http://shop.example/.well-known/acme-challenge/x: 404. Next attempt 2026-12-01 11:00 UTC. The current certificate expires 2026-12-10 10:00 UTC.',
      name: 'shop.example',
      appId: '/shop',
      lb: null,
      failures: 3,
      problem: { type: 'unauthorized', detail: 'Invalid response from http://shop.example/.well-known/acme-challenge/x: 404' },
      nextAttemptAt: '2026-12-01T11:00:00.000Z',
      notAfter: '2026-12-10T10:00:00.000Z',
      delivery: null,
      since: '2026-12-01T10:00:00.000Z',
      at: '2026-12-01T10:00:00.000Z',
    });
    assert.deepEqual(body.events[0]?.delivery, { status: 'stale', detail: 'serial 0a1b, expires 2026-12-20', lastServedAt: null });
    assert.equal(body.events[2]?.since, '2026-11-30T10:00:00.000Z');
    // Every event has every field, so receivers can rely on the shape.
    const fields = Object.keys(body.events[1]).sort();
    for (const e of body.events) assert.deepEqual(Object.keys(e).sort(), fields);
  });

  it('lists at most maxTextLines events in the text and counts the rest; the events field has them all', () => {
    const events: NotifyEvent[] = Array.from({ length: 25 }, (_, i) => ({
      state: 'firing',
      condition: condition({ key: `lifetime:n${String(i).padStart(2, '0')}.example`, kind: 'expiring', name: `n${String(i).padStart(2, '0')}.example`, notAfter: T0 + DAY }),
      at: T0,
      since: T0,
    }));
    const body = notificationBody(events, { maxTextLines: 10 });
    const lines = body.text.split('\n');
    assert.equal(lines.length, 12);
    assert.equal(lines[0], 'marathon-acme: 25 firing');
    assert.match(lines[1] ?? '', /^\[FIRING\] The certificate for n00\.example expires 2026-12-02 10:00 UTC with less than 1\/5 of its lifetime left/);
    assert.equal(lines[11], '… and 15 more');
    assert.equal(body.events.length, 25);
    assert.equal(notificationBody(events.slice(0, 10), { maxTextLines: 10 }).text.includes('more'), false);
  });

  it('never passes on credentials found in details, and cuts long details', () => {
    const leaky = condition({
      key: 'failure:a.example',
      kind: 'issue-failing',
      name: 'a.example',
      failures: 5,
      problem: { type: undefined, detail: `proxy https://user:s3cret@proxy.example:3128/ refused; ${'x'.repeat(5_000)}` },
      nextAttemptAt: T0,
    });
    const body = notificationBody([{ state: 'firing', condition: leaky, at: T0, since: T0 }], { maxTextLines: 10 });
    const json = JSON.stringify(body);
    assert.equal(json.includes('s3cret'), false);
    assert.ok(body.events[0]?.problem?.detail.startsWith('proxy https://***@proxy.example:3128/ refused;'));
    assert.ok((body.events[0]?.problem?.detail.length ?? 0) <= 1_000);
    assert.ok(body.text.length < 600, 'the text carries a shorter cut of the detail');
    assert.equal(maskUserinfo('see http://a:b@h/x and https://c@d/'), 'see http://***@h/x and https://***@d/');
  });

  it('escapes what chat services would read as links or mentions in the text, and only there', () => {
    const odd = condition({
      key: 'delivery:a.example|http://lb1:9090',
      kind: 'delivery-failing',
      name: 'a.example',
      lb: 'http://lb1:9090',
      delivery: { status: 'other', detail: 'issuer <!channel> & <https://evil.example|click>', lastServedAt: undefined },
    });
    const body = notificationBody([{ state: 'firing', condition: odd, at: T0, since: T0 }], { maxTextLines: 10 });
    assert.match(body.text, /issuer &lt;!channel&gt; &amp; &lt;https:\/\/evil\.example\|click&gt;/);
    assert.equal(/[<>]/.test(body.text), false);
    assert.equal(body.events[0]?.delivery?.detail, 'issuer <!channel> & <https://evil.example|click>');
    assert.match(body.events[0].text, /issuer <!channel> &/);
  });
});
