/**
 * The settle before new names: marathon-lb's /_haproxy_getpids polled until a new HAProxy pid shows
 * (a reload happened) or the bound passes; an LB that cannot tell is not waited for.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, afterEach, before, describe, it } from 'node:test';
import { closeServer, listen } from '../../src/http/server.js';
import { parsePids } from '../../src/lb/lb-api.js';
import { hasNewPid, ReloadSettle } from '../../src/preflight/settle.js';
import { JumpingClock } from '../support/manual-clock.js';
import { freePort } from '../support/ports.js';

describe('parsePids and hasNewPid', () => {
  it('reads the space-separated pids marathon-lb answers, and nothing else', () => {
    assert.deepEqual(parsePids('123 456\n'), ['123', '456']);
    assert.deepEqual(parsePids(' 7 '), ['7']);
    assert.equal(parsePids(''), undefined);
    assert.equal(parsePids('Not Found'), undefined);
    assert.equal(parsePids('12 -3'), undefined);
  });

  it('sees a reload in a pid that was not there before, not in one that went away', () => {
    assert.equal(hasNewPid(['10', '11'], ['10', '11']), false);
    assert.equal(hasNewPid(['10', '11'], ['11']), false);
    assert.equal(hasNewPid(['10'], ['10', '12']), true);
    assert.equal(hasNewPid(['10'], ['12']), true);
  });
});

describe('ReloadSettle', () => {
  let server: Server;
  let url = '';
  /** What getpids answers, per request in order; the last entry repeats. */
  let answers: Array<{ status: number; body: string }> = [];
  let requests: Array<{ path: string; authorization: string | undefined }> = [];

  before(async () => {
    server = createServer((req, res) => {
      requests.push({ path: req.url ?? '', authorization: req.headers.authorization });
      const answer = answers[Math.min(requests.length - 1, answers.length - 1)] ?? { status: 404, body: 'Not Found' };
      res.writeHead(answer.status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(answer.body) });
      res.end(answer.body);
    });
    url = `http://127.0.0.1:${(await listen(server, '127.0.0.1', 0)).port}`;
  });
  after(() => closeServer(server));
  afterEach(() => {
    answers = [];
    requests = [];
  });

  it('does not wait for an LB that does not answer getpids (404), nor for one that is down', async () => {
    answers = [{ status: 404, body: 'Not Found' }];
    const clock = new JumpingClock(1_000_000);
    const down = `http://127.0.0.1:${await freePort()}`;
    const results = await new ReloadSettle({ lbUrls: [url, down], clock }).settle();
    assert.deepEqual(results.map((r) => [r.outcome, r.waitedMs]), [['unknown', 0], ['unknown', 0]]);
    assert.match(results[0]?.detail ?? '', /answered 404/);
    assert.match(results[1]?.detail ?? '', /failed/);
    assert.equal(requests.length, 1);
    assert.deepEqual(clock.sleeps, []);
  });

  it('stops at the first look that shows a new pid', async () => {
    answers = [{ status: 200, body: '100 101' }, { status: 200, body: '100 101' }, { status: 500, body: 'busy' }, { status: 200, body: '101 200' }];
    const clock = new JumpingClock(1_000_000);
    const [result] = await new ReloadSettle({ lbUrls: [`${url}/`], clock, pollMs: 50 }).settle();
    assert.deepEqual(result, { lb: url, outcome: 'reloaded', waitedMs: 150 });
    assert.equal(requests.length, 4);
    assert.ok(requests.every((r) => r.path === '/_haproxy_getpids'));
  });

  it('gives up after the bound when the pids stay the same', async () => {
    answers = [{ status: 200, body: '100\n' }];
    const clock = new JumpingClock(1_000_000);
    const [result] = await new ReloadSettle({ lbUrls: [url], clock, boundMs: 2000, pollMs: 300 }).settle();
    assert.equal(result?.outcome, 'no-reload');
    assert.equal(result.waitedMs, 2000);
    // Six full pauses and a last one cut to the bound.
    assert.deepEqual(clock.sleeps, [300, 300, 300, 300, 300, 300, 200]);
    assert.equal(requests.length, 8);
  });

  it('shares one wait between callers that arrive while it runs, and sends the URL\'s credentials', async () => {
    answers = [{ status: 200, body: '1' }, { status: 200, body: '2' }];
    const withCredentials = url.replace('http://', 'http://admin:s3cret@');
    const settle = new ReloadSettle({ lbUrls: [withCredentials], clock: new JumpingClock(1_000_000) });
    const [a, b] = await Promise.all([settle.settle(), settle.settle()]);
    assert.equal(a, b);
    assert.equal(a[0]?.lb, url.replace('http://', 'http://***@'));
    assert.equal(requests.length, 2);
    assert.equal(requests[0]?.authorization, `Basic ${Buffer.from('admin:s3cret').toString('base64')}`);
    // A later call looks again.
    answers = [{ status: 404, body: '' }];
    requests = [];
    await settle.settle();
    assert.equal(requests.length, 1);
  });

  it('does not wait for an LB whose getpids answers something else than pids', async () => {
    answers = [{ status: 200, body: '<html>marathon-lb</html>' }];
    const [result] = await new ReloadSettle({ lbUrls: [url], clock: new JumpingClock(1_000_000) }).settle();
    assert.equal(result?.outcome, 'unknown');
    assert.match(result.detail ?? '', /something else than a list of pids/);
  });
});
