/**
 * Several instances, one leader: what the leader's responder publishes, every instance's HTTP server
 * answers, through the board they share (here the storage-directory board on one temporary directory).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { request } from 'undici';
import { ChallengeResponder } from '../../src/acme/challenges.js';
import type { ChallengeBoard } from '../../src/ha/challenge-board.js';
import { FileChallengeBoard } from '../../src/ha/file-challenge-board.js';
import { closeServer, createHttpServer, listen } from '../../src/http/server.js';
import { silentLogger } from '../../src/log.js';

async function serve(t: TestContext, responder: ChallengeResponder): Promise<(token: string) => Promise<{ status: number; body: string }>> {
  const server = createHttpServer({ responder, health: () => ({ healthy: true, problems: [], details: {} }), logger: silentLogger() });
  const { port } = await listen(server, '127.0.0.1', 0);
  t.after(() => closeServer(server));
  return async (token) => {
    const res = await request(`http://127.0.0.1:${port}/.well-known/acme-challenge/${token}`);
    return { status: res.statusCode, body: await res.body.text() };
  };
}

describe('challenges shared through a board', () => {
  it('are answered by every instance while the leader holds them, and by none after', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'ma-shared-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const leader = new ChallengeResponder(new FileChallengeBoard(dir));
    const follower = new ChallengeResponder(new FileChallengeBoard(dir));
    const askLeader = await serve(t, leader);
    const askFollower = await serve(t, follower);
    assert.equal(follower.shared, true);
    assert.deepEqual(await askFollower('tok_1'), { status: 404, body: 'Not Found\n' });
    await leader.publish('tok_1', 'tok_1.thumb');
    assert.deepEqual(await askFollower('tok_1'), { status: 200, body: 'tok_1.thumb' });
    assert.deepEqual(await askLeader('tok_1'), { status: 200, body: 'tok_1.thumb' });
    await leader.withdraw('tok_1');
    assert.equal((await askFollower('tok_1')).status, 404);
    assert.equal((await askLeader('tok_1')).status, 404);
    assert.equal((await askFollower('..%2Fclient.key')).status, 404);
  });

  it('does not hold a token that could not go on the board, and withdraws even when the board is down', async () => {
    let up = false;
    const board: ChallengeBoard = {
      publish: () => (up ? Promise.resolve() : Promise.reject(new Error('ZooKeeper unreachable'))),
      withdraw: () => Promise.reject(new Error('ZooKeeper unreachable')),
      lookup: () => Promise.resolve(undefined),
    };
    const responder = new ChallengeResponder(board);
    await assert.rejects(responder.publish('tok', 'tok.k'), /ZooKeeper unreachable/);
    assert.equal(responder.lookup('tok'), undefined, 'the CA is never told to look at a token followers cannot serve');
    up = true;
    await responder.publish('tok', 'tok.k');
    assert.equal(responder.lookup('tok'), 'tok.k');
    await responder.withdraw('tok');
    assert.equal(responder.lookup('tok'), undefined);
  });
});
