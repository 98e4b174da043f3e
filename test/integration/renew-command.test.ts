/**
 * `marathon-acme renew` against real peers: pebble as the CA, the Marathon emulator, a marathon-lb
 * stand-in, and the daemon itself (in this process, or as the built executable for the lock). The
 * renewal is checked where it matters: a new certificate (another serial) in certs/ and a signal to
 * marathon-lb.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { silentLogger } from '../../src/log.js';
import { runRenew } from '../../src/renew/command.js';
import { LOCK_FILE } from '../../src/storage/lock-holder.js';
import { issuedDaemon, testLogger } from '../support/issued-daemon.js';
import { freePort } from '../support/ports.js';

const BIN = fileURLToPath(new URL('../../bin/marathon-acme', import.meta.url));
const exec = promisify(execFile);
const NAME = 'renew.example.test';

async function serialOf(storage: string, name: string): Promise<string> {
  return new X509Certificate(await readFile(join(storage, 'certs', `${name}.pem`), 'utf8')).serialNumber;
}

describe('marathon-acme renew', () => {
  it('has the running daemon renew a certificate that is not due, and signal marathon-lb', async (t) => {
    const { config, daemon, lb, storage } = await issuedDaemon(t, NAME);
    const before = await serialOf(storage, NAME);
    const signals = lb.usr1;
    const result = await runRenew({ config, names: [NAME], all: false, offline: false, waitMs: 60_000 }, silentLogger());
    assert.equal(result.code, 0, result.text);
    assert.match(result.text, new RegExp(`^renewed {2}${NAME.replace(/\./g, '\\.')} {2}valid until \\S+Z$`, 'm'));
    assert.notEqual(await serialOf(storage, NAME), before, 'a new certificate is stored');
    await daemon.lbSettled();
    assert.equal(lb.usr1, signals + 1, 'marathon-lb was signalled for it');
    assert.deepEqual(await readdir(join(storage, 'requests')), [], 'request and answer are gone');
  });

  it('renews offline with the daemon stopped: answers the challenge itself, signals marathon-lb, leaves no lock', async (t) => {
    const { config, daemon, lb, storage } = await issuedDaemon(t, NAME);
    await daemon.stop(1_000);
    assert.ok(!(await readdir(storage)).includes(LOCK_FILE), 'the stopped daemon let go of the lock');
    const before = await serialOf(storage, NAME);
    const signals = lb.usr1;
    const noDaemon = await runRenew({ config, names: [NAME], all: false, offline: false, waitMs: 60_000 }, silentLogger());
    assert.equal(noDaemon.code, 1);
    assert.match(noDaemon.text, /no marathon-acme holds the lock .*is the daemon running on this storage directory\?.*--offline/);

    const result = await runRenew({ config, names: [], all: true, offline: true, waitMs: 0 }, testLogger());
    assert.equal(result.code, 0, result.text);
    assert.match(result.text, new RegExp(`^renewed {2}${NAME.replace(/\./g, '\\.')}`, 'm'));
    assert.match(result.text, new RegExp(`^signalled {6}${lb.url.replace(/[.:/]/g, '\\$&')}$`, 'm'));
    assert.notEqual(await serialOf(storage, NAME), before);
    assert.equal(lb.usr1, signals + 1);
    assert.ok(!(await readdir(storage)).includes(LOCK_FILE));
  });

  it('refuses a second daemon, and an offline renewal, while a daemon holds the storage directory', async (t) => {
    const { config, storage } = await issuedDaemon(t, NAME);
    const second = await exec(BIN, ['--listen', `127.0.0.1:${await freePort()}`, '--acme', config.acmeDirectoryUrl, '-m', config.marathonUrls[0] ?? '', storage], { env: { PATH: process.env['PATH'] } })
      .then(() => ({ code: 0, stderr: '' }), (err: unknown) => err as { code: number; stderr: string });
    assert.equal(second.code, 1, second.stderr);
    assert.match(second.stderr, new RegExp(`locked by marathon-acme daemon, pid ${process.pid} on host .*only one marathon-acme may work on a storage directory`));
    assert.doesNotMatch(second.stderr, /\bat .*\.js:\d+/);
    const before = await serialOf(storage, NAME);
    const offline = await runRenew({ config, names: [NAME], all: false, offline: true, waitMs: 0 }, silentLogger());
    assert.equal(offline.code, 1);
    assert.match(offline.text, new RegExp(`locked by marathon-acme daemon, pid ${process.pid}`));
    assert.equal(await serialOf(storage, NAME), before, 'nothing was renewed');
  });
});
