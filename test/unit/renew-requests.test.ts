import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { silentLogger } from '../../src/log.js';
import { askDaemon } from '../../src/renew/ask-daemon.js';
import { runRenew } from '../../src/renew/command.js';
import {
  classifyRequestFile,
  formatRequest,
  formatResult,
  newRequestId,
  parseRequest,
  parseResult,
  requestFileName,
  REQUESTS_DIR,
  type RenewRequestFile,
  type RenewResult,
} from '../../src/renew/protocol.js';
import { formatOutcomes, outcomeExitCode } from '../../src/renew/report.js';
import { watchRenewRequests } from '../../src/renew/request-watcher.js';
import { planSweep } from '../../src/renew/sweep.js';
import { LOCK_FILE, serializeLockRecord, type LocalHost } from '../../src/storage/lock-holder.js';
import { StorageLock } from '../../src/storage/lock.js';
import type { ForcedRenewal } from '../../src/sync/forced-renewal.js';
import { ManualClock } from '../support/manual-clock.js';
import { memoryLogger } from '../support/memory-logger.js';
import { testConfig } from '../support/config.js';

const T0 = Date.parse('2026-03-01T10:00:00Z');
const HERE: LocalHost = { hostname: 'node-a', hostId: 'boot-1 pid:[1]' };
const ID = 'renew-20260301T100000.000Z-0123456789abcdef';
const HOUR = 3_600_000;

async function storage(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ma-renew-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Moves the manual clock on in steps until `promise` settles; the file work in between is real I/O. */
async function drive<T>(clock: ManualClock, promise: Promise<T>, stepMs = 500): Promise<T> {
  const state = { settled: false };
  const done = promise.finally(() => { state.settled = true; });
  for (let i = 0; i < 2_000 && !state.settled; i++) {
    await new Promise((r) => setTimeout(r, 2));
    await clock.advance(stepMs);
  }
  return done;
}

describe('renew requests: files and their content', () => {
  it('names request files by time and a random part, and knows the three kinds apart', () => {
    const id = newRequestId(T0, '0123456789abcdef');
    assert.equal(id, ID);
    assert.deepEqual(classifyRequestFile(requestFileName(id, 'request')), { id, kind: 'request' });
    assert.deepEqual(classifyRequestFile(requestFileName(id, 'taken')), { id, kind: 'taken' });
    assert.deepEqual(classifyRequestFile(requestFileName(id, 'result')), { id, kind: 'result' });
    for (const other of ['notes.txt', `${id}.json.bak`, `.${id}.json.abc`, 'renew-now.json']) assert.equal(classifyRequestFile(other), undefined, other);
  });

  it('reads back a request it wrote, and refuses malformed ones with a reason', () => {
    const request: RenewRequestFile = { names: ['a.example.com', 'b.example.com'], all: false, requestedAt: T0, requestedBy: { pid: 12, hostname: 'h' } };
    assert.deepEqual(parseRequest(formatRequest(request)), { ok: true, request });
    const cases: Array<[string, RegExp]> = [
      ['not json', /not a JSON object/],
      ['{"version":2,"names":[],"all":true}', /version 2/],
      ['{"version":1,"names":[],"all":false}', /not both or neither/],
      ['{"version":1,"names":["a.example"],"all":true}', /not both or neither/],
      ['{"version":1,"names":["../../etc/passwd"],"all":false}', /is not a certificate name/],
      ['{"version":1,"names":["UPPER.example"],"all":false}', /is not a certificate name/],
      ['{"version":1,"names":"a.example","all":false}', /not a list of names/],
    ];
    for (const [text, reason] of cases) {
      const parsed = parseRequest(text);
      assert.ok(!parsed.ok, text);
      assert.match(parsed.reason, reason, text);
    }
  });

  it('reads back an answer it wrote', () => {
    const result: RenewResult = {
      answeredAt: T0,
      rejected: undefined,
      outcomes: [
        { name: 'a.example', outcome: 'renewed', notAfter: T0 + 90 * 24 * HOUR },
        { name: 'b.example', outcome: 'failed', problem: { type: 'connection', detail: 'Timeout during connect', status: 400 }, retryAt: T0 + 60_000 },
        { name: 'c.example', outcome: 'not-managed' },
      ],
    };
    assert.deepEqual(parseResult(formatResult(result)), result);
    assert.equal(parseResult('{"version":1,"outcomes":[{"name":"x","outcome":"maybe"}]}'), undefined);
  });

  it('prints one line per name and exits 1 on a failure, 2 on a name without a certificate', () => {
    const renewed: ForcedRenewal = { name: 'a.example', outcome: 'renewed', notAfter: Date.parse('2026-05-30T10:00:00Z') };
    const failed: ForcedRenewal = { name: 'bb.example', outcome: 'failed', problem: { type: 'rateLimited', detail: 'too many', status: 429 }, retryAt: T0 };
    assert.equal(
      formatOutcomes([renewed, failed]),
      'renewed  a.example   valid until 2026-05-30T10:00:00Z\n' +
      'failed   bb.example  rateLimited: too many (next automatic attempt after 2026-03-01T10:00:00Z)\n',
    );
    assert.equal(outcomeExitCode([renewed]), 0);
    assert.equal(outcomeExitCode([renewed, { name: 'c', outcome: 'not-managed' }]), 2);
    assert.equal(outcomeExitCode([failed, { name: 'c', outcome: 'not-managed' }]), 1);
  });

  it('sweeps: takes new requests, resumes orphaned ones, expires old ones and drops answers nobody collected', () => {
    const id = (n: number) => `renew-20260301T100000.000Z-${String(n).padStart(16, '0')}`;
    const fresh = T0 - 1_000;
    const old = T0 - HOUR - 1;
    const plan = planSweep([
      { fileName: `${id(1)}.json`, mtimeMs: fresh },
      { fileName: `${id(2)}.json`, mtimeMs: old },
      { fileName: `${id(3)}.taken.json`, mtimeMs: fresh },
      { fileName: `${id(4)}.taken.json`, mtimeMs: fresh },
      { fileName: `${id(5)}.taken.json`, mtimeMs: fresh },
      { fileName: `${id(5)}.result.json`, mtimeMs: fresh },
      { fileName: `${id(6)}.result.json`, mtimeMs: old },
      { fileName: `${id(7)}.taken.json`, mtimeMs: old },
      { fileName: `.${id(8)}.json.0a1b2c`, mtimeMs: old },
      { fileName: `.${id(9)}.json.0a1b2c`, mtimeMs: fresh },
      { fileName: 'README', mtimeMs: fresh },
    ], T0, new Set([id(4)]));
    assert.deepEqual(plan, {
      take: [id(1)],
      resume: [id(3)],
      expire: [`${id(2)}.json`, `${id(7)}.taken.json`],
      discard: [`${id(5)}.taken.json`, `${id(6)}.result.json`, `.${id(8)}.json.0a1b2c`],
      unknown: ['README'],
    });
  });
});

describe('renew requests: the command and the daemon through the storage directory', () => {
  async function daemonSide(t: TestContext, dir: string, clock: ManualClock, renew: (r: RenewRequestFile) => Promise<ForcedRenewal[]>) {
    const lock = await StorageLock.acquire({ dir, purpose: 'daemon', logger: silentLogger(), clock, local: HERE, pidAlive: () => true });
    const stop = new AbortController();
    const { logger, lines } = memoryLogger();
    const watching = watchRenewRequests({ storageDir: dir, clock, logger, signal: stop.signal, renew });
    t.after(async () => {
      stop.abort();
      await watching;
      await lock.release();
    });
    return { lines };
  }

  it('hands the names to the daemon, returns its answer and leaves no file behind', async (t) => {
    const dir = await storage(t);
    const clock = new ManualClock(T0);
    const asked: RenewRequestFile[] = [];
    await daemonSide(t, dir, clock, (request) => {
      asked.push(request);
      return Promise.resolve(request.names.map((name) => ({ name, outcome: 'renewed' as const, notAfter: T0 + HOUR })));
    });
    const outcome = await drive(clock, askDaemon({ storageDir: dir, names: ['a.example', 'b.example'], all: false, waitMs: 60_000, clock, local: HERE, pidAlive: () => true }));
    assert.ok(outcome.kind === 'answered');
    assert.deepEqual(outcome.result.outcomes.map((o) => o.outcome), ['renewed', 'renewed']);
    assert.deepEqual(asked.map((r) => [r.names, r.all, r.requestedBy.pid]), [[['a.example', 'b.example'], false, process.pid]]);
    assert.deepEqual(await readdir(join(dir, REQUESTS_DIR)), []);
  });

  it('answers a malformed request with the reason, and logs a warning', async (t) => {
    const dir = await storage(t);
    const clock = new ManualClock(T0);
    const { lines } = await daemonSide(t, dir, clock, () => Promise.reject(new Error('must not be called')));
    await mkdir(join(dir, REQUESTS_DIR), { recursive: true });
    await writeFile(join(dir, REQUESTS_DIR, `${ID}.json`), '{"version":1,"names":["a.example"],"all":true}');
    await drive(clock, waitFor(() => readdir(join(dir, REQUESTS_DIR)).then((f) => f.includes(`${ID}.result.json`))));
    const result = parseResult(await readFile(join(dir, REQUESTS_DIR, `${ID}.result.json`), 'utf8'));
    assert.match(result?.rejected ?? '', /cannot act on this request: it must name certificates or ask for all/);
    assert.ok(lines.some((l) => l.level === 'warn' && l.msg === 'ignoring a malformed renew request'));
    assert.deepEqual((await readdir(join(dir, REQUESTS_DIR))).sort(), [`${ID}.result.json`], 'the taken request is gone');
  });

  it('removes a request older than an hour instead of acting on it, and acts on one a stopped daemon had taken', async (t) => {
    const dir = await storage(t);
    await mkdir(join(dir, REQUESTS_DIR));
    const request = formatRequest({ names: ['a.example'], all: false, requestedAt: T0, requestedBy: { pid: 1, hostname: 'h' } });
    const oldId = ID.replace('0123456789abcdef', 'ffffffffffffffff');
    await writeFile(join(dir, REQUESTS_DIR, `${oldId}.json`), request);
    const past = new Date(Date.now() - 2 * HOUR);
    await utimes(join(dir, REQUESTS_DIR, `${oldId}.json`), past, past);
    await writeFile(join(dir, REQUESTS_DIR, `${ID}.taken.json`), request);
    const clock = new ManualClock(Date.now());
    const asked: string[][] = [];
    const { lines } = await daemonSide(t, dir, clock, (r) => {
      asked.push(r.names);
      return Promise.resolve([]);
    });
    await drive(clock, waitFor(() => readdir(join(dir, REQUESTS_DIR)).then((f) => f.includes(`${ID}.result.json`))));
    assert.deepEqual(await readdir(join(dir, REQUESTS_DIR)), [`${ID}.result.json`]);
    assert.deepEqual(asked, [['a.example']], 'only the young one was acted on');
    assert.ok(lines.some((l) => l.msg === 'removed a renew request that was not acted on within an hour'));
  });

  it('asks nothing when no daemon holds the lock, or a stale or offline one does', async (t) => {
    const dir = await storage(t);
    const clock = new ManualClock(T0);
    const ask = () => askDaemon({ storageDir: dir, names: ['a.example'], all: false, waitMs: 10_000, clock, local: HERE, pidAlive: () => true });
    assert.deepEqual(await ask(), { kind: 'no-daemon', reason: `no marathon-acme holds the lock on ${dir}` });
    const holder = { pid: 5, hostname: 'node-b', hostId: 'other', started: T0, token: 't'.repeat(32) };
    await writeFile(join(dir, LOCK_FILE), serializeLockRecord({ ...holder, purpose: 'daemon', heartbeat: T0 - 120_000 }));
    const stale = await ask();
    assert.ok(stale.kind === 'no-daemon');
    assert.match(stale.reason, /is stale .*pid 5 on host node-b.*120 s old/);
    await writeFile(join(dir, LOCK_FILE), serializeLockRecord({ ...holder, purpose: 'renew --offline', heartbeat: T0 }));
    assert.equal((await ask()).kind, 'busy');
    assert.deepEqual(await readdir(dir), [LOCK_FILE], 'no request was written');
  });

  it('withdraws a request nobody took in time, so that a daemon started later does not act on it', async (t) => {
    const dir = await storage(t);
    const clock = new ManualClock(T0);
    const lock = await StorageLock.acquire({ dir, purpose: 'daemon', logger: silentLogger(), clock, local: HERE, pidAlive: () => true });
    t.after(() => lock.release());
    const outcome = await drive(clock, askDaemon({ storageDir: dir, names: ['a.example'], all: false, waitMs: 5_000, clock, local: HERE, pidAlive: () => true }));
    assert.deepEqual(outcome, { kind: 'not-taken' });
    assert.deepEqual(await readdir(join(dir, REQUESTS_DIR)), []);
  });

  it('with --wait 0 leaves the request for the daemon and returns at once', async (t) => {
    const dir = await storage(t);
    const clock = new ManualClock(T0);
    const lock = await StorageLock.acquire({ dir, purpose: 'daemon', logger: silentLogger(), clock, local: HERE, pidAlive: () => true });
    t.after(() => lock.release());
    const outcome = await askDaemon({ storageDir: dir, names: [], all: true, waitMs: 0, clock, local: HERE, pidAlive: () => true });
    assert.equal(outcome.kind, 'queued');
    const files = await readdir(join(dir, REQUESTS_DIR));
    assert.equal(files.length, 1);
    assert.deepEqual(parseRequest(await readFile(join(dir, REQUESTS_DIR, files[0] ?? ''), 'utf8')), {
      ok: true,
      request: { names: [], all: true, requestedAt: T0, requestedBy: { pid: process.pid, hostname: HERE.hostname } },
    });
  });

  it('refuses a name without a stored certificate before asking anyone (exit 2), and a missing storage directory (exit 1)', async (t) => {
    const dir = await storage(t);
    await mkdir(join(dir, 'certs'));
    await writeFile(join(dir, 'certs', 'kept.example.pem'), 'x');
    const request = { config: testConfig({ storageDir: dir }), names: ['kept.example', 'typo.example'], all: false, offline: false, waitMs: 1_000 };
    const refused = await runRenew(request, silentLogger(), new ManualClock(T0));
    assert.equal(refused.code, 2);
    assert.match(refused.text, /^not managed {2}typo\.example {2}no certificate by that name in certs\/$/m);
    assert.doesNotMatch(refused.text, /kept\.example/);
    assert.deepEqual((await readdir(dir)).sort(), ['certs'], 'no lock and no request');
    const missing = await runRenew({ ...request, config: testConfig({ storageDir: join(dir, 'nope') }) }, silentLogger(), new ManualClock(T0));
    assert.deepEqual(missing, { code: 1, text: `storage directory ${join(dir, 'nope')} does not exist\n` });
  });
});

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 5));
}
