/**
 * A query string in a --marathon URL (an auth proxy's token, say) goes with every request, as the
 * original sent it, and its values never reach a log line or an error.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { Agent } from 'undici';
import { MarathonClient, MarathonError } from '../../src/marathon/client.js';
import { SUBSCRIBED_EVENTS } from '../../src/marathon/events.js';
import { MarathonEmulator } from '../support/marathon-emulator.js';
import { memoryLogger } from '../support/memory-logger.js';

function client(t: TestContext, urls: string[]) {
  const dispatcher = new Agent();
  t.after(() => dispatcher.destroy());
  const { logger, lines } = memoryLogger();
  return { client: new MarathonClient({ urls, timeoutMs: 2_000, dispatcher, logger }), lines };
}

describe('a query string in a --marathon URL', () => {
  it('arrives with the app list and the event stream requests, before our own parameters', async (t) => {
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0, basePath: '/marathon' });
    t.after(() => marathon.stop());
    const { client: c } = client(t, [`${marathon.url}/?token=s3cret&tenant=blue`]);
    await c.getApps();
    const stream = await c.openEventStream(SUBSCRIBED_EVENTS, 0, new AbortController().signal);
    stream.close();
    const paths = marathon.requests.map((r) => r.path);
    assert.deepEqual(paths, [
      '/marathon/v2/apps?token=s3cret&tenant=blue',
      '/marathon/v2/events?token=s3cret&tenant=blue&event_type=api_post_event&event_type=event_stream_attached',
    ]);
    // The emulator filters on event_type: the URL's parameters did not get in the way of ours.
    assert.deepEqual(marathon.lastEventStreamQuery?.getAll('event_type'), ['api_post_event', 'event_stream_attached']);
  });

  it('is shown by its names only, in errors, logs and the displayed URLs', async (t) => {
    const first = await MarathonEmulator.start({ heartbeatMs: 0 });
    const second = await MarathonEmulator.start({ heartbeatMs: 0 });
    t.after(() => Promise.all([first.stop(), second.stop()]));
    await first.setMode('error500');
    await second.setMode('error500');
    const { client: c, lines } = client(t, [`${first.url}?token=s3cret`, `${second.url}?token=s3cret`]);
    await assert.rejects(c.getApps(), (err: unknown) => {
      assert.ok(err instanceof MarathonError);
      assert.match(err.message, new RegExp(`${first.url.replace(/\./g, '\\.')}/v2/apps\\?token=\\*\\*\\*: 500`));
      assert.doesNotMatch(err.message, /s3cret/);
      return true;
    });
    await second.setMode('up');
    await c.getApps();
    assert.ok(lines.length >= 2, 'the failure and the switch were logged');
    assert.doesNotMatch(JSON.stringify(lines), /s3cret/);
    assert.deepEqual(c.displayUrls, [`${first.url}?token=***`, `${second.url}?token=***`]);
    assert.equal(second.requests.at(-1)?.path, '/v2/apps?token=s3cret');
  });
});
