/**
 * What an instance that does not lead tells the outside world. Its job until it leads is to answer the
 * challenges the leader publishes, so it is healthy while it listens: a follower restarted by Marathon
 * for an unhealthy leader (or an unreachable ZooKeeper) would only take a challenge responder away.
 */
import type { HealthReport } from '../http/server.js';
import { readStatus } from '../status/command.js';
import type { InstanceView, StatusView } from '../status/page.js';

/** The ZooKeeper state is shown only with --zk (it is null without). */
export function followerHealth(instance: InstanceView, listening: boolean): HealthReport {
  const { role, zookeeper, leader } = instance;
  return {
    healthy: listening,
    problems: listening ? [] : ['not listening yet'],
    details: { role, ...(zookeeper === null ? {} : { zookeeper }), leader },
  };
}

export interface FollowerStatusInput {
  now: number;
  version: string;
  storageDir: string;
  marathonUrls: string[];
  acmeDirectoryUrl: string;
  instance: InstanceView;
}

/** The stored certificates as every instance can read them; Marathon, the account and the LBs are the leader's. */
export async function followerStatusView(input: FollowerStatusInput): Promise<StatusView> {
  const report = await readStatus(input.storageDir, input.now);
  const leader = input.instance.leader === null ? 'the leader' : `the leader (${input.instance.leader})`;
  const elsewhere = { level: 'ok' as const, summary: `this instance is a ${input.instance.role}: ${leader} does this` };
  return {
    generatedAt: new Date(input.now).toISOString(),
    version: input.version,
    instance: input.instance,
    marathon: { ...elsewhere, urls: input.marathonUrls, eventStream: 'not watched by this instance', lastSyncAt: null },
    account: { ...elsewhere, directory: input.acmeDirectoryUrl },
    lbs: [],
    delivery: null,
    cas: report.cas,
    certificates: report.certificates,
  };
}
