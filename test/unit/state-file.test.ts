import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CertStore } from '../../src/certs/store.js';
import { silentLogger } from '../../src/log.js';
import { StateFile } from '../../src/state/state-file.js';
import { emptyState, STATE_FILE, type CertState, type DaemonState } from '../../src/state/state.js';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** A real store whose writes can be held at the start and made to fail, and are counted. */
class GatedStore extends CertStore {
  writes = 0;
  private gate: Promise<void> = Promise.resolve();
  private openGate: () => void = () => undefined;
  private started: (() => void) | undefined;
  private readonly failures: (Error | undefined)[] = [];

  hold(): void {
    this.gate = new Promise((resolve) => {
      this.openGate = resolve;
    });
  }

  release(): void {
    this.openGate();
  }

  /** Resolves when the next write has begun (and is waiting at the gate, if held). */
  nextWriteStarted(): Promise<void> {
    return new Promise((resolve) => {
      this.started = resolve;
    });
  }

  /** The write after the next `skip` writes fails with `error`. */
  failWrite(skip: number, error: Error): void {
    this.failures[skip] = error;
  }

  override async writeFileAtomic(relativePath: string, content: string, mode: number): Promise<void> {
    this.writes += 1;
    const failure = this.failures.shift();
    this.started?.();
    this.started = undefined;
    await this.gate;
    if (failure !== undefined) throw failure;
    await super.writeFileAtomic(relativePath, content, mode);
  }
}

/** serializeState walks the names once per serialisation; counting that counts serialisations. */
class CountingMap extends Map<string, CertState> {
  walks = 0;
  override keys(): MapIterator<string> {
    this.walks += 1;
    return super.keys();
  }
}

async function setup(): Promise<{ store: GatedStore; file: StateFile; state: DaemonState; names: CountingMap; onDisk: () => Promise<string[]> }> {
  const dir = await mkdtemp(join(tmpdir(), 'ma-state-'));
  dirs.push(dir);
  const store = new GatedStore(dir);
  const names = new CountingMap();
  const state = { ...emptyState(), certificates: names };
  const onDisk = async (): Promise<string[]> =>
    Object.keys((JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as { certificates: Record<string, unknown> }).certificates);
  return { store, file: new StateFile(store, silentLogger()), state, names, onDisk };
}

describe('StateFile.save', () => {
  it('makes the saves that arrive while a write is in flight share one serialisation and one write', async () => {
    const { store, file, state, names, onDisk } = await setup();
    store.hold();
    const started = store.nextWriteStarted();
    state.certificates.set('a.example.test', { lastWantedAt: 1 });
    const first = file.save(state);
    await started;
    assert.equal(names.walks, 1);

    const later: Promise<void>[] = [];
    const settled: string[] = [];
    for (const name of ['b', 'c', 'd', 'e', 'f']) {
      state.certificates.set(`${name}.example.test`, { lastWantedAt: 2 });
      const saved = file.save(state);
      void saved.then(() => settled.push(name));
      later.push(saved);
    }
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(names.walks, 1, 'nothing serialised while the write waits');
    assert.deepEqual(settled, [], 'nothing resolves before its changes are written');

    store.release();
    await first;
    await Promise.all(later);
    assert.equal(store.writes, 2, 'one more write for five saves');
    assert.equal(names.walks, 2, 'one more serialisation for five saves');
    assert.deepEqual(await onDisk(), ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => `${n}.example.test`));
  });

  it('skips the write when nothing changed since the last one', async () => {
    const { store, file, state } = await setup();
    state.certificates.set('a.example.test', { lastWantedAt: 1 });
    await file.save(state);
    await file.save(state);
    assert.equal(store.writes, 1);
  });

  it('rejects every caller waiting on a failed write, and writes again on the next save', async () => {
    const { store, file, state, onDisk } = await setup();
    store.hold();
    store.failWrite(1, new Error('ENOSPC: disk full'));
    const started = store.nextWriteStarted();
    state.certificates.set('a.example.test', { lastWantedAt: 1 });
    const first = file.save(state);
    await started;
    state.certificates.set('b.example.test', { lastWantedAt: 2 });
    const second = file.save(state);
    const third = file.save(state);
    store.release();
    await first;
    await assert.rejects(second, /ENOSPC/);
    await assert.rejects(third, /ENOSPC/);
    assert.deepEqual(await onDisk(), ['a.example.test']);

    await file.save(state);
    assert.equal(store.writes, 3);
    assert.deepEqual(await onDisk(), ['a.example.test', 'b.example.test']);
  });
});
