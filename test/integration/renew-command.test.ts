/**
 * `marathon-acme renew` against real peers: pebble as the CA, the Marathon emulator, a marathon-lb
 * stand-in, and the daemon itself (in this process, or as the built executable for the lock). The
 * renewal is checked where it matters: a new certificate (another serial) in certs/ and a signal to
 * marathon-lb.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { X509Certificate } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { silentLogger } from '../../src/log.js';
import { runRenew } from '../../src/renew/command.js';
import { LOCK_FILE } from '../../src/storage/lock-holder.js';
import { issuedDaemon, testLogger } from '../support/issued-daemon.js';
import { eventually } from '../support/eventually.js';
import { freePort } from '../support/ports.js';

const BIN = fileURLToPath(new URL('../../bin/marathon-acme', import.meta.url));
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

  it('makes a second daemon a follower, and refuses an offline renewal, while a daemon holds the storage directory', async (t) => {
    const { config, storage } = await issuedDaemon(t, NAME);
    const port = await freePort();
    const second = spawn(BIN, ['--listen', `127.0.0.1:${port}`, '--acme', config.acmeDirectoryUrl, '-m', config.marathonUrls[0] ?? '', storage], { env: { PATH: process.env['PATH'] }, stdio: 'ignore' });
    const exited = once(second, 'exit');
    t.after(() => second.kill('SIGKILL'));
    let health: Record<string, unknown> = {};
    await eventually('the second daemon answers /health', async () => {
      health = await request(`http://127.0.0.1:${port}/health`).then(async (res) => (await res.body.json()) as Record<string, unknown>, () => ({}));
      return health['role'] !== undefined;
    });
    assert.equal(health['role'], 'follower');
    assert.match(String(health['leader']), new RegExp(`locked by marathon-acme daemon, pid ${process.pid} on host `));
    second.kill('SIGTERM');
    assert.deepEqual(await exited, [0, null], 'a follower stops cleanly');
    const before = await serialOf(storage, NAME);
    const offline = await runRenew({ config, names: [NAME], all: false, offline: true, waitMs: 0 }, silentLogger());
    assert.equal(offline.code, 1);
    assert.match(offline.text, new RegExp(`locked by marathon-acme daemon, pid ${process.pid}`));
    assert.equal(await serialOf(storage, NAME), before, 'nothing was renewed');
  });
});
