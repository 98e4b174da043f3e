/**
 * Tests of the test peers themselves: the Marathon emulator (the checks the original project ran
 * against its fake Marathon, plus the failure modes), the marathon-lb signal receiver, the DNS stub
 * and the pebble runner. If one of these drifts from the real peer, the daemon tests prove nothing.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import { request as httpRequest, createServer, type IncomingHttpHeaders, type ClientRequest } from 'node:http';
import { Agent as HttpsAgent, get as httpsGet } from 'node:https';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { createAcmeAgent } from '../../src/acme/acme-agent.js';
import { createAcmeClient } from '../../src/acme/protocol/create-client.js';
import { silentLogger } from '../../src/log.js';
import { systemClock } from '../../src/util/clock.js';
import { orderCertificate } from '../support/acme-order.js';
import { bridgeApp, hostApp, legacyBridgeApp } from '../support/apps.js';
import { startDnsStub } from '../support/dns-stub.js';
import { startLbReceiver } from '../support/lb-receiver.js';
import { MarathonEmulator } from '../support/marathon-emulator.js';
import { startPebble, type Pebble } from '../support/pebble.js';
import { freePort } from '../support/ports.js';

const execFileAsync = promisify(execFile);

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request on a fresh connection (no keep-alive pool to outlive the test). */
async function send(
  url: string,
  options: { method?: string; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers ?? {}, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options.timeoutMs !== undefined) {
      req.setTimeout(options.timeoutMs, () => req.destroy(new Error('timed out waiting for the response')));
    }
    req.end();
  });
}

interface SseEvent {
  event: string;
  data: string;
}

/** A raw event-stream reader: keeps every chunk as received so framing can be asserted. */
class Stream {
  readonly chunks: string[] = [];
  text = '';
  readonly closed: Promise<void>;
  #onData: (() => void) | undefined;

  constructor(
    readonly status: number,
    readonly headers: IncomingHttpHeaders,
    private readonly req: ClientRequest,
    body: NodeJS.ReadableStream,
  ) {
    body.setEncoding('utf8');
    body.on('data', (chunk: string) => {
      this.chunks.push(chunk);
      this.text += chunk;
      this.#onData?.();
    });
    this.closed = new Promise<void>((resolve) => {
      body.on('close', resolve);
      body.on('end', resolve);
      body.on('error', () => {
        resolve();
      });
    });
  }

  /** Events parsed per the SSE rules, with CRLF, LF or CR as line breaks. */
  get events(): SseEvent[] {
    const events: SseEvent[] = [];
    let type = 'message';
    let data: string[] = [];
    const lines = this.text.split(/\r\n|\n|\r/);
    lines.pop(); // the piece after the last break is incomplete
    for (const line of lines) {
      if (line === '') {
        if (data.length > 0) events.push({ event: type, data: data.join('\n') });
        type = 'message';
        data = [];
      } else if (line.startsWith('event: ')) type = line.slice('event: '.length);
      else if (line.startsWith('data: ')) data.push(line.slice('data: '.length));
    }
    return events;
  }

  async waitFor(check: (events: SseEvent[]) => boolean, limitMs = 5_000): Promise<SseEvent[]> {
    const deadline = Date.now() + limitMs;
    while (!check(this.events)) {
      if (Date.now() > deadline) assert.fail(`stream did not reach the expected state; got ${JSON.stringify(this.events)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.#onData = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.events;
  }

  async waitForCount(n: number): Promise<SseEvent[]> {
    return this.waitFor((events) => events.length >= n);
  }

  async close(): Promise<void> {
    this.req.destroy();
    await this.closed;
  }
}

async function openStream(url: string, headers: Record<string, string> = { Accept: 'text/event-stream' }): Promise<Stream> {
  return new Promise<Stream>((resolve, reject) => {
    const req = httpRequest(url, { headers, agent: false }, (res) => {
      resolve(new Stream(res.statusCode ?? 0, res.headers, req, res));
    });
    req.on('error', reject);
    req.end();
  });
}

function parse(event: SseEvent | undefined): Record<string, unknown> {
  assert.ok(event !== undefined, 'expected an event');
  return JSON.parse(event.data) as Record<string, unknown>;
}

function assertRecentTimestamp(value: unknown): void {
  assert.equal(typeof value, 'string');
  assert.match(value as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const age = Date.now() - Date.parse(value as string);
  assert.ok(age >= 0 && age < 10_000, `timestamp ${String(value)} is not recent`);
}

async function waitUntil(what: string, check: () => boolean, limitMs = 5_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('Marathon emulator', () => {
  it('serves an empty app list, then added apps verbatim, as application/json', async (t) => {
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    t.after(() => marathon.stop());
    assert.equal(marathon.appsRequests, 0);

    const empty = await send(`${marathon.url}/v2/apps`, { headers: { Accept: 'application/json' } });
    assert.equal(empty.status, 200);
    assert.equal(empty.headers['content-type'], 'application/json; charset=utf-8');
    assert.deepEqual(JSON.parse(empty.body), { apps: [] });
    assert.equal(marathon.appsRequests, 1);

    const app = hostApp('/my-app_1', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'example.com' });
    marathon.addApp(app);
    // Query parameters such as embed are accepted and ignored.
    const one = await send(`${marathon.url}/v2/apps?embed=apps.tasks`);
    assert.deepEqual(JSON.parse(one.body), { apps: [app] });
    assert.equal(marathon.appsRequests, 2);
    assert.throws(() => {
      marathon.addApp(app);
    }, /already exists/);
  });

  it('answers unknown routes with 404 and records every request', async (t) => {
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    t.after(() => marathon.stop());
    assert.equal((await send(`${marathon.url}/v2/nothing`)).status, 404);
    assert.equal((await send(`${marathon.url}/v2/apps`, { method: 'DELETE' })).status, 405);
    assert.deepEqual(
      marathon.requests.map((r) => `${r.method} ${r.path}`),
      ['GET /v2/nothing', 'DELETE /v2/apps'],
    );
    assert.equal(marathon.appsRequests, 0);
  });

  it('streams events as text/event-stream;charset=UTF-8, close-delimited, attach event first', async (t) => {
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    t.after(() => marathon.stop());
    const stream = await openStream(`${marathon.url}/v2/events`);
    t.after(() => stream.close());
    assert.equal(stream.status, 200);
    assert.equal(stream.headers['content-type'], 'text/event-stream;charset=UTF-8');
    assert.equal(stream.headers.connection, 'close');
    assert.equal(stream.headers['transfer-encoding'], undefined);
    assert.equal(stream.headers['content-length'], undefined);

    const [attached] = await stream.waitForCount(1);
    assert.equal(attached?.event, 'event_stream_attached');
    const data = parse(attached);
    assert.equal(data['remoteAddress'], '127.0.0.1');
    assert.equal(data['eventType'], 'event_stream_attached');
    assertRecentTimestamp(data['timestamp']);
    // Marathon's framing: CRLF line ends, one data line, blank line.
    assert.match(stream.text, /^event: event_stream_attached\r\ndata: \{[^\r\n]*\}\r\n\r\n$/);
    assert.equal(marathon.eventStreamRequests, 1);
    assert.equal(marathon.openStreams, 1);
  });

  it('refuses the event stream with 405 unless Accept is exactly text/event-stream', async (t) => {
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    t.after(() => marathon.stop());
    for (const headers of [{}, { Accept: 'text/event-stream, */*' }, { Accept: 'application/json' }]) {
      const reply = await send(`${marathon.url}/v2/events`, { headers });
      assert.equal(reply.status, 405, JSON.stringify(headers));
      assert.match(reply.headers['content-type'] ?? '', /^text\/html/);
    }
    assert.equal(marathon.eventStreamRequests, 0);
  });

  it('broadcasts attach and detach to every subscriber', async (t) => {
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    t.after(() => marathon.stop());
    const first = await openStream(`${marathon.url}/v2/events`);
    t.after(() => first.close());
    await first.waitForCount(1);
    const second = await openStream(`${marathon.url}/v2/events`);
    t.after(() => second.close());

    const firstEvents = await first.waitForCount(2);
    assert.deepEqual(
      firstEvents.map((e) => e.event),
      ['event_stream_attached', 'event_stream_attached'],
    );
    await second.waitForCount(1);
    assert.equal(marathon.openStreams, 2);

    await first.close();
    const secondEvents = await second.waitForCount(2);
    assert.deepEqual(
      secondEvents.map((e) => e.event),
      ['event_stream_attached', 'event_stream_detached'],
    );
    const detached = parse(secondEvents[1]);
    assert.equal(detached['remoteAddress'], '127.0.0.1');
    assert.equal(detached['eventType'], 'event_stream_detached');
    assertRecentTimestamp(detached['timestamp']);
    assert.ok(!first.events.some((e) => e.event === 'event_stream_detached'));
    await waitUntil('one open stream', () => marathon.openStreams === 1);
  });

  it('emits api_post_event for created and updated apps only', async (t) => {
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    t.after(() => marathon.stop());
    const stream = await openStream(`${marathon.url}/v2/events`);
    t.after(() => stream.close());
    await stream.waitForCount(1);

    const app = hostApp('/my-app_1', { HAPROXY_GROUP: 'external' });
    marathon.addApp(app);
    const [, posted] = await stream.waitForCount(2);
    assert.equal(posted?.event, 'api_post_event');
    const data = parse(posted);
    assert.equal(data['clientIp'], null);
    assert.equal(data['uri'], '/v2/apps/my-app_1');
    assert.deepEqual(data['appDefinition'], app);
    assert.equal(data['eventType'], 'api_post_event');
    assertRecentTimestamp(data['timestamp']);

    const updated = { ...app, instances: 3 };
    marathon.updateApp(updated);
    const [, , update] = await stream.waitForCount(3);
    assert.deepEqual(parse(update)['appDefinition'], updated);

    // Deletes and group-level changes emit nothing; the next event seen is the marker below.
    marathon.removeApp('/my-app_1');
    marathon.replaceAppsSilently([bridgeApp('/b', {}, [80]), legacyBridgeApp('/l', {}, [80])]);
    marathon.emit('deployment_success', { id: 'marker', eventType: 'deployment_success' });
    const events = await stream.waitForCount(4);
    assert.equal(events[3]?.event, 'deployment_success');
    assert.equal(events.length, 4);
    const apps = JSON.parse((await send(`${marathon.url}/v2/apps`)).body) as { apps: Array<{ id: string }> };
    assert.deepEqual(
      apps.apps.map((a) => a.id),
      ['/b', '/l'],
    );
  });

  it('filters by event_type, so a filtered stream does not see its own attach event', async (t) => {
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    t.after(() => marathon.stop());
    const stream = await openStream(`${marathon.url}/v2/events?event_type=api_post_event`);
    t.after(() => stream.close());
    assert.equal(stream.status, 200);
    assert.deepEqual(marathon.lastEventStreamQuery?.getAll('event_type'), ['api_post_event']);
    await waitUntil('the stream is registered', () => marathon.openStreams === 1);

    marathon.addApp(hostApp('/filtered', {}), { clientIp: '10.0.0.7' });
    const events = await stream.waitForCount(1);
    assert.deepEqual(
      events.map((e) => e.event),
      ['api_post_event'],
    );
    assert.equal(parse(events[0])['clientIp'], '10.0.0.7');

    // Several filters combine: this one sees attach events (its own included) but not api_post_event.
    const two = await openStream(`${marathon.url}/v2/events?event_type=event_stream_attached&event_type=event_stream_detached`);
    t.after(() => two.close());
    await two.waitForCount(1);
    marathon.addApp(hostApp('/unseen', {}));
    marathon.emit('event_stream_detached', { remoteAddress: '127.0.0.2' });
    const twoEvents = await two.waitForCount(2);
    assert.deepEqual(
      twoEvents.map((e) => e.event),
      ['event_stream_attached', 'event_stream_detached'],
    );
    const firstEvents = await stream.waitForCount(2);
    assert.deepEqual(
      firstEvents.map((e) => e.event),
      ['api_post_event', 'api_post_event'],
      'the first stream got the second api_post_event and nothing else',
    );
  });

  it('requires HTTP Basic credentials when configured', async (t) => {
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0, basicAuth: { user: 'marathon', password: 's3cr:et' } });
    t.after(() => marathon.stop());
    const none = await send(`${marathon.url}/v2/apps`);
    assert.equal(none.status, 401);
    assert.match(none.headers['www-authenticate'] ?? '', /^Basic realm=/);
    const wrong = await send(`${marathon.url}/v2/apps`, {
      headers: { Authorization: `Basic ${Buffer.from('marathon:nope').toString('base64')}` },
    });
    assert.equal(wrong.status, 401);
    const authorization = `Basic ${Buffer.from('marathon:s3cr:et').toString('base64')}`;
    const right = await send(`${marathon.url}/v2/apps`, { headers: { Authorization: authorization } });
    assert.equal(right.status, 200);
    assert.equal(marathon.requests[2]?.headers['authorization'], authorization);
    assert.equal(marathon.appsRequests, 1);

    const refused = await send(`${marathon.url}/v2/events`, { headers: { Accept: 'text/event-stream' } });
    assert.equal(refused.status, 401);
    const stream = await openStream(`${marathon.url}/v2/events`, { Accept: 'text/event-stream', Authorization: authorization });
    t.after(() => stream.close());
    assert.equal(stream.status, 200);
  });

  it('serves every route under a base path', async (t) => {
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0, basePath: '/marathon' });
    t.after(() => marathon.stop());
    assert.match(marathon.url, /^http:\/\/127\.0\.0\.1:\d+\/marathon$/);
    assert.equal((await send(`${marathon.url}/v2/apps`)).status, 200);
    const origin = new URL(marathon.url).origin;
    assert.equal((await send(`${origin}/v2/apps`)).status, 404);
    const stream = await openStream(`${marathon.url}/v2/events`);
    t.after(() => stream.close());
    assert.equal(stream.status, 200);
    await stream.waitForCount(1);
  });

  it('drops every stream from the server side and accepts new ones', async (t) => {
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    t.after(() => marathon.stop());
    const a = await openStream(`${marathon.url}/v2/events`);
    const b = await openStream(`${marathon.url}/v2/events`);
    t.after(() => a.close());
    t.after(() => b.close());
    await waitUntil('two streams', () => marathon.openStreams === 2);
    marathon.dropStreams();
    await a.closed;
    await b.closed;
    assert.equal(marathon.openStreams, 0);

    const c = await openStream(`${marathon.url}/v2/events`);
    t.after(() => c.close());
    await c.waitForCount(1);
    assert.equal(marathon.eventStreamRequests, 3);
    marathon.dropStreams({ abrupt: true });
    await c.closed;
  });

  it('goes down (connection refused, streams closed) and comes back on the same port', async (t) => {
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    t.after(() => marathon.stop());
    const url = marathon.url;
    const stream = await openStream(`${url}/v2/events`);
    t.after(() => stream.close());
    await stream.waitForCount(1);

    await marathon.setMode('down');
    await stream.closed;
    await assert.rejects(send(`${url}/v2/apps`), { code: 'ECONNREFUSED' });

    await marathon.setMode('up');
    assert.equal(marathon.url, url);
    assert.equal((await send(`${url}/v2/apps`)).status, 200);
  });

  it('answers 500 in error500 mode and nothing in stall mode', async (t) => {
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    t.after(() => marathon.stop());
    await marathon.setMode('error500');
    assert.equal((await send(`${marathon.url}/v2/apps`)).status, 500);
    assert.equal((await send(`${marathon.url}/v2/events`, { headers: { Accept: 'text/event-stream' } })).status, 500);
    assert.equal(marathon.appsRequests, 0);

    await marathon.setMode('stall');
    await assert.rejects(send(`${marathon.url}/v2/apps`, { timeoutMs: 300 }), /timed out/);
    await marathon.setMode('up');
    assert.equal((await send(`${marathon.url}/v2/apps`)).status, 200);
  });

  it('sends heartbeats as a CR and an LF in separate writes', async (t) => {
    const marathon = await MarathonEmulator.start({ heartbeatMs: 40 });
    t.after(() => marathon.stop());
    const stream = await openStream(`${marathon.url}/v2/events`);
    t.after(() => stream.close());
    await waitUntil('two heartbeats', () => stream.chunks.filter((c) => c === '\n').length >= 2, 3_000);
    const crIndex = stream.chunks.indexOf('\r');
    assert.ok(crIndex > 0, `chunks: ${JSON.stringify(stream.chunks)}`);
    assert.equal(stream.chunks[crIndex + 1], '\n');
    // Heartbeats are empty lines: they dispatch nothing.
    assert.deepEqual(
      stream.events.map((e) => e.event),
      ['event_stream_attached'],
    );
  });

  it('stop() closes open streams and returns promptly', async () => {
    const marathon = await MarathonEmulator.start();
    const stream = await openStream(`${marathon.url}/v2/events`);
    await stream.waitForCount(1);
    // A stalled request must not hold stop() up either.
    await marathon.setMode('stall');
    const stalled = send(`${marathon.url}/v2/apps`).catch((error: unknown) => error);
    await waitUntil('the stalled request arrived', () => marathon.requests.length === 2);
    const started = Date.now();
    await marathon.stop();
    await stream.closed;
    assert.ok((await stalled) instanceof Error);
    assert.ok(Date.now() - started < 1_000);
    await marathon.stop();
  });

  it('builds realistic app JSON for each networking style', () => {
    const host = hostApp('/h', { A: 'b' });
    assert.deepEqual(host['networks'], [{ mode: 'host' }]);
    assert.equal(host['container'], null);
    assert.equal((host['portDefinitions'] as unknown[]).length, 1);
    assert.equal((hostApp('/h2', {}, [10100, 10101])['portDefinitions'] as unknown[]).length, 2);
    assert.equal((hostApp('/h3', {}, [], { container: 'mesos' })['container'] as { type: string }).type, 'MESOS');

    const bridge = bridgeApp('/b', {}, [80, 443]);
    assert.deepEqual(bridge['networks'], [{ mode: 'container/bridge' }]);
    assert.ok(!('portDefinitions' in bridge));
    assert.equal((bridge['container'] as { portMappings: unknown[] }).portMappings.length, 2);

    const legacy = legacyBridgeApp('/l', {}, [8080]);
    assert.ok(!('networks' in legacy));
    assert.equal(legacy['ipAddress'], null);
    const docker = (legacy['container'] as { docker: { network: string; portMappings: unknown[] } }).docker;
    assert.equal(docker.network, 'BRIDGE');
    assert.equal(docker.portMappings.length, 1);
  });
});

describe('marathon-lb signal receiver', () => {
  it('answers usr1 and hup for any method and counts them', async (t) => {
    const lb = await startLbReceiver();
    t.after(() => lb.stop());
    const usr1 = await send(`${lb.url}/_mlb_signal/usr1`, { method: 'POST' });
    assert.equal(usr1.status, 200);
    assert.equal(usr1.headers['content-type'], 'text/plain');
    assert.equal(usr1.body, 'Sent SIGUSR1 signal to marathon-lb');
    const hup = await send(`${lb.url}/_mlb_signal/hup`);
    assert.equal(hup.body, 'Sent SIGHUP signal to marathon-lb');
    assert.equal(lb.usr1, 1);
    assert.equal(lb.hup, 1);
    assert.equal((await send(`${lb.url}/other`)).status, 404);
    assert.deepEqual(lb.requests, [
      { method: 'POST', path: '/_mlb_signal/usr1' },
      { method: 'GET', path: '/_mlb_signal/hup' },
      { method: 'GET', path: '/other' },
    ]);
  });

  it('fails the first requests when asked, and can be forced to a status', async (t) => {
    const lb = await startLbReceiver({ failures: 2 });
    t.after(() => lb.stop());
    for (let i = 0; i < 2; i++) {
      const failed = await send(`${lb.url}/_mlb_signal/usr1`, { method: 'POST' });
      assert.equal(failed.status, 500);
      assert.equal(failed.body, "Failed to send SIGUSR1 signal to marathon-lb (exit code 1). Is marathon-lb running in 'poll' mode?");
    }
    assert.equal(lb.usr1, 0);
    assert.equal((await send(`${lb.url}/_mlb_signal/usr1`, { method: 'POST' })).status, 200);
    assert.equal(lb.usr1, 1);
    lb.setStatus(503);
    assert.equal((await send(`${lb.url}/_mlb_signal/usr1`, { method: 'POST' })).status, 503);
    assert.equal(lb.usr1, 1);
    lb.setStatus(200);
    assert.equal((await send(`${lb.url}/_mlb_signal/usr1`, { method: 'POST' })).status, 200);
    assert.equal(lb.usr1, 2);
  });
});

describe('DNS stub', () => {
  it('answers A with 127.0.0.1 and AAAA with no records', async (t) => {
    const dns = await startDnsStub();
    t.after(() => dns.stop());
    const resolver = new Resolver({ timeout: 2_000, tries: 1 });
    resolver.setServers([`127.0.0.1:${dns.port}`]);
    assert.deepEqual(await resolver.resolve4('app1.example.test', { ttl: true }), [{ address: '127.0.0.1', ttl: 5 }]);
    await assert.rejects(resolver.resolve6('app1.example.test'), { code: 'ENODATA' });
    await assert.rejects(resolver.resolveTxt('app1.example.test'), { code: 'ENODATA' });
    assert.deepEqual(dns.queries, ['A app1.example.test', 'AAAA app1.example.test', 'TXT app1.example.test']);
  });

  it('sets the response header bits and echoes id and question', async (t) => {
    const dns = await startDnsStub();
    t.after(() => dns.stop());
    const socket = createSocket('udp4');
    t.after(
      () =>
        new Promise<void>((resolve) => {
          socket.close(() => {
            resolve();
          });
        }),
    );
    const name = Buffer.from([3, ...Buffer.from('foo'), 4, ...Buffer.from('test'), 0]);
    const question = Buffer.concat([name, Buffer.from([0, 1, 0, 1])]);
    const query = Buffer.concat([Buffer.from([0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]), question]);
    const reply = await new Promise<Buffer>((resolve) => {
      socket.once('message', resolve);
      socket.send(query, dns.port, '127.0.0.1');
    });
    assert.equal(reply.readUInt16BE(0), 0xabcd);
    const flags = reply.readUInt16BE(2);
    assert.equal(flags & 0x8000, 0x8000, 'QR');
    assert.equal(flags & 0x0400, 0x0400, 'AA');
    assert.equal(flags & 0x0100, 0x0100, 'RD echoed');
    assert.equal(flags & 0x0080, 0x0080, 'RA');
    assert.equal(flags & 0x000f, 0, 'NOERROR');
    assert.deepEqual([reply.readUInt16BE(4), reply.readUInt16BE(6), reply.readUInt16BE(8), reply.readUInt16BE(10)], [1, 1, 0, 0]);
    assert.deepEqual(reply.subarray(12, 12 + question.length), question);
    assert.deepEqual([...reply.subarray(reply.length - 4)], [127, 0, 0, 1]);
    assert.deepEqual(dns.queries, ['A foo.test']);
  });
});

describe('pebble', () => {
  let pebble: Pebble;
  let httpPort = 0;
  const tokens = new Map<string, string>();
  const challengeRequests: string[] = [];
  const challengeServer = createServer((req, res) => {
    challengeRequests.push(`${req.headers.host ?? ''} ${req.url ?? ''}`);
    const token = /^\/\.well-known\/acme-challenge\/([\w-]+)$/.exec(req.url ?? '')?.[1];
    const keyAuthorization = token === undefined ? undefined : tokens.get(token);
    if (keyAuthorization === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end(keyAuthorization);
  });

  before(async () => {
    httpPort = await freePort();
    await new Promise<void>((resolve) => challengeServer.listen(httpPort, '127.0.0.1', resolve));
    pebble = await startPebble({ httpPort, validitySeconds: 600 });
  });
  after(async () => {
    await pebble.stop();
    await new Promise<void>((resolve) => {
      challengeServer.close(() => {
        resolve();
      });
      challengeServer.closeAllConnections();
    });
  });

  it('serves an ACME directory over HTTPS signed by the shared test CA', async () => {
    const ca = await readFile(pebble.caFile, 'utf8');
    const agent = new HttpsAgent({ ca });
    const directory = await new Promise<Record<string, unknown>>((resolve, reject) => {
      httpsGet(pebble.directoryUrl, { agent }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
        res.on('end', () => {
          resolve(JSON.parse(body) as Record<string, unknown>);
        });
      }).on('error', reject);
    });
    agent.destroy();
    for (const key of ['newNonce', 'newAccount', 'newOrder', 'revokeCert', 'keyChange']) {
      assert.equal(typeof directory[key], 'string', key);
    }
  });

  it('gives its issuing root and intermediate as PEM', async () => {
    const root = new X509Certificate(await pebble.rootPem());
    const intermediate = new X509Certificate(await pebble.intermediatePem());
    assert.match(root.subject, /Pebble Root CA/);
    assert.ok(intermediate.checkIssued(root));
    assert.ok(intermediate.verify(root.publicKey));
  });

  it('validates HTTP-01 through the DNS stub and issues with the configured validity', async () => {
    const agent = await createAcmeAgent({ caFile: pebble.caFile, timeoutMs: 10_000 });
    try {
      const accountKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      const client = createAcmeClient({ acmeDirectoryUrl: pebble.directoryUrl, acmeTimeoutMs: 10_000 }, accountKey, { dispatcher: agent, clock: systemClock, logger: silentLogger() });
      await client.account({ termsOfServiceAgreed: true });
      const pem = await orderCertificate(client, ['app1.example.test'], tokens);
      const leaf = new X509Certificate(pem);
      assert.match(leaf.subjectAltName ?? '', /DNS:app1\.example\.test/);
      const validity = (Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / 1000;
      assert.ok(Math.abs(validity - 600) <= 2, `validity ${validity} s`);
      assert.ok(challengeRequests.length >= 1);
      assert.ok(challengeRequests.every((r) => r.startsWith(`app1.example.test:${httpPort} /.well-known/acme-challenge/`)), challengeRequests.join('\n'));
      assert.ok(pebble.dns.queries.includes('A app1.example.test'), pebble.dns.queries.join(', '));
    } finally {
      await agent.close();
    }
  });

  it('shares one TLS CA per process and leaves no process behind on stop', async () => {
    const second = await startPebble({ httpPort });
    try {
      assert.equal(second.caFile, pebble.caFile);
      assert.notEqual(second.directoryUrl, pebble.directoryUrl);
      assert.doesNotThrow(() => process.kill(second.pid, 0));
    } finally {
      await second.stop();
    }
    assert.throws(() => process.kill(second.pid, 0), { code: 'ESRCH' });
    const { stdout } = await execFileAsync('ps', ['-o', 'pid=', '-p', String(second.pid)]).catch(() => ({ stdout: '' }));
    assert.equal(stdout.trim(), '');
  });
});
