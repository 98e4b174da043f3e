/**
 * Leader election on ZooKeeper by the standard recipe: every instance creates an ephemeral sequential
 * node `<id>-n_<seq>` under the election path, the lowest sequence leads, and every other instance
 * watches only the node just below its own (no herd when the leader goes). The `<id>` prefix is this
 * election's random id: after a create whose answer was lost with the connection, the node is found by
 * it instead of being created twice.
 *
 * The role is as safe as we can know it: `leader` only after a read of the children showed our node
 * first; `candidate` from the moment the connection is lost (the session may be expiring on the
 * server, and some clients never hear of it during a partition) until a read after reconnecting says
 * otherwise. After an expired session (its node is gone) we stand again in the client's new session;
 * a closed client ends the election. Orders are fenced separately, by a ZooKeeper transaction that checks our
 * node (see `leaderNode`).
 */
import { randomUUID } from 'node:crypto';
import type { ZkClient } from '../zk/client.js';
import { CREATE_MODE, ERR, ZkError } from '../zk/protocol.js';
import type { ZkState } from '../zk/session.js';

export type Role = 'candidate' | 'leader' | 'follower';

export interface RoleChange {
  role: Role;
  /** Our node's path, once we have one. */
  node: string | undefined;
  /** What the leading instance wrote into its node (its identity), when known. */
  leader: string | undefined;
  /** Why, in words for the log. */
  reason: string;
}

export interface LeaderElectionOptions {
  client: ZkClient;
  /** The election's parent node, e.g. `/marathon-acme/election`. */
  path: string;
  /** Written into our node, so that followers and operators can tell who leads (host, port, pid). */
  identity: string;
  onRole: (change: RoleChange) => void;
  /**
   * Failed reads other than a lost connection (which the next `connected` retries), e.g. NOAUTH on a
   * path the credentials may not write; the election tries again after `retryDelayMs` (default 5 s).
   */
  onError: (err: Error) => void;
  retryDelayMs?: number;
  /** Defaults to a random UUID. */
  id?: string;
}

const SEQUENCE = /-n_(\d{10})$/;

export class LeaderElection {
  private id: string;
  private node: string | undefined;
  private role: Role = 'candidate';
  private leader: string | undefined;
  private running: Promise<void> | undefined;
  private rerun = false;
  private ended = false;
  private retryTimer: NodeJS.Timeout | undefined;
  /** One function for every watch we set, so that the client keeps one callback per watched path. */
  private readonly onWatch = (): void => {
    this.check();
  };

  constructor(private readonly options: LeaderElectionOptions) {
    this.id = options.id ?? randomUUID();
  }

  get current(): Role {
    return this.role;
  }

  /** Our node while we lead (for the fencing check), else undefined. */
  get leaderNode(): string | undefined {
    return this.role === 'leader' ? this.node : undefined;
  }

  /**
   * Reads the election again and says whether our node is still the lowest: what a leader asks before
   * it takes up work, since the role it was told may be older than the last read.
   */
  async confirm(): Promise<boolean> {
    const node = this.leaderNode;
    if (node === undefined || this.options.client.state !== 'connected') return false;
    const children = await this.options.client.getChildren(this.options.path);
    const lowest = children.filter((c) => SEQUENCE.test(c)).sort((a, b) => sequenceOf(a) - sequenceOf(b))[0];
    return lowest !== undefined && `${this.options.path}/${lowest}` === node && this.role === 'leader';
  }

  /** Feed it every state of the client's session. */
  sessionState(state: ZkState): void {
    if (this.ended) return;
    switch (state) {
      case 'connected':
        this.check();
        return;
      case 'connecting':
        return;
      case 'disconnected':
        this.setRole('candidate', undefined, 'the connection to ZooKeeper was lost; not acting as leader until it is back and leadership is confirmed');
        return;
      case 'expired':
        // The client goes on in a new session; we stand again with a new node under a new id, so that
        // the old node (gone, or about to go, with the old session) can never be taken for ours.
        this.node = undefined;
        this.id = randomUUID();
        this.setRole('candidate', undefined, 'the ZooKeeper session expired; its election node is gone; standing again in a new session');
        return;
      case 'closed':
        this.ended = true;
        if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
        this.node = undefined;
        this.setRole('candidate', undefined, 'the ZooKeeper session was closed');
        return;
    }
  }

  /** Reads the election again; runs are serialised, and a call during a run makes it run once more. */
  check(): void {
    if (this.ended) return;
    if (this.running !== undefined) {
      this.rerun = true;
      return;
    }
    this.running = (async () => {
      for (;;) {
        this.rerun = false;
        try {
          await this.checkOnce();
        } catch (err) {
          // The next `connected` reads again; a session that ended has no election left to read.
          if (err instanceof ZkError && (err.code === ERR.connectionLoss || err.code === ERR.sessionExpired)) break;
          this.options.onError(err instanceof Error ? err : new Error(String(err)));
          this.retryLater();
          break;
        }
        if (!this.runAgain()) break;
      }
    })().finally(() => {
      this.running = undefined;
    });
  }

  private retryLater(): void {
    if (this.retryTimer !== undefined) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.check();
    }, this.options.retryDelayMs ?? 5_000);
    this.retryTimer.unref();
  }

  /** Set by checkOnce or by a check() that came during the run. */
  private runAgain(): boolean {
    return this.rerun && !this.ended;
  }

  private async checkOnce(): Promise<void> {
    const { client, path } = this.options;
    if (client.state !== 'connected') return;
    await client.ensurePath(path);
    let children = await client.getChildren(path);
    const prefix = `${this.id}-n_`;
    let mine = children.find((c) => c.startsWith(prefix) && SEQUENCE.test(c));
    if (mine === undefined) {
      const created = await client.create(`${path}/${prefix}`, Buffer.from(this.options.identity, 'utf8'), CREATE_MODE.ephemeralSequential);
      mine = created.slice(path.length + 1);
      children = await client.getChildren(path);
    }
    this.node = `${path}/${mine}`;
    const ordered = children.filter((c) => SEQUENCE.test(c)).sort((a, b) => sequenceOf(a) - sequenceOf(b));
    const index = ordered.indexOf(mine);
    if (index === -1) {
      // Our node is not among the children we just read: the server dropped it (the session ended
      // between the two reads). The next read finds out which.
      this.rerun = true;
      return;
    }
    if (index === 0) {
      // Watched so that a node deleted under us (by hand, or by whatever else writes the path) makes us
      // read again and stand anew, instead of leading on with a node the order fence no longer finds.
      if ((await client.exists(this.node, this.onWatch)) === undefined) {
        this.rerun = true;
        return;
      }
      this.setRole('leader', this.options.identity, `our node ${mine} is the lowest of ${ordered.length}`);
      return;
    }
    const predecessor = ordered[index - 1] ?? '';
    const first = ordered[0] ?? '';
    // The predecessor decides when we may lead; the leader's node is watched too (by every follower,
    // a few instances at most) only so that each one knows who leads now, for /health and /status.
    const watched = await client.exists(`${path}/${predecessor}`, this.onWatch);
    const leading = first === predecessor ? watched : await client.exists(`${path}/${first}`, this.onWatch);
    if (watched === undefined || leading === undefined) {
      this.rerun = true;
      return;
    }
    const leader = await this.identityOf(`${path}/${first}`);
    this.setRole('follower', leader, `${index} node(s) before ours; watching ${predecessor}`);
  }

  private async identityOf(node: string): Promise<string | undefined> {
    try {
      return (await this.options.client.getData(node)).data.toString('utf8');
    } catch (err) {
      if (err instanceof ZkError && err.code === ERR.noNode) return undefined;
      throw err;
    }
  }

  private setRole(role: Role, leader: string | undefined, reason: string): void {
    const changed = role !== this.role || leader !== this.leader;
    this.role = role;
    this.leader = leader;
    if (changed) this.options.onRole({ role, node: this.node, leader, reason });
  }
}

function sequenceOf(child: string): number {
  return Number(SEQUENCE.exec(child)?.[1] ?? Number.MAX_SAFE_INTEGER);
}
