/**
 * Our ZooKeeper client against Debian's real ZooKeeper 3.8: sessions, ephemeral sequential nodes,
 * watches, multi with a version check (the fence for orders), digest ACLs, and what the client
 * reports when the server goes away for less, and for longer, than the session timeout.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { ZkClient, type Watcher } from '../../src/zk/client.js';
import { CREATE_MODE, ERR, ZkError } from '../../src/zk/protocol.js';
import type { ZkState } from '../../src/zk/session.js';
import { parseZkUrl } from '../../src/zk/zk-url.js';
import { cleanupStack } from '../support/cleanup.js';
import { eventually } from '../support/eventually.js';
import { startZooKeeper, type ZooKeeper } from '../support/zookeeper.js';

interface Connected {
  client: ZkClient;
  states: ZkState[];
  /** Resolves when the client next enters `state`. */
  next: (state: ZkState) => Promise<void>;
}

async function connectTo(t: TestContext, zk: ZooKeeper, path: string, sessionTimeoutMs = 4_000): Promise<Connected> {
  const states: ZkState[] = [];
  const waiting: Array<{ state: ZkState; resolve: () => void }> = [];
  const client = new ZkClient({
    target: parseZkUrl(zk.url(path)),
    sessionTimeoutMs,
    retryDelayMs: 100,
    onState: (state) => {
      states.push(state);
      for (const w of waiting.splice(0)) {
        if (w.state === state) w.resolve();
        else waiting.push(w);
      }
    },
  });
  const next = (state: ZkState): Promise<void> => new Promise((resolve) => waiting.push({ state, resolve }));
  t.after(() => client.close());
  const connected = next('connected');
  client.start();
  await connected;
  return { client, states, next };
}

const isZkError = (code: number) => (err: unknown): boolean => err instanceof ZkError && err.code === code;

describe('ZooKeeper client against a real ZooKeeper', () => {
  it('creates ephemeral sequential nodes in order, lists them, and fires a watch once when one goes', async (t) => {
    const defer = cleanupStack(t);
    const zk = await startZooKeeper();
    defer(() => zk.stop());
    const { client } = await connectTo(t, zk, '/ma');
    await client.ensurePath('/ma/election');
    await client.ensurePath('/ma/election');
    const first = await client.create('/ma/election/a-n_', Buffer.from('one'), CREATE_MODE.ephemeralSequential);
    const second = await client.create('/ma/election/b-n_', Buffer.from('two'), CREATE_MODE.ephemeralSequential);
    assert.match(first, /^\/ma\/election\/a-n_\d{10}$/);
    assert.ok(Number(second.slice(-10)) > Number(first.slice(-10)));
    assert.deepEqual((await client.getChildren('/ma/election')).sort(), [first, second].map((p) => p.slice('/ma/election/'.length)).sort());
    const fired: string[] = [];
    const watcher: Watcher = (event) => fired.push(`${event.type} ${event.path}`);
    assert.equal((await client.exists(first, watcher))?.version, 0);
    await client.delete(first);
    await client.setData(second, Buffer.from('again'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(fired, [`2 ${first}`], 'one deleted event, and nothing for other nodes');
    assert.equal(await client.exists(first), undefined);
    assert.equal((await client.getData(second)).data.toString(), 'again');
  });

  it('commits a multi only while its checked node is there: the fence a deposed leader cannot pass', async (t) => {
    const defer = cleanupStack(t);
    const zk = await startZooKeeper();
    defer(() => zk.stop());
    const { client } = await connectTo(t, zk, '/ma');
    await client.ensurePath('/ma/intents');
    const leader = await client.create('/ma/leader-n_', Buffer.alloc(0), CREATE_MODE.ephemeralSequential);
    const results = await client.multi([
      { op: 'check', path: leader, version: 0 },
      { op: 'create', path: '/ma/intents/one', data: Buffer.from('{}'), mode: CREATE_MODE.persistent },
    ]);
    assert.deepEqual(results, [{ op: 'check' }, { op: 'create', path: '/ma/intents/one' }]);
    await client.delete(leader);
    await assert.rejects(
      client.multi([
        { op: 'check', path: leader, version: 0 },
        { op: 'create', path: '/ma/intents/two', data: Buffer.from('{}'), mode: CREATE_MODE.persistent },
      ]),
      (err: unknown) => isZkError(ERR.noNode)(err) && err instanceof Error && /multi \(check 1 of 2\) \/ma\/leader-n_\d+ failed: NONODE/.test(err.message),
    );
    assert.equal(await client.exists('/ma/intents/two'), undefined, 'nothing of the failed transaction was written');
    await assert.rejects(client.create('/ma/intents/one', Buffer.alloc(0)), isZkError(ERR.nodeExists));
  });

  it('removes a closed session\'s ephemeral nodes at once', async (t) => {
    const defer = cleanupStack(t);
    const zk = await startZooKeeper();
    defer(() => zk.stop());
    const a = await connectTo(t, zk, '/ma');
    const b = await connectTo(t, zk, '/ma');
    await a.client.ensurePath('/ma/e');
    const node = await a.client.create('/ma/e/n_', Buffer.alloc(0), CREATE_MODE.ephemeralSequential);
    let deleted: (path: string) => void = () => undefined;
    const gone = new Promise<string>((resolve) => {
      deleted = resolve;
    });
    // The watch must be on the server before the session closes, or it would wait for a creation.
    assert.ok((await b.client.exists(node, (event) => { deleted(event.path); })) !== undefined);
    await a.client.close();
    assert.equal(await gone, node);
    assert.deepEqual(a.states, ['connected', 'closed']);
  });

  it('keeps its session across a server restart shorter than the timeout, and says disconnected meanwhile', async (t) => {
    const defer = cleanupStack(t);
    const zk = await startZooKeeper();
    defer(() => zk.stop());
    const { client, states, next } = await connectTo(t, zk, '/ma', 8_000);
    await client.ensurePath('/ma/e');
    const node = await client.create('/ma/e/n_', Buffer.alloc(0), CREATE_MODE.ephemeralSequential);
    const session = client.sessionId;
    const disconnected = next('disconnected');
    await zk.kill();
    await disconnected;
    await assert.rejects(client.exists(node), isZkError(ERR.connectionLoss), 'requests fail at once while disconnected');
    const reconnected = next('connected');
    await zk.restart();
    await reconnected;
    assert.equal(client.sessionId, session, 'the same session');
    assert.ok((await client.exists(node)) !== undefined, 'its ephemeral node is still there');
    assert.deepEqual(states, ['connected', 'disconnected', 'connected']);
  });

  it('declares the session expired by itself once no server has answered for the whole timeout, then starts a new one', async (t) => {
    const defer = cleanupStack(t);
    const zk = await startZooKeeper();
    defer(() => zk.stop());
    const { client, states, next } = await connectTo(t, zk, '/ma', 2_000);
    const node = await client.create('/ma-e', Buffer.alloc(0), CREATE_MODE.ephemeral);
    const firstSession = client.sessionId;
    const expired = next('expired');
    const started = Date.now();
    await zk.kill();
    await expired;
    const waited = Date.now() - started;
    assert.ok(waited >= 1_500 && waited < 6_000, `expired ${waited} ms after the server went (timeout 2000 ms)`);
    assert.deepEqual(states, ['connected', 'disconnected', 'expired']);
    const reconnected = next('connected');
    await zk.restart();
    await reconnected;
    assert.notEqual(client.sessionId, firstSession, 'a new session, not the expired one');
    // The restarted server restores the old session from its log and expires it a session timeout
    // later; until then its node is still there, which is why a new election node gets a new id.
    await eventually("the expired session's ephemeral node is gone", async () => (await client.exists(node)) === undefined, 10_000);
  });

  it('creates nodes only its digest credentials can read when the URL carries some', async (t) => {
    const defer = cleanupStack(t);
    const zk = await startZooKeeper();
    defer(() => zk.stop());
    const owner = await connectTo(t, zk, '/ma');
    const secured = new ZkClient({
      target: parseZkUrl(zk.url('/ma').replace('zk://', 'zk://acme:s3cret@')),
      sessionTimeoutMs: 4_000,
      onState: () => undefined,
    });
    t.after(() => secured.close());
    secured.start();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await secured.ensurePath('/ma/private');
    await secured.create('/ma/private/x', Buffer.from('mine'));
    assert.equal((await secured.getData('/ma/private/x')).data.toString(), 'mine');
    await assert.rejects(owner.client.getData('/ma/private/x'), isZkError(ERR.noAuth), 'a client without the credentials is refused');
  });
});
