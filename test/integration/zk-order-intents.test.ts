/**
 * The order fence against Debian's real ZooKeeper 3.8: an intent is recorded only in the same
 * transaction as a check of the leader's own election node, so an instance whose node is gone cannot
 * record one, and so cannot order; the fence built on it refuses orders it cannot record.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { NotLeaderError, ZkOrderIntents } from '../../src/ha/order-intents.js';
import { ZkOrderFence } from '../../src/ha/zk-order-fence.js';
import { OrderFenced } from '../../src/sync/order-fence.js';
import { OrderNotSent } from '../../src/sync/order-not-sent.js';
import { ZkClient } from '../../src/zk/client.js';
import { CREATE_MODE } from '../../src/zk/protocol.js';
import { parseZkUrl } from '../../src/zk/zk-url.js';
import { cleanupStack } from '../support/cleanup.js';
import { eventually } from '../support/eventually.js';
import { startZooKeeper, type ZooKeeper } from '../support/zookeeper.js';

/** A fresh ZooKeeper, a client connected to it, an election node of ours and the intents under /ma. */
async function leaderWithIntents(t: TestContext): Promise<{ zk: ZooKeeper; client: ZkClient; node: string; intents: ZkOrderIntents }> {
  const defer = cleanupStack(t);
  const zk = await startZooKeeper();
  defer(() => zk.stop());
  const client = new ZkClient({ target: parseZkUrl(zk.url('/ma')), sessionTimeoutMs: 4_000, retryDelayMs: 100, onState: () => undefined });
  defer(() => client.close());
  client.start();
  await eventually('connected', () => client.state === 'connected', 10_000);
  await client.ensurePath('/ma/election');
  const node = await client.create('/ma/election/x-n_', Buffer.from('me'), CREATE_MODE.ephemeralSequential);
  return { zk, client, node, intents: new ZkOrderIntents(client, '/ma', 'me') };
}

describe('ZkOrderIntents against a real ZooKeeper', () => {
  it('records intents only while the leader node is there, and reads back the recent ones', async (t) => {
    const { client, node, intents } = await leaderWithIntents(t);
    const now = Date.now();
    await intents.record(node, ['a.example', 'b.example'], now - 400_000);
    await intents.record(node, ['c.example'], now);
    await client.create('/ma/intents/garbage', Buffer.from('not json'));
    assert.deepEqual(await intents.read(now, 300_000), [{ names: ['c.example'], at: now, by: 'me' }]);
    assert.equal((await client.getChildren('/ma/intents')).length, 1, 'the old and the unreadable intents were deleted');

    await client.delete(node);
    await assert.rejects(intents.record(node, ['d.example'], now), (err: unknown) => err instanceof NotLeaderError && /election node .* is gone, so the order for d\.example was not placed/.test(err.message));
    await assert.rejects(intents.record(undefined, ['d.example'], now), NotLeaderError);
    assert.deepEqual((await intents.read(now, 300_000)).map((i) => i.names), [['c.example']], 'nothing was recorded without the leader node');
  });
});

describe('ZkOrderFence against a real ZooKeeper', () => {
  it('admits an order only with its intent recorded, withdraws it after, and refuses when fenced or handed over', async (t) => {
    const { zk, client, node, intents } = await leaderWithIntents(t);
    let leaderNode: string | undefined = node;
    const held = new Map<string, number>();
    const now = Date.now();
    const fence = new ZkOrderFence({ intents, leaderNode: () => leaderNode, clock: { now: () => now, sleep: () => Promise.resolve() }, held: () => held });

    const release = await fence.admit(['a.example']);
    assert.deepEqual((await intents.read(now, 300_000)).map((i) => i.names), [['a.example']], 'recorded before the order');
    await release();
    assert.deepEqual(await intents.read(now, 300_000), [], 'withdrawn once the order ended');

    held.set('b.example', now + 60_000);
    await assert.rejects(fence.admit(['c.example', 'b.example']), (err: unknown) => err instanceof OrderNotSent && err.notBefore === now + 60_000 && err.problem.type === 'handover');

    await client.delete(node);
    await assert.rejects(fence.admit(['d.example']), (err: unknown) => err instanceof OrderFenced && /election node .* is gone/.test(err.message));
    leaderNode = undefined;
    await assert.rejects(fence.admit(['d.example']), OrderFenced);
    leaderNode = node;
    await zk.kill();
    await eventually('disconnected', () => client.state !== 'connected', 10_000);
    await assert.rejects(fence.admit(['e.example']), (err: unknown) => err instanceof OrderFenced && /cannot record the order for e\.example in ZooKeeper/.test(err.message));
  });
});
