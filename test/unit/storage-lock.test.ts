import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { silentLogger } from '../../src/log.js';
import { judgeLock, LOCK_FILE, parseLockRecord, serializeLockRecord, type LocalHost, type LockRecord } from '../../src/storage/lock-holder.js';
import { lookAtLock, StorageLock, StorageLockedError } from '../../src/storage/lock.js';
import { ManualClock } from '../support/manual-clock.js';

const T0 = Date.parse('2026-03-01T10:00:00Z');
const HERE: LocalHost = { hostname: 'node-a', hostId: 'boot-1 pid:[4026531836]' };
const ELSEWHERE: LocalHost = { hostname: 'node-b', hostId: 'boot-2 pid:[4026531836]' };
const alive = () => true;
const dead = () => false;

function record(overrides: Partial<LockRecord> = {}): LockRecord {
  return { pid: 4242, hostname: HERE.hostname, hostId: HERE.hostId, purpose: 'daemon', started: T0 - 3_600_000, heartbeat: T0, token: 'a'.repeat(32), ...overrides };
}

async function storage(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ma-lock-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function readRecord(dir: string): Promise<LockRecord | undefined> {
  return parseLockRecord(await readFile(join(dir, LOCK_FILE), 'utf8'));
}

describe('storage lock: who counts as holding it', () => {
  it('reads back what it writes, and refuses anything that is not a complete record', () => {
    const r = record({ hostId: undefined });
    assert.deepEqual(parseLockRecord(serializeLockRecord(r)), r);
    assert.deepEqual(parseLockRecord(serializeLockRecord(record())), record());
    for (const text of ['', '{', '[]', '{"pid":1}', serializeLockRecord(record()).replace(/"token": "a+"/, '"token": ""')]) {
      assert.equal(parseLockRecord(text), undefined, text);
    }
  });

  it('is live with a fresh heartbeat on another host, whatever the pid, and stale once the heartbeat is a minute old', () => {
    const other = record({ hostname: ELSEWHERE.hostname, hostId: ELSEWHERE.hostId });
    assert.deepEqual(judgeLock({ ...other, heartbeat: T0 - 59_000 }, T0, HERE, dead), { kind: 'live' }, 'a pid on another host says nothing');
    const stale = judgeLock({ ...other, heartbeat: T0 - 61_000 }, T0, HERE, alive);
    assert.ok(stale.kind === 'stale');
    assert.match(stale.reason, /61 s old/);
  });

  it('is stale at once on this host when its process is gone, and live while it runs', () => {
    const judged = judgeLock(record(), T0, HERE, (pid) => pid !== 4242);
    assert.deepEqual(judged, { kind: 'stale', reason: 'process 4242 on this host is gone' });
    assert.deepEqual(judgeLock(record(), T0, HERE, alive), { kind: 'live' });
  });

  it('does not trust the pid of a holder with the same host name in another pid namespace (containers)', () => {
    const otherContainer = record({ hostId: 'boot-1 pid:[4026532999]' });
    assert.deepEqual(judgeLock(otherContainer, T0, HERE, dead), { kind: 'live' });
  });

  it('falls back to the host name where neither side knows its kernel and namespace', () => {
    const local = { hostname: 'node-a', hostId: undefined };
    assert.equal(judgeLock(record({ hostId: undefined }), T0, local, dead).kind, 'stale');
    assert.equal(judgeLock(record({ hostId: undefined, hostname: 'node-b' }), T0, local, dead).kind, 'live');
  });

  it('counts a heartbeat from the future (a clock ahead of ours) as fresh', () => {
    assert.deepEqual(judgeLock(record({ hostname: 'node-b', hostId: 'x', heartbeat: T0 + 30_000 }), T0, HERE, dead), { kind: 'live' });
  });
});

describe('storage lock: the file', () => {
  const options = (dir: string, clock: ManualClock, extra: Partial<Parameters<typeof StorageLock.acquire>[0]> = {}) => ({
    dir, purpose: 'daemon', logger: silentLogger(), clock, local: HERE, pidAlive: alive, ...extra,
  });

  it('is created at acquire, refreshed every 10 s, and removed at release', async (t) => {
    const dir = await storage(t);
    const clock = new ManualClock(T0);
    const lock = await StorageLock.acquire(options(dir, clock));
    const first = await readRecord(dir);
    assert.ok(first !== undefined);
    assert.equal(first.pid, process.pid);
    assert.equal(first.heartbeat, T0);
    await clock.advance(10_000);
    await eventuallyTrue(async () => (await readRecord(dir))?.heartbeat === T0 + 10_000);
    assert.equal((await readRecord(dir))?.token, first.token);
    await lock.release();
    assert.deepEqual(await readdir(dir), [], 'no lock file and no temporary file left');
    await lock.release();
  });

  it('refuses a second holder while the first is live, naming it', async (t) => {
    const dir = await storage(t);
    const clock = new ManualClock(T0);
    await writeFile(join(dir, LOCK_FILE), serializeLockRecord(record({ hostname: 'node-b', hostId: ELSEWHERE.hostId, pid: 77, heartbeat: T0 - 5_000 })));
    const err = await StorageLock.acquire(options(dir, clock)).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof StorageLockedError);
    assert.match(err.message, /locked by marathon-acme daemon, pid 77 on host node-b, since .*, last heartbeat 5 s ago/);
    assert.match(err.message, /taken over once the heartbeat is 60 s old/);
    assert.equal((await readRecord(dir))?.pid, 77, 'the holder keeps its lock');
  });

  it("takes over another host's lock whose heartbeat stopped a minute ago", async (t) => {
    const dir = await storage(t);
    const clock = new ManualClock(T0);
    await writeFile(join(dir, LOCK_FILE), serializeLockRecord(record({ hostname: 'node-b', hostId: ELSEWHERE.hostId, heartbeat: T0 - 61_000 })));
    const lock = await StorageLock.acquire(options(dir, clock));
    assert.equal((await readRecord(dir))?.pid, process.pid);
    await lock.release();
  });

  it('takes over at once the lock of a process on this host that is gone (a SIGKILLed daemon)', async (t) => {
    const dir = await storage(t);
    const clock = new ManualClock(T0);
    await writeFile(join(dir, LOCK_FILE), serializeLockRecord(record({ pid: 999_999, heartbeat: T0 - 1_000 })));
    const lock = await StorageLock.acquire(options(dir, clock, { pidAlive: (pid) => pid !== 999_999 }));
    assert.equal((await readRecord(dir))?.pid, process.pid);
    await lock.release();
  });

  it('refuses while the lock file is unreadable but young, and takes it over once it is a minute old', async (t) => {
    const dir = await storage(t);
    await writeFile(join(dir, LOCK_FILE), '{"pid": 12');
    const now = Date.now();
    await assert.rejects(StorageLock.acquire(options(dir, new ManualClock(now))), /being written or is damaged/);
    const lock = await StorageLock.acquire(options(dir, new ManualClock(now + 61_000)));
    assert.equal((await readRecord(dir))?.pid, process.pid);
    await lock.release();
  });

  it('tells the holder once another process has taken the lock over, and then leaves the file alone', async (t) => {
    const dir = await storage(t);
    const clock = new ManualClock(T0);
    const lost: Error[] = [];
    const lock = await StorageLock.acquire(options(dir, clock, { onLost: (err: Error) => { lost.push(err); } }));
    const usurper = serializeLockRecord(record({ hostname: 'node-b', hostId: ELSEWHERE.hostId, pid: 88, token: 'b'.repeat(32) }));
    await writeFile(join(dir, LOCK_FILE), usurper);
    await clock.advance(10_000);
    await eventuallyTrue(() => lost.length === 1);
    assert.match(lost[0]?.message ?? '', /another process took over the lock .*pid 88 on host node-b/);
    await lock.release();
    assert.equal(await readFile(join(dir, LOCK_FILE), 'utf8'), usurper, "release does not remove another holder's lock");
  });

  it('creates the file again when it was removed by hand while held', async (t) => {
    const dir = await storage(t);
    const clock = new ManualClock(T0);
    const lock = await StorageLock.acquire(options(dir, clock));
    const token = (await readRecord(dir))?.token;
    await rm(join(dir, LOCK_FILE));
    await clock.advance(10_000);
    await eventuallyTrue(async () => (await readRecord(dir).catch(() => undefined))?.token === token);
    await lock.release();
  });

  it('says the directory does not exist rather than that it is locked', async (t) => {
    const dir = await storage(t);
    await assert.rejects(StorageLock.acquire(options(join(dir, 'missing'), new ManualClock(T0))), /storage directory .*missing does not exist/);
  });

  it('looks at the lock without touching it: free, live or stale', async (t) => {
    const dir = await storage(t);
    assert.deepEqual(await lookAtLock(dir, { now: T0, local: HERE }), { kind: 'free' });
    await writeFile(join(dir, LOCK_FILE), serializeLockRecord(record({ hostId: ELSEWHERE.hostId, heartbeat: T0 - 120_000 })));
    const look = await lookAtLock(dir, { now: T0, local: HERE, pidAlive: alive });
    assert.equal(look.kind === 'held' ? look.verdict.kind : look.kind, 'stale');
  });
});

async function eventuallyTrue(check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.fail('condition never held');
}
