/** `marathon-acme status` as an operator runs it: the real executable on a prepared storage directory, no daemon. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { formatBundle } from '../../src/certs/bundle.js';
import { CertStore } from '../../src/certs/store.js';
import { splitPem } from '../../src/certs/pem.js';
import { FakeCa } from '../support/fake-ca.js';

const exec = promisify(execFile);
const BIN = fileURLToPath(new URL('../../bin/marathon-acme', import.meta.url));
const DAY = 86_400_000;

/** Every path with its type, size, mode and modification time: what "changes nothing" is checked against. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    const info = await lstat(path);
    out.push(`${path.slice(dir.length)} ${info.isDirectory() ? 'd' : 'f'} ${info.size} ${info.mode.toString(8)} ${info.mtimeMs}`);
  }
  return out.sort();
}

async function bundle(name: string, issuedDaysAgo: number, now: number): Promise<string> {
  const issued = await new FakeCa(90 * DAY, () => now - issuedDaysAgo * DAY).issue([name]);
  return formatBundle(issued.keyPem, issued.chainPem);
}

/** A storage directory as a daemon leaves it, plus the operator's own files. */
async function prepare(storage: string, now: number): Promise<void> {
  const store = new CertStore(storage);
  await store.init(new Date(now));
  await store.write('shop.example.test', await bundle('shop.example.test', 10, now));
  await store.write('blog.example.test', await bundle('blog.example.test', 70, now));
  await store.write('old.example.test', await bundle('old.example.test', 95, now));
  await writeFile(join(storage, 'certs', 'broken.example.test.pem'), 'not a certificate');
  await mkdir(join(storage, 'retired-certs'));
  await writeFile(join(storage, 'retired-certs', 'gone.example.test.pem'), await bundle('gone.example.test', 40, now));
  // The operator's own certificate, its key in a side file as HAProxy allows.
  const [key, ...certs] = splitPem(await bundle('hand.example.test', 20, now)).blocks;
  await writeFile(join(storage, 'unmanaged-certs', 'hand.example.test.pem'), certs.map((b) => b.pem).join(''));
  await writeFile(join(storage, 'unmanaged-certs', 'hand.example.test.pem.key'), key?.pem ?? '');
  await writeFile(
    join(storage, 'state.json'),
    JSON.stringify({
      version: 1,
      certificates: {
        'shop.example.test': { owner: { appId: '/shop', portIndex: 0 } },
        'blog.example.test': {
          owner: { appId: '/blog', portIndex: 1 },
          failure: {
            failures: 2,
            lastError: { type: 'connection', detail: 'Fetching http://blog.example.test/.well-known/acme-challenge/x: Connection refused', status: 400 },
            nextAttemptAt: new Date(now + 3_600_000).toISOString(),
            lastFailureAt: new Date(now - 60_000).toISOString(),
          },
        },
        // Wanted, never issued: the CA refused every order.
        'new.example.test': {
          failure: {
            failures: 3,
            lastError: { type: 'unauthorized', detail: 'Invalid response from http://new.example.test/.well-known/acme-challenge/y: 404', status: 403 },
            nextAttemptAt: new Date(now + 1_800_000).toISOString(),
            lastFailureAt: new Date(now - 120_000).toISOString(),
          },
        },
      },
    }),
  );
  // What the daemon's delivery check last saw: lb1 serves shop, lb2 still an older one, past the grace.
  const checkedAt = new Date(now - 90_000).toISOString();
  const records = [
    { lb: LB1, name: 'shop.example.test', status: 'served', failing: false, checkedAt, lastServedAt: checkedAt, detail: null },
    { lb: LB2, name: 'shop.example.test', status: 'stale', failing: true, checkedAt, lastServedAt: null, detail: 'serial 0a1b2c, an earlier certificate' },
  ];
  await writeFile(join(storage, 'delivery.json'), JSON.stringify({ version: 1, checkPort: 443, records }));
}

const LB1 = 'http://lb1.example.test:9090';
const LB2 = 'http://lb2.example.test:9090';

describe('marathon-acme status', () => {
  it('prints the stored certificates and the failing names, problems first, with what each LB served, and changes nothing', async (t) => {
    const storage = await mkdtemp(join(tmpdir(), 'ma-status-'));
    t.after(() => rm(storage, { recursive: true, force: true }));
    await prepare(storage, Date.now());
    const before = await snapshot(storage);

    const { stdout, stderr } = await exec(BIN, ['status', storage]);
    assert.equal(stderr, '');
    const [table = '', delivery = ''] = stdout.split('\n\n');
    const lines = table.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^STATE +NAMES +NOT AFTER +DAYS +KEY +ISSUER +APP +SERVED +REASON$/);
    assert.deepEqual(
      lines.slice(1).map((l) => l.split(/ {2,}/).slice(0, 2).join(' ')),
      [
        'expired old.example.test',
        'failing new.example.test',
        'renew due blog.example.test',
        'valid shop.example.test',
        'unusable broken.example.test',
        'unmanaged hand.example.test',
        'retired gone.example.test',
      ],
    );
    const line = (name: string) => lines.find((l) => l.includes(` ${name} `)) ?? '';
    assert.match(line('shop.example.test'), /  79  ECDSA P-256  shop\.example\.test +\/shop port 0 +1\/2 FAILING +renewal from .*; delivery failure: http:\/\/lb2\.example\.test:9090 serves an older certificate/);
    assert.match(line('new.example.test'), /^failing +new\.example\.test +- .* no certificate file: issuing it failed; 3 failed attempts, next attempt not before .*: unauthorized: Invalid response/);
    assert.match(line('blog.example.test'), / 0\/2 +renewal due since/, 'not checked on either LB yet');
    assert.match(delivery, /^delivery check \(TLS port 443, from delivery\.json\), last check \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ:\n/);
    assert.match(delivery, new RegExp(`\n  ${LB1}: 1 served, 0 stale, 0 other, 0 unreachable, 0 failing\n  ${LB2}: 0 served, 1 stale, 0 other, 0 unreachable, 1 failing \\(bad\\)\n$`));
    assert.match(line('blog.example.test'), /\/blog port 1 .*2 failed attempts, next attempt not before .*: connection: Fetching/);
    assert.match(line('old.example.test'), / -6  ECDSA P-256 .*expired at /);
    assert.match(line('broken.example.test'), /the file contains no PEM blocks/);

    const json = await exec(BIN, ['status', '--json', storage]);
    const report = JSON.parse(json.stdout) as { storageDir: string; generatedAt: string; certificates: Array<Record<string, unknown>>; delivery: { checkPort: number; lastCheckedAt: string; lbs: Array<Record<string, unknown>> } };
    assert.equal(report.storageDir, storage);
    assert.match(report.generatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const blog = report.certificates.find((c) => c['name'] === 'blog.example.test');
    assert.ok(blog);
    assert.equal(blog['state'], 'renew due');
    assert.equal(blog['appId'], '/blog');
    assert.equal(blog['portIndex'], 1);
    assert.match(String(blog['lastError']), /^connection: Fetching/);
    assert.match(String(blog['notAfter']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(report.certificates.find((c) => c['name'] === 'hand.example.test')?.['file'], 'unmanaged-certs/hand.example.test.pem');
    const failing = report.certificates.find((c) => c['name'] === 'new.example.test');
    assert.deepEqual([failing?.['state'], failing?.['file'], failing?.['failures']], ['failing', null, 3]);
    const shop = report.certificates.find((c) => c['name'] === 'shop.example.test');
    assert.deepEqual(
      (shop?.['delivery'] as Array<Record<string, unknown>>).map((d) => [d['lb'], d['status'], d['failing'], d['detail']]),
      [[LB1, 'served', false, null], [LB2, 'stale', true, 'serial 0a1b2c, an earlier certificate']],
    );
    assert.equal(report.delivery.checkPort, 443);
    assert.deepEqual(report.delivery.lbs.map((l) => [l['lb'], l['level']]), [[LB1, 'ok'], [LB2, 'bad']]);

    assert.deepEqual(await snapshot(storage), before, 'status changes nothing in the storage directory');
  });

  it('says so when nothing is stored, also before the daemon ever ran there', async (t) => {
    const storage = await mkdtemp(join(tmpdir(), 'ma-status-'));
    t.after(() => rm(storage, { recursive: true, force: true }));
    const { stdout } = await exec(BIN, ['status', storage]);
    assert.equal(stdout, `no certificates stored in ${storage}\n`);
    assert.deepEqual(await readdir(storage), [], 'not even certs/ is created');
  });

  it('warns about a damaged state.json on stderr and still shows the certificates', async (t) => {
    const storage = await mkdtemp(join(tmpdir(), 'ma-status-'));
    t.after(() => rm(storage, { recursive: true, force: true }));
    const store = new CertStore(storage);
    await store.init(new Date());
    await store.write('shop.example.test', await bundle('shop.example.test', 10, Date.now()));
    await writeFile(join(storage, 'state.json'), '{"certificates":');
    const { stdout, stderr } = await exec(BIN, ['status', '--json', storage]);
    assert.equal(stderr, 'marathon-acme status: state.json: the file is not JSON; shown without it\n');
    assert.equal((JSON.parse(stdout) as { certificates: unknown[] }).certificates.length, 1);
  });

  it('exits 1 with a clear message when the storage directory cannot be read, 2 on bad arguments', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'ma-status-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const fails = (args: string[], code: number, message: RegExp) =>
      assert.rejects(exec(BIN, args), (err: { code?: number; stdout?: string; stderr?: string }) => {
        assert.equal(err.code, code, err.stderr);
        assert.match(err.stderr ?? '', message);
        assert.equal(err.stdout, '');
        assert.doesNotMatch(err.stderr ?? '', /\bat .*\.js:\d+/, 'no stack trace');
        return true;
      });
    await fails(['status', join(dir, 'nope')], 1, new RegExp(`^marathon-acme status: the storage directory ${join(dir, 'nope')} does not exist\n$`));
    await writeFile(join(dir, 'file'), '');
    await fails(['status', join(dir, 'file')], 1, /is not a directory/);
    await fails(['status', '--verbose', dir], 2, /^marathon-acme status: unknown option '--verbose'\nTry 'marathon-acme status --help'/);
    await fails(['status'], 2, /missing required argument 'storage-dir'/);
  });
});
