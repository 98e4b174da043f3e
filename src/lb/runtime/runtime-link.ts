/**
 * Loading certificates into one HAProxy over its runtime API, one name and one transaction at a time
 * (HAProxy keeps a single certificate transaction open at once): a new name gets a new store, its
 * PEM, a commit and a place in the crt directory; a changed name a new PEM and a commit; a name whose
 * file is gone is taken out. Nothing here replaces the file on disk, which the next reload reads.
 */
import { parseBundle } from '../../certs/bundle.js';
import type { Logger } from '../../log.js';
import { errorText } from '../../util/error-text.js';
import { answerError, findCertsDirectory, listedNames, normaliseSerial, parseStoreInfo, versionRefusal, type RuntimeStep } from './runtime-answers.js';
import type { RuntimeCommand } from './haproxy-socket.js';

export interface RuntimeLinkOptions {
  /** The --lb URL as displayed: the key of every log line and record. */
  lb: string;
  /** The stats socket as displayed (no secrets in it). */
  socket: string;
  command: RuntimeCommand;
  /** The text of certs/<name>.pem, or undefined once the file is gone (retired). */
  readBundle: (name: string) => Promise<string | undefined>;
  logger: Logger;
}

export type RuntimeChange = 'added' | 'replaced' | 'removed' | 'absent';

export interface RuntimeResult {
  done: Array<{ name: string; change: RuntimeChange }>;
  failed: Array<{ name: string; error: string }>;
}

export class RuntimeLink {
  private queue: Promise<unknown> = Promise.resolve();
  private certsDir: string | undefined;

  constructor(private readonly options: RuntimeLinkOptions) {}

  /** Loads the current files of `names` into HAProxy, after whatever this LB is loading now. Never rejects. */
  push(names: readonly string[]): Promise<RuntimeResult> {
    const run = this.queue.then(() => this.pushNow(names));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Resolves once nothing is being loaded. */
  async idle(): Promise<void> {
    await this.queue;
  }

  private async pushNow(names: readonly string[]): Promise<RuntimeResult> {
    const result: RuntimeResult = { done: [], failed: [] };
    let dir: string;
    try {
      dir = await this.directory();
    } catch (err) {
      for (const name of names) result.failed.push({ name, error: errorText(err) });
      return result;
    }
    for (const name of names) {
      try {
        result.done.push({ name, change: await this.one(dir, name) });
      } catch (err) {
        result.failed.push({ name, error: errorText(err) });
        // The directory may have moved (marathon-lb restarted with another mount): look again next time.
        this.certsDir = undefined;
      }
    }
    return result;
  }

  private async directory(): Promise<string> {
    if (this.certsDir !== undefined) return this.certsDir;
    const { command } = this.options;
    const refusal = versionRefusal(await command('show info'));
    if (refusal !== undefined) throw new Error(refusal);
    const [lists, certs] = [listedNames(await command('show ssl crt-list')), listedNames(await command('show ssl cert'))];
    const found = findCertsDirectory(lists, certs);
    if ('error' in found) throw new Error(found.error);
    this.certsDir = found.dir;
    this.options.logger.info({ lb: this.options.lb, socket: this.options.socket, certsDir: found.dir }, "HAProxy's runtime API answers; certificates are loaded into it without a reload");
    return found.dir;
  }

  private async one(dir: string, name: string): Promise<RuntimeChange> {
    const file = `${dir}/${name}.pem`;
    const bundle = await this.options.readBundle(name);
    const store = parseStoreInfo(await this.options.command(`show ssl cert ${file}`));
    if (bundle === undefined) {
      if (store === undefined) return 'absent';
      if (store.used) await this.step('delList', `del ssl crt-list ${dir} ${file}`);
      await this.step('delCert', `del ssl cert ${file}`);
      return 'removed';
    }
    const parsed = parseBundle(bundle);
    if (!parsed.ok) throw new Error(`certs/${name}.pem cannot be loaded: ${parsed.reason}`);
    if (store === undefined) await this.step('new', `new ssl cert ${file}`);
    try {
      await this.step('set', `set ssl cert ${file}`, bundle);
      await this.step('commit', `commit ssl cert ${file}`);
    } catch (err) {
      // Leaves no half transaction behind to block the next one.
      await this.options.command(`abort ssl cert ${file}`).catch(() => undefined);
      throw err;
    }
    if (store?.used !== true) await this.step('add', `add ssl crt-list ${dir} ${file}`);
    const now = parseStoreInfo(await this.options.command(`show ssl cert ${file}`));
    const wanted = normaliseSerial(parsed.bundle.leaf.serialHex);
    if (now?.used !== true || now.serial !== wanted) {
      throw new Error(`after the commit HAProxy holds ${now === undefined ? 'no store' : `serial ${now.serial ?? 'none'} (${now.used ? 'used' : 'unused'})`} for ${file}, not serial ${wanted}`);
    }
    return store === undefined ? 'added' : 'replaced';
  }

  private async step(step: RuntimeStep, line: string, payload?: string): Promise<void> {
    const answer = await this.options.command(line, payload);
    const error = answerError(step, answer);
    if (error !== undefined) throw new Error(`${line.split(' ').slice(0, 3).join(' ')}: ${error}`);
  }
}
