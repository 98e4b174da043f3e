import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttp, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { createServer as createNet, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { request } from 'undici';
import { ChallengeResponder } from '../../src/acme/challenges.js';
import { closeServer, createHttpServer, listen } from '../../src/http/server.js';
import { silentLogger } from '../../src/log.js';
import { preflight, type PreflightOptions, type PreflightResult } from '../../src/preflight/preflight.js';
import { checkRoutesAll } from '../../src/preflight/routes.js';
import { systemClock } from '../../src/util/clock.js';
import { freePort } from '../support/ports.js';

const execFileAsync = promisify(execFile);

/** Remembers the most probes published at once, to see preflightAll's concurrency from outside. */
class CountingResponder extends ChallengeResponder {
  peak = 0;
  override add(token: string, keyAuthorization: string): void {
    super.add(token, keyAuthorization);
    this.peak = Math.max(this.peak, this.size);
  }
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

function redirect(status: number, location: string): Handler {
  return (_req, res) => {
    res.writeHead(status, { location, 'content-length': 0 });
    res.end();
  };
}

function answer(status: number, body: string): Handler {
  return (_req, res) => {
    res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
}

/** Forwards to a marathon-acme HTTP server on 127.0.0.1, as marathon-lb does; `pad` is added to the body. */
function proxyTo(port: number, pad = ''): Handler {
  return (req, res) => {
    const upstream = httpRequest({ host: '127.0.0.1', port, path: req.url, method: req.method, headers: req.headers, agent: false }, (up) => {
      const chunks: Buffer[] = [];
      up.on('data', (chunk: Buffer) => chunks.push(chunk));
      up.on('end', () => {
        const body = Buffer.concat([...chunks, Buffer.from(pad)]);
        res.writeHead(up.statusCode ?? 502, { 'content-type': up.headers['content-type'] ?? 'text/plain', 'content-length': body.length });
        res.end(body);
      });
    });
    upstream.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  };
}

const pathOf = (req: IncomingMessage): string => new URL(req.url ?? '/', 'http://x').pathname;
const queryOf = (req: IncomingMessage): URLSearchParams => new URL(req.url ?? '/', 'http://x').searchParams;

describe('preflight', () => {
  const responder = new CountingResponder();
  const staleResponder = new ChallengeResponder();
  let daemon: Server;
  let stale: Server;
  let hang: Server;
  let lb: NetServer;
  const lbSockets = new Set<Socket>();
  let daemonPort = 0;
  let stalePort = 0;
  let hangPort = 0;
  let lbPort = 0;
  let certDir = '';
  /** marathon-lb stand-in: one port, routed by the Host header's name, plain HTTP and TLS alike. */
  const routes = new Map<string, Handler>();
  const hostsSeen: string[] = [];

  const lookup = (hostname: string): Promise<string[]> =>
    Promise.resolve(hostname === 'nowhere.test' ? [] : hostname === 'dual.test' ? ['::1', '127.0.0.1'] : ['127.0.0.1']);

  const options = (overrides: Partial<PreflightOptions> = {}): PreflightOptions => ({ port: lbPort, timeoutMs: 3000, responder, lookup, ...overrides });

  const failure = (result: PreflightResult): Extract<PreflightResult, { ok: false }> => {
    assert.equal(result.ok, false, `expected a failure, got ${JSON.stringify(result)}`);
    return result;
  };

  before(async () => {
    daemon = createHttpServer({ responder, health: () => ({ healthy: true, problems: [], details: {} }), logger: silentLogger() });
    daemonPort = (await listen(daemon, '127.0.0.1', 0)).port;
    // Another marathon-acme (an old deployment) that does not hold our probe.
    stale = createHttpServer({ responder: staleResponder, health: () => ({ healthy: true, problems: [], details: {} }), logger: silentLogger() });
    stalePort = (await listen(stale, '127.0.0.1', 0)).port;
    hang = createHttp(() => {
      // Never answers: the probe must give up on its own deadline.
    });
    hangPort = (await listen(hang, '127.0.0.1', 0)).port;

    certDir = await mkdtemp(join(tmpdir(), 'preflight-'));
    await execFileAsync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-subj', '/CN=tls.test', '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem'),
    ]);
    const route: Handler = (req, res) => {
      const host = req.headers.host ?? '';
      hostsSeen.push(host);
      const handler = routes.get(host.replace(/:\d+$/, ''));
      if (handler === undefined) answer(503, 'no route\n')(req, res);
      else handler(req, res);
    };
    const plain = createHttp(route);
    // A self-signed certificate for a name nobody asked about: the CA does not check it, nor may we.
    const tls = createHttps({ key: await readFile(join(certDir, 'key.pem')), cert: await readFile(join(certDir, 'cert.pem')) }, route);
    lb = createNet((socket) => {
      lbSockets.add(socket);
      socket.on('close', () => {
        lbSockets.delete(socket);
      });
      socket.once('data', (first: Buffer) => {
        socket.pause();
        socket.unshift(first);
        // 0x16 opens a TLS handshake record; anything else is plain HTTP.
        (first[0] === 0x16 ? tls : plain).emit('connection', socket);
        process.nextTick(() => socket.resume());
      });
    });
    await new Promise<void>((resolve) => lb.listen(0, '127.0.0.1', resolve));
    const address = lb.address();
    if (address === null || typeof address === 'string') throw new Error('no lb address');
    lbPort = address.port;
  });

  after(async () => {
    hang.closeAllConnections();
    for (const socket of lbSockets) socket.destroy();
    await Promise.all([
      closeServer(daemon),
      closeServer(stale),
      closeServer(hang),
      new Promise<void>((resolve) => {
        lb.close(() => {
          resolve();
        });
      }),
      rm(certDir, { recursive: true, force: true }),
    ]);
  });

  afterEach(() => {
    // Whatever the outcome, the probe is gone again.
    assert.equal(responder.size, 0);
    routes.clear();
    hostsSeen.length = 0;
  });

  it('succeeds when the name reaches this daemon directly', async () => {
    const result = await preflight('direct.test', options({ port: daemonPort }));
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.equal(result.name, 'direct.test');
    assert.equal(result.hops.length, 1);
    const hop = result.hops[0] ?? '';
    assert.match(hop, new RegExp(`^http://direct\\.test:${daemonPort}/\\.well-known/acme-challenge/[A-Za-z0-9_-]{43}$`));
    // The probe is no longer served once the check is over.
    const after = await request(`http://127.0.0.1:${daemonPort}${new URL(hop).pathname}`);
    await after.body.dump();
    assert.equal(after.statusCode, 404);
  });

  it('follows a redirect chain on the configured port, sending the name in Host', async () => {
    routes.set('chain.test', (req, res) => {
      redirect(301, `http://hop.test:${lbPort}${req.url ?? ''}`)(req, res);
    });
    routes.set('hop.test', (req, res) => {
      if (queryOf(req).has('second')) proxyTo(daemonPort)(req, res);
      else redirect(307, `${pathOf(req)}?second`)(req, res);
    });
    const result = await preflight('chain.test', options());
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.equal(result.hops.length, 3);
    assert.match(result.hops[2] ?? '', /^http:\/\/hop\.test:\d+\/\.well-known\/acme-challenge\/[\w-]+\?second$/);
    assert.deepEqual(hostsSeen, [`chain.test:${lbPort}`, `hop.test:${lbPort}`, `hop.test:${lbPort}`]);
  });

  it('follows exactly 10 redirects, as the CA does', async () => {
    routes.set('ten.test', (req, res) => {
      const n = Number(queryOf(req).get('n') ?? '0');
      if (n === 10) proxyTo(daemonPort)(req, res);
      else redirect(302, `${pathOf(req)}?n=${n + 1}`)(req, res);
    });
    const result = await preflight('ten.test', options());
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.equal(result.hops.length, 11);
  });

  it('follows a redirect to https without checking the certificate', async () => {
    routes.set('tls.test', (req, res) => {
      const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
      if (encrypted) proxyTo(daemonPort)(req, res);
      else redirect(301, `https://tls.test:${lbPort}${req.url ?? ''}`)(req, res);
    });
    const result = await preflight('tls.test', options());
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.deepEqual(result.hops.map((h) => new URL(h).protocol), ['http:', 'https:']);
  });

  it('ignores trailing whitespace after the expected body, like the CA', async () => {
    routes.set('padded.test', proxyTo(daemonPort, '\r\n \t\n'));
    const result = await preflight('padded.test', options());
    assert.equal(result.ok, true, JSON.stringify(result));
  });

  it('reports a 200 with another body as something else answering', async () => {
    routes.set('other.test', answer(200, 'hello from another app\n'));
    const result = failure(await preflight('other.test', options()));
    assert.equal(result.kind, 'wrong-answer');
    assert.match(result.reason, /something else than this marathon-acme \(wrong body\)/);
    assert.match(result.reason, /HAPROXY_0_\*/);
  });

  it('reports a 404 (another marathon-acme that does not hold the probe) as http-status', async () => {
    routes.set('stale.test', proxyTo(stalePort));
    const result = failure(await preflight('stale.test', options()));
    assert.equal(result.kind, 'http-status');
    assert.equal(result.status, 404);
    assert.match(result.reason, /answered 404 instead of the probe/);
  });

  it('reports connection refused, naming the address', async () => {
    const port = await freePort();
    const result = failure(await preflight('refused.test', options({ port })));
    assert.equal(result.kind, 'connection');
    assert.equal(result.reason, `connection refused at 127.0.0.1:${port}: is marathon-lb listening?`);
    assert.equal(result.hops.length, 1);
  });

  it('falls back from a failing IPv6 address to IPv4, like the CA', async () => {
    const result = await preflight('dual.test', options({ port: daemonPort }));
    assert.equal(result.ok, true, JSON.stringify(result));
    const port = await freePort();
    const both = failure(await preflight('dual.test', options({ port })));
    assert.equal(both.kind, 'connection');
    assert.match(both.reason, new RegExp(`127\\.0\\.0\\.1:${port}: is marathon-lb listening\\?$`));
  });

  it('gives up on a server that never answers after timeoutMs', async () => {
    const started = Date.now();
    const result = failure(await preflight('hang.test', options({ port: hangPort, timeoutMs: 300 })));
    const elapsed = Date.now() - started;
    assert.equal(result.kind, 'timeout');
    assert.match(result.reason, /within 300 ms/);
    assert.ok(elapsed >= 250 && elapsed < 2000, `took ${elapsed} ms`);
  });

  it('gives up on a resolver that never answers', async () => {
    const result = failure(await preflight('slow-dns.test', options({ timeoutMs: 200, lookup: () => new Promise<string[]>(() => undefined) })));
    assert.equal(result.kind, 'timeout');
    assert.match(result.reason, /DNS lookup of slow-dns\.test/);
    // The URL was attempted, so it is listed, even though no request went out.
    assert.equal(result.hops.length, 1);
  });

  it('reports a name without addresses, with the resolver error code when there is one', async () => {
    const empty = failure(await preflight('nowhere.test', options()));
    assert.equal(empty.kind, 'dns');
    assert.match(empty.reason, /^DNS has no address for nowhere\.test/);
    const enotfound = (): Promise<string[]> => Promise.reject(Object.assign(new Error('getaddrinfo ENOTFOUND gone.test'), { code: 'ENOTFOUND' }));
    const missing = failure(await preflight('gone.test', options({ lookup: enotfound })));
    assert.equal(missing.kind, 'dns');
    assert.match(missing.reason, /^DNS has no address for gone\.test \(ENOTFOUND\)/);
    // URL syntax in a name would quietly probe another host ("a/b" parses as host "a").
    const invalid = failure(await preflight('app.test/other', options()));
    assert.equal(invalid.kind, 'dns');
    assert.match(invalid.reason, /is not a valid host name/);
    assert.deepEqual(invalid.hops, []);
  });

  it('reports a redirect loop', async () => {
    routes.set('loop-a.test', (req, res) => {
      redirect(302, `http://loop-b.test:${lbPort}${req.url ?? ''}`)(req, res);
    });
    routes.set('loop-b.test', (req, res) => {
      redirect(302, `http://loop-a.test:${lbPort}${req.url ?? ''}`)(req, res);
    });
    const result = failure(await preflight('loop-a.test', options()));
    assert.equal(result.kind, 'wrong-redirect');
    assert.match(result.reason, /^redirect loop/);
    assert.equal(result.hops.length, 2);
  });

  it('reports a redirect that loses the token', async () => {
    routes.set('moved.test', redirect(301, '/index.html'));
    const result = failure(await preflight('moved.test', options()));
    assert.equal(result.kind, 'wrong-redirect');
    assert.match(result.reason, /no longer ends with the challenge token/);
  });

  it('reports more than 10 redirects', async () => {
    routes.set('endless.test', (req, res) => {
      const n = Number(queryOf(req).get('n') ?? '0');
      redirect(302, `${pathOf(req)}?n=${n + 1}`)(req, res);
    });
    const result = failure(await preflight('endless.test', options()));
    assert.equal(result.kind, 'wrong-redirect');
    assert.match(result.reason, /more than 10 redirects/);
    assert.equal(result.hops.length, 11);
  });

  it('refuses redirects to other schemes and ports than the CA follows', async () => {
    const otherPort = lbPort === 65535 ? lbPort - 1 : lbPort + 1;
    routes.set('ftp.test', (req, res) => {
      redirect(302, `ftp://ftp.test${req.url ?? ''}`)(req, res);
    });
    routes.set('port.test', (req, res) => {
      redirect(302, `http://port.test:${otherPort}${req.url ?? ''}`)(req, res);
    });
    const ftp = failure(await preflight('ftp.test', options()));
    assert.equal(ftp.kind, 'wrong-redirect');
    assert.match(ftp.reason, /only follows http and https/);
    const port = failure(await preflight('port.test', options()));
    assert.equal(port.kind, 'wrong-redirect');
    assert.match(port.reason, new RegExp(`port ${otherPort} .*only follows redirects to ports 80 and 443`));
  });

  it('refuses a random source that cannot make a token, without leaving anything behind', async () => {
    await assert.rejects(preflight('direct.test', options({ random: () => Buffer.alloc(0) })), RangeError);
  });

  it('checkRoutesAll keeps input order and never checks more than `concurrency` names at once, one probe per name', async () => {
    routes.set('via-lb.test', proxyTo(daemonPort));
    const slowLookup = async (hostname: string): Promise<string[]> => {
      await new Promise((resolve) => setTimeout(resolve, 40));
      return lookup(hostname);
    };
    const names = ['via-lb.test', 'nowhere.test', 'via-lb.test', 'via-lb.test', 'nowhere.test', 'via-lb.test', 'via-lb.test'];
    responder.peak = 0;
    const reports = await checkRoutesAll(names, { port: lbPort, timeoutMs: 3000, responder, lookup: slowLookup, lbUrls: ['http://127.0.0.1:9090'], clock: systemClock, transientTries: 1 }, 3);
    assert.deepEqual(reports.map((r) => r.name), names);
    assert.deepEqual(reports.map((r) => r.dns.ok), [true, false, true, true, false, true, true]);
    // Through the LB the Host header decides; the stand-in has no route for nowhere.test.
    assert.deepEqual(reports.map((r) => r.lbs.map((lb) => lb.ok)), names.map((n) => [n === 'via-lb.test']));
    assert.equal(responder.peak, 3);
  });
});
