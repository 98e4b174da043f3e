/**
 * Stands in for marathon-lb's signal endpoints, which marathon-lb serves from HAProxy's stats
 * listener (a Lua applet): `/_mlb_signal/usr1` and `/_mlb_signal/hup`, any method. Success is
 * 200 text/plain "Sent SIGUSR1 signal to marathon-lb"; failure (marathon-lb not running in a mode
 * that accepts signals) is 500 with the "Failed to send ..." text.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface LbReceiverOptions {
  /** The first this many signal requests fail with `status` (default 500). */
  failures?: number;
  /** Status used for those initial failures. */
  status?: number;
  /** Listen on this port instead of a free one (an LB that comes back where it was). */
  port?: number;
  /**
   * Answer `/_haproxy_health_check` (HAProxy's monitor-uri) with this status; by default it is
   * absent (404), like every path that is not a signal.
   */
  healthStatus?: number;
  /**
   * Answer `/_haproxy_getpids` like `pidof haproxy`: 'reload' starts a new worker pid on each
   * successful USR1, 'frozen' never does (a marathon-lb that accepts signals but does not reload).
   * By default the path is absent (404).
   */
  pids?: 'reload' | 'frozen';
}

export interface LbReceiver {
  url: string;
  /** Successful (200) USR1 signals. */
  readonly usr1: number;
  /** Date.now() at the arrival of each successful USR1 signal, in order (benchmarks time delivery). */
  readonly usr1Times: readonly number[];
  /** Successful (200) HUP signals. */
  readonly hup: number;
  requests: Array<{ method: string; path: string }>;
  /** Forces this status for every later signal request; 200 succeeds, anything else fails. */
  setStatus(code: number): void;
  /** From now on the health endpoint answers with this status. */
  setHealthStatus(code: number): void;
  /** From now on `/_haproxy_getpids` answers, with this behaviour. */
  setPids(mode: 'reload' | 'frozen'): void;
  stop(): Promise<void>;
}

const SIGNALS: Record<string, 'SIGUSR1' | 'SIGHUP'> = {
  '/_mlb_signal/usr1': 'SIGUSR1',
  '/_mlb_signal/hup': 'SIGHUP',
};

function sendText(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(text) });
  response.end(text);
}

export async function startLbReceiver(options: LbReceiverOptions = {}): Promise<LbReceiver> {
  let failuresLeft = options.failures ?? 0;
  const failureStatus = options.status ?? 500;
  let forced: number | undefined;
  let usr1 = 0;
  const usr1Times: number[] = [];
  let hup = 0;
  const requests: Array<{ method: string; path: string }> = [];
  const sockets = new Set<Socket>();
  let healthStatus = options.healthStatus;
  let pidsMode = options.pids;
  const masterPid = 4000 + Math.floor(Math.random() * 1000);
  let workerPid = masterPid + 1;

  const server = createServer((request, response) => {
    const arrived = Date.now();
    const method = request.method ?? 'GET';
    const target = request.url ?? '/';
    requests.push({ method, path: target });
    const pathname = new URL(target, 'http://127.0.0.1').pathname;
    if (pathname === '/_haproxy_health_check' && healthStatus !== undefined) {
      sendText(response, healthStatus, healthStatus === 200 ? 'OK' : 'Service Unavailable');
      return;
    }
    if (pathname === '/_haproxy_getpids' && pidsMode !== undefined) {
      sendText(response, 200, `${masterPid} ${workerPid}\n`);
      return;
    }
    const signal = SIGNALS[pathname];
    if (signal === undefined) {
      sendText(response, 404, 'Not Found');
      return;
    }
    let status = 200;
    if (forced !== undefined) status = forced;
    else if (failuresLeft > 0) {
      failuresLeft--;
      status = failureStatus;
    }
    if (status === 200) {
      if (signal === 'SIGUSR1') {
        usr1++;
        usr1Times.push(arrived);
        if (pidsMode === 'reload') workerPid++;
      } else hup++;
      sendText(response, 200, `Sent ${signal} signal to marathon-lb`);
    } else {
      sendText(response, status, `Failed to send ${signal} signal to marathon-lb (exit code 1). Is marathon-lb running in 'poll' mode?`);
    }
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('unexpected listener address');

  let stopped: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${address.port}`,
    get usr1() {
      return usr1;
    },
    usr1Times,
    get hup() {
      return hup;
    },
    requests,
    setStatus(code: number): void {
      forced = code;
    },
    setHealthStatus(code: number): void {
      healthStatus = code;
    },
    setPids(mode: 'reload' | 'frozen'): void {
      pidsMode = mode;
    },
    stop(): Promise<void> {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        // Keep-alive connections from the client under test would otherwise hold close() open.
        for (const socket of sockets) socket.destroy();
      });
      return stopped;
    },
  };
}
