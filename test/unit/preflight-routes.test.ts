/**
 * The preflight's routes: through each --lb host directly and through DNS, with one probe, and 502/503
 * answers (marathon-lb reloading) tried again before they count.
 */
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { after, afterEach, before, describe, it } from 'node:test';
import { ChallengeResponder } from '../../src/acme/challenges.js';
import { closeServer, createHttpServer, listen } from '../../src/http/server.js';
import { silentLogger } from '../../src/log.js';
import { checkRoutes, lbHosts, type RouteCheckOptions } from '../../src/preflight/routes.js';
import type { Clock } from '../../src/util/clock.js';
import { JumpingClock } from '../support/manual-clock.js';

describe('preflight routes', () => {
  const responder = new ChallengeResponder();
  let daemon: Server;
  let lb: Server;
  let daemonPort = 0;
  /** The LB stand-in's port, which is also the preflight port (the LB's HTTP port). */
  let lbPort = 0;
  /** Per name: how many more requests the LB answers with this status before it forwards. */
  const failing = new Map<string, { status: number; left: number }>();
  const seen: Array<{ host: string; status: number }> = [];

  before(async () => {
    daemon = createHttpServer({ responder, health: () => ({ healthy: true, problems: [], details: {} }), logger: silentLogger() });
    daemonPort = (await listen(daemon, '127.0.0.1', 0)).port;
    // marathon-lb on 127.0.0.1 only: the same port on 127.0.0.2 refuses, like a public address that
    // cannot be reached from inside (hairpin NAT).
    lb = createServer((req: IncomingMessage, res: ServerResponse) => {
      const host = (req.headers.host ?? '').replace(/:\d+$/, '');
      const f = failing.get(host);
      if (f !== undefined && f.left > 0) {
        f.left--;
        seen.push({ host, status: f.status });
        res.writeHead(f.status, { 'content-length': 0 });
        res.end();
        return;
      }
      seen.push({ host, status: 0 });
      const upstream = httpRequest({ host: '127.0.0.1', port: daemonPort, path: req.url, method: req.method, headers: req.headers, agent: false }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      upstream.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      req.pipe(upstream);
    });
    lbPort = (await listen(lb, '127.0.0.1', 0)).port;
  });

  after(async () => {
    await Promise.all([closeServer(daemon), closeServer(lb)]);
  });

  afterEach(() => {
    assert.equal(responder.size, 0, 'the probe is gone once the check is over');
    failing.clear();
    seen.length = 0;
  });

  const table: Record<string, string[]> = { 'hairpin.test': ['127.0.0.2'], 'lb.internal': ['127.0.0.1'], 'nodns.test': [] };
  const lookup = (host: string): Promise<string[]> => {
    const found = table[host];
    if (found !== undefined) return Promise.resolve(found);
    return host.endsWith('.test') ? Promise.resolve(['127.0.0.1']) : Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }));
  };
  const options = (clock: Clock, overrides: Partial<RouteCheckOptions> = {}): RouteCheckOptions => ({
    port: lbPort,
    timeoutMs: 3000,
    responder,
    lbUrls: ['http://127.0.0.1:9090'],
    clock,
    lookup,
    ...overrides,
  });

  it('tries the LB directly and DNS, both reaching this daemon', async () => {
    const report = await checkRoutes('both.test', options(new JumpingClock()));
    assert.deepEqual(report, {
      name: 'both.test',
      dns: { via: 'public DNS', ok: true, resolved: true },
      lbs: [{ via: `marathon-lb 127.0.0.1:${lbPort}`, ok: true }],
    });
    assert.deepEqual(seen, [{ host: 'both.test', status: 0 }, { host: 'both.test', status: 0 }]);
  });

  it('sees hairpin NAT: DNS answers, its address refuses, the LB route works', async () => {
    const report = await checkRoutes('hairpin.test', options(new JumpingClock()));
    assert.equal(report.dns.ok, false);
    assert.equal(report.dns.kind, 'connection');
    assert.equal(report.dns.resolved, true);
    assert.match(report.dns.reason ?? '', new RegExp(`connection refused at 127\\.0\\.0\\.2:${lbPort}`));
    assert.deepEqual(report.lbs, [{ via: `marathon-lb 127.0.0.1:${lbPort}`, ok: true }]);
  });

  it('resolves an LB host name, and reports one that does not resolve without failing the others', async () => {
    const report = await checkRoutes('nodns.test', options(new JumpingClock(), { lbUrls: ['http://user:secret@lb.internal:9090/', 'http://lb.gone:9090'] }));
    assert.equal(report.dns.ok, false);
    assert.equal(report.dns.kind, 'dns');
    assert.equal(report.dns.resolved, false);
    const [internal, gone] = report.lbs;
    assert.deepEqual(internal, { via: `marathon-lb lb.internal:${lbPort}`, ok: true });
    assert.equal(gone?.ok, false);
    assert.equal(gone.kind, 'dns');
    assert.match(gone.reason ?? '', /cannot resolve the --lb host lb\.gone/);
    assert.doesNotMatch(JSON.stringify(report), /secret/);
  });

  it('tries a 502/503 answer again a second apart, and passes when the reload is over', async () => {
    failing.set('reloading.test', { status: 502, left: 2 });
    const clock = new JumpingClock();
    const events: Array<{ via: string; status: number; attempt: number }> = [];
    const report = await checkRoutes('reloading.test', options(clock, { lbUrls: [], onTransient: ({ via, status, attempt }) => events.push({ via, status, attempt }) }));
    assert.equal(report.dns.ok, true, JSON.stringify(report));
    assert.deepEqual(events, [{ via: 'public DNS', status: 502, attempt: 1 }, { via: 'public DNS', status: 502, attempt: 2 }]);
    assert.deepEqual(clock.sleeps, [1000, 1000]);
  });

  it('counts a route that keeps answering 503 after a bounded number of tries', async () => {
    failing.set('down.test', { status: 503, left: 100 });
    const clock = new JumpingClock();
    const report = await checkRoutes('down.test', options(clock, { lbUrls: [], transientTries: 4, transientPauseMs: 250 }));
    assert.equal(report.dns.ok, false);
    assert.equal(report.dns.kind, 'http-status');
    assert.match(report.dns.reason ?? '', /answered 503/);
    assert.equal(seen.length, 4);
    assert.deepEqual(clock.sleeps, [250, 250, 250]);
  });

  it('does not try other failures again', async () => {
    failing.set('notfound.test', { status: 404, left: 100 });
    const clock = new JumpingClock();
    const report = await checkRoutes('notfound.test', options(clock, { lbUrls: [] }));
    assert.equal(report.dns.kind, 'http-status');
    assert.equal(seen.length, 1);
    assert.deepEqual(clock.sleeps, []);
  });

  it('takes the distinct hosts of the --lb URLs, without brackets or credentials', () => {
    assert.deepEqual(lbHosts(['http://a:9090', 'https://u:p@a:9091/x', 'http://[::1]:9090', 'http://10.0.0.5']), ['a', '::1', '10.0.0.5']);
  });
});
