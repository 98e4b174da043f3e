/**
 * The challenge board in the storage directory, used without `--zk`: `<storage>/challenges/<token>`,
 * one small file per pending token, written to a temporary name and renamed into place so that a
 * reader never sees half of one. The instances already share the directory (the certificates are
 * there), so this needs nothing else. On NFS another host may not see a new file for as long as its
 * attribute cache lasts (3 s by default, `actimeo`), so a follower there can miss a CA's first
 * request; with instances on several hosts, `--zk` is the better board.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CHALLENGE_TOKEN } from '../acme/challenges.js';
import { checkBoardToken, MAX_KEY_AUTHORIZATION, type ChallengeBoard } from './challenge-board.js';

export const CHALLENGES_DIR = 'challenges';

export class FileChallengeBoard implements ChallengeBoard {
  private readonly dir: string;

  constructor(storageDir: string) {
    this.dir = join(storageDir, CHALLENGES_DIR);
  }

  async publish(token: string, keyAuthorization: string): Promise<void> {
    checkBoardToken(token);
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
    const temporary = join(this.dir, `.${token}.${randomBytes(6).toString('hex')}`);
    try {
      // Readable by the other instances, which may run as another user of the same group.
      await writeFile(temporary, keyAuthorization, { mode: 0o644, flag: 'wx' });
      await rename(temporary, join(this.dir, token));
    } catch (err) {
      await rm(temporary, { force: true });
      throw err;
    }
  }

  async withdraw(token: string): Promise<void> {
    checkBoardToken(token);
    await rm(join(this.dir, token), { force: true });
  }

  async lookup(token: string): Promise<string | undefined> {
    if (!CHALLENGE_TOKEN.test(token)) return undefined;
    try {
      const text = await readFile(join(this.dir, token), 'utf8');
      return text.length > MAX_KEY_AUTHORIZATION ? undefined : text;
    } catch {
      return undefined;
    }
  }

  /**
   * Removes what a leader that died left behind (tokens and temporary files older than `maxAgeMs`);
   * a new leader calls it when it takes over. Returns how many files went.
   */
  async sweep(now: number, maxAgeMs: number): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return 0;
    }
    let removed = 0;
    for (const name of names) {
      const path = join(this.dir, name);
      try {
        if (now - (await stat(path)).mtimeMs < maxAgeMs) continue;
        await rm(path, { force: true });
        removed++;
      } catch {
        // Gone meanwhile (withdrawn by its publisher): nothing to do.
      }
    }
    return removed;
  }
}
