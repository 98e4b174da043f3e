/**
 * A marathon-lb stand-in that runs Debian's real HAProxy (2.6) on the storage directory, reloads it the
 * way marathon-lb 1.15 does (`haproxy -c`, then a new process with `-sf <old pids>` that takes over
 * while the old one drains), and reproduces the marathon-lb quirks the daemon has to live with:
 * - a USR1 that arrives while a reload is in progress is answered 200 and dropped (marathon-lb
 *   regenerates its config, finds it unchanged and skips the reload);
 * - a USR1 (or HUP) in the first moments after a (re)start, before marathon-lb installs its signal
 *   handlers, kills it: the control listener and HAProxy go away until `restart()`;
 * - `brokenReload`: an LB that acknowledges USR1 but never reloads (keeps serving what it had).
 *
 * The control listener (marathon-lb's :9090) is a Node server here. Real marathon-lb serves it from
 * HAProxy itself: Lua applets for `/_mlb_signal/*` (they `pkill` marathon_lb.py) and
 * `/_haproxy_getpids` (`pidof haproxy`), and `monitor-uri` for `/_haproxy_health_check`. The health
 * check is still answered by HAProxy: the control listener forwards it to a `monitor-uri` listener in
 * the running config, so it fails when HAProxy does.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { statelessChallengeRule } from '../../src/lb/stateless-challenge.js';

/** An app routed by marathon-lb by its Host header (HAPROXY_0_VHOST), on HTTP and by SNI on TLS. */
export interface AppRoute {
  host: string;
  port: number;
}

export interface MarathonLbOptions {
  /** The storage directory shared with the daemon: `default.pem` and `certs/` must exist. */
  storageDir: string;
  /** The daemon's HTTP port: every host's `/.well-known/acme-challenge/` is routed there. */
  acmePort: number;
  /** Apps routed by Host header / SNI (what marathon-lb generates from the apps' labels). */
  apps?: readonly AppRoute[];
  /**
   * Order of the TLS bind's `crt` entries. 'default-first' (`crt default.pem crt certs`, what we
   * recommend): default.pem is HAProxy's certificate for unknown SNI. 'certs-first' (the original's
   * `--ssl-certs certs,default.pem`): the first file in certs/ becomes the default instead.
   */
  certOrder?: 'default-first' | 'certs-first';
  /** A USR1/HUP this soon after a (re)start kills the LB (default 500 ms; 0 turns the quirk off). */
  startupWindowMs?: number;
  /** Acknowledge USR1 with 200 but never reload (can be changed later with setBrokenReload). */
  brokenReload?: boolean;
  /**
   * How long a reload stays "in progress" after the new HAProxy took over (default 1000 ms):
   * marathon-lb 1.15's reload script sleeps 1 s after the new process started (to let SYN retries
   * settle), and 0.1 s before it; signals arriving meanwhile are swallowed.
   */
  reloadSettleMs?: number;
  /**
   * Server-side connections. Unset: marathon-lb's HAPROXY_HEAD (`option http-server-close`), one
   * server connection per request. Set: HAProxy's own default (keep-alive to servers) with this
   * `http-reuse` policy, as a template that drops http-server-close gets; idle server connections are
   * then kept and reused (HAProxy 2.6 keeps them for minutes, longer than `timeout server`).
   */
  serverReuse?: 'safe' | 'aggressive' | 'always';
  /**
   * Add an admin-level stats socket on 127.0.0.1 and a free port (`runtimePort`), as the README's
   * HAPROXY_HEAD override for modern marathon-lb forks does.
   */
  runtimeSocket?: boolean;
  /**
   * Answer HTTP-01 challenges in HAProxy itself with this account thumbprint, with the very line
   * `marathon-acme lb-config` prints (before the route to the daemon, as in HAPROXY_HTTP_FRONTEND_HEAD).
   */
  statelessThumbprint?: string;
}

/** One request as HAProxy logged it (every worker logs to the stand-in). */
export interface HaproxyRequestLog {
  pid: number;
  frontend: string;
  /** backend/server, e.g. `marathon_acme/acme1`; `<NOSRV>` when nothing was routed. */
  route: string;
  status: number;
  /** HAProxy's termination state, e.g. `----` (fine) or `SH--` (server closed before the headers). */
  termination: string;
  /** Method and path. */
  request: string;
}

export interface MarathonLb {
  /** The control listener (marathon-lb's :9090), e.g. for `--lb`. */
  readonly url: string;
  readonly controlPort: number;
  /** marathon-lb's :80 frontend (challenges go to the daemon; apps by Host header). */
  readonly httpPort: number;
  readonly httpUrl: string;
  /** marathon-lb's :443 frontend (`bind ... ssl crt ...`). */
  readonly httpsPort: number;
  /** The admin stats socket's TCP port with `runtimeSocket`, else 0. */
  readonly runtimePort: number;
  /** USR1 signals answered 200, whatever happened next (reloaded, swallowed, ignored, killed). */
  readonly usr1: number;
  /** Date.now() at the arrival of each of those, in order. */
  readonly usr1Times: readonly number[];
  /** HUP signals answered 200 (each regenerates the config like a Marathon event). */
  readonly hup: number;
  /** Reloads completed (HAProxy replaced), for any cause. */
  readonly reloads: number;
  /** Reloads started by USR1 that completed. */
  readonly usr1Reloads: number;
  /** USR1 answered 200 but dropped because a reload was in progress. */
  readonly swallowed: number;
  /** USR1 answered 200 but ignored because the reload is broken. */
  readonly ignored: number;
  /** Reloads that failed (`haproxy -c` refused the config, or the new HAProxy died); the old one keeps running. */
  readonly reloadFailures: number;
  /** True after a signal in the start-up window killed it, until restart(). */
  readonly killed: boolean;
  /** Completed restart() calls. */
  readonly restarts: number;
  /** True while a reload is in progress (signals are being swallowed). */
  readonly reloading: boolean;
  /** Date.now() when the LB last came (back) up. */
  readonly startedAt: number;
  /** Every line HAProxy wrote to stderr (its log and its warnings), all workers, in order. */
  readonly haproxyOutput: readonly string[];
  /** The requests HAProxy logged so far (parsed from haproxyOutput). */
  requests(): HaproxyRequestLog[];
  /** What `/_haproxy_getpids` answers: live HAProxy processes, newest first (old ones drain). */
  pids(): number[];
  setBrokenReload(broken: boolean): void;
  /**
   * What marathon-lb does after a Marathon event: regenerate the config (optionally with new app
   * routes) and reload. Signals arriving meanwhile are swallowed. Resolves when the reload is over.
   */
  reloadForMarathonEvent(change?: { apps?: readonly AppRoute[] }): Promise<void>;
  /** Resolves when no reload is in progress. */
  idle(): Promise<void>;
  /** Brings a killed (or running) LB back on the same ports; the start-up window starts again. */
  restart(): Promise<void>;
  /** Kills every process it started and closes the control listener; idempotent. */
  stop(): Promise<void>;
}

const HEALTH_PATH = '/_haproxy_health_check';
const HEALTH_PROXY = 'mlb_standin_health';
const LOG_PREFIX = 'mlb-request ';
const STOPPED = `Proxy ${HEALTH_PROXY} stopped`;

interface Worker {
  child: ChildProcess;
  pid: number;
  /** Set when it announced its soft stop (its listeners went to the new process) or exited. */
  stopping: Promise<void>;
  exited: Promise<void>;
  alive: boolean;
}

/** HAProxy children of every stand-in in this process, killed if the test runner exits abruptly. */
const everyChild = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of everyChild) child.kill('SIGKILL');
});

export async function startMarathonLb(options: MarathonLbOptions): Promise<MarathonLb> {
  const lb = new StandIn(options, await mkdtemp(join(tmpdir(), 'ma-mlb-')));
  try {
    await lb.start();
  } catch (err) {
    await lb.stop();
    throw err;
  }
  return lb;
}

class StandIn implements MarathonLb {
  controlPort = 0;
  httpPort = 0;
  httpsPort = 0;
  runtimePort = 0;
  usr1 = 0;
  readonly usr1Times: number[] = [];
  hup = 0;
  reloads = 0;
  usr1Reloads = 0;
  swallowed = 0;
  ignored = 0;
  reloadFailures = 0;
  killed = false;
  restarts = 0;
  startedAt = 0;
  readonly haproxyOutput: string[] = [];
  private healthPort = 0;
  private apps: readonly AppRoute[];
  private broken: boolean;
  private workers: Worker[] = [];
  private current: Promise<void> | undefined;
  private control: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private stopped = false;
  /** Set while taken down (killed, restarting, stopped): a reload in progress must not start HAProxy. */
  private down = false;
  private readonly config: string;
  private written = '';

  constructor(
    private readonly options: MarathonLbOptions,
    private readonly dir: string,
  ) {
    this.apps = options.apps ?? [];
    this.broken = options.brokenReload ?? false;
    this.config = join(dir, 'haproxy.cfg');
  }

  get url(): string {
    return `http://127.0.0.1:${this.controlPort}`;
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  get reloading(): boolean {
    return this.current !== undefined;
  }

  async start(): Promise<void> {
    [this.httpPort, this.httpsPort, this.healthPort] = [await freePort(), await freePort(), await freePort()];
    if (this.options.runtimeSocket === true) this.runtimePort = await freePort();
    await this.writeConfig();
    const check = await haproxyCheck(this.config);
    if (!check.ok) throw new Error(`haproxy refused the stand-in's configuration:\n${check.output}`);
    await this.bringUp();
  }

  requests(): HaproxyRequestLog[] {
    return this.haproxyOutput.flatMap((line) => {
      const at = line.indexOf(LOG_PREFIX);
      if (at < 0) return [];
      const [pid, frontend, route, status, termination, ...request] = line.slice(at + LOG_PREFIX.length).split(' ');
      if (pid === undefined || frontend === undefined || route === undefined || status === undefined || termination === undefined) return [];
      return [{ pid: Number(pid), frontend, route, status: Number(status), termination, request: request.join(' ') }];
    });
  }

  pids(): number[] {
    return this.workers.filter((w) => w.alive).map((w) => w.pid).reverse();
  }

  setBrokenReload(broken: boolean): void {
    this.broken = broken;
  }

  async reloadForMarathonEvent(change: { apps?: readonly AppRoute[] } = {}): Promise<void> {
    await this.idle();
    if (change.apps !== undefined) this.apps = change.apps;
    await this.writeConfig();
    // A USR1 may have started a reload meanwhile; marathon-lb does one at a time.
    await this.idle();
    // A broken reload is broken for every cause: the new config stays on disk, unused.
    if (!this.broken) await this.reload(false);
  }

  /** HUP: marathon-lb regenerates the config from Marathon and reloads only when it changed. */
  private async regenerate(): Promise<void> {
    await this.idle();
    if (this.render() === this.written) return;
    await this.writeConfig();
    await this.idle();
    if (!this.broken) await this.reload(false);
  }

  async idle(): Promise<void> {
    while (this.current !== undefined) await this.current;
  }

  async restart(): Promise<void> {
    await this.takeDown();
    this.killed = false;
    await this.bringUp();
    this.restarts++;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.takeDown();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** Starts HAProxy on the current config, waits until it answers, then opens the control listener. */
  private async bringUp(): Promise<void> {
    this.down = false;
    const worker = this.spawnWorker([]);
    await Promise.race([this.waitHealthy(), worker.exited.then(() => Promise.reject(this.failure('HAProxy exited at start-up')))]);
    this.control = createServer((req, res) => {
      this.handle(req, res);
    });
    this.control.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    const control = this.control;
    await new Promise<void>((resolve, reject) => {
      control.once('error', reject);
      control.listen(this.controlPort, '127.0.0.1', () => {
        control.off('error', reject);
        resolve();
      });
    });
    const address = control.address();
    if (address === null || typeof address === 'string') throw new Error('unexpected control listener address');
    this.controlPort = address.port;
    this.startedAt = Date.now();
  }

  /** Everything goes away at once, as when the marathon-lb container dies. */
  private async takeDown(): Promise<void> {
    this.down = true;
    const gone = [...this.workers];
    for (const worker of gone) if (worker.alive) worker.child.kill('SIGKILL');
    const control = this.control;
    this.control = undefined;
    if (control !== undefined) {
      const closed = new Promise<void>((resolve) => {
        control.close(() => {
          resolve();
        });
      });
      for (const socket of this.sockets) socket.destroy();
      await closed;
    }
    await this.current?.catch(() => undefined);
    await Promise.all(gone.map((w) => w.exited));
    // A restart may already have started a new HAProxy while a kill was still being cleaned up.
    this.workers = this.workers.filter((w) => !gone.includes(w));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (path === HEALTH_PATH) {
      this.forwardHealth(res);
    } else if (path === '/_haproxy_getpids') {
      text(res, 200, this.pids().join(' '));
    } else if (path === '/_mlb_signal/usr1' || path === '/_mlb_signal/hup') {
      this.signal(path.endsWith('usr1') ? 'SIGUSR1' : 'SIGHUP', res);
    } else {
      text(res, 404, 'Not Found');
    }
  }

  private signal(name: 'SIGUSR1' | 'SIGHUP', res: ServerResponse): void {
    const arrived = Date.now();
    if (name === 'SIGUSR1') {
      this.usr1++;
      this.usr1Times.push(arrived);
    } else {
      this.hup++;
    }
    // The applet's pkill reached the process either way, so marathon-lb's answer is 200 either way.
    const inStartup = arrived - this.startedAt < (this.options.startupWindowMs ?? 500);
    res.once('finish', () => {
      if (inStartup) this.kill();
      else if (name === 'SIGHUP') this.regenerate().catch(() => undefined);
      else if (this.current !== undefined) this.swallowed++;
      else if (this.broken) this.ignored++;
      else this.reload(true).catch(() => undefined);
    });
    text(res, 200, `Sent ${name} signal to marathon-lb`);
  }

  private kill(): void {
    if (this.killed || this.stopped) return;
    this.killed = true;
    this.takeDown().catch(() => undefined);
  }

  private forwardHealth(res: ServerResponse): void {
    const upstream = request({ host: '127.0.0.1', port: this.healthPort, path: HEALTH_PATH, agent: false }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    // No HAProxy answering means no :9090 at all on a real marathon-lb: drop the connection.
    upstream.on('error', () => res.socket?.destroy());
    upstream.end();
  }

  /** marathon-lb's reload: validate, start the new HAProxy with -sf, wait for the takeover, settle. */
  private reload(bySignal: boolean): Promise<void> {
    const run = async (): Promise<void> => {
      const check = await haproxyCheck(this.config);
      if (!check.ok) {
        this.reloadFailures++;
        return;
      }
      await sleep(100);
      if (this.down) return;
      const old = this.workers.filter((w) => w.alive);
      const next = this.spawnWorker(old.map((w) => w.pid));
      const tookOver = Promise.all(old.map((w) => w.stopping)).then(() => this.waitHealthy());
      try {
        await Promise.race([tookOver, next.exited.then(() => Promise.reject(this.failure('the new HAProxy exited during a reload')))]);
      } catch (err) {
        // Not a failure when the stand-in was taken down under it.
        if (!this.killed && !this.stopped) this.reloadFailures++;
        throw err;
      }
      this.reloads++;
      if (bySignal) this.usr1Reloads++;
      await sleep(this.options.reloadSettleMs ?? 1_000);
    };
    const current = run().finally(() => {
      this.current = undefined;
    });
    this.current = current;
    return current;
  }

  private spawnWorker(oldPids: readonly number[]): Worker {
    const args = ['-f', this.config, ...(oldPids.length > 0 ? ['-sf', ...oldPids.map(String)] : [])];
    const child = spawn('haproxy', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    everyChild.add(child);
    let announceStop: () => void = () => undefined;
    const stopping = new Promise<void>((resolve) => (announceStop = resolve));
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        resolve();
      });
      child.once('error', () => {
        resolve();
      });
    });
    const worker: Worker = { child, pid: child.pid ?? -1, stopping, exited, alive: child.pid !== undefined };
    let partial = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        this.haproxyOutput.push(line);
        if (line.includes(STOPPED)) announceStop();
      }
    });
    void exited.then(() => {
      worker.alive = false;
      everyChild.delete(child);
      announceStop();
    });
    this.workers.push(worker);
    return worker;
  }

  private async waitHealthy(): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (!(await probe(this.healthPort))) {
      if (this.down) throw new Error('the marathon-lb stand-in went down while waiting for HAProxy');
      if (Date.now() > deadline) throw this.failure('HAProxy did not answer its health check');
      await sleep(20);
    }
  }

  private failure(what: string): Error {
    return new Error(`${what}; its output:\n${this.haproxyOutput.slice(-20).join('\n')}`);
  }

  private async writeConfig(): Promise<void> {
    this.written = this.render();
    await writeFile(this.config, this.written);
  }

  /** The parts of marathon-lb's generated config that matter to us, on 127.0.0.1 and free ports. */
  private render(): string {
    const { storageDir, acmePort, serverReuse } = this.options;
    const crts = [quote(join(storageDir, 'default.pem')), quote(join(storageDir, 'certs'))];
    if (this.options.certOrder === 'certs-first') crts.reverse();
    const lines = [
      'global',
      // HAProxy 2.3+ fails when it cannot raise the fd limit, which a test runner may not allow.
      '  no strict-limits',
      '  log stderr format raw local0',
      ...(this.runtimePort === 0 ? [] : [`  stats socket ipv4@127.0.0.1:${this.runtimePort} level admin`]),
      'defaults',
      '  log global',
      `  log-format "${LOG_PREFIX}%pid %ft %b/%s %ST %tsc %HM %HU"`,
      '  mode http',
      // marathon-lb's HAPROXY_HEAD defaults.
      '  retries 3',
      '  timeout connect 3s',
      '  timeout client 30s',
      '  timeout server 30s',
      '  timeout tunnel 3600s',
      '  timeout http-keep-alive 1s',
      '  timeout http-request 15s',
      '  timeout queue 30s',
      '  option dontlognull',
      '  option redispatch',
      serverReuse === undefined ? '  option http-server-close' : `  http-reuse ${serverReuse}`,
      `listen ${HEALTH_PROXY}`,
      `  bind 127.0.0.1:${this.healthPort}`,
      `  monitor-uri ${HEALTH_PATH}`,
      'frontend marathon_http_in',
      `  bind 127.0.0.1:${this.httpPort}`,
      ...(this.options.statelessThumbprint === undefined ? [] : [`  ${statelessChallengeRule(this.options.statelessThumbprint)}`]),
      '  acl acme_challenge path_beg /.well-known/acme-challenge/',
      '  use_backend marathon_acme if acme_challenge',
      ...this.apps.flatMap((app, i) => [`  acl host_app${i} hdr(host),field(1,:) -i ${app.host}`, `  use_backend app${i} if host_app${i}`]),
      'frontend marathon_https_in',
      `  bind 127.0.0.1:${this.httpsPort} ssl ${crts.map((c) => `crt ${c}`).join(' ')}`,
      ...this.apps.map((app, i) => `  use_backend app${i} if { ssl_fc_sni -i ${app.host} }`),
      'backend marathon_acme',
      '  balance roundrobin',
      '  option forwardfor',
      `  server acme1 127.0.0.1:${acmePort}`,
      ...this.apps.flatMap((app, i) => [`backend app${i}`, '  option forwardfor', `  server app${i}_1 127.0.0.1:${app.port}`]),
      '',
    ];
    return lines.join('\n');
  }
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    setTimeout(resolve, ms);
  });
}

function probe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: HEALTH_PATH, agent: false, timeout: 1_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => {
      req.destroy();
    });
    req.on('error', () => {
      resolve(false);
    });
    req.end();
  });
}

function haproxyCheck(config: string): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile('haproxy', ['-c', '-f', config], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err === null) resolve({ ok: true, output: `${stdout}${stderr}` });
      else if (typeof err.code === 'number') resolve({ ok: false, output: `${stdout}${stderr}` });
      else reject(new Error(`could not run haproxy (apt-get install -y haproxy): ${err.message}`, { cause: err }));
    });
    // An encrypted key would make OpenSSL wait for a pass phrase on stdin.
    child.stdin?.end();
  });
}

/** Single quotes: HAProxy takes everything up to the next quote literally. */
function quote(path: string): string {
  if (path.includes("'")) throw new Error(`cannot quote a path with a single quote for HAProxy: ${path}`);
  return `'${path}'`;
}
