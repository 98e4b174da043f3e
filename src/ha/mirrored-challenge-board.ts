/**
 * With --zk the leader publishes each challenge on two boards: ZooKeeper, which every instance reads
 * consistently (a sync before the read), and the storage directory, which every instance can still
 * read when ZooKeeper cannot be reached. A validation the CA started just before ZooKeeper went away
 * then still succeeds on whichever instance it reaches, instead of failing and costing the name a
 * backoff. A publish succeeds when either board took it; a lookup asks ZooKeeper first.
 */
import type { ChallengeBoard } from './challenge-board.js';
import { errorText } from '../util/error-text.js';

export class MirroredChallengeBoard implements ChallengeBoard {
  constructor(
    private readonly primary: ChallengeBoard,
    private readonly fallback: ChallengeBoard,
  ) {}

  async publish(token: string, keyAuthorization: string): Promise<void> {
    const [primary, fallback] = await Promise.allSettled([this.primary.publish(token, keyAuthorization), this.fallback.publish(token, keyAuthorization)]);
    if (primary.status === 'rejected' && fallback.status === 'rejected') {
      throw new Error(`cannot publish the challenge on either board: ${errorText(primary.reason)}; ${errorText(fallback.reason)}`, { cause: primary.reason });
    }
  }

  async withdraw(token: string): Promise<void> {
    const results = await Promise.allSettled([this.primary.withdraw(token), this.fallback.withdraw(token)]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    // An ephemeral ZooKeeper node goes with the session anyway; a left file is swept by the next leader.
    if (failed !== undefined && results.every((r) => r.status === 'rejected')) throw failed.reason;
  }

  async lookup(token: string): Promise<string | undefined> {
    return (await this.primary.lookup(token)) ?? (await this.fallback.lookup(token));
  }
}
