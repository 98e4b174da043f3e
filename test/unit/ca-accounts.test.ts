import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { loadOrCreateKeyFile } from '../../src/acme/account-key.js';
import { IssueError } from '../../src/acme/issuer.js';
import { accountKeyPath, LazyAccountCa } from '../../src/ca/lazy-account-ca.js';
import { CertStore } from '../../src/certs/store.js';

async function storage(t: TestContext): Promise<CertStore> {
  const root = await mkdtemp(join(tmpdir(), 'ma-accounts-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const store = new CertStore(root);
  await store.init(new Date());
  return store;
}

describe("the other CAs' accounts", () => {
  it('keeps each account key under accounts/ by the directory host and port', () => {
    assert.equal(accountKeyPath('https://acme.zerossl.com/v2/DV90'), 'accounts/acme.zerossl.com/client.key');
    assert.equal(accountKeyPath('https://CA.Example:14000/dir'), 'accounts/ca.example_14000/client.key');
    assert.equal(accountKeyPath('https://[::1]:8443/dir'), 'accounts/::1_8443/client.key');
  });

  it('makes the key once, owner-only, and reads the same key afterwards', async (t) => {
    const store = await storage(t);
    const file = accountKeyPath('https://ca.example:14000/dir');
    const made = await loadOrCreateKeyFile(store, file);
    assert.equal(made.created, true);
    assert.equal((await stat(join(store.root, file))).mode & 0o777, 0o600);
    assert.equal((await stat(join(store.root, 'accounts', 'ca.example_14000'))).mode & 0o777, 0o700);
    const again = await loadOrCreateKeyFile(store, file);
    assert.deepEqual(again, { pem: made.pem, created: false });
    assert.equal(await readFile(join(store.root, file), 'utf8'), made.pem);
  });

  it('refuses a broken key instead of replacing it: it is the account', async (t) => {
    const store = await storage(t);
    const file = accountKeyPath('https://ca.example/dir');
    await loadOrCreateKeyFile(store, file);
    await writeFile(join(store.root, file), 'not a key');
    await assert.rejects(loadOrCreateKeyFile(store, file), /accounts\/ca\.example\/client\.key is not a readable private key/);
  });

  it('opens the CA at its first use only, and again after a failed opening', async () => {
    let opened = 0;
    let fail = true;
    const ca = new LazyAccountCa('https://ca.example/dir', () => {
      opened++;
      if (fail) return Promise.reject(new Error('cannot read --acme-ca-file'));
      return Promise.resolve({
        directoryUrl: 'https://ca.example/dir',
        ensureAccount: () => Promise.resolve(),
        issue: () => Promise.resolve({ keyPem: 'k', chainPem: 'c' }),
        renewalInfoUrl: () => Promise.resolve(undefined),
      });
    });
    assert.equal(opened, 0);
    const err = await ca.issue(['a.example']).catch((e: unknown) => e);
    assert.ok(err instanceof IssueError && err.step === 'account registration', 'counted as the account step: the order never reached the CA');
    fail = false;
    assert.deepEqual(await ca.issue(['a.example']), { keyPem: 'k', chainPem: 'c' });
    await ca.ensureAccount();
    assert.equal(opened, 2);
  });
});
