/**
 * Two daemons on one storage directory without ZooKeeper: the one holding the storage lock leads; the
 * other follows, answering the challenges the leader publishes on the storage-directory board, and
 * leads once the lock is given up. Real pebble, the Marathon emulator and the daemon (in this process).
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { Daemon } from '../../src/daemon.js';
import { FileChallengeBoard } from '../../src/ha/file-challenge-board.js';
import { eventually } from '../support/eventually.js';
import { issuedDaemon, testLogger } from '../support/issued-daemon.js';

const NAME = 'follow.example.test';

async function getJson(port: number, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await request(`http://127.0.0.1:${port}${path}`);
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}

describe('a second daemon on the same storage directory', () => {
  it('follows, answers the leader\'s published challenges, and leads once the lock is given up', async (t) => {
    const { config, daemon: leader, storage, defer } = await issuedDaemon(t, NAME);
    const follower = new Daemon({ config: { ...config, listen: { host: '127.0.0.1', port: 0 } }, logger: testLogger() });
    defer(() => follower.stop(1_000));
    await follower.start();

    const health = await getJson(follower.port, '/health');
    assert.equal(health.status, 200);
    assert.equal(health.body['role'], 'follower');
    assert.match(String(health.body['leader']), new RegExp(`locked by marathon-acme daemon, pid ${process.pid}`));
    assert.equal((await getJson(follower.port, '/ready')).status, 200, 'a follower is ready to answer challenges');
    assert.equal((await getJson(follower.port, '/status.json')).status, 200, 'its status page reads the shared directory');
    assert.match(await (await request(`http://127.0.0.1:${follower.port}/metrics`)).body.text(), /^marathon_acme_leader 0$/m);
    assert.equal((await getJson(leader.port, '/health')).body['role'], 'leader');

    // What the leader publishes while a validation is under way (done here directly: an order's
    // window is a few milliseconds), the follower answers.
    await new FileChallengeBoard(storage).publish('tok_follow', 'tok_follow.thumbprint');
    const answer = await request(`http://127.0.0.1:${follower.port}/.well-known/acme-challenge/tok_follow`);
    assert.equal(answer.statusCode, 200);
    assert.equal(await answer.body.text(), 'tok_follow.thumbprint');

    const stoppedAt = Date.now();
    await leader.stop(1_000);
    await eventually('the follower leads', async () => (await getJson(follower.port, '/health')).body['role'] === 'leader', 20_000);
    t.diagnostic(`the follower led ${Date.now() - stoppedAt} ms after the leader stopped`);
    await eventually('the new leader is ready, with the stored certificate', async () => {
      const ready = await getJson(follower.port, '/ready');
      return ready.status === 200 && ready.body['managedCertificates'] === 1;
    }, 30_000);
    const metrics = await (await request(`http://127.0.0.1:${follower.port}/metrics`)).body.text();
    assert.match(metrics, /^marathon_acme_leader 1$/m);
    assert.match(metrics, /^marathon_acme_leadership_changes_total 1$/m, 'one change: follower to leader');
    const stale = await request(`http://127.0.0.1:${follower.port}/.well-known/acme-challenge/tok_follow`);
    await stale.body.dump();
    assert.equal(stale.statusCode, 200, 'a token younger than the sweep age stays until its publisher withdraws it');
  });
});
