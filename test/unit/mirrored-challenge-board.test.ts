/**
 * The --zk board pair: published on both boards, read from the first and else from the second, so a
 * challenge stays answerable while ZooKeeper (the first) cannot be reached.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChallengeBoard } from '../../src/ha/challenge-board.js';
import { MirroredChallengeBoard } from '../../src/ha/mirrored-challenge-board.js';

/** A board in memory that can be made to fail, as a ZooKeeper board does while disconnected. */
class MemoryBoard implements ChallengeBoard {
  readonly entries = new Map<string, string>();
  down = false;

  publish(token: string, keyAuthorization: string): Promise<void> {
    if (this.down) return Promise.reject(new Error(`${token}: board down`));
    this.entries.set(token, keyAuthorization);
    return Promise.resolve();
  }

  withdraw(token: string): Promise<void> {
    if (this.down) return Promise.reject(new Error(`${token}: board down`));
    this.entries.delete(token);
    return Promise.resolve();
  }

  lookup(token: string): Promise<string | undefined> {
    return Promise.resolve(this.down ? undefined : this.entries.get(token));
  }
}

describe('MirroredChallengeBoard', () => {
  it('publishes on both boards and answers from the second while the first is down', async () => {
    const zk = new MemoryBoard();
    const files = new MemoryBoard();
    const board = new MirroredChallengeBoard(zk, files);
    await board.publish('tok', 'tok.thumb');
    assert.deepEqual([zk.entries.get('tok'), files.entries.get('tok')], ['tok.thumb', 'tok.thumb']);
    zk.down = true;
    assert.equal(await board.lookup('tok'), 'tok.thumb', 'read from the storage directory while ZooKeeper is away');
    await board.publish('tok2', 'tok2.thumb');
    assert.equal(await board.lookup('tok2'), 'tok2.thumb', 'a publish one board took is a publish');
    await board.withdraw('tok2');
    assert.equal(files.entries.has('tok2'), false);
    zk.down = false;
    assert.equal(await board.lookup('tok2'), undefined);
  });

  it('fails a publish only when neither board took it, naming both reasons', async () => {
    const zk = new MemoryBoard();
    const files = new MemoryBoard();
    zk.down = true;
    files.down = true;
    const board = new MirroredChallengeBoard(zk, files);
    await assert.rejects(board.publish('tok', 'tok.thumb'), /cannot publish the challenge on either board: tok: board down; tok: board down/);
    await assert.rejects(board.withdraw('tok'), /board down/);
  });
});
