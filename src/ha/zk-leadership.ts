/**
 * This instance's membership in the ZooKeeper group (`--zk`): one client whose sessions follow each
 * other for the life of the process, the leader election under `<path>/election`, the challenge board
 * under `<path>/challenges` and the order intents under `<path>/intents`. It never gives up: with
 * ZooKeeper unreachable it keeps trying, and the instance stays a candidate that answers the
 * challenges it knows.
 */
import type { Logger } from '../log.js';
import { ZkClient } from '../zk/client.js';
import type { ZkState } from '../zk/session.js';
import type { ZkTarget } from '../zk/zk-url.js';
import { LeaderElection, type Role, type RoleChange } from './election.js';
import { ZkOrderIntents } from './order-intents.js';
import { ZkChallengeBoard } from './zk-challenge-board.js';

export interface ZkLeadershipOptions {
  target: ZkTarget;
  sessionTimeoutMs: number;
  /** Written into our election node and order intents: who we are, for the others' logs and status. */
  identity: string;
  logger: Logger;
  onRole: (change: RoleChange) => void;
  onState?: ((state: ZkState) => void) | undefined;
  random?: (() => number) | undefined;
}

export class ZkLeadership {
  readonly client: ZkClient;
  readonly board: ZkChallengeBoard;
  readonly intents: ZkOrderIntents;
  private readonly election: LeaderElection;

  constructor(private readonly options: ZkLeadershipOptions) {
    const { target, logger } = options;
    const log = logger.child({ zk: target.display });
    this.client = new ZkClient({
      target,
      sessionTimeoutMs: options.sessionTimeoutMs,
      random: options.random,
      onState: (state, detail) => {
        const level = state === 'connected' ? 'info' : state === 'connecting' ? 'debug' : 'warn';
        log[level]({ state, detail, sessionTimeoutMs: this.client.sessionTimeoutMs }, zkStateMessage(state));
        this.election.sessionState(state);
        options.onState?.(state);
      },
    });
    this.election = new LeaderElection({
      client: this.client,
      path: `${target.path}/election`,
      identity: options.identity,
      onRole: (change) => {
        log.info({ role: change.role, leader: change.leader ?? null, node: change.node ?? null }, `leader election: ${change.role} (${change.reason})`);
        options.onRole(change);
      },
      onError: (err) => {
        log.error({ err: err.message }, 'leader election failed; trying again in a few seconds');
      },
    });
    this.board = new ZkChallengeBoard(this.client, target.path);
    this.intents = new ZkOrderIntents(this.client, target.path, options.identity);
  }

  get identity(): string {
    return this.options.identity;
  }

  get role(): Role {
    return this.election.current;
  }

  get leaderNode(): string | undefined {
    return this.election.leaderNode;
  }

  /** Whether a fresh read of the election still puts us first (false when it cannot be read). */
  async confirmLead(): Promise<boolean> {
    return this.election.confirm().catch(() => false);
  }

  get state(): ZkState {
    return this.client.state;
  }

  start(): void {
    this.client.start();
  }

  /** Ends the session: our election node goes at once, so another instance leads without waiting for expiry. */
  async stop(): Promise<void> {
    await this.client.close();
  }
}

function zkStateMessage(state: ZkState): string {
  switch (state) {
    case 'connected':
      return 'connected to ZooKeeper';
    case 'connecting':
      return 'connecting to ZooKeeper';
    case 'disconnected':
      return 'lost the connection to ZooKeeper: not acting as leader until it is back and leadership is confirmed; reconnecting';
    case 'expired':
      return 'the ZooKeeper session expired: standing for election again in a new session';
    case 'closed':
      return 'closed the ZooKeeper session';
  }
}
