/** The event stream loop against the Marathon emulator: idle timeouts, failover, backoff. */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { Agent } from 'undici';
import { silentLogger } from '../../src/log.js';
import { MarathonClient } from '../../src/marathon/client.js';
import { EventWatcher } from '../../src/marathon/events.js';
import { systemClock, type Clock } from '../../src/util/clock.js';
import { eventually } from '../support/eventually.js';
import { MarathonEmulator } from '../support/marathon-emulator.js';
import { freePort } from '../support/ports.js';

function watch(t: TestContext, urls: string[], options: { idleTimeoutMs?: number; clock?: Clock; random?: () => number } = {}) {
  const dispatcher = new Agent();
  const stop = new AbortController();
  const seen = { attached: 0, posts: 0 };
  const watcher = new EventWatcher({
    client: new MarathonClient({ urls, timeoutMs: 2_000, dispatcher, logger: silentLogger() }),
    clock: options.clock ?? systemClock,
    logger: silentLogger(),
    idleTimeoutMs: options.idleTimeoutMs ?? 0,
    backoff: { baseMs: 50, capMs: 400 },
    healthyAfterMs: 60_000,
    onAttached: () => { seen.attached++; },
    onApiPost: () => { seen.posts++; },
    ...(options.random === undefined ? {} : { random: options.random }),
  });
  const running = watcher.run(stop.signal);
  t.after(async () => {
    stop.abort();
    await running;
    await dispatcher.destroy();
  });
  return { seen, stop, running };
}

describe('Marathon event watcher', () => {
  it('reopens a silent stream after --sse-timeout and attaches again', async (t) => {
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    t.after(() => marathon.stop());
    const { seen } = watch(t, [marathon.url], { idleTimeoutMs: 300 });
    await eventually('two attachments', () => seen.attached >= 2);
    assert.ok(marathon.eventStreamRequests >= 2);
  });

  it('keeps a stream that only carries Marathon heartbeats', async (t) => {
    const marathon = await MarathonEmulator.start({ heartbeatMs: 50 });
    t.after(() => marathon.stop());
    const { seen } = watch(t, [marathon.url], { idleTimeoutMs: 400 });
    await eventually('attached', () => seen.attached === 1);
    await new Promise((r) => setTimeout(r, 1_200));
    assert.equal(marathon.eventStreamRequests, 1, 'the heartbeat kept the stream alive');
    assert.equal(seen.attached, 1);
  });

  it('delivers api_post_event only once per event, ignoring other clients attaching', async (t) => {
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    t.after(() => marathon.stop());
    const { seen } = watch(t, [marathon.url]);
    await eventually('attached', () => seen.attached === 1);
    marathon.emit('event_stream_attached', { remoteAddress: '10.0.0.9', eventType: 'event_stream_attached', timestamp: new Date().toISOString() });
    marathon.addApp({ id: '/x', labels: {} });
    await eventually('one post', () => seen.posts === 1);
    assert.equal(seen.attached, 1, "another client's attach is not ours");
  });

  it('fails over to the next Marathon when the first answers 500', async (t) => {
    const broken = await MarathonEmulator.start({ heartbeatMs: 0 });
    const healthy = await MarathonEmulator.start({ heartbeatMs: 0 });
    t.after(() => Promise.all([broken.stop(), healthy.stop()]));
    await broken.setMode('error500');
    const { seen } = watch(t, [broken.url, healthy.url]);
    await eventually('attached to the healthy one', () => seen.attached === 1);
    assert.equal(healthy.openStreams, 1);
  });

  it('waits longer after each failed attempt, within the cap, and never zero', async (t) => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const sleeps: number[] = [];
    const stop = new AbortController();
    // Sleeping is recorded, not waited: the test sees the schedule without spending it.
    const clock: Clock = {
      now: () => Date.now(),
      sleep: (ms) => {
        sleeps.push(ms);
        if (sleeps.length >= 10) stop.abort();
        return Promise.resolve();
      },
    };
    const dispatcher = new Agent();
    t.after(() => dispatcher.destroy());
    const watcher = new EventWatcher({
      client: new MarathonClient({ urls: [dead], timeoutMs: 1_000, dispatcher, logger: silentLogger() }),
      clock,
      logger: silentLogger(),
      idleTimeoutMs: 0,
      backoff: { baseMs: 100, capMs: 1_000 },
      healthyAfterMs: 60_000,
      onAttached: () => undefined,
      onApiPost: () => undefined,
      random: () => 1,
    });
    await watcher.run(stop.signal);
    assert.deepEqual(sleeps, [100, 200, 400, 800, 1000, 1000, 1000, 1000, 1000, 1000]);
  });
});
