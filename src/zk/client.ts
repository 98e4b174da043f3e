/**
 * The ZooKeeper operations the election and the order fencing need, over one ZkSession. A watch is a
 * one-shot callback for one path: set by `exists` (created, deleted, data changed) or `getChildren`
 * (children changed, deleted). Watches die with the connection that set them, so the session's
 * `connected` state is the owner's cue to read again and re-arm.
 */
import type { JuteReader, JuteWriter } from './jute.js';
import {
  CREATE_MODE,
  CREATOR_ACL,
  ERR,
  EVENT,
  OP,
  OPEN_ACL,
  readMultiResponse,
  readStat,
  writeAcl,
  writeMultiOp,
  ZkError,
  type Acl,
  type CreateMode,
  type MultiOp,
  type MultiResult,
  type Stat,
} from './protocol.js';
import { ZkSession, type WatchEvent, type ZkState } from './session.js';
import type { ZkTarget } from './zk-url.js';

export type Watcher = (event: WatchEvent) => void;

/** An operation of `multi`; the nodes it creates get the client's ACL, like `create`'s. */
export type TransactionOp = Exclude<MultiOp, { op: 'create' }> | Omit<Extract<MultiOp, { op: 'create' }>, 'acl'>;

export interface ZkClientOptions {
  target: ZkTarget;
  sessionTimeoutMs: number;
  onState: (state: ZkState, detail: string) => void;
  random?: (() => number) | undefined;
  retryDelayMs?: number | undefined;
}

export class ZkClient {
  /** Replaced by a new one when it expires, so the owner keeps one client for the process's life. */
  private session: ZkSession;
  private closed = false;
  /** Watches set by `exists`, by path; fired by created, deleted and data-changed events. */
  private readonly nodeWatches = new Map<string, Watcher[]>();
  /** Watches set by `getChildren`, by path; fired by children-changed and deleted events. */
  private readonly childWatches = new Map<string, Watcher[]>();
  /** Nodes we create are readable by anyone, or only by our credentials when the URL has some. */
  private readonly acl: readonly Acl[];

  constructor(private readonly options: ZkClientOptions) {
    this.acl = options.target.digest === undefined ? OPEN_ACL : CREATOR_ACL;
    this.session = this.newSession();
  }

  private newSession(): ZkSession {
    const { options } = this;
    const session: ZkSession = new ZkSession({
      servers: options.target.servers,
      digest: options.target.digest,
      sessionTimeoutMs: options.sessionTimeoutMs,
      random: options.random,
      retryDelayMs: options.retryDelayMs,
      onWatch: (event) => {
        if (session === this.session) this.fire(event);
      },
      onState: (state, detail) => {
        if (session !== this.session) return;
        // A new connection has none of the old one's watches; nothing will fire them any more.
        if (state !== 'connected') {
          this.nodeWatches.clear();
          this.childWatches.clear();
        }
        options.onState(state, detail);
        // An expired session is over for good (its ephemeral nodes are gone); work goes on in a new one.
        if (state === 'expired' && !this.closed) {
          this.session = this.newSession();
          this.session.start();
        }
      },
    });
    return session;
  }

  /** `expired` is passing: a new session is connecting right after it is reported. */
  get state(): ZkState {
    return this.session.current;
  }

  get sessionTimeoutMs(): number {
    return this.session.timeoutMs;
  }

  get sessionId(): bigint {
    return this.session.id;
  }

  start(): void {
    this.session.start();
  }

  close(): Promise<void> {
    this.closed = true;
    return this.session.close();
  }

  async create(path: string, data: Buffer, mode: CreateMode = CREATE_MODE.persistent): Promise<string> {
    const r = await this.session.request(OP.create, 'create', path, (w) => {
      w.string(path).buffer(data);
      writeAcl(w, this.acl);
      w.int(mode);
    });
    return r.string() ?? path;
  }

  /** Creates `path` and any missing parents as persistent empty nodes; an existing node is fine. */
  async ensurePath(path: string): Promise<void> {
    const elements = path.split('/').slice(1);
    for (let i = 1; i <= elements.length; i++) {
      const prefix = `/${elements.slice(0, i).join('/')}`;
      try {
        await this.create(prefix, Buffer.alloc(0));
      } catch (err) {
        if (!(err instanceof ZkError && err.code === ERR.nodeExists)) throw err;
      }
    }
  }

  async delete(path: string, version = -1): Promise<void> {
    await this.session.request(OP.delete, 'delete', path, (w) => w.string(path).int(version));
  }

  /** The node's stat, or undefined when there is none; `watch` is set either way (it fires on create). */
  async exists(path: string, watch?: Watcher): Promise<Stat | undefined> {
    if (watch !== undefined) this.addWatch(this.nodeWatches, path, watch);
    try {
      return readStat(await this.session.request(OP.exists, 'exists', path, (w) => w.string(path).bool(watch !== undefined)));
    } catch (err) {
      if (err instanceof ZkError && err.code === ERR.noNode) return undefined;
      if (watch !== undefined) this.removeWatch(this.nodeWatches, path, watch);
      throw err;
    }
  }

  async getData(path: string): Promise<{ data: Buffer; stat: Stat }> {
    const r = await this.session.request(OP.getData, 'getData', path, (w) => w.string(path).bool(false));
    const data = Buffer.from(r.buffer() ?? Buffer.alloc(0));
    return { data, stat: readStat(r) };
  }

  async setData(path: string, data: Buffer, version = -1): Promise<Stat> {
    return readStat(await this.session.request(OP.setData, 'setData', path, (w) => w.string(path).buffer(data).int(version)));
  }

  /**
   * Waits until the server we are connected to has caught up with the leader of the ensemble as of
   * now: a read after it sees every write any client had committed before (ZooKeeper's reads are
   * otherwise only as fresh as the server that answers them).
   */
  async sync(path: string): Promise<void> {
    await this.session.request(OP.sync, 'sync', path, (w) => w.string(path));
  }

  async getChildren(path: string, watch?: Watcher): Promise<string[]> {
    if (watch !== undefined) this.addWatch(this.childWatches, path, watch);
    try {
      const r = await this.session.request(OP.getChildren2, 'getChildren', path, (w) => w.string(path).bool(watch !== undefined));
      const children = r.stringVector();
      readStat(r);
      return children;
    } catch (err) {
      if (watch !== undefined) this.removeWatch(this.childWatches, path, watch);
      throw err;
    }
  }

  /**
   * All operations or none. A failed transaction rejects with the ZkError of the first operation that
   * failed, its path included (a version check on the leader node that failed reads BADVERSION or NONODE).
   */
  async multi(ops: readonly TransactionOp[]): Promise<MultiResult[]> {
    const withAcl = ops.map((op): MultiOp => (op.op === 'create' ? { ...op, acl: this.acl } : op));
    const r: JuteReader = await this.session.request(OP.multi, 'multi', undefined, (w: JuteWriter) => {
      for (const op of withAcl) writeMultiOp(w, op);
      w.int(-1).bool(true).int(-1);
    });
    const outcome = readMultiResponse(r);
    if ('results' in outcome) return outcome.results;
    const failed = ops[outcome.failedIndex];
    throw new ZkError(outcome.code, failed?.path, `multi (${failed?.op ?? 'operation'} ${outcome.failedIndex + 1} of ${ops.length})`);
  }

  private fire(event: WatchEvent): void {
    const take = (map: Map<string, Watcher[]>): Watcher[] => {
      const list = map.get(event.path) ?? [];
      map.delete(event.path);
      return list;
    };
    const fired: Watcher[] = [];
    if (event.type === EVENT.childrenChanged) fired.push(...take(this.childWatches));
    else if (event.type === EVENT.deleted) fired.push(...take(this.nodeWatches), ...take(this.childWatches));
    else fired.push(...take(this.nodeWatches));
    for (const watcher of fired) watcher(event);
  }

  /** The same function set twice on a path is kept once (and fired once), like ZooKeeper's own watches. */
  private addWatch(map: Map<string, Watcher[]>, path: string, watch: Watcher): void {
    const list = map.get(path);
    if (list === undefined) map.set(path, [watch]);
    else if (!list.includes(watch)) list.push(watch);
  }

  private removeWatch(map: Map<string, Watcher[]>, path: string, watch: Watcher): void {
    const list = map.get(path)?.filter((w) => w !== watch) ?? [];
    if (list.length === 0) map.delete(path);
    else map.set(path, list);
  }
}
