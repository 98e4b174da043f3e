import type { CertStore } from '../certs/store.js';
import type { Logger } from '../log.js';
import { emptyState, parseState, serializeState, STATE_FILE, type DaemonState } from './state.js';

/**
 * `state.json` in the storage directory: readable JSON, written atomically through the store, one
 * write at a time and only when its content changed. A damaged file is kept beside it under another
 * name (nothing lost) and the daemon goes on with what could be read.
 */
export class StateFile {
  private lastWritten: string | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: CertStore,
    private readonly logger: Logger,
  ) {}

  async load(now: Date): Promise<DaemonState> {
    const text = await this.store.readText(STATE_FILE);
    if (text === undefined) return emptyState();
    const { state, problems } = parseState(text);
    if (problems.length > 0) {
      const copy = `${STATE_FILE}.damaged-${now.toISOString().replace(/[:.]/g, '')}`;
      await this.store.writeFileAtomic(copy, text, 0o600);
      this.logger.warn({ file: STATE_FILE, keptAs: copy, problems: problems.slice(0, 10) }, 'parts of the state file could not be read; going on with the rest');
    }
    this.lastWritten = problems.length === 0 ? text : undefined;
    return state;
  }

  /** Queues a write of `state`; resolves once it (or a later one covering it) is on disk. */
  save(state: DaemonState): Promise<void> {
    const text = serializeState(state);
    this.writing = this.writing.then(async () => {
      if (text === this.lastWritten) return;
      await this.store.writeFileAtomic(STATE_FILE, text, 0o600);
      this.lastWritten = text;
    });
    return this.writing;
  }
}
