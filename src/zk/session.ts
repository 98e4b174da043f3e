/**
 * One ZooKeeper session over TCP: connects to the servers in turn, keeps the session alive with pings,
 * moves it to another server when its connection breaks, and sends requests one frame each, answers
 * matched by xid (ZooKeeper answers a connection's requests in order).
 *
 * States, as an owner must act on them:
 * - `connected`: requests go out. Watches set earlier on another connection are gone (the server keeps
 *   them per connection unless told again); re-arm what you need on each `connected`.
 * - `disconnected`: no connection; requests fail with CONNECTIONLOSS. The session may still be alive on
 *   the server, but an owner holding leadership must stop acting now: it cannot know.
 * - `expired`: the server said so on reconnect, or we stayed disconnected for the whole session
 *   timeout (the server will have expired it by then, and some clients never hear of it during a
 *   partition). Final: ephemeral nodes are gone; start a new session.
 * - `closed`: close() was called. Final.
 */
import { connect, type Socket } from 'node:net';
import { JuteReader, JuteWriter } from './jute.js';
import { connectFrame, ERR, OP, readConnectResponse, XID, ZkError } from './protocol.js';
import type { ZkServer } from './zk-url.js';

export type ZkState = 'connecting' | 'connected' | 'disconnected' | 'expired' | 'closed';

export interface WatchEvent {
  type: number;
  path: string;
}

export interface ZkSessionOptions {
  servers: readonly ZkServer[];
  /** `user:password` for the digest scheme, sent after each connect. */
  digest?: string | undefined;
  /** What we ask for; the server may grant less (its minSessionTimeout..maxSessionTimeout). */
  sessionTimeoutMs: number;
  onState: (state: ZkState, detail: string) => void;
  onWatch: (event: WatchEvent) => void;
  random?: (() => number) | undefined;
  /** Where a failed connect waits before the next server, so a dead ensemble is not hammered. */
  retryDelayMs?: number | undefined;
}

interface Pending {
  xid: number;
  what: string;
  path: string | undefined;
  resolve: (body: JuteReader) => void;
  reject: (err: Error) => void;
}

/** Frames larger than this are a broken stream (ZooKeeper's own default jute.maxbuffer is 1 MB of data). */
const MAX_FRAME = 16 * 2 ** 20;

export class ZkSession {
  private state: ZkState = 'connecting';
  private socket: Socket | undefined;
  private sessionId = 0n;
  private password: Buffer = Buffer.alloc(16);
  private lastZxid = 0n;
  private negotiatedTimeoutMs: number;
  private nextXid = 1;
  private readonly pending: Pending[] = [];
  private serverIndex: number;
  private pingTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private inbox: Buffer = Buffer.alloc(0);
  private lastHeardAt = 0;
  private handshakeDone = false;

  constructor(private readonly options: ZkSessionOptions) {
    if (options.servers.length === 0) throw new Error('no ZooKeeper server to connect to');
    this.negotiatedTimeoutMs = options.sessionTimeoutMs;
    this.serverIndex = Math.floor((options.random ?? Math.random)() * options.servers.length);
  }

  get current(): ZkState {
    return this.state;
  }

  /** The session timeout the server granted (what was asked for until the first connect). */
  get timeoutMs(): number {
    return this.negotiatedTimeoutMs;
  }

  get id(): bigint {
    return this.sessionId;
  }

  start(): void {
    this.connectNext();
  }

  /** Sends one request; resolves with a reader over the answer's body, or rejects with a ZkError. */
  request(type: number, what: string, path: string | undefined, body: (w: JuteWriter) => void): Promise<JuteReader> {
    const socket = this.socket;
    if (this.state !== 'connected' || socket === undefined) {
      return Promise.reject(new ZkError(this.state === 'expired' ? ERR.sessionExpired : ERR.connectionLoss, path, what));
    }
    const xid = this.nextXid++;
    const w = new JuteWriter().int(xid).int(type);
    body(w);
    return new Promise<JuteReader>((resolve, reject) => {
      this.pending.push({ xid, what, path, resolve, reject });
      socket.write(w.frame());
    });
  }

  /** Ends the session on the server (its ephemeral nodes go at once) and the connection. */
  async close(): Promise<void> {
    if (this.state === 'closed' || this.state === 'expired') return;
    if (this.state === 'connected') {
      await Promise.race([this.request(OP.closeSession, 'close session', undefined, () => undefined).catch(() => undefined), sleep(1_000)]);
    }
    this.finish('closed', 'closed by us');
  }

  private connectNext(): void {
    if (this.state === 'closed' || this.state === 'expired') return;
    const server = this.options.servers[this.serverIndex % this.options.servers.length];
    this.serverIndex++;
    if (server === undefined) return;
    this.handshakeDone = false;
    this.inbox = Buffer.alloc(0);
    const socket = connect({ host: server.host, port: server.port });
    this.socket = socket;
    socket.setNoDelay(true);
    const where = `${server.host}:${server.port}`;
    // Until the server answers the handshake, a silent server counts as down after a third of the timeout.
    socket.setTimeout(Math.max(1_000, Math.floor(this.negotiatedTimeoutMs / 3)));
    socket.on('connect', () => {
      socket.write(connectFrame({ lastZxidSeen: this.lastZxid, timeoutMs: this.options.sessionTimeoutMs, sessionId: this.sessionId, password: this.password }));
    });
    socket.on('data', (chunk: Buffer) => {
      this.lastHeardAt = Date.now();
      this.inbox = this.inbox.length === 0 ? chunk : Buffer.concat([this.inbox, chunk]);
      try {
        this.drainFrames(where);
      } catch (err) {
        socket.destroy(err instanceof Error ? err : new Error(String(err)));
      }
    });
    socket.on('timeout', () => {
      socket.destroy(new Error(`no answer from ZooKeeper at ${where} for ${socket.timeout ?? 0} ms`));
    });
    socket.on('error', () => undefined);
    socket.on('close', (hadError) => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.connectionLost(`the connection to ZooKeeper at ${where} ${hadError ? 'failed' : 'closed'}`);
    });
  }

  private drainFrames(where: string): void {
    while (this.inbox.length >= 4) {
      const length = this.inbox.readInt32BE(0);
      if (length < 0 || length > MAX_FRAME) throw new Error(`ZooKeeper at ${where} sent a frame of ${length} bytes`);
      if (this.inbox.length < 4 + length) return;
      const payload = this.inbox.subarray(4, 4 + length);
      this.inbox = this.inbox.subarray(4 + length);
      if (this.handshakeDone) this.handleReply(payload);
      else this.handleHandshake(payload, where);
    }
  }

  private handleHandshake(payload: Buffer, where: string): void {
    const response = readConnectResponse(payload);
    if (response.timeoutMs <= 0) {
      this.finish('expired', `ZooKeeper at ${where} says the session has expired`);
      return;
    }
    this.handshakeDone = true;
    this.sessionId = response.sessionId;
    this.password = Buffer.from(response.password);
    this.negotiatedTimeoutMs = response.timeoutMs;
    this.clearTimer('expiryTimer');
    const socket = this.socket;
    if (socket === undefined) return;
    // From here on silence is judged by what we hear (startPings); a socket timeout would be reset by
    // our own pings going out while nothing comes back, which is exactly what a partition looks like.
    socket.setTimeout(0);
    this.startPings();
    if (this.options.digest !== undefined) {
      socket.write(new JuteWriter().int(XID.auth).int(OP.auth).int(0).string('digest').buffer(Buffer.from(this.options.digest, 'utf8')).frame());
    }
    this.setState('connected', `connected to ZooKeeper at ${where}, session 0x${response.sessionId.toString(16)}, timeout ${response.timeoutMs} ms`);
  }

  private handleReply(payload: Buffer): void {
    const r = new JuteReader(payload);
    const xid = r.int();
    const zxid = r.long();
    const err = r.int();
    if (zxid > this.lastZxid) this.lastZxid = zxid;
    if (xid === XID.ping) return;
    if (xid === XID.auth) {
      if (err !== ERR.ok) this.finish('closed', `ZooKeeper refused the digest credentials in --zk (${err === ERR.authFailed ? 'AUTHFAILED' : err})`);
      return;
    }
    if (xid === XID.watch) {
      const type = r.int();
      r.int(); // keeper state
      this.options.onWatch({ type, path: r.string() ?? '' });
      return;
    }
    const pending = this.pending.shift();
    if (pending === undefined || pending.xid !== xid) {
      throw new Error(`ZooKeeper answered request ${xid}, expected ${pending?.xid ?? 'none'}`);
    }
    if (err !== ERR.ok) pending.reject(new ZkError(err, pending.path, pending.what));
    else pending.resolve(r);
  }

  /**
   * A ping every third of the session timeout, and the connection given up once nothing has been
   * heard for two thirds of it (as ZooKeeper's own client does): the server answers every ping, so
   * that much silence means the server or the path to it is gone, and the session is a third of the
   * timeout away from expiring there. Checked ten times per timeout, so the step-down comes on time.
   */
  private startPings(): void {
    this.clearTimer('pingTimer');
    const timeout = this.negotiatedTimeoutMs;
    const pingEvery = Math.floor(timeout / 3);
    const silenceLimit = Math.floor((timeout * 2) / 3);
    let lastPingAt = Date.now();
    this.lastHeardAt = Date.now();
    this.pingTimer = setInterval(() => {
      const socket = this.socket;
      if (socket === undefined) return;
      const now = Date.now();
      if (now - this.lastHeardAt > silenceLimit) {
        socket.destroy(new Error(`nothing heard from ZooKeeper for ${now - this.lastHeardAt} ms`));
        return;
      }
      if (now - lastPingAt >= pingEvery) {
        lastPingAt = now;
        socket.write(new JuteWriter().int(XID.ping).int(OP.ping).frame());
      }
    }, Math.max(20, Math.floor(timeout / 10)));
    this.pingTimer.unref();
  }

  private connectionLost(reason: string): void {
    this.clearTimer('pingTimer');
    this.failPending(ERR.connectionLoss);
    if (this.state === 'closed' || this.state === 'expired') return;
    if (this.state === 'connected') {
      this.setState('disconnected', reason);
      // The server expires the session once it has heard nothing for its timeout; so do we, rather
      // than wait for a reconnect that may only come after a partition heals.
      const since = this.lastHeardAt;
      this.expiryTimer = setTimeout(() => {
        this.finish('expired', `no ZooKeeper server reachable for the session timeout (${this.negotiatedTimeoutMs} ms) since ${new Date(since).toISOString()}`);
      }, this.negotiatedTimeoutMs);
      this.expiryTimer.unref();
    }
    const delay = this.serverIndex % this.options.servers.length === 0 ? (this.options.retryDelayMs ?? 500) : 0;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connectNext();
    }, delay);
    this.retryTimer.unref();
  }

  private failPending(code: number): void {
    for (const p of this.pending.splice(0)) p.reject(new ZkError(code, p.path, p.what));
  }

  private finish(state: 'expired' | 'closed', detail: string): void {
    if (this.state === 'closed' || this.state === 'expired') return;
    this.clearTimer('pingTimer');
    this.clearTimer('expiryTimer');
    this.clearTimer('retryTimer');
    const socket = this.socket;
    this.socket = undefined;
    socket?.destroy();
    this.failPending(state === 'expired' ? ERR.sessionExpired : ERR.connectionLoss);
    this.setState(state, detail);
  }

  private setState(state: ZkState, detail: string): void {
    this.state = state;
    this.options.onState(state, detail);
  }

  private clearTimer(name: 'pingTimer' | 'expiryTimer' | 'retryTimer'): void {
    const timer = this[name];
    if (timer !== undefined) clearTimeout(timer);
    this[name] = undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
