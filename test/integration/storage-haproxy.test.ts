/**
 * The storage directory against Debian's real HAProxy, configured the way marathon-lb does it
 * (`crt <storage>/certs crt <storage>/default.pem`). Certificates here are made by openssl, not by our
 * own code, so the parser is checked against an independent producer.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { loadOrCreateAccountKey } from '../../src/acme/account-key.js';
import { formatBundle, parseBundle } from '../../src/certs/bundle.js';
import { encodePrivateKey } from '../../src/certs/key-pem.js';
import { CertStore } from '../../src/certs/store.js';
import { haproxyCheck } from '../support/haproxy.js';

const exec = promisify(execFile);
const dirs: string[] = [];

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function openssl(...args: string[]): Promise<void> {
  await exec('openssl', args);
}

interface Material {
  /** Holds ca.pem and ca.key, to sign more leaves. */
  caDir: string;
  caPem: string;
  /** PKCS#1, as `openssl genrsa -traditional` and the original write it. */
  leafKey: string;
  leafPem: string;
  ecKey: string;
  ecLeafPem: string;
  otherKey: string;
  encryptedLeafKey: string;
  /** What the original's default.pem looks like: PKCS#1 key, self-signed CN=*, no extensions. */
  originalDefaultPem: string;
}

let m: Material;

before(async () => {
  const work = await tempDir('ma-pki-');
  const p = (f: string) => join(work, f);
  const read = (f: string) => readFile(p(f), 'utf8');
  await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '30', '-subj', '/CN=Test Issuing CA');
  await openssl('genrsa', '-traditional', '-out', p('leaf.key'), '2048');
  await openssl('genrsa', '-traditional', '-out', p('other.key'), '2048');
  await openssl('ecparam', '-name', 'prime256v1', '-genkey', '-out', p('ec.key'));
  await openssl('rsa', '-in', p('leaf.key'), '-traditional', '-aes128', '-passout', 'pass:secret', '-out', p('leaf-enc.key'));
  for (const [key, name] of [['leaf', 'app.example.test'], ['ec', 'ec.example.test']] as const) {
    await openssl('req', '-new', '-key', p(`${key}.key`), '-out', p(`${key}.csr`), '-subj', `/CN=${name}`);
    await writeFile(p(`${key}.ext`), `subjectAltName=DNS:${name}\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n`);
    await openssl('x509', '-req', '-in', p(`${key}.csr`), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p(`${key}.pem`), '-days', '10', '-extfile', p(`${key}.ext`));
  }
  await openssl('genrsa', '-traditional', '-out', p('default.key'), '2048');
  await openssl('req', '-x509', '-key', p('default.key'), '-out', p('default.crt'), '-days', '3650', '-subj', '/CN=*', '-noenc', '-config', '/dev/null');
  m = {
    caDir: work,
    caPem: await read('ca.pem'),
    leafKey: await read('leaf.key'),
    leafPem: await read('leaf.pem'),
    ecKey: await read('ec.key'),
    ecLeafPem: await read('ec.pem'),
    otherKey: await read('other.key'),
    encryptedLeafKey: await read('leaf-enc.key'),
    originalDefaultPem: (await read('default.key')) + (await read('default.crt')),
  };
});

async function initialisedStore(): Promise<CertStore> {
  const store = new CertStore(await tempDir('ma-storage-'));
  await store.init(new Date());
  return store;
}

async function assertHaproxyAccepts(store: CertStore): Promise<void> {
  const check = await haproxyCheck(store.root);
  assert.ok(check.ok, `haproxy refused the storage directory:\n${check.output}`);
}

async function assertHaproxyRefuses(store: CertStore, pattern: RegExp): Promise<void> {
  const check = await haproxyCheck(store.root);
  assert.equal(check.ok, false, 'haproxy accepted the storage directory');
  assert.match(check.output, pattern);
}

describe('storage directory and HAProxy', () => {
  it('accepts a freshly initialised directory: default.pem and an empty certs/', async () => {
    const store = await initialisedStore();
    assert.deepEqual(await readdir(join(store.root, 'certs')), []);
    await assertHaproxyAccepts(store);
  });

  it('refuses the whole configuration without certs/, which is why init creates it first', async () => {
    const store = await initialisedStore();
    await rm(join(store.root, 'certs'), { recursive: true });
    await assertHaproxyRefuses(store, /unable to stat SSL certificate/);
    await store.init(new Date());
    await assertHaproxyAccepts(store);
  });

  it('loads an issued-like bundle (PKCS#1 key, leaf, chain from a test CA) written by the store', async () => {
    const store = await initialisedStore();
    const text = formatBundle(m.leafKey, m.leafPem + m.caPem);
    assert.equal(text, m.leafKey + m.leafPem + m.caPem, 'the original layout, byte for byte');
    await store.write('app.example.test', text);
    const stored = await store.read('app.example.test');
    assert.deepEqual(stored?.bundle.leaf.names, ['app.example.test']);
    assert.deepEqual(stored.bundle.chainPems, [m.caPem]);
    await assertHaproxyAccepts(store);
  });

  it('loads the bundles the daemon writes: an RSA 2048 key in PKCS#1, a P-256 key in SEC1, each its certificate\'s for openssl', async () => {
    const store = await initialisedStore();
    const work = await tempDir('ma-keys-');
    const kinds = [
      { name: 'rsa.example.test', key: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, label: 'RSA PRIVATE KEY' },
      { name: 'ec.example.test', key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, label: 'EC PRIVATE KEY' },
    ];
    for (const { name, key, label } of kinds) {
      // The issuer's path: a new key, encoded by key-pem.ts, a certificate for it from a CA, formatBundle, the store.
      const keyPem = encodePrivateKey(key);
      const p = (f: string) => join(work, `${name}.${f}`);
      await writeFile(p('key'), keyPem);
      await openssl('req', '-new', '-key', p('key'), '-out', p('csr'), '-subj', `/CN=${name}`);
      await writeFile(p('ext'), `subjectAltName=DNS:${name}\n`);
      await openssl('x509', '-req', '-in', p('csr'), '-CA', join(m.caDir, 'ca.pem'), '-CAkey', join(m.caDir, 'ca.key'), '-CAcreateserial', '-out', p('pem'), '-days', '10', '-extfile', p('ext'));
      await store.write(name, formatBundle(keyPem, (await readFile(p('pem'), 'utf8')) + m.caPem));
      const file = join(store.root, 'certs', `${name}.pem`);
      assert.ok((await readFile(file, 'utf8')).startsWith(`-----BEGIN ${label}-----\n`), `${name}: ${label} first`);
      const fromKey = (await exec('openssl', ['pkey', '-in', file, '-pubout'])).stdout;
      const fromLeaf = (await exec('openssl', ['x509', '-in', file, '-pubkey', '-noout'])).stdout;
      assert.equal(fromKey, fromLeaf, `${name}: openssl derives the certificate's public key from the stored key`);
    }
    assert.deepEqual((await store.list()).certs.map((c) => c.name), ['ec.example.test', 'rsa.example.test']);
    await assertHaproxyAccepts(store);
  });

  it('refuses everything over one garbage file in certs/, which is why temporary files live in .tmp/', async () => {
    const store = await initialisedStore();
    await store.write('app.example.test', m.leafKey + m.leafPem + m.caPem);
    // What a write straight into certs/ would leave after a crash: a half-written file.
    const half = (m.leafKey + m.leafPem).slice(0, 2000);
    await writeFile(join(store.root, 'certs', 'app.example.test.pem.new'), half);
    await assertHaproxyRefuses(store, /unable to load certificate from file '.*app\.example\.test\.pem\.new'/);
    // The same leftover in .tmp/ is invisible to HAProxy, and the next start clears it.
    await rename(join(store.root, 'certs', 'app.example.test.pem.new'), join(store.root, '.tmp', '1-leftover'));
    await assertHaproxyAccepts(store);
    await store.init(new Date());
    assert.deepEqual(await readdir(join(store.root, '.tmp')), []);
  });

  it('gets an accepted directory back by moving an unusable file aside', async () => {
    const store = await initialisedStore();
    await writeFile(join(store.root, 'certs', 'broken.example.test.pem'), m.otherKey + m.leafPem);
    await assertHaproxyRefuses(store, /inconsistencies between private key and certificate/);
    const { corrupt } = await store.list();
    assert.deepEqual(
      corrupt.map((c) => c.name),
      ['broken.example.test'],
    );
    const movedTo = await store.moveAside('broken.example.test', corrupt[0]?.reason ?? '');
    assert.equal(await readFile(movedTo, 'utf8'), m.otherKey + m.leafPem, 'kept, not deleted');
    await assertHaproxyAccepts(store);
  });

  it('skips dot-files in certs/ (HAProxy 2.6 does; temporaries still stay out of certs/ entirely)', async () => {
    const store = await initialisedStore();
    await writeFile(join(store.root, 'certs', '.half-written'), 'garbage');
    await assertHaproxyAccepts(store);
    const { certs, corrupt } = await store.list();
    assert.deepEqual([certs.length, corrupt.length], [0, 0]);
  });

  it('adopts the original layout: openssl-made PKCS#1 client.key reused, bundles and default.pem kept', async () => {
    const root = await tempDir('ma-original-');
    await mkdir(join(root, 'certs'));
    await mkdir(join(root, 'unmanaged-certs'));
    await openssl('genrsa', '-traditional', '-out', join(root, 'client.key'), '2048');
    const accountKey = await readFile(join(root, 'client.key'), 'utf8');
    assert.match(accountKey, /^-----BEGIN RSA PRIVATE KEY-----/);
    const bundle = m.leafKey + m.leafPem + m.caPem;
    await writeFile(join(root, 'certs', 'app.example.test.pem'), bundle);
    assert.ok(parseBundle(m.originalDefaultPem).ok, 'the original default.pem is a valid bundle');
    await writeFile(join(root, 'default.pem'), m.originalDefaultPem);

    const store = new CertStore(root);
    await store.init(new Date());
    assert.deepEqual(await loadOrCreateAccountKey(store), { pem: accountKey, created: false });
    assert.equal(await readFile(join(root, 'client.key'), 'utf8'), accountKey);
    assert.equal(await readFile(join(root, 'default.pem'), 'utf8'), m.originalDefaultPem, 'an existing default.pem is never rewritten');
    const { certs, corrupt } = await store.list();
    assert.deepEqual(
      certs.map((c) => c.name),
      ['app.example.test'],
    );
    assert.deepEqual(corrupt, []);
    assert.equal(await readFile(join(root, 'certs', 'app.example.test.pem'), 'utf8'), bundle);
    await assertHaproxyAccepts(store);
  });
});

describe('parseBundle agrees with HAProxy', () => {
  // What HAProxy 2.6 does with one file in certs/, next to what parseBundle says about it.
  const cases: { name: string; text: () => string; haproxy: boolean; parse: boolean }[] = [
    { name: 'key, leaf, chain (the original layout)', text: () => m.leafKey + m.leafPem + m.caPem, haproxy: true, parse: true },
    { name: 'leaf, chain, then the key', text: () => m.leafPem + m.caPem + m.leafKey, haproxy: true, parse: true },
    { name: 'CRLF line ends', text: () => (m.leafKey + m.leafPem + m.caPem).replace(/\n/g, '\r\n'), haproxy: true, parse: true },
    { name: 'text around and between blocks', text: () => `Bag Attributes\n${m.leafKey}note\n${m.leafPem}${m.caPem}end\n`, haproxy: true, parse: true },
    { name: 'EC key with EC PARAMETERS (openssl ecparam -genkey)', text: () => m.ecKey + m.ecLeafPem + m.caPem, haproxy: true, parse: true },
    { name: 'a key that is not the certificate\'s', text: () => m.otherKey + m.leafPem + m.caPem, haproxy: false, parse: false },
    { name: 'chain before the leaf', text: () => m.leafKey + m.caPem + m.leafPem, haproxy: false, parse: false },
    { name: 'truncated in the leaf', text: () => (m.leafKey + m.leafPem).slice(0, m.leafKey.length + 300), haproxy: false, parse: false },
    { name: 'empty', text: () => '', haproxy: false, parse: false },
    { name: 'garbage', text: () => 'blah\n', haproxy: false, parse: false },
    { name: 'key only', text: () => m.leafKey, haproxy: false, parse: false },
    { name: 'certificates only', text: () => m.leafPem + m.caPem, haproxy: false, parse: false },
    { name: 'encrypted key', text: () => m.encryptedLeafKey + m.leafPem, haproxy: false, parse: false },
    // Deliberately stricter: HAProxy uses the first key, but a file with two keys is not one we wrote.
    { name: 'two keys, the right one first', text: () => m.leafKey + m.otherKey + m.leafPem, haproxy: true, parse: false },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      const store = await initialisedStore();
      await writeFile(join(store.root, 'certs', 'case.pem'), c.text());
      const check = await haproxyCheck(store.root);
      assert.equal(check.ok, c.haproxy, `haproxy: ${check.output}`);
      const parsed = parseBundle(c.text());
      assert.equal(parsed.ok, c.parse, parsed.ok ? 'parsed' : parsed.reason);
    });
  }
});
