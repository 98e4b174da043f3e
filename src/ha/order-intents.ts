/**
 * Fencing for ACME orders, by the recipe for a resource ZooKeeper itself guards: before each order the
 * leader records an intent (the names, when, who) in one transaction with a version check of its own
 * election node. A leader that has been deposed (its session expired, its node gone) cannot commit the
 * transaction, so it cannot place the order, however long it was paused or cut off. A new leader reads
 * the intents of the last few minutes: a name another instance may have ordered then waits until that
 * order can no longer be in flight, and is then ordered only if the storage directory still lacks it.
 */
import type { ZkClient } from '../zk/client.js';
import { CREATE_MODE, ERR, ZkError } from '../zk/protocol.js';

export interface OrderIntent {
  names: string[];
  /** Epoch ms when it was recorded. */
  at: number;
  /** The identity of the instance that recorded it. */
  by: string;
}

/** The transaction failed on our election node: we no longer lead, and must not order. */
export class NotLeaderError extends Error {
  override readonly name = 'NotLeaderError';
}

/**
 * Names some other instance recorded an intent for within `windowMs` before `now`, each with the time
 * until which it is to be left alone. Our own intents do not count: our own orders are tracked in
 * memory.
 */
export function namesHeldByOthers(intents: readonly OrderIntent[], self: string, now: number, windowMs: number): Map<string, number> {
  const held = new Map<string, number>();
  for (const intent of intents) {
    if (intent.by === self || now - intent.at >= windowMs || intent.at > now + windowMs) continue;
    const until = intent.at + windowMs;
    for (const name of intent.names) held.set(name, Math.max(held.get(name) ?? 0, until));
  }
  return held;
}

export function parseIntent(data: Buffer): OrderIntent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { names, at, by } = value as Record<string, unknown>;
  if (!Array.isArray(names) || !names.every((n): n is string => typeof n === 'string')) return undefined;
  if (typeof at !== 'number' || !Number.isFinite(at) || typeof by !== 'string') return undefined;
  return { names, at, by };
}

export class ZkOrderIntents {
  private readonly dir: string;
  private prepared = false;

  constructor(
    private readonly client: ZkClient,
    root: string,
    private readonly identity: string,
  ) {
    this.dir = `${root}/intents`;
  }

  /**
   * Records the intent to order `names`, fenced by `leaderNode` (our election node, undefined when we
   * do not lead). Throws NotLeaderError when that node is gone; other ZooKeeper errors as they are.
   */
  async record(leaderNode: string | undefined, names: readonly string[], now: number): Promise<string> {
    if (leaderNode === undefined) throw new NotLeaderError('not the leader: no order may be placed');
    if (!this.prepared) {
      await this.client.ensurePath(this.dir);
      this.prepared = true;
    }
    const data = Buffer.from(JSON.stringify({ names, at: now, by: this.identity }), 'utf8');
    try {
      const results = await this.client.multi([
        { op: 'check', path: leaderNode, version: 0 },
        { op: 'create', path: `${this.dir}/i_`, data, mode: CREATE_MODE.persistentSequential },
      ]);
      const created = results[1];
      if (created?.op !== 'create') throw new Error(`ZooKeeper answered the order intent for ${names.join(', ')} without the node it created`);
      return created.path;
    } catch (err) {
      if (err instanceof ZkError && err.path === leaderNode && (err.code === ERR.noNode || err.code === ERR.badVersion)) {
        throw new NotLeaderError(`not the leader any more: our election node ${leaderNode} is gone, so the order for ${names.join(', ')} was not placed`);
      }
      throw err;
    }
  }

  /**
   * Removes an intent whose order has ended (issued or failed): a leader taking over after a clean
   * hand-over then has nothing to wait for. Intents never withdrawn (a crash) age out instead.
   */
  async withdraw(path: string): Promise<void> {
    try {
      await this.client.delete(path);
    } catch (err) {
      if (!(err instanceof ZkError && err.code === ERR.noNode)) throw err;
    }
  }

  /** Every readable intent; those older than `keepMs` are deleted on the way (they fence nothing). */
  async read(now: number, keepMs: number): Promise<OrderIntent[]> {
    let children: string[];
    try {
      children = await this.client.getChildren(this.dir);
    } catch (err) {
      if (err instanceof ZkError && err.code === ERR.noNode) return [];
      throw err;
    }
    const intents: OrderIntent[] = [];
    for (const child of children) {
      const path = `${this.dir}/${child}`;
      let data: Buffer;
      try {
        data = (await this.client.getData(path)).data;
      } catch (err) {
        if (err instanceof ZkError && err.code === ERR.noNode) continue;
        throw err;
      }
      const intent = parseIntent(data);
      if (intent === undefined || now - intent.at > keepMs) {
        await this.client.delete(path).catch(() => undefined);
        continue;
      }
      intents.push(intent);
    }
    return intents;
  }
}
