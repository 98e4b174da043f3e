import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { BoardTokenError } from '../../src/ha/challenge-board.js';
import { CHALLENGES_DIR, FileChallengeBoard } from '../../src/ha/file-challenge-board.js';

async function storage(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ma-board-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe('FileChallengeBoard', () => {
  it('lets another instance on the same directory read what the leader published, until it is withdrawn', async (t) => {
    const dir = await storage(t);
    const leader = new FileChallengeBoard(dir);
    const follower = new FileChallengeBoard(dir);
    assert.equal(await follower.lookup('tok_1'), undefined, 'nothing before the first publish (no directory yet)');
    await leader.publish('tok_1', 'tok_1.thumbprint');
    await leader.publish('tok_1', 'tok_1.other');
    assert.equal(await follower.lookup('tok_1'), 'tok_1.other', 'a second publish replaces the first');
    assert.equal((await stat(join(dir, CHALLENGES_DIR, 'tok_1'))).mode & 0o777, 0o644);
    assert.deepEqual(await readdir(join(dir, CHALLENGES_DIR)), ['tok_1'], 'no temporary file is left');
    await leader.withdraw('tok_1');
    await leader.withdraw('tok_1');
    assert.equal(await follower.lookup('tok_1'), undefined);
  });

  it('takes only base64url tokens, so that no token names a file elsewhere', async (t) => {
    const dir = await storage(t);
    const board = new FileChallengeBoard(dir);
    for (const token of ['../client.key', 'a/b', '.hidden', '', 'x'.repeat(300), 'tok en']) {
      await assert.rejects(board.publish(token, 'k'), BoardTokenError, JSON.stringify(token));
      await assert.rejects(board.withdraw(token), BoardTokenError);
      assert.equal(await board.lookup(token), undefined);
    }
  });

  it('sweeps what a dead leader left, and nothing younger than the age given', async (t) => {
    const dir = await storage(t);
    const board = new FileChallengeBoard(dir);
    await board.publish('old', 'old.k');
    await board.publish('new', 'new.k');
    const now = Date.now();
    const tenMinutesAgo = new Date(now - 600_000);
    await utimes(join(dir, CHALLENGES_DIR, 'old'), tenMinutesAgo, tenMinutesAgo);
    assert.equal(await board.sweep(now, 300_000), 1);
    assert.deepEqual(await readdir(join(dir, CHALLENGES_DIR)), ['new']);
    assert.equal(await new FileChallengeBoard(join(dir, 'missing')).sweep(now, 0), 0);
  });
});
