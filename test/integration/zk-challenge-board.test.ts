/**
 * The ZooKeeper challenge board against Debian's real ZooKeeper 3.8: what the leader publishes, a
 * follower on another session reads; a leader's session that ends takes its challenges with it.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { BoardTokenError } from '../../src/ha/challenge-board.js';
import { ZkChallengeBoard } from '../../src/ha/zk-challenge-board.js';
import { ZkClient } from '../../src/zk/client.js';
import { parseZkUrl } from '../../src/zk/zk-url.js';
import { cleanupStack } from '../support/cleanup.js';
import { eventually } from '../support/eventually.js';
import { startZooKeeper, type ZooKeeper } from '../support/zookeeper.js';

async function connected(t: TestContext, zk: ZooKeeper): Promise<ZkClient> {
  const client = new ZkClient({ target: parseZkUrl(zk.url('/ma')), sessionTimeoutMs: 4_000, retryDelayMs: 100, onState: () => undefined });
  t.after(() => client.close());
  client.start();
  await eventually('connected to ZooKeeper', () => client.state === 'connected', 10_000);
  return client;
}

describe('ZkChallengeBoard against a real ZooKeeper', () => {
  it('shows a follower what the leader published, replaced and withdrew', async (t) => {
    const defer = cleanupStack(t);
    const zk = await startZooKeeper();
    defer(() => zk.stop());
    const leader = new ZkChallengeBoard(await connected(t, zk), '/ma');
    const follower = new ZkChallengeBoard(await connected(t, zk), '/ma');
    assert.equal(await follower.lookup('tok_1'), undefined);
    await leader.publish('tok_1', 'tok_1.first');
    assert.equal(await follower.lookup('tok_1'), 'tok_1.first');
    await leader.publish('tok_1', 'tok_1.second');
    assert.equal(await follower.lookup('tok_1'), 'tok_1.second');
    await leader.withdraw('tok_1');
    await leader.withdraw('tok_1');
    assert.equal(await follower.lookup('tok_1'), undefined);
    await assert.rejects(leader.publish('../x', 'k'), BoardTokenError);
    assert.equal(await follower.lookup('a/b'), undefined);
  });

  it('loses a leader\'s challenges with its session, and answers undefined rather than fail while cut off', async (t) => {
    const defer = cleanupStack(t);
    const zk = await startZooKeeper();
    defer(() => zk.stop());
    const leaderClient = await connected(t, zk);
    const leader = new ZkChallengeBoard(leaderClient, '/ma');
    const followerClient = await connected(t, zk);
    const follower = new ZkChallengeBoard(followerClient, '/ma');
    await leader.publish('tok_2', 'tok_2.k');
    await leaderClient.close();
    assert.equal(await follower.lookup('tok_2'), undefined);
    await zk.kill();
    await eventually('the follower sees the connection gone', () => followerClient.state !== 'connected', 5_000);
    assert.equal(await follower.lookup('tok_2'), undefined);
  });
});
