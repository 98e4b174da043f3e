/**
 * The order fence with --zk: an order is placed only after its intent is committed in ZooKeeper in one
 * transaction with a check of our election node (order-intents.ts), and not at all for a name that a
 * previous leader recorded an order for a short while ago, until the term has looked at the storage
 * directory again (the previous leader's order may still complete and be stored).
 */
import { OrderFenced, type OrderFence } from '../sync/order-fence.js';
import { OrderNotSent } from '../sync/order-not-sent.js';
import type { Clock } from '../util/clock.js';
import { ZkError } from '../zk/protocol.js';
import { NotLeaderError, type ZkOrderIntents } from './order-intents.js';

export interface ZkOrderFenceOptions {
  intents: ZkOrderIntents;
  /** Our election node while we lead, else undefined. */
  leaderNode: () => string | undefined;
  clock: Clock;
  /** Names another instance recorded an order for, with the time until which they are left alone. */
  held: () => ReadonlyMap<string, number>;
}

export class ZkOrderFence implements OrderFence {
  constructor(private readonly options: ZkOrderFenceOptions) {}

  async admit(names: readonly string[]): Promise<() => Promise<void>> {
    const { intents, clock } = this.options;
    const now = clock.now();
    const held = this.options.held();
    for (const name of names) {
      const until = held.get(name);
      if (until === undefined) continue;
      const detail =
        `another marathon-acme instance recorded an order for ${name} before this one took the lead; ` +
        `it is left alone until ${new Date(until).toISOString()}, then ordered only if the storage directory still lacks it`;
      throw new OrderNotSent({ type: 'handover', detail, status: undefined }, until);
    }
    let path: string;
    try {
      path = await intents.record(this.options.leaderNode(), names, now);
    } catch (err) {
      if (err instanceof NotLeaderError) throw new OrderFenced(err.message, { cause: err });
      if (err instanceof ZkError) {
        throw new OrderFenced(`cannot record the order for ${names.join(', ')} in ZooKeeper (${err.message}), so it is not placed`, { cause: err });
      }
      throw err;
    }
    return () => intents.withdraw(path);
  }
}
