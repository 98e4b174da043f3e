/**
 * `challenge`: requests per second that the daemon's HTTP server (src/http/server.ts) answers on the
 * HTTP-01 challenge route (a pending token) and on the routing ping, under autocannon, next to a bare
 * node:http server that answers the same bodies with the same headers (`Connection: close`
 * included), loaded the same way in the same run.
 *
 * Each server runs in a child process of its own (this file, started with `--serve daemon|bare`), so
 * the server under load has a core to itself and autocannon, here, the other; both servers are up for
 * the whole run and only one is loaded at a time. Runs alternate between the two, in both orders, so
 * a change in the machine's load during the run does not favour either.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { request } from 'undici';
import { ChallengeResponder } from '../src/acme/challenges.js';
import { createHttpServer, listen } from '../src/http/server.js';
import { createLogger } from '../src/log.js';
import { Cleanup } from './cleanup.js';
import { processCpuMs } from './daemon-process.js';
import type { Benchmark, Figure } from './report.js';
import { log } from './scale.js';

/** A token and key authorization of the lengths an ACME CA and an account thumbprint give. */
const TOKEN = 'evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA';
const KEY_AUTHORIZATION = `${TOKEN}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI`;
const CHALLENGE_PATH = `/.well-known/acme-challenge/${TOKEN}`;
const PING_PATH = '/.well-known/acme-challenge/ping';
/** What the daemon answers on each route: body and Content-Type, for the bare server to copy. */
const ROUTES: ReadonlyMap<string, { type: string; body: string }> = new Map([
  [CHALLENGE_PATH, { type: 'text/plain', body: KEY_AUTHORIZATION }],
  [PING_PATH, { type: 'application/json', body: '{"message": "pong"}' }],
]);
/**
 * The daemon closes the connection after every answer under /.well-known/acme-challenge/ (see
 * src/http/server.ts: an LB reusing a connection Node is closing answers 502 itself), so autocannon
 * opens a new connection per request there. The peer does the same, or the comparison would be of
 * one TCP handshake per request against none.
 */
const PEER_HEADERS = ['Cache-Control', 'no-store', 'Connection', 'close'];

const LOAD = { connections: 50, pipelining: 1 } as const;
const RUN_SECONDS = 5;
const WARMUP_SECONDS = 1;
/** Even, so that each server goes first as often as second. */
const ROUNDS = 4;

type Kind = 'daemon' | 'bare';

function daemonServer(): Server {
  const responder = new ChallengeResponder();
  responder.add(TOKEN, KEY_AUTHORIZATION);
  // The daemon logs at info by default, so the challenge route's debug lines cost what they cost there.
  const logger = createLogger('info', { write: () => undefined });
  return createHttpServer({ responder, health: () => ({ healthy: true, problems: [], details: {} }), logger });
}

function bareServer(): Server {
  return createServer((req, res) => {
    const route = ROUTES.get(req.url ?? '');
    if (route === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, ['Content-Type', route.type, 'Content-Length', String(Buffer.byteLength(route.body)), ...PEER_HEADERS]);
    res.end(route.body);
  });
}

/** The child's side: serve, print the port, and exit when the parent closes stdin (or dies). */
async function serve(kind: Kind): Promise<void> {
  const server = kind === 'daemon' ? daemonServer() : bareServer();
  const address = await listen(server, '127.0.0.1', 0);
  process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
  process.stdin.resume();
  process.stdin.once('end', () => {
    process.exit(0);
  });
}

interface Child {
  port: number;
  pid: number;
}


async function startServer(kind: Kind, cleanup: Cleanup): Promise<Child> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve', kind], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  cleanup.defer(`the ${kind} server`, async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  });
  const lines = createInterface({ input: child.stdout });
  const first = await Promise.race([
    once(lines, 'line').then(([line]) => String(line)),
    exited.then(() => {
      throw new Error(`the ${kind} server exited before listening`);
    }),
  ]);
  lines.close();
  const port = (JSON.parse(first) as { port?: unknown }).port;
  if (typeof port !== 'number' || child.pid === undefined) throw new Error(`the ${kind} server said ${first}`);
  return { port, pid: child.pid };
}

interface Tally {
  requests: number;
  seconds: number;
  /** CPU time the server process used meanwhile, in ms. */
  serverCpuMs: number;
  /** CPU time autocannon (this process) used meanwhile, in ms. */
  clientCpuMs: number;
}

/**
 * One autocannon run against `server`. The server's CPU time during the run tells whether it was the
 * bottleneck (a core's worth) or whether autocannon could not keep it busy.
 */
async function load(server: Child, path: string, seconds: number): Promise<Tally> {
  const cpuBefore = await processCpuMs(server.pid);
  const clientBefore = process.cpuUsage();
  const result = await autocannon({ url: `http://127.0.0.1:${server.port}${path}`, ...LOAD, duration: seconds });
  const client = process.cpuUsage(clientBefore);
  const serverCpuMs = (await processCpuMs(server.pid)) - cpuBefore;
  if (result.errors > 0 || result.non2xx > 0) {
    throw new Error(`${path} on port ${server.port}: ${result.errors} errors, ${result.non2xx} non-2xx answers`);
  }
  return { requests: result.requests.total, seconds: result.duration, serverCpuMs, clientCpuMs: (client.user + client.system) / 1000 };
}

/** The answer's status and headers (Date aside, which differs by the second), as sent. */
async function head(server: Child, path: string): Promise<string> {
  const response = await request(`http://127.0.0.1:${server.port}${path}`);
  await response.body.text();
  const headers = Object.entries(response.headers).filter(([name]) => name !== 'date');
  return JSON.stringify([response.statusCode, ...headers.sort(([a], [b]) => a.localeCompare(b))]);
}

async function run(): Promise<Figure[]> {
  const cleanup = new Cleanup();
  try {
    const servers: Record<Kind, Child> = { daemon: await startServer('daemon', cleanup), bare: await startServer('bare', cleanup) };
    // A peer that answers differently (keep-alive where the daemon closes) measures something else.
    for (const path of ROUTES.keys()) {
      const [ours, bare] = [await head(servers.daemon, path), await head(servers.bare, path)];
      if (ours !== bare) throw new Error(`${path}: the daemon answers ${ours}, the bare server ${bare}`);
    }
    for (const path of ROUTES.keys()) for (const kind of ['daemon', 'bare'] as const) await load(servers[kind], path, WARMUP_SECONDS);

    const tallies = new Map<string, Tally>();
    for (let round = 0; round < ROUNDS; round++) {
      const order: Kind[] = round % 2 === 0 ? ['daemon', 'bare'] : ['bare', 'daemon'];
      for (const path of ROUTES.keys()) {
        for (const kind of order) {
          const t = await load(servers[kind], path, RUN_SECONDS);
          const key = `${kind} ${path}`;
          const sum = tallies.get(key) ?? { requests: 0, seconds: 0, serverCpuMs: 0, clientCpuMs: 0 };
          tallies.set(key, {
            requests: sum.requests + t.requests,
            seconds: sum.seconds + t.seconds,
            serverCpuMs: sum.serverCpuMs + t.serverCpuMs,
            clientCpuMs: sum.clientCpuMs + t.clientCpuMs,
          });
          log(`${kind.padEnd(6)} ${path === PING_PATH ? 'ping' : 'challenge'}: ${(t.requests / t.seconds).toFixed(0)} req/s, server busy ${((t.serverCpuMs / (t.seconds * 1000)) * 100).toFixed(0)} % of a core, autocannon ${((t.clientCpuMs / (t.seconds * 1000)) * 100).toFixed(0)} %`);
        }
      }
    }
    const rate = (kind: Kind, path: string): number => {
      const t = tallies.get(`${kind} ${path}`);
      return t === undefined ? NaN : t.requests / t.seconds;
    };
    const busyShare = (kind: Kind, path: string): number => {
      const t = tallies.get(`${kind} ${path}`);
      return t === undefined ? NaN : t.serverCpuMs / (t.seconds * 1000);
    };
    const busy = (kind: Kind, path: string): string => `${(busyShare(kind, path) * 100).toFixed(0)} %`;
    const clientBusy = (kind: Kind, path: string): string => {
      const t = tallies.get(`${kind} ${path}`);
      return t === undefined ? '?' : `${((t.clientCpuMs / (t.seconds * 1000)) * 100).toFixed(0)} %`;
    };
    // Requests per CPU-second of the server: the same comparison with the machine's other load taken out.
    const perCpu = (kind: Kind, path: string): number => {
      const t = tallies.get(`${kind} ${path}`);
      return t === undefined ? NaN : t.requests / (t.serverCpuMs / 1000);
    };
    const setup = `${LOAD.connections} connections, pipelining ${LOAD.pipelining}, a new connection per request (both answer Connection: close), ${ROUNDS} × ${RUN_SECONDS} s per server alternating, each server in a process of its own`;
    return [
      { path: CHALLENGE_PATH, figure: 'challenge route (pending token)' },
      { path: PING_PATH, figure: 'ping route' },
    ].map(({ path, figure }) => {
      const ours = rate('daemon', path);
      const bare = rate('bare', path);
      // Below about 90 % of a core a server was waiting for work: for the CPU (other processes), or
      // for autocannon, which opens a connection for every request on these routes.
      const starved = Math.min(busyShare('daemon', path), busyShare('bare', path)) < 0.9;
      return {
        bench: 'challenge',
        figure: `${figure}, createHttpServer`,
        value: ours,
        unit: 'req/s',
        peer: { name: 'bare node:http, same answer (Connection: close)', value: bare },
        target: '≥ 80 % of bare node:http',
        met: ours >= 0.8 * bare,
        note: `${((ours / bare) * 100).toFixed(0)} % of the bare server (per CPU-second of the server: ${((perCpu('daemon', path) / perCpu('bare', path)) * 100).toFixed(0)} %); server CPU while loaded: ours ${busy('daemon', path)}, bare ${busy('bare', path)} of a core${starved ? ' (not saturated: compare per CPU-second)' : ''}, autocannon ${clientBusy('daemon', path)} and ${clientBusy('bare', path)}; ${setup}`,
      };
    });
  } finally {
    await cleanup.run();
  }
}

export const challenge: Benchmark = { name: 'challenge', run };

const serveAt = process.argv.indexOf('--serve');
if (serveAt !== -1 && process.argv[1] === fileURLToPath(import.meta.url)) {
  const kind = process.argv[serveAt + 1];
  if (kind !== 'daemon' && kind !== 'bare') throw new Error(`--serve daemon|bare, not ${String(kind)}`);
  await serve(kind);
}
