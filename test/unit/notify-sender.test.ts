/**
 * The webhook sender's batching, rate limit, retries and bounds, on a clock the test moves by hand
 * (nothing sleeps) and undici's MockAgent as the receiver.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { MockAgent } from 'undici';
import type { Condition } from '../../src/notify/conditions.js';
import type { NotifyEvent } from '../../src/notify/dedup.js';
import type { NotificationBody } from '../../src/notify/message.js';
import { Notifier } from '../../src/notify/notifier.js';
import { WebhookSender, type SendOutcome, type SenderTiming } from '../../src/notify/sender.js';
import { parseWebhookUrl } from '../../src/notify/target.js';
import type { Clock } from '../../src/util/clock.js';
import { memoryLogger, type LogLine } from '../support/memory-logger.js';

const T0 = Date.parse('2026-12-01T10:00:00Z');
const ORIGIN = 'https://hooks.example';
const SECRET_PATH = '/services/T0001/B0001/s3cretToken';

/** Time moves only when the test says so; sleepers wake when it passes their time. */
class ManualClock implements Clock {
  private t = T0;
  private readonly sleepers = new Set<{ at: number; wake: () => void }>();
  private waiting: Array<() => void> = [];

  now(): number {
    return this.t;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted === true) {
        resolve();
        return;
      }
      const sleeper = {
        at: this.t + ms,
        wake: () => {
          this.sleepers.delete(sleeper);
          resolve();
        },
      };
      this.sleepers.add(sleeper);
      signal?.addEventListener('abort', sleeper.wake, { once: true });
      for (const w of this.waiting.splice(0)) w();
    });
  }

  whenSleeping(): Promise<void> {
    return this.sleepers.size > 0 ? Promise.resolve() : new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Jumps to the earliest sleeper's time and wakes it. */
  wakeNext(): void {
    const next = [...this.sleepers].sort((a, b) => a.at - b.at)[0];
    assert.ok(next !== undefined, 'nothing is sleeping');
    this.t = Math.max(this.t, next.at);
    next.wake();
  }

  advance(ms: number): void {
    this.t += ms;
    for (const s of [...this.sleepers]) if (s.at <= this.t) s.wake();
  }
}

type Answer = { status: number; headers?: Record<string, string>; data?: string } | { error: Error };

interface Post {
  at: number;
  path: string;
  headers: Record<string, string>;
  body: NotificationBody;
}

const TIMING: SenderTiming = {
  minIntervalMs: 5_000,
  backoff: { baseMs: 5_000, capMs: 60_000 },
  giveUpAfterMs: 30 * 60_000,
  requestTimeoutMs: 10_000,
  maxEventsPerPost: 50,
  maxTextLines: 10,
};

function setup(t: TestContext, options: { url?: string; timing?: Partial<SenderTiming> } = {}) {
  const clock = new ManualClock();
  const agent = new MockAgent();
  agent.disableNetConnect();
  t.after(() => agent.close());
  const pool = agent.get(ORIGIN);
  const posts: Post[] = [];
  const answer = (a: Answer, times = 1): void => {
    const interceptor = pool.intercept({ path: (p) => p.startsWith('/services/'), method: 'POST' });
    if ('error' in a) {
      interceptor.replyWithError(a.error).times(times);
      return;
    }
    interceptor
      .reply((opts) => {
        posts.push({ at: clock.now(), path: opts.path, headers: opts.headers as Record<string, string>, body: parseBody(opts.body) });
        return { statusCode: a.status, data: a.data ?? 'ok', responseOptions: { headers: a.headers ?? {} } };
      })
      .times(times);
  };
  const { logger, lines } = memoryLogger();
  const outcomes: SendOutcome[] = [];
  const sender = new WebhookSender({
    target: parseWebhookUrl(options.url ?? `${ORIGIN}${SECRET_PATH}`),
    position: 1,
    dispatcher: agent,
    clock,
    logger,
    random: () => 1,
    timing: { ...TIMING, ...options.timing },
    onSent: (o) => outcomes.push(o),
  });
  /** Lets the sender run until it sleeps or has nothing left to do. */
  const quiet = () => Promise.race([sender.settled(), clock.whenSleeping()]);
  return { clock, agent, posts, answer, lines, outcomes, sender, quiet };
}

function event(name: string, state: NotifyEvent['state'] = 'firing', kind: Condition['kind'] = 'expiring'): NotifyEvent {
  const condition: Condition = {
    key: `lifetime:${name}`, kind, name, appId: undefined, lb: undefined, failures: undefined, problem: undefined,
    nextAttemptAt: undefined, notAfter: T0 + 86_400_000, delivery: undefined,
  };
  return { state, condition, at: T0, since: T0 };
}

function parseBody(body: unknown): NotificationBody {
  if (typeof body !== 'string') assert.fail(`expected the body as a string, got ${typeof body}`);
  return JSON.parse(body) as NotificationBody;
}

function names(post: Post | undefined): string[] {
  return (post?.body.events ?? []).map((e) => `${e.state} ${e.name}`);
}

function messages(lines: LogLine[], level: string): string[] {
  return lines.filter((l) => l.level === level).map((l) => l.msg);
}

describe('notification sender', () => {
  it('sends at once, then batches what comes within the interval into one POST', async (t) => {
    const s = setup(t);
    s.answer({ status: 200 }, 2);
    s.sender.enqueue([event('a.example')]);
    await s.quiet();
    assert.deepEqual(s.posts.map((p) => p.at - T0), [0]);
    assert.deepEqual(names(s.posts[0]), ['firing a.example']);
    s.clock.advance(1_000);
    s.sender.enqueue([event('c.example')]);
    s.sender.enqueue([event('b.example')]);
    await s.quiet();
    assert.equal(s.posts.length, 1, 'no second POST within the interval');
    assert.equal(s.sender.queued, 2);
    s.clock.wakeNext();
    await s.quiet();
    assert.deepEqual(s.posts.map((p) => p.at - T0), [0, 5_000]);
    assert.deepEqual(names(s.posts[1]), ['firing b.example', 'firing c.example']);
    assert.deepEqual(s.outcomes, ['success', 'success']);
    assert.equal(s.posts[0]?.headers['content-type'], 'application/json');
    assert.deepEqual(s.agent.pendingInterceptors(), []);
  });

  it('keeps only the newest queued event of a condition', async (t) => {
    const s = setup(t);
    s.answer({ status: 200 }, 2);
    s.sender.enqueue([event('a.example')]);
    await s.quiet();
    s.sender.enqueue([event('b.example'), event('c.example')]);
    s.sender.enqueue([event('b.example', 'resolved')]);
    await s.quiet();
    s.clock.wakeNext();
    await s.quiet();
    assert.deepEqual(names(s.posts[1]), ['firing c.example', 'resolved b.example']);
  });

  it('retries 5xx and 429 with backoff, never sooner than Retry-After or the interval', async (t) => {
    const s = setup(t);
    s.answer({ status: 500, data: `upstream ${ORIGIN}${SECRET_PATH} broke` });
    s.answer({ status: 429, headers: { 'retry-after': '40' } });
    s.answer({ status: 503 });
    s.answer({ status: 200 });
    s.sender.enqueue([event('a.example')]);
    for (let i = 0; i < 3; i++) {
      await s.quiet();
      s.clock.wakeNext();
    }
    await s.sender.settled();
    // Backoff 5 s, then Retry-After 40 s over the 10 s backoff, then 20 s.
    assert.deepEqual(s.posts.map((p) => p.at - T0), [0, 5_000, 45_000, 65_000]);
    assert.ok(s.posts.every((p) => JSON.stringify(p.body) === JSON.stringify(s.posts[0]?.body)), 'a retry sends the same body');
    assert.deepEqual(s.outcomes, ['failure', 'failure', 'failure', 'success']);
    const warnings = s.lines.filter((l) => l.level === 'warn');
    assert.deepEqual(warnings.map((l) => l['retryInMs']), [5_000, 40_000, 20_000]);
    assert.equal(warnings[0]?.['err'], `HTTP 500: upstream … broke`);
    assert.equal(warnings[0]['notifyUrl'], ORIGIN);
    assert.equal(JSON.stringify(s.lines).includes('s3cretToken'), false, 'the URL path never reaches the log');
  });

  it('retries network errors', async (t) => {
    const s = setup(t);
    s.answer({ error: new Error('socket hang up') });
    s.answer({ status: 204 });
    s.sender.enqueue([event('a.example')]);
    await s.quiet();
    s.clock.wakeNext();
    await s.sender.settled();
    assert.deepEqual(s.posts.map((p) => p.at - T0), [5_000]);
    assert.deepEqual(s.outcomes, ['failure', 'success']);
    assert.match(String(s.lines.find((l) => l.level === 'warn')?.['err']), /socket hang up/);
  });

  it('gives up on a batch after giveUpAfterMs with an error, and sends later events as usual', async (t) => {
    const s = setup(t, { timing: { giveUpAfterMs: 60_000 } });
    s.answer({ status: 502 }, 4);
    s.answer({ status: 200 });
    s.sender.enqueue([event('a.example')]);
    for (let i = 0; i < 3; i++) {
      await s.quiet();
      s.clock.wakeNext();
    }
    await s.sender.settled();
    // The fourth retry would come 75 s after the first try.
    assert.deepEqual(s.posts.map((p) => p.at - T0), [0, 5_000, 15_000, 35_000]);
    const error = s.lines.find((l) => l.level === 'error');
    assert.match(error?.msg ?? '', /kept failing; its events are dropped/);
    assert.equal(error?.['events'], 1);
    assert.equal(error['attempts'], 4);
    s.sender.enqueue([event('b.example')]);
    await s.quiet();
    s.clock.wakeNext();
    await s.sender.settled();
    assert.deepEqual(names(s.posts[4]), ['firing b.example']);
    assert.equal(s.posts[4]?.at, T0 + 40_000);
  });

  it('drops a batch the receiver refuses with a 4xx, without retrying', async (t) => {
    const s = setup(t);
    s.answer({ status: 404, data: 'no_service' });
    s.sender.enqueue([event('a.example')]);
    await s.sender.settled();
    assert.equal(s.posts.length, 1);
    assert.deepEqual(s.outcomes, ['failure']);
    assert.deepEqual(messages(s.lines, 'error'), ['the notification receiver refused the notification; its events are dropped (check the URL); later changes are sent as usual']);
    assert.equal(s.lines.find((l) => l.level === 'error')?.['err'], 'HTTP 404: no_service');
  });

  it('splits a large batch into POSTs of maxEventsPerPost, one per interval', async (t) => {
    const s = setup(t);
    s.answer({ status: 200 }, 3);
    s.sender.enqueue(Array.from({ length: 120 }, (_, i) => event(`n${String(i).padStart(3, '0')}.example`)));
    for (let i = 0; i < 2; i++) {
      await s.quiet();
      s.clock.wakeNext();
    }
    await s.sender.settled();
    assert.deepEqual(s.posts.map((p) => [p.at - T0, p.body.events.length]), [[0, 50], [5_000, 50], [10_000, 20]]);
    assert.ok(s.posts[0]?.body.text.endsWith('… and 40 more'));
  });

  it('stop() abandons what is queued or being retried, says how much, and ignores later events', async (t) => {
    const s = setup(t);
    s.answer({ status: 500 });
    s.sender.enqueue([event('a.example')]);
    await s.quiet();
    s.sender.enqueue([event('b.example'), event('c.example')]);
    await s.sender.stop();
    s.sender.enqueue([event('d.example')]);
    await s.sender.settled();
    assert.equal(s.posts.length, 1);
    const warning = s.lines.find((l) => l.msg.startsWith('stopping'));
    assert.equal(warning?.['events'], 3);
  });

  it('sends user:password of the URL as Basic auth, not in the URL, and logs neither', async (t) => {
    const s = setup(t, { url: `https://hook:pa55@hooks.example${SECRET_PATH}?channel=ops` });
    s.answer({ status: 200 });
    s.sender.enqueue([event('a.example')]);
    await s.sender.settled();
    assert.equal(s.posts[0]?.headers['authorization'], `Basic ${Buffer.from('hook:pa55').toString('base64')}`);
    assert.equal(s.posts[0].path, `${SECRET_PATH}?channel=ops`);
    const log = JSON.stringify(s.lines);
    for (const secret of ['pa55', 's3cretToken', 'channel=ops']) assert.equal(log.includes(secret), false, secret);
    assert.ok(log.includes('"notifyUrl":"https://hooks.example"'));
  });
});

describe('Notifier', () => {
  const snapshot = {
    now: T0,
    certificates: [{ name: 'old.example', appId: '/old', notBefore: T0 - 90 * 86_400_000, notAfter: T0 - 1 }],
    failures: [],
    delivery: [],
  };

  it('does nothing at all without URLs', async () => {
    const agent = new MockAgent();
    agent.disableNetConnect();
    const { logger, lines } = memoryLogger();
    const notifier = new Notifier({ urls: [], failureThreshold: 3, clock: new ManualClock(), logger, dispatcher: agent });
    notifier.update(snapshot);
    await notifier.settled();
    await notifier.stop();
    assert.deepEqual(lines, []);
    await agent.close();
  });

  it('sends each change once to every URL however often the same snapshot comes', async (t) => {
    const clock = new ManualClock();
    const agent = new MockAgent();
    agent.disableNetConnect();
    t.after(() => agent.close());
    const bodies: Array<[string, NotificationBody]> = [];
    for (const origin of ['https://a.example', 'https://b.example']) {
      agent
        .get(origin)
        .intercept({ path: '/hook', method: 'POST' })
        .reply((opts) => {
          bodies.push([origin, parseBody(opts.body)]);
          return { statusCode: 200, data: 'ok' };
        })
        .times(2);
    }
    const { logger } = memoryLogger();
    const notifier = new Notifier({ urls: ['https://a.example/hook', 'https://b.example/hook'], failureThreshold: 3, clock, logger, dispatcher: agent });
    for (let i = 0; i < 5; i++) notifier.update({ ...snapshot, now: T0 + i * 3_000 });
    await notifier.settled();
    assert.deepEqual(bodies.map(([origin, b]) => [origin, b.events.map((e) => `${e.state} ${e.kind} ${e.name}`)]), [
      ['https://a.example', ['firing expired old.example']],
      ['https://b.example', ['firing expired old.example']],
    ]);
    clock.advance(60_000);
    notifier.update({ ...snapshot, now: clock.now(), certificates: [] });
    await notifier.settled();
    assert.deepEqual(bodies.slice(2).map(([, b]) => b.events.map((e) => `${e.state} ${e.name}`)), [['resolved old.example'], ['resolved old.example']]);
    await notifier.stop();
  });

  it('refuses a failure threshold below 1', () => {
    assert.throws(() => new Notifier({ urls: ['https://a.example/x'], failureThreshold: 0, clock: new ManualClock(), logger: memoryLogger().logger, dispatcher: new MockAgent() }), RangeError);
  });
});
