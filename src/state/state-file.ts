import type { CertStore } from '../certs/store.js';
import type { Logger } from '../log.js';
import { textDigest } from '../util/text-digest.js';
import { emptyState, parseState, serializeState, STATE_FILE, type DaemonState } from './state.js';

interface QueuedWrite {
  /** The newest state saved while this write waited; it is serialised when the write starts. */
  state: DaemonState;
  readonly written: Promise<void>;
}

/**
 * `state.json` in the storage directory: readable JSON, written atomically through the store, one
 * write at a time and only when its content changed. A damaged file is kept beside it under another
 * name (nothing lost) and the daemon goes on with what could be read.
 */
export class StateFile {
  /** textDigest of the text last read or written; undefined when that is unknown. */
  private lastWritten: string | undefined;
  /** The write that waits for the one in progress; every save until it starts joins it. */
  private queued: QueuedWrite | undefined;
  /** Settles when the last write queued is over; never rejects, so one failure does not stop the rest. */
  private previous: Promise<void> = Promise.resolve();

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
    this.lastWritten = problems.length === 0 ? textDigest(text) : undefined;
    return state;
  }

  /**
   * Queues a write of `state`; resolves once it (or a later one covering it) is on disk, rejects if
   * that write fails. Callers save after every change to the one shared state, and serialising a big
   * state costs tens of milliseconds, so saves made while a write waits share it, and it serialises
   * when it starts, covering every change made until then.
   */
  save(state: DaemonState): Promise<void> {
    if (this.queued !== undefined) {
      this.queued.state = state;
      return this.queued.written;
    }
    const queued: QueuedWrite = { state, written: this.previous.then(() => this.write(queued)) };
    this.queued = queued;
    this.previous = queued.written.catch(() => undefined);
    return queued.written;
  }

  private async write(queued: QueuedWrite): Promise<void> {
    // Serialised from here on: a change made after this point needs a write of its own.
    this.queued = undefined;
    const text = serializeState(queued.state);
    const digest = textDigest(text);
    if (digest === this.lastWritten) return;
    await this.store.writeFileAtomic(STATE_FILE, text, 0o600);
    this.lastWritten = digest;
  }
}
