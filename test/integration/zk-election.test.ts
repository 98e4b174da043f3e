/**
 * Leader election against Debian's real ZooKeeper 3.8: one leader among three, the next in line
 * taking over when it goes (closed session, or a partition that outlasts the session timeout), and a
 * partitioned leader giving up the role the moment its connection goes silent, long before its
 * session expires on the server.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { LeaderElection, type Role, type RoleChange } from '../../src/ha/election.js';
import { ZkClient } from '../../src/zk/client.js';
import { parseZkUrl } from '../../src/zk/zk-url.js';
import { cleanupStack } from '../support/cleanup.js';
import { eventually } from '../support/eventually.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { startZooKeeper, type ZooKeeper } from '../support/zookeeper.js';

interface Instance {
  name: string;
  client: ZkClient;
  election: LeaderElection;
  changes: RoleChange[];
  role: () => Role;
}

function startInstance(t: TestContext, name: string, url: string, sessionTimeoutMs: number): Instance {
  const changes: RoleChange[] = [];
  const errors: Error[] = [];
  const client = new ZkClient({
    target: parseZkUrl(url),
    sessionTimeoutMs,
    retryDelayMs: 100,
    onState: (state) => {
      election.sessionState(state);
    },
  });
  const election = new LeaderElection({
    client,
    path: '/ma/election',
    identity: name,
    onRole: (change) => changes.push(change),
    onError: (err) => errors.push(err),
  });
  t.after(() => {
    assert.deepEqual(errors, [], `election errors of ${name}`);
  });
  t.after(() => client.close());
  client.start();
  return { name, client, election, changes, role: () => election.current };
}

const leaders = (instances: readonly Instance[]): string[] => instances.filter((i) => i.role() === 'leader').map((i) => i.name);

/** A fresh ZooKeeper with instance a leading and b following. */
async function leaderAndFollower(t: TestContext): Promise<{ zk: ZooKeeper; a: Instance; b: Instance }> {
  const defer = cleanupStack(t);
  const zk = await startZooKeeper();
  defer(() => zk.stop());
  const a = startInstance(t, 'a', zk.url('/ma'), 4_000);
  await eventually('a leads', () => a.role() === 'leader');
  const b = startInstance(t, 'b', zk.url('/ma'), 4_000);
  await eventually('b follows', () => b.role() === 'follower');
  return { zk, a, b };
}

describe('leader election against a real ZooKeeper', () => {
  it('elects exactly one of three, tells the others who leads, and hands over in order when the leader leaves', async (t) => {
    const { zk, a, b } = await leaderAndFollower(t);
    const c = startInstance(t, 'c', zk.url('/ma'), 4_000);
    const all = [a, b, c];
    await eventually('a leads, b and c follow', () => all.map((i) => i.role()).join() === 'leader,follower,follower');
    assert.equal(c.changes.at(-1)?.leader, 'a', 'a follower knows who leads');
    assert.match(c.changes.at(-1)?.reason ?? '', /2 node\(s\) before ours; watching /);
    const closedAt = Date.now();
    await a.client.close();
    await eventually('b leads', () => leaders(all).join() === 'b');
    const handover = Date.now() - closedAt;
    assert.ok(handover < 2_000, `b led ${handover} ms after a closed its session`);
    await eventually('c knows b leads', () => c.changes.at(-1)?.leader === 'b');
    assert.equal(c.role(), 'follower', 'c watched b, not the leader, and stays a follower');
  });

  it('stands again when its leader node is deleted under it, and the next instance leads', async (t) => {
    const { a, b } = await leaderAndFollower(t);
    const node = a.election.leaderNode;
    assert.ok(node !== undefined);
    await a.client.delete(node);
    await eventually('b leads, a follows with a new node', () => b.role() === 'leader' && a.role() === 'follower', 5_000);
    assert.notEqual(a.changes.at(-1)?.node, node);
  });

  it('makes a partitioned leader a candidate at once, and another leader only after its session has expired', async (t) => {
    const defer = cleanupStack(t);
    const zk = await startZooKeeper();
    defer(() => zk.stop());
    const proxy = await startTcpProxy([{ port: zk.port }]);
    defer(() => proxy.stop());
    const sessionTimeoutMs = 3_000;
    const a = startInstance(t, 'a', `zk://127.0.0.1:${proxy.port}/ma`, sessionTimeoutMs);
    await eventually('a leads', () => a.role() === 'leader');
    const b = startInstance(t, 'b', zk.url('/ma'), sessionTimeoutMs);
    await eventually('b follows', () => b.role() === 'follower');

    const partitionedAt = Date.now();
    proxy.pause();
    // a hears nothing for two thirds of its session timeout and stops leading; the server only expires
    // its session after the whole timeout, so there is never a moment with two leaders.
    let overlap = false;
    const watch = setInterval(() => {
      if (leaders([a, b]).length > 1) overlap = true;
    }, 10);
    t.after(() => { clearInterval(watch); });
    await eventually('a stops leading', () => a.role() !== 'leader', 5_000);
    const stepDown = Date.now() - partitionedAt;
    await eventually('b leads', () => b.role() === 'leader', 10_000);
    const takeover = Date.now() - partitionedAt;
    clearInterval(watch);
    assert.ok(stepDown < sessionTimeoutMs, `a stepped down ${stepDown} ms into the partition`);
    assert.ok(takeover >= stepDown, `b took over ${takeover} ms into the partition`);
    assert.equal(overlap, false, 'never two leaders at once');
    t.diagnostic(`partition: a stepped down after ${stepDown} ms, b led after ${takeover} ms (session timeout ${sessionTimeoutMs} ms)`);

    proxy.resume();
    await eventually('a joins again in a new session, behind b', () => a.role() === 'follower', 10_000);
    const nodes = a.changes.map((c) => c.node).filter((n) => n !== undefined);
    assert.notEqual(nodes.at(-1), nodes[0], 'a stands with a new node: its first one went with the expired session');
    assert.deepEqual(leaders([a, b]), ['b']);
  });
});
