/**
 * `marathon-acme account rollover` against pebble, after a daemon has registered the account and
 * issued a certificate with it: the account moves to a new key (same URL, the old key no longer acts
 * for it), a daemon started afterwards issues with it, a running daemon makes the command refuse, and
 * a daemon starting after a rollover that died between the key change and the rename settles it.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Agent } from 'undici';
import { PENDING_ACCOUNT_KEY } from '../../src/acme/account-key.js';
import { createAcmeClient } from '../../src/acme/protocol/create-client.js';
import { runRollover } from '../../src/account/rollover.js';
import { successorKey } from '../../src/account/successor-key.js';
import type { Config } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { LOCK_FILE } from '../../src/storage/lock-holder.js';
import { systemClock } from '../../src/util/clock.js';
import { AcmeProxy } from '../support/acme-proxy.js';
import { hostApp } from '../support/apps.js';
import { eventually } from '../support/eventually.js';
import { issuedDaemon, testLogger } from '../support/issued-daemon.js';

const BIN = fileURLToPath(new URL('../../bin/marathon-acme', import.meta.url));
const exec = promisify(execFile);
const NAME = 'rollover.example.test';
const LATER = 'after-rollover.example.test';

/** The account URL the CA has for this key, or undefined (onlyReturnExisting: nothing is created). */
async function accountOf(config: Config, keyPem: string): Promise<string | undefined> {
  const dispatcher = new Agent({ connect: { ca: await readFile(config.acmeCaFile ?? '', 'utf8') } });
  try {
    return (await createAcmeClient(config, keyPem, { dispatcher, clock: systemClock, logger: silentLogger() }).findAccount())?.url;
  } finally {
    await dispatcher.close();
  }
}

async function accountKey(storage: string): Promise<string> {
  return readFile(join(storage, 'client.key'), 'utf8');
}

describe('marathon-acme account rollover', () => {
  it('moves the account to a new key of the same kind; the old key no longer acts for it; a daemon issues with the new one', async (t) => {
    const setup = await issuedDaemon(t, NAME);
    const { config, storage } = setup;
    const oldPem = await accountKey(storage);
    const accountUrl = await accountOf(config, oldPem);
    assert.ok(accountUrl !== undefined, 'the daemon registered an account for client.key');
    await setup.daemon.stop(1_000);

    const result = await runRollover(config, testLogger());
    assert.equal(result.code, 0, result.text);
    const newPem = await accountKey(storage);
    assert.notEqual(newPem, oldPem);
    assert.match(result.text, new RegExp(`^rolled over the key of ACME account ${accountUrl.replace(/[.:/]/g, '\\$&')}$`, 'm'));
    assert.match(result.text, /^old key {2}RSA 2048, JWK thumbprint [\w-]{43}: no longer acts for the account; not kept$/m);
    assert.match(result.text, /^new key {2}RSA 2048, JWK thumbprint [\w-]{43}: in .*client\.key$/m);
    assert.match(newPem, /^-----BEGIN RSA PRIVATE KEY-----\n/, "the daemon's own kind and encoding: RSA 2048, PKCS#1");
    assert.equal(createPrivateKey(newPem).asymmetricKeyDetails?.modulusLength, 2048);
    const left = await readdir(storage);
    assert.ok(!left.includes(PENDING_ACCOUNT_KEY) && !left.includes('client.key.old') && !left.includes(LOCK_FILE), left.join(' '));

    assert.equal(await accountOf(config, newPem), accountUrl, 'the same account, now under the new key');
    assert.equal(await accountOf(config, oldPem), undefined, 'the old key no longer acts for the account (accountDoesNotExist)');

    setup.marathon.addApp(hostApp('/later', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: LATER }));
    await setup.startDaemon();
    await eventually('a certificate issued after the rollover', async () => (await readdir(join(storage, 'certs'))).includes(`${LATER}.pem`), 60_000);
    assert.equal(await accountKey(storage), newPem, 'the daemon used the new key, and made no other');
    assert.equal(await accountOf(config, newPem), accountUrl);
  });

  it('refuses while a daemon holds the storage directory, changing nothing (the executable, exit status 1)', async (t) => {
    const { config, storage } = await issuedDaemon(t, NAME);
    const before = await accountKey(storage);
    const args = ['account', 'rollover', '--storage-dir', storage, '--acme', config.acmeDirectoryUrl, '--acme-ca-file', config.acmeCaFile ?? ''];
    const result = await exec(BIN, args, { env: { PATH: process.env['PATH'] } }).then(
      ({ stdout }) => ({ code: 0, stdout }),
      (err: unknown) => err as { code: number; stdout: string },
    );
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stdout, new RegExp(`locked by marathon-acme daemon, pid ${process.pid}`));
    assert.match(result.stdout, /Stop the daemon first \(or run `marathon-acme account rollover` in its place\), then start it again afterwards\./);
    assert.equal(await accountKey(storage), before);
    assert.ok(!(await readdir(storage)).includes(PENDING_ACCOUNT_KEY));
  });

  it('keeps client.key when the CA refuses the key change, and rolls over when asked again', async (t) => {
    const setup = await issuedDaemon(t, NAME);
    await setup.daemon.stop(1_000);
    const proxy = await AcmeProxy.start({ upstream: setup.pebble.directoryUrl, caPem: await readFile(setup.pebble.caFile, 'utf8') });
    setup.defer(() => proxy.stop());
    const config = { ...setup.config, acmeDirectoryUrl: proxy.directoryUrl };
    const before = await accountKey(setup.storage);
    proxy.failNext('/rollover-account-key', 1, 503, 'serverInternal');
    const refused = await runRollover(config, silentLogger());
    assert.equal(refused.code, 1, refused.text);
    assert.match(refused.text, /^the CA did not change the account key: .*503.*\nclient\.key is unchanged\.\n$/s);
    assert.equal(proxy.requests.get('/rollover-account-key'), 1);
    assert.equal(await accountKey(setup.storage), before);
    assert.ok(!(await readdir(setup.storage)).includes(PENDING_ACCOUNT_KEY), 'the CA was asked, did not know the new key, and it was removed');
    assert.ok((await accountOf(config, before)) !== undefined, 'the old key still acts for the account');

    const again = await runRollover(config, silentLogger());
    assert.equal(again.code, 0, again.text);
    assert.equal(await accountOf(config, before), undefined);
  });

  it('a daemon starting after a rollover that died between the key change and the rename takes the new key', async (t) => {
    const setup = await issuedDaemon(t, NAME);
    const { config, storage } = setup;
    await setup.daemon.stop(1_000);
    const oldPem = await accountKey(storage);
    const accountUrl = await accountOf(config, oldPem);
    // What runRollover does up to the crash: the new key on disk, then the key change at the CA.
    const next = await successorKey(oldPem);
    await writeFile(join(storage, PENDING_ACCOUNT_KEY), next.pem, { mode: 0o600 });
    const dispatcher = new Agent({ connect: { ca: await readFile(config.acmeCaFile ?? '', 'utf8') } });
    try {
      const client = createAcmeClient(config, oldPem, { dispatcher, clock: systemClock, logger: silentLogger() });
      await client.findAccount();
      await client.keyChange(next.key);
    } finally {
      await dispatcher.close();
    }

    setup.marathon.addApp(hostApp('/later', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: LATER }));
    await setup.startDaemon();
    assert.equal(await accountKey(storage), next.pem, 'settled at start: the CA knows the new key');
    assert.ok(!(await readdir(storage)).includes(PENDING_ACCOUNT_KEY));
    await eventually('a certificate issued with the settled key', async () => (await readdir(join(storage, 'certs'))).includes(`${LATER}.pem`), 60_000);
    assert.equal(await accountOf(config, next.pem), accountUrl, 'the same account, no new one registered');
  });
});
