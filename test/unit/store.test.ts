import 'reflect-metadata';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, webcrypto, X509Certificate } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import * as x509 from '@peculiar/x509';
import { loadOrCreateAccountKey } from '../../src/acme/account-key.js';
import { parseBundle } from '../../src/certs/bundle.js';
import { createFallbackCertificate } from '../../src/certs/default-cert.js';
import { splitPem } from '../../src/certs/pem.js';
import { CertStore, FileExistsError, sameFile, StorageError, type FileIdentity } from '../../src/certs/store.js';

const exec = promisify(execFile);
const DAY = 86_400_000;
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ma-store-'));
  dirs.push(dir);
  return dir;
}

after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

interface LogLine {
  level: 'warn' | 'info';
  obj: object;
  msg: string;
}

function recordingLogger(): { lines: LogLine[]; logger: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void } } {
  const lines: LogLine[] = [];
  return {
    lines,
    logger: {
      warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
      info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
    },
  };
}

async function readyStore(): Promise<CertStore> {
  const store = new CertStore(await tempDir());
  await store.init(new Date());
  return store;
}

const modeOf = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

/** A valid bundle without a CA: the fallback certificate is a key plus a certificate for it. */
let validBundle: string;
let otherBundle: string;

before(async () => {
  [validBundle, otherBundle] = await Promise.all([createFallbackCertificate(new Date()), createFallbackCertificate(new Date())]);
});

describe('fallback certificate (default.pem)', () => {
  it('is a PKCS#1 RSA key then a self-signed SHA-256 certificate for CN=* valid from now-1d to now+3650d', async () => {
    const now = new Date();
    const text = await createFallbackCertificate(now);
    const blocks = splitPem(text).blocks;
    assert.deepEqual(
      blocks.map((b) => b.label),
      ['RSA PRIVATE KEY', 'CERTIFICATE'],
      'exactly two PEM objects, the key first',
    );
    assert.equal(text, blocks.map((b) => b.pem).join(''), 'nothing but the two blocks, each ending in one newline');
    const key = createPrivateKey(blocks[0]?.pem ?? '');
    assert.equal(key.asymmetricKeyType, 'rsa');
    const { modulusLength, publicExponent } = key.asymmetricKeyDetails ?? {};
    assert.deepEqual({ modulusLength, publicExponent }, { modulusLength: 2048, publicExponent: 65537n });

    const cert = new X509Certificate(blocks[1]?.pem ?? '');
    assert.equal(cert.subject, 'CN=*');
    assert.equal(cert.issuer, 'CN=*');
    assert.ok(cert.checkPrivateKey(key), 'the certificate is for the key');
    assert.ok(cert.verify(cert.publicKey), 'self-signed');
    const notBefore = new Date(cert.validFrom).getTime();
    const notAfter = new Date(cert.validTo).getTime();
    const expectedFrom = now.getTime() - DAY;
    const expectedTo = now.getTime() + 3650 * DAY;
    assert.ok(notBefore <= expectedFrom && expectedFrom - notBefore < 10_000, `notBefore ${cert.validFrom}`);
    assert.ok(notAfter <= expectedTo && expectedTo - notAfter < 10_000, `notAfter ${cert.validTo}`);

    x509.cryptoProvider.set(webcrypto as unknown as Crypto);
    const parsed = new x509.X509Certificate(blocks[1]?.pem ?? '');
    assert.deepEqual(parsed.signatureAlgorithm, { name: 'RSASSA-PKCS1-v1_5', hash: { name: 'SHA-256' } });
    const serial = Buffer.from(parsed.serialNumber, 'hex');
    assert.ok(serial.length >= 14 && serial.length <= 16, `a 128-bit random serial, got ${parsed.serialNumber}`);
    const basic = parsed.getExtension(x509.BasicConstraintsExtension);
    assert.equal(basic?.ca, false);
    assert.equal(basic.critical, true);
    const usage = parsed.getExtension(x509.KeyUsagesExtension);
    assert.equal(usage?.usages, x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
    assert.deepEqual([...(parsed.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [])], [x509.ExtendedKeyUsage.serverAuth]);
    assert.equal(cert.subjectAltName, 'DNS:*');
  });

  it('gets a fresh key and serial every time', () => {
    const a = splitPem(validBundle).blocks;
    const b = splitPem(otherBundle).blocks;
    assert.notEqual(a[0]?.pem, b[0]?.pem);
    assert.notEqual(new X509Certificate(a[1]?.pem ?? '').serialNumber, new X509Certificate(b[1]?.pem ?? '').serialNumber);
  });
});

describe('CertStore.init', () => {
  it('on an empty directory creates certs/, unmanaged-certs/, .tmp/ and a private default.pem', async () => {
    const root = await tempDir();
    const { lines, logger } = recordingLogger();
    await new CertStore(root, { logger }).init(new Date());
    assert.deepEqual((await readdir(root)).sort(), ['.tmp', 'certs', 'default.pem', 'unmanaged-certs']);
    assert.ok((await stat(join(root, 'certs'))).isDirectory());
    assert.ok((await stat(join(root, 'unmanaged-certs'))).isDirectory());
    assert.equal(await modeOf(join(root, '.tmp')), 0o700);
    const defaultPem = await readFile(join(root, 'default.pem'), 'utf8');
    assert.match(defaultPem, /-----BEGIN RSA PRIVATE KEY-----/);
    assert.ok(parseBundle(defaultPem).ok);
    assert.equal(await modeOf(join(root, 'default.pem')), 0o600, 'it holds a private key');
    assert.deepEqual(await readdir(join(root, '.tmp')), [], 'no temporary file left behind');
    assert.ok(lines.some((l) => l.msg.includes('default.pem')));
  });

  it('leaves an existing default.pem alone, even an unusable one, and says so', async () => {
    const root = await tempDir();
    await mkdir(join(root, 'certs'));
    await mkdir(join(root, 'unmanaged-certs'));
    await writeFile(join(root, 'default.pem'), 'blah');
    const { lines, logger } = recordingLogger();
    await new CertStore(root, { logger }).init(new Date());
    assert.equal(await readFile(join(root, 'default.pem'), 'utf8'), 'blah');
    assert.ok(lines.some((l) => l.level === 'warn' && l.msg.includes('default.pem is not a usable')));
  });

  it('never rewrites default.pem on later starts', async () => {
    const root = await tempDir();
    const store = new CertStore(root);
    await store.init(new Date());
    const first = await readFile(join(root, 'default.pem'), 'utf8');
    await store.init(new Date(Date.now() + 5000 * DAY));
    assert.equal(await readFile(join(root, 'default.pem'), 'utf8'), first);
  });

  it('refuses a storage directory that does not exist, rather than creating it', async () => {
    const missing = join(await tempDir(), 'nope');
    await assert.rejects(new CertStore(missing).init(new Date()), (err: unknown) => {
      assert.ok(err instanceof StorageError);
      assert.equal(err.message, `storage directory ${missing} does not exist`);
      return true;
    });
    await assert.rejects(stat(missing), { code: 'ENOENT' });
  });

  it('refuses a storage path that is a file', async () => {
    const file = join(await tempDir(), 'file');
    await writeFile(file, 'x');
    await assert.rejects(new CertStore(file).init(new Date()), new StorageError(`storage directory ${file} is not a directory`));
    await assert.rejects(new CertStore(join(file, 'below')).init(new Date()), /does not exist/);
  });

  it('refuses a storage directory it cannot write to', async (t) => {
    // Permission bits do not stop root, so as root the check runs in a child process as nobody. (A
    // read-only mount would work for root too, but mounting needs privileges a test should not use.)
    const parent = await tempDir();
    const root = join(parent, 'storage');
    await mkdir(root);
    await chmod(parent, 0o755);
    await chmod(root, 0o555);
    if (process.getuid?.() !== 0) {
      await assert.rejects(new CertStore(root).init(new Date()), new StorageError(`storage directory ${root} is not writable`));
      return;
    }
    const storeModule = new URL('../../src/certs/store.ts', import.meta.url).href;
    const script = `
      const { CertStore } = await import(${JSON.stringify(storeModule)});
      try { await new CertStore(${JSON.stringify(root)}).init(new Date()); console.log('RESULT initialised'); }
      catch (err) { console.log('RESULT ' + err.name + ': ' + err.message); }`;
    const child = await exec(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      uid: 65534,
      gid: 65534,
      cwd: new URL('../..', import.meta.url).pathname,
    }).catch((err: unknown) => ({ stdout: '', stderr: String(err) }));
    if (!child.stdout.startsWith('RESULT ')) {
      t.skip(`cannot run the check as user nobody here: ${child.stderr.slice(0, 200)}`);
      return;
    }
    assert.equal(child.stdout.trim(), `RESULT StorageError: storage directory ${root} is not writable`);
    assert.deepEqual(await readdir(root), [], 'nothing was created');
  });

  it('refuses when certs/ exists but is not a directory', async () => {
    const root = await tempDir();
    await writeFile(join(root, 'certs'), '');
    await assert.rejects(new CertStore(root).init(new Date()), new StorageError(`${join(root, 'certs')} exists but is not a directory`));
  });

  it('removes temporary files a crash left in .tmp/, which is outside certs/', async () => {
    const root = await tempDir();
    await mkdir(join(root, '.tmp'));
    await writeFile(join(root, '.tmp', '123-abcdef'), validBundle.slice(0, 500));
    const { lines, logger } = recordingLogger();
    await new CertStore(root, { logger }).init(new Date());
    assert.deepEqual(await readdir(join(root, '.tmp')), []);
    assert.deepEqual(await readdir(join(root, 'certs')), []);
    assert.ok(lines.some((l) => l.msg.includes('removed temporary files')));
  });
});

describe('CertStore writes', () => {
  it('writes certs/<name>.pem with mode 0600 and leaves no temporary file anywhere', async () => {
    const store = await readyStore();
    await store.write('app.example.test', validBundle);
    const path = join(store.root, 'certs', 'app.example.test.pem');
    assert.equal(await readFile(path, 'utf8'), validBundle);
    assert.equal(await modeOf(path), 0o600);
    assert.deepEqual(await readdir(join(store.root, 'certs')), ['app.example.test.pem']);
    assert.deepEqual(await readdir(join(store.root, '.tmp')), []);
  });

  it('keeps mode 0600 when replacing a file that had another mode', async () => {
    const store = await readyStore();
    const path = join(store.root, 'certs', 'app.example.test.pem');
    await writeFile(path, otherBundle, { mode: 0o644 });
    await store.write('app.example.test', validBundle);
    assert.equal(await readFile(path, 'utf8'), validBundle);
    assert.equal(await modeOf(path), 0o600);
  });

  it('applies the requested mode whatever the umask', async () => {
    const store = await readyStore();
    const old = process.umask(0o077);
    try {
      await store.writeFileAtomic('unmanaged-certs/readme.txt', 'hello\n', 0o644);
    } finally {
      process.umask(old);
    }
    assert.equal(await modeOf(join(store.root, 'unmanaged-certs', 'readme.txt')), 0o644);
  });

  it('never lets a reader see a partial file while it is replaced', async () => {
    const store = await readyStore();
    const path = join(store.root, 'certs', 'busy.example.test.pem');
    await store.write('busy.example.test', validBundle);
    const state = { writing: true };
    const writer = (async () => {
      for (let i = 0; i < 40; i++) await store.write('busy.example.test', i % 2 === 0 ? otherBundle : validBundle);
      state.writing = false;
    })();
    let reads = 0;
    while (state.writing) {
      const text = await readFile(path, 'utf8');
      assert.ok(text === validBundle || text === otherBundle, 'a complete old or new file');
      reads++;
    }
    await writer;
    assert.ok(reads > 0);
    assert.deepEqual(await readdir(join(store.root, '.tmp')), []);
  });

  it('refuses names that are not plain file names', async () => {
    const store = await readyStore();
    for (const bad of ['', '../escape', 'a/b', '.hidden', '..', 'a..b', 'line\nbreak', 'x'.repeat(252)]) {
      await assert.rejects(store.write(bad, validBundle), StorageError, JSON.stringify(bad));
    }
    assert.deepEqual(await readdir(join(store.root, 'certs')), []);
    assert.deepEqual((await readdir(store.root)).sort(), ['.tmp', 'certs', 'default.pem', 'unmanaged-certs']);
  });

  it('keeps writeFileAtomic inside the root and out of .tmp/', async () => {
    const store = await readyStore();
    for (const bad of ['', '/etc/passwd', '../x', 'certs/../../x', '.tmp/x', 'certs//x.pem', './default.pem', 'certs/']) {
      await assert.rejects(store.writeFileAtomic(bad, 'x', 0o600), StorageError, bad);
    }
  });

  it('reports a missing target directory as a StorageError and cleans up', async () => {
    const store = await readyStore();
    await assert.rejects(store.writeFileAtomic('nowhere/x.pem', 'x', 0o600), StorageError);
    assert.deepEqual(await readdir(join(store.root, '.tmp')), []);
  });
});

describe('CertStore reads', () => {
  it('lists *.pem files in certs/, reports unusable ones without moving them, and skips the rest', async () => {
    const store = await readyStore();
    const certs = join(store.root, 'certs');
    await store.write('b.example.test', validBundle);
    await store.write('a.example.test', otherBundle);
    await writeFile(join(certs, 'truncated.example.test.pem'), validBundle.slice(0, validBundle.length - 100));
    await writeFile(join(certs, 'garbage.example.test.pem'), 'blah');
    await writeFile(join(certs, 'empty.example.test.pem'), '');
    await writeFile(join(certs, '.hidden.pem'), 'blah');
    await writeFile(join(certs, 'notes.txt'), 'blah');
    await writeFile(join(certs, 'key.pem.key'), 'blah');
    await mkdir(join(certs, 'dir.pem'));
    await symlink(join(certs, 'missing'), join(certs, 'dangling.example.test.pem'));

    const { certs: good, corrupt } = await store.list();
    assert.deepEqual(
      good.map((c) => c.name),
      ['a.example.test', 'b.example.test'],
    );
    assert.equal(good[0]?.path, join(certs, 'a.example.test.pem'));
    assert.deepEqual(good[0].bundle.leaf.names, ['*']);
    assert.deepEqual(
      corrupt.map((c) => c.name),
      ['dangling.example.test', 'empty.example.test', 'garbage.example.test', 'truncated.example.test'],
    );
    assert.match(corrupt.find((c) => c.name === 'truncated.example.test')?.reason ?? '', /truncated/);
    assert.match(corrupt.find((c) => c.name === 'dangling.example.test')?.reason ?? '', /symbolic link/);
    assert.ok((await readdir(certs)).includes('garbage.example.test.pem'), 'list() does not move anything');
  });

  it('reads one bundle by name; undefined when absent; an error when unusable', async () => {
    const store = await readyStore();
    await store.write('a.example.test', validBundle);
    const found = await store.read('a.example.test');
    assert.equal(found?.bundle.keyPem, splitPem(validBundle).blocks[0]?.pem);
    assert.equal(await store.read('none.example.test'), undefined);
    await writeFile(join(store.root, 'certs', 'bad.example.test.pem'), 'blah');
    await assert.rejects(store.read('bad.example.test'), /not a usable certificate bundle/);
    await assert.rejects(store.read('../default'), StorageError);
  });

  it("leaves a certificate with HAProxy's separate .pem.key file alone: it is not ours", async () => {
    const store = await readyStore();
    const certs = join(store.root, 'certs');
    const [key, ...rest] = splitPem(validBundle).blocks;
    await writeFile(join(certs, 'hand.example.test.pem'), rest.map((b) => b.pem).join(''));
    await writeFile(join(certs, 'hand.example.test.pem.key'), key?.pem ?? '');
    const { certs: good, corrupt } = await store.list();
    assert.deepEqual([good.length, corrupt.length], [0, 0]);
  });

  it('reports a file too large to be a bundle without reading it', async () => {
    const store = await readyStore();
    await writeFile(join(store.root, 'certs', 'huge.example.test.pem'), Buffer.alloc(2 * 1024 * 1024, 0x41));
    const { corrupt } = await store.list();
    assert.match(corrupt[0]?.reason ?? '', /too large/);
  });
});

describe('CertStore.list of unchanged files', () => {
  /** A clock a minute ahead, so that files written by the test count as settled. */
  const aMinuteOn = () => Date.now() + 60_000;

  it("gives each bundle its file's identity, and reads nothing the caller vouches for", async () => {
    const root = await tempDir();
    const store = new CertStore(root, { now: aMinuteOn });
    await store.init(new Date());
    await store.write('a.example.test', validBundle);
    await writeFile(join(root, 'certs', 'garbage.example.test.pem'), 'blah');
    const first = await store.list();
    const info = await stat(join(root, 'certs', 'a.example.test.pem'));
    const identity: FileIdentity = { dev: info.dev, ino: info.ino, size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs };
    assert.deepEqual(first.certs[0]?.identity, identity);
    assert.deepEqual((await store.read('a.example.test'))?.identity, identity);
    assert.deepEqual(first.unchanged, []);

    const asked: string[] = [];
    const second = await store.list({
      unchanged: (name, seen) => {
        asked.push(name);
        return name === 'garbage.example.test' || sameFile(identity, seen);
      },
    });
    // Files are read a few at a time, so the order of the questions is not fixed; the answer is.
    assert.deepEqual(asked.sort(), ['a.example.test', 'garbage.example.test']);
    assert.deepEqual(second.unchanged, ['a.example.test', 'garbage.example.test'], 'garbage vouched for is not even read');
    assert.deepEqual([second.certs, second.corrupt], [[], []]);

    await store.write('a.example.test', otherBundle);
    const third = await store.list({ unchanged: (_name, seen) => sameFile(identity, seen) });
    assert.deepEqual(third.certs.map((c) => c.name), ['a.example.test'], 'a new file in its place is read');
    assert.deepEqual(third.corrupt.map((c) => c.name), ['garbage.example.test']);
  });

  it('gives no identity for a file changed within the last second, as a same-size rewrite may not show', async () => {
    const store = await readyStore();
    await store.write('fresh.example.test', validBundle);
    const { certs } = await store.list();
    assert.equal(certs[0]?.identity, undefined);
    const settled = await new CertStore(store.root, { now: aMinuteOn }).list();
    assert.notEqual(settled.certs[0]?.identity, undefined);
  });

  it('tells files apart by device, inode, size and both timestamps', () => {
    const base: FileIdentity = { dev: 1, ino: 2, size: 3, mtimeMs: 4.5, ctimeMs: 6.5 };
    assert.equal(sameFile(base, { ...base }), true);
    for (const field of ['dev', 'ino', 'size', 'mtimeMs', 'ctimeMs'] as const) {
      assert.equal(sameFile(base, { ...base, [field]: base[field] + 1 }), false, field);
    }
    assert.equal(sameFile(undefined, base), false);
  });
});

describe('CertStore.moveAside', () => {
  it('moves a bad file to corrupt-certs/ with a timestamp, never deleting, and reports the new path', async () => {
    const store = await readyStore();
    const { lines, logger } = recordingLogger();
    const logged = new CertStore(store.root, { logger });
    const certs = join(store.root, 'certs');
    await writeFile(join(certs, 'bad.example.test.pem'), 'blah 1');
    const first = await logged.moveAside('bad.example.test', 'the file contains no PEM blocks');
    await writeFile(join(certs, 'bad.example.test.pem'), 'blah 2');
    const second = await logged.moveAside('bad.example.test', 'again');
    assert.notEqual(first, second);
    assert.match(first, /\/corrupt-certs\/bad\.example\.test\.pem\.\d{8}T\d{6}\.\d{3}Z(\.\d+)?$/);
    assert.equal(await readFile(first, 'utf8'), 'blah 1');
    assert.equal(await readFile(second, 'utf8'), 'blah 2');
    assert.deepEqual(await readdir(certs), []);
    assert.equal(await modeOf(join(store.root, 'corrupt-certs')), 0o700);
    assert.ok(lines.some((l) => l.level === 'warn' && JSON.stringify(l.obj).includes('no PEM blocks')));
  });

  it('fails clearly when the file is gone', async () => {
    const store = await readyStore();
    await assert.rejects(store.moveAside('gone.example.test', 'x'), (err: unknown) => err instanceof StorageError && /cannot move/.test(err.message));
  });
});

describe('CertStore and file names in other letter case (as the original wrote them)', () => {
  it('lists certs/Example.Test.pem under the name it serves, keeping its file name', async () => {
    const store = await readyStore();
    const certs = join(store.root, 'certs');
    await writeFile(join(certs, 'Mixed.Example.test.pem'), validBundle);
    await writeFile(join(certs, 'BROKEN.example.test.pem'), 'blah');
    const { certs: listed, corrupt, duplicates } = await store.list();
    assert.deepEqual(
      listed.map((c) => [c.name, c.file, c.path]),
      [['mixed.example.test', 'Mixed.Example.test', join(certs, 'Mixed.Example.test.pem')]],
    );
    assert.deepEqual(corrupt.map((c) => [c.name, c.file]), [['broken.example.test', 'BROKEN.example.test']]);
    assert.deepEqual(duplicates, []);
    assert.deepEqual(await store.servedNames(), new Set(['mixed.example.test', 'broken.example.test']));
    assert.deepEqual(await new CertStore(await tempDir()).servedNames(), new Set(), 'no certs/ yet: nothing is served');
  });

  it('of two files serving one name keeps the one expiring last and reports the other, reading both', async () => {
    const store = await readyStore();
    const certs = join(store.root, 'certs');
    const earlier = await createFallbackCertificate(new Date(Date.now() - 2 * DAY));
    await writeFile(join(certs, 'dup.example.test.pem'), earlier);
    await writeFile(join(certs, 'Dup.Example.test.pem'), validBundle);
    await writeFile(join(certs, 'solo.example.test.pem'), otherBundle);
    const asked: string[] = [];
    const listing = await store.list({ unchanged: (name) => (asked.push(name), false) });
    assert.deepEqual(asked, ['solo.example.test'], 'files sharing a name are always read: choosing needs their dates');
    assert.deepEqual(listing.certs.map((c) => c.file), ['Dup.Example.test', 'solo.example.test']);
    assert.deepEqual(listing.duplicates.map((d) => [d.name, d.file, d.kept]), [['dup.example.test', 'dup.example.test', 'Dup.Example.test']]);

    // Equal dates: the file already named in lower case stays.
    await writeFile(join(certs, 'dup.example.test.pem'), validBundle);
    const tie = await store.list();
    assert.deepEqual(tie.certs.map((c) => c.file), ['dup.example.test', 'solo.example.test']);
    assert.deepEqual(tie.duplicates.map((d) => [d.file, d.kept]), [['Dup.Example.test', 'dup.example.test']]);
  });

  it('writes a renewal under the lower-case name by renaming the old file first: never two files, never none', async () => {
    const store = await readyStore();
    const certs = join(store.root, 'certs');
    await writeFile(join(certs, 'Mixed.Example.test.pem'), validBundle);
    const seen = new Set<string>();
    const state = { watching: true };
    const watcher = (async () => {
      while (state.watching) {
        const files = (await readdir(certs)).filter((f) => f.toLowerCase() === 'mixed.example.test.pem');
        seen.add(files.join(','));
        await new Promise((r) => setImmediate(r));
      }
    })();
    await store.write('mixed.example.test', otherBundle, 'Mixed.Example.test');
    state.watching = false;
    await watcher;
    assert.deepEqual(await readdir(certs), ['mixed.example.test.pem']);
    assert.equal(await readFile(join(certs, 'mixed.example.test.pem'), 'utf8'), otherBundle);
    for (const state of seen) assert.ok(state === 'Mixed.Example.test.pem' || state === 'mixed.example.test.pem', `certs/ held "${state}"`);
    assert.deepEqual(await readdir(join(store.root, '.tmp')), []);

    // The old file already gone (an earlier attempt renamed it, then failed to write): just written.
    await store.write('mixed.example.test', validBundle, 'Mixed.Example.test');
    assert.equal(await readFile(join(certs, 'mixed.example.test.pem'), 'utf8'), validBundle);
  });

  it('retires a file named in other case under the name it serves', async () => {
    const store = await readyStore();
    await writeFile(join(store.root, 'certs', 'Old.Example.test.pem'), validBundle);
    const movedTo = await store.retire('old.example.test', 'Old.Example.test');
    assert.equal(movedTo, join(store.root, 'retired-certs', 'old.example.test.pem'));
    assert.equal(await readFile(movedTo, 'utf8'), validBundle);
    assert.deepEqual(await readdir(join(store.root, 'certs')), []);
  });
});

describe('account key', () => {
  it('is created once, 0600, and never replaced', async () => {
    const store = await readyStore();
    assert.equal(await store.readAccountKey(), undefined);
    await store.writeAccountKey('first');
    assert.equal(await modeOf(join(store.root, 'client.key')), 0o600);
    await assert.rejects(store.writeAccountKey('second'), FileExistsError);
    assert.equal(await store.readAccountKey(), 'first');
    assert.deepEqual(await readdir(join(store.root, '.tmp')), []);
  });

  it('lets exactly one of several concurrent creators win', async () => {
    const store = await readyStore();
    const results = await Promise.allSettled(['a', 'b', 'c', 'd', 'e'].map((k) => store.writeAccountKey(k)));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    assert.ok(results.every((r) => r.status === 'fulfilled' || r.reason instanceof FileExistsError));
    assert.match((await store.readAccountKey()) ?? '', /^[a-e]$/);
  });

  it('without client.key: creates a PKCS#1 RSA 2048 key, e=65537, and returns what it wrote', async () => {
    const store = await readyStore();
    const { pem, created } = await loadOrCreateAccountKey(store);
    assert.equal(created, true);
    assert.match(pem, /^-----BEGIN RSA PRIVATE KEY-----\n/);
    assert.equal(await readFile(join(store.root, 'client.key'), 'utf8'), pem);
    const key = createPrivateKey(pem);
    const { modulusLength, publicExponent } = key.asymmetricKeyDetails ?? {};
    assert.deepEqual({ modulusLength, publicExponent }, { modulusLength: 2048, publicExponent: 65537n });
  });

  it('with client.key: returns it unchanged (PKCS#1, PKCS#8 and EC)', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    for (const saved of [
      rsa.export({ type: 'pkcs1', format: 'pem' }),
      rsa.export({ type: 'pkcs8', format: 'pem' }),
      ec.export({ type: 'sec1', format: 'pem' }),
    ]) {
      const store = await readyStore();
      await writeFile(join(store.root, 'client.key'), saved);
      assert.deepEqual(await loadOrCreateAccountKey(store), { pem: saved, created: false });
    }
  });

  it('with two starting at once: both end up with the same key', async () => {
    const root = (await readyStore()).root;
    const [a, b] = await Promise.all([loadOrCreateAccountKey(new CertStore(root)), loadOrCreateAccountKey(new CertStore(root))]);
    assert.equal(a.pem, b.pem);
    assert.equal(a.created !== b.created, true, 'one created it, the other adopted it');
    assert.equal(await readFile(join(root, 'client.key'), 'utf8'), a.pem);
  });

  it('stops with a clear message on a corrupt, encrypted or unsuitable client.key, leaving it in place', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const cases: [string, RegExp][] = [
      ['', /client\.key is not a readable private key .*not replaced automatically/],
      ['blah', /not a readable private key/],
      [rsa.export({ type: 'pkcs8', format: 'pem' }).slice(0, 300), /not a readable private key/],
      [rsa.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-128-cbc', passphrase: 'x' }), /encrypted/],
      [generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }), /is a ed25519 key; ACME account keys must be RSA or EC/],
      [generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey.export({ type: 'sec1', format: 'pem' }), /EC secp256k1/],
    ];
    for (const [content, pattern] of cases) {
      const store = await readyStore();
      await writeFile(join(store.root, 'client.key'), content);
      await assert.rejects(loadOrCreateAccountKey(store), pattern);
      assert.equal(await readFile(join(store.root, 'client.key'), 'utf8'), content);
    }
  });
});
