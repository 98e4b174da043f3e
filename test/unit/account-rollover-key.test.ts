/**
 * The account key's side of `account rollover`: the successor key's kind, and how a client.key.new
 * left by an interrupted rollover is settled (resolvePendingAccountKey) before the key is used.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadOrCreateAccountKey, PENDING_ACCOUNT_KEY, readAccountKey, resolvePendingAccountKey } from '../../src/acme/account-key.js';
import { describeAccountKey, successorKey } from '../../src/account/successor-key.js';
import { CertStore } from '../../src/certs/store.js';

const dirs: string[] = [];

after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const rsaPem = (bits = 2048): string => generateKeyPairSync('rsa', { modulusLength: bits }).privateKey.export({ type: 'pkcs1', format: 'pem' });
const ecPem = (curve: string): string => generateKeyPairSync('ec', { namedCurve: curve }).privateKey.export({ type: 'sec1', format: 'pem' });

/** A storage directory with client.key = `current` and, when given, client.key.new = `pending`. */
async function storeWith(current: string | undefined, pending: string | undefined): Promise<CertStore> {
  const root = await mkdtemp(join(tmpdir(), 'ma-rollover-'));
  dirs.push(root);
  if (current !== undefined) await writeFile(join(root, 'client.key'), current, { mode: 0o600 });
  if (pending !== undefined) await writeFile(join(root, PENDING_ACCOUNT_KEY), pending, { mode: 0o600 });
  return new CertStore(root);
}

/** A lookup that answers from a set of keys the "CA" knows, and records what it was asked. */
function fakeCa(known: readonly string[]): { asked: string[]; lookup: (pem: string) => Promise<boolean> } {
  const asked: string[] = [];
  return {
    asked,
    lookup: (pem) => {
      asked.push(pem);
      return Promise.resolve(known.includes(pem));
    },
  };
}

async function files(store: CertStore): Promise<string[]> {
  return (await readdir(store.root)).filter((f) => f.startsWith('client.key')).sort();
}

describe('successorKey', () => {
  it('keeps the kind: RSA of the same size (at least 2048) in PKCS#1, EC on the same curve in SEC1', async () => {
    for (const [pem, kind, header] of [
      [rsaPem(2048), 'RSA 2048', 'RSA PRIVATE KEY'],
      [rsaPem(3072), 'RSA 3072', 'RSA PRIVATE KEY'],
      [rsaPem(1024), 'RSA 2048', 'RSA PRIVATE KEY'],
      [ecPem('P-256'), 'EC P-256', 'EC PRIVATE KEY'],
      [ecPem('P-384'), 'EC P-384', 'EC PRIVATE KEY'],
    ] as const) {
      const next = await successorKey(pem);
      assert.equal(describeAccountKey(next.key), kind);
      assert.match(next.pem, new RegExp(`^-----BEGIN ${header}-----\n`));
      assert.notEqual(next.pem, pem);
      assert.equal(createPrivateKey(next.pem).export({ format: 'jwk' }).d, next.key.export({ format: 'jwk' }).d, 'the PEM is the key');
    }
  });

  it('refuses a key type ACME has no algorithm for, naming it', async () => {
    const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' });
    await assert.rejects(successorKey(ed), /client\.key is a ed25519 key, which cannot be rolled over/);
  });
});

describe('resolvePendingAccountKey', () => {
  it('does nothing, and asks nobody, without client.key.new', async () => {
    const old = rsaPem();
    const store = await storeWith(old, undefined);
    const ca = fakeCa([old]);
    assert.equal(await resolvePendingAccountKey(store, { lookup: ca.lookup }), 'none');
    assert.deepEqual(ca.asked, []);
    assert.equal(await readAccountKey(store), old, 'no lookup needed either');
  });

  it('adopts the new key when the CA knows it: the key change happened, its rename did not', async () => {
    const [old, next] = [rsaPem(), rsaPem()];
    const store = await storeWith(old, next);
    const ca = fakeCa([next]);
    assert.equal(await resolvePendingAccountKey(store, { lookup: ca.lookup }), 'adopted');
    assert.deepEqual(ca.asked, [next], 'asked about the new key');
    assert.equal(await readFile(join(store.root, 'client.key'), 'utf8'), next);
    assert.deepEqual(await files(store), ['client.key']);
  });

  it('discards the new key when the CA does not know it: the key change never happened', async () => {
    const [old, next] = [rsaPem(), ecPem('P-256')];
    const store = await storeWith(old, next);
    assert.equal(await resolvePendingAccountKey(store, { lookup: fakeCa([old]).lookup }), 'discarded');
    assert.equal(await readFile(join(store.root, 'client.key'), 'utf8'), old);
    assert.deepEqual(await files(store), ['client.key']);
  });

  it('removes client.key.new without asking when client.key already holds it (crash after the rename)', async () => {
    const next = rsaPem();
    const store = await storeWith(next, next);
    const ca = fakeCa([]);
    assert.equal(await resolvePendingAccountKey(store, { lookup: ca.lookup }), 'adopted');
    assert.deepEqual(ca.asked, []);
    assert.deepEqual(await files(store), ['client.key']);
  });

  it('stops, leaving both files, when the CA cannot be asked: a wrong guess would cost the account', async () => {
    const [old, next] = [rsaPem(), rsaPem()];
    const store = await storeWith(old, next);
    const down = (): Promise<boolean> => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:14000'));
    await assert.rejects(resolvePendingAccountKey(store, { lookup: down }), /client\.key\.new is left from an interrupted `marathon-acme account rollover`.*asking it failed \(connect ECONNREFUSED 127\.0\.0\.1:14000\); try again once the CA answers/);
    await assert.rejects(loadOrCreateAccountKey(store), /client\.key\.new is left from an interrupted .*this process cannot ask it/, 'nor guesses without a lookup');
    assert.deepEqual(await files(store), ['client.key', 'client.key.new']);
    assert.equal(await readFile(join(store.root, 'client.key'), 'utf8'), old);
  });

  it('is what the key loader runs first: loadOrCreateAccountKey returns the settled key', async () => {
    const [old, next] = [rsaPem(), rsaPem()];
    const store = await storeWith(old, next);
    assert.deepEqual(await loadOrCreateAccountKey(store, { lookup: fakeCa([next]).lookup }), { pem: next, created: false });
    const orphan = await storeWith(undefined, rsaPem());
    const created = await loadOrCreateAccountKey(orphan, { lookup: fakeCa([]).lookup });
    assert.equal(created.created, true, 'a new key the CA never took, and no client.key: a first start');
    assert.deepEqual(await files(orphan), ['client.key']);
  });

  it('refuses an unusable client.key.new instead of asking the CA about it', async () => {
    const store = await storeWith(rsaPem(), 'not a key');
    const ca = fakeCa([]);
    await assert.rejects(resolvePendingAccountKey(store, { lookup: ca.lookup }), /client\.key\.new is not a readable private key/);
    assert.deepEqual(ca.asked, []);
  });
});
