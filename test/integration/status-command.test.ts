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
      },
    }),
  );
}

describe('marathon-acme status', () => {
  it('prints the stored certificates, most urgent first, and changes nothing', async (t) => {
    const storage = await mkdtemp(join(tmpdir(), 'ma-status-'));
    t.after(() => rm(storage, { recursive: true, force: true }));
    await prepare(storage, Date.now());
    const before = await snapshot(storage);

    const { stdout, stderr } = await exec(BIN, ['status', storage]);
    assert.equal(stderr, '');
    const lines = stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^STATE +NAMES +NOT AFTER +DAYS +KEY +ISSUER +APP +REASON$/);
    assert.deepEqual(
      lines.slice(1).map((l) => l.split(/ {2,}/).slice(0, 2).join(' ')),
      [
        'expired old.example.test',
        'unusable broken.example.test',
        'renew due blog.example.test',
        'unmanaged hand.example.test',
        'valid shop.example.test',
        'retired gone.example.test',
      ],
    );
    const line = (name: string) => lines.find((l) => l.includes(` ${name} `)) ?? '';
    assert.match(line('shop.example.test'), /  79  ECDSA P-256  shop\.example\.test +\/shop port 0 +renewal from /);
    assert.match(line('blog.example.test'), /\/blog port 1 .*2 failed attempts, next attempt not before .*: connection: Fetching/);
    assert.match(line('old.example.test'), / -6  ECDSA P-256 .*expired at /);
    assert.match(line('broken.example.test'), /the file contains no PEM blocks/);

    const json = await exec(BIN, ['status', '--json', storage]);
    const report = JSON.parse(json.stdout) as { storageDir: string; generatedAt: string; certificates: Array<Record<string, unknown>> };
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
