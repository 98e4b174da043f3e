/**
 * The Notifier against a real HTTP receiver on 127.0.0.1 that fails the first POST: the notification
 * is retried, sent once however often the daemon feeds the same snapshot, has the documented shape,
 * carries no secret, and the webhook's path never reaches the log.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Agent } from 'undici';
import type { NotifySnapshot } from '../../src/notify/conditions.js';
import type { NotificationBody } from '../../src/notify/message.js';
import { Notifier } from '../../src/notify/notifier.js';
import type { SendOutcome } from '../../src/notify/sender.js';
import type { Clock } from '../../src/util/clock.js';
import { cleanupStack } from '../support/cleanup.js';
import { memoryLogger } from '../support/memory-logger.js';
import { startWebhookReceiver } from '../support/webhook-receiver.js';

const DAY = 86_400_000;
const TOKEN = 'T0001/B0001/s3cretWebhookToken';

/** Real time plus whatever the notifier slept: its backoff costs the test nothing. */
function skippingClock(): Clock {
  let skipped = 0;
  return {
    now: () => Date.now() + skipped,
    sleep: async (ms) => {
      skipped += ms;
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

describe('Notifier with a webhook receiver', () => {
  it('retries after a 500, sends each change once, with the documented body and no secret', async (t) => {
    const defer = cleanupStack(t);
    const { port, received } = await startWebhookReceiver(defer, [500]);
    const dispatcher = new Agent();
    defer(() => dispatcher.close());
    const { logger, lines } = memoryLogger();
    const outcomes: SendOutcome[] = [];
    const clock = skippingClock();
    const notifier = new Notifier({
      urls: [`http://hook:pa55word@127.0.0.1:${port}/services/${TOKEN}`],
      failureThreshold: 3,
      clock,
      logger,
      dispatcher,
      random: () => 0.5,
      onSent: (o) => outcomes.push(o),
    });
    defer(() => notifier.stop());

    const now = clock.now();
    const snapshot: NotifySnapshot = {
      now,
      certificates: [
        { name: 'shop.example', appId: '/shop', notBefore: now - 85 * DAY, notAfter: now + 5 * DAY },
        { name: 'blog.example', appId: '/blog', notBefore: now - DAY, notAfter: now + 89 * DAY },
      ],
      failures: [
        {
          name: 'shop.example',
          kind: 'renew',
          failures: 4,
          problem: { type: 'connection', detail: 'Fetching http://shop.example/.well-known/acme-challenge/abc: Timeout during connect (likely firewall problem)' },
          nextAttemptAt: now + 3_600_000,
          appId: '/shop',
        },
        { name: 'new.example', kind: 'issue', failures: 2, problem: { type: 'dns', detail: 'NXDOMAIN' }, nextAttemptAt: now + 60_000, appId: '/new' },
      ],
      delivery: [
        { lb: 'http://***@lb1.example:9090', name: 'blog.example', status: 'stale', failing: true, checkedAt: now, lastServedAt: undefined, detail: 'serial 0f, seen via proxy http://admin:hunter2@proxy.example/' },
        { lb: 'http://lb2.example:9090', name: 'blog.example', status: 'served', failing: false, checkedAt: now, lastServedAt: now, detail: undefined },
      ],
    };
    // The daemon feeds a snapshot every few seconds; the same one changes nothing.
    for (let i = 0; i < 10; i++) notifier.update({ ...snapshot, now: now + i * 5_000 });
    await notifier.settled();

    assert.deepEqual(received.map((r) => r.status), [500, 200], 'one retry after the 500, and one notification');
    assert.deepEqual(outcomes, ['failure', 'success']);
    assert.equal(received[0]?.body, received[1]?.body, 'the retry is the same notification');
    const first = received[1];
    assert.ok(first !== undefined);
    assert.equal(first.path, `/services/${TOKEN}`);
    assert.equal(first.headers['content-type'], 'application/json');
    assert.equal(first.headers['authorization'], `Basic ${Buffer.from('hook:pa55word').toString('base64')}`);

    const body = JSON.parse(first.body) as NotificationBody;
    assert.equal(body.source, 'marathon-acme');
    assert.equal(body.version, 1);
    assert.equal(typeof body.text, 'string');
    assert.equal(body.text.split('\n')[0], 'marathon-acme: 3 firing');
    assert.deepEqual(
      body.events.map((e) => [e.state, e.kind, e.condition, e.name, e.appId, e.lb]),
      [
        ['firing', 'delivery-failing', 'delivery:blog.example|http://***@lb1.example:9090', 'blog.example', '/blog', 'http://***@lb1.example:9090'],
        ['firing', 'renewal-failing', 'failure:shop.example', 'shop.example', '/shop', null],
        ['firing', 'expiring', 'lifetime:shop.example', 'shop.example', '/shop', null],
      ],
    );
    const renewal = body.events[1];
    assert.equal(renewal?.failures, 4);
    assert.deepEqual(renewal.problem, { type: 'connection', detail: snapshot.failures[0]?.problem.detail });
    assert.equal(renewal.nextAttemptAt, new Date(now + 3_600_000).toISOString());
    assert.equal(renewal.notAfter, new Date(now + 5 * DAY).toISOString());
    assert.match(body.text, /Renewing the certificate for shop\.example \(app \/shop\) failed 4 times in a row: connection: Fetching/);

    for (const r of received) {
      for (const secret of [TOKEN, 's3cret', 'pa55word', 'hunter2']) assert.equal(r.body.includes(secret), false, `the body carries ${secret}`);
    }
    const log = JSON.stringify(lines);
    for (const secret of [TOKEN, '/services/', 'pa55word']) assert.equal(log.includes(secret), false, `the log carries ${secret}`);
    assert.ok(lines.some((l) => l.msg === 'sending a notification failed; will retry' && l['notifyUrl'] === `http://127.0.0.1:${port}` && l['err'] === 'HTTP 500: try again later'));
    assert.ok(lines.some((l) => l.msg === 'notification sent' && l['events'] === 3 && l['attempts'] === 2));

    // The renewal succeeds (a fresh certificate, no failure) and the LB serves it: three recoveries, once.
    const later = clock.now();
    const renewed: NotifySnapshot = {
      now: later,
      certificates: [
        { name: 'shop.example', appId: '/shop', notBefore: later, notAfter: later + 90 * DAY },
        { name: 'blog.example', appId: '/blog', notBefore: now - DAY, notAfter: now + 89 * DAY },
      ],
      failures: [],
      delivery: snapshot.delivery.map((d) => ({ ...d, status: 'served', failing: false, lastServedAt: later })),
    };
    for (let i = 0; i < 5; i++) notifier.update({ ...renewed, now: later + i * 5_000 });
    await notifier.settled();
    assert.equal(received.length, 3);
    const recovery = JSON.parse(received[2]?.body ?? '{}') as NotificationBody;
    assert.equal(recovery.text.split('\n')[0], 'marathon-acme: 3 resolved');
    assert.deepEqual(recovery.events.map((e) => [e.state, e.condition]), [
      ['resolved', 'delivery:blog.example|http://***@lb1.example:9090'],
      ['resolved', 'failure:shop.example'],
      ['resolved', 'lifetime:shop.example'],
    ]);
  });
});
