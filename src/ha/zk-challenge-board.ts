/**
 * The challenge board in ZooKeeper, used with `--zk`: one ephemeral node per pending token under
 * `<path>/challenges`, holding the key authorization. Ephemeral, so a leader that dies or loses its
 * session takes its challenges with it (its orders are abandoned anyway). ZooKeeper rather than the
 * storage directory because the instances may run on different hosts whose view of a shared (NFS)
 * directory lags: a new file can stay invisible to another host for seconds of attribute caching,
 * while a ZooKeeper `sync` before the read guarantees it sees a publish that completed before.
 */
import type { ZkClient } from '../zk/client.js';
import { CREATE_MODE, ERR, ZkError } from '../zk/protocol.js';
import { CHALLENGE_TOKEN } from '../acme/challenges.js';
import { checkBoardToken, MAX_KEY_AUTHORIZATION, type ChallengeBoard } from './challenge-board.js';


export class ZkChallengeBoard implements ChallengeBoard {
  private readonly dir: string;
  private prepared = false;

  constructor(
    private readonly client: ZkClient,
    root: string,
  ) {
    this.dir = `${root}/challenges`;
  }

  async publish(token: string, keyAuthorization: string): Promise<void> {
    checkBoardToken(token);
    if (!this.prepared) {
      await this.client.ensurePath(this.dir);
      this.prepared = true;
    }
    const data = Buffer.from(keyAuthorization, 'utf8');
    try {
      await this.client.create(this.node(token), data, CREATE_MODE.ephemeral);
    } catch (err) {
      if (!(err instanceof ZkError && err.code === ERR.nodeExists)) throw err;
      await this.client.setData(this.node(token), data);
    }
  }

  async withdraw(token: string): Promise<void> {
    checkBoardToken(token);
    try {
      await this.client.delete(this.node(token));
    } catch (err) {
      if (!(err instanceof ZkError && err.code === ERR.noNode)) throw err;
    }
  }

  async lookup(token: string): Promise<string | undefined> {
    if (!CHALLENGE_TOKEN.test(token)) return undefined;
    try {
      await this.client.sync(this.dir);
      const { data } = await this.client.getData(this.node(token));
      return data.length > MAX_KEY_AUTHORIZATION ? undefined : data.toString('utf8');
    } catch (err) {
      if (err instanceof ZkError) return undefined;
      throw err;
    }
  }

  private node(token: string): string {
    return `${this.dir}/${token}`;
  }
}
