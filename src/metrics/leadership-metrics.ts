/**
 * Which instance leads, as Prometheus sees it: whether this one does and since when, how often that
 * changed, and (with --zk) the state of its ZooKeeper connection, one series per state so that an
 * alert can ask for `state="connected"` without knowing the other names.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ZkState } from '../zk/session.js';
import type { Role } from '../ha/election.js';

const ZK_STATES: readonly ZkState[] = ['connecting', 'connected', 'disconnected', 'expired', 'closed'];

export class LeadershipMetrics {
  private readonly leader: Gauge;
  private readonly leaderSince: Gauge;
  private readonly changes: Counter;
  private readonly zkState: Gauge<'state'>;
  private leading: boolean | undefined;

  constructor(registry: Registry) {
    const registers = [registry];
    this.leader = new Gauge({
      name: 'marathon_acme_leader',
      help: '1 while this instance leads (orders, syncs, signals), 0 while it follows or stands for election.',
      registers,
    });
    this.leaderSince = new Gauge({
      name: 'marathon_acme_leader_since_timestamp_seconds',
      help: 'When this instance last became the leader, as a Unix time; 0 while it does not lead.',
      registers,
    });
    this.changes = new Counter({
      name: 'marathon_acme_leadership_changes_total',
      help: 'Times this instance started or stopped leading after its start.',
      registers,
    });
    this.zkState = new Gauge({
      name: 'marathon_acme_zookeeper_state',
      help: 'With --zk: 1 for the current state of the ZooKeeper session (connecting, connected, disconnected, expired, closed), 0 for the others; absent without --zk.',
      labelNames: ['state'],
      registers,
    });
  }

  /** `at`: epoch ms of the change. The role an instance starts in is not counted as a change. */
  setRole(role: Role, at: number): void {
    const leading = role === 'leader';
    if (this.leading === leading) return;
    if (this.leading !== undefined) this.changes.inc();
    this.leading = leading;
    this.leader.set(leading ? 1 : 0);
    this.leaderSince.set(leading ? at / 1000 : 0);
  }

  setZkState(state: ZkState): void {
    for (const s of ZK_STATES) this.zkState.labels(s).set(s === state ? 1 : 0);
  }
}
