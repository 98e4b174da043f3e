/**
 * `marathon-acme revoke` against pebble, after a daemon issued the certificate: pebble reports it
 * revoked with the reason given, the bundle is in retired-certs/, marathon-lb got a signal; a second
 * run after a crash before the move finds it alreadyRevoked and finishes; a running daemon makes the
 * command refuse; the executable's exit status and texts.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFile, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { silentLogger } from '../../src/log.js';
import { runRevoke } from '../../src/revoke/command.js';
import { LOCK_FILE } from '../../src/storage/lock-holder.js';
import { issuedDaemon, testLogger } from '../support/issued-daemon.js';
import type { Pebble } from '../support/pebble.js';

const BIN = fileURLToPath(new URL('../../bin/marathon-acme', import.meta.url));
const exec = promisify(execFile);
const NAME = 'revoke.example.test';
const escaped = (text: string): string => text.replace(/[.:/*]/g, '\\$&');

/** Pebble's management interface: `Status` is `Valid` or `Revoked`, `Reason` the CRLReason code. */
async function pebbleStatus(pebble: Pebble, serialHex: string): Promise<{ Status: string; Reason?: number }> {
  const dispatcher = new Agent({ connect: { ca: await readFile(pebble.caFile, 'utf8') } });
  try {
    const response = await request(`${pebble.managementUrl}/cert-status-by-serial/${serialHex}`, { dispatcher });
    const text = await response.body.text();
    assert.equal(response.statusCode, 200, text);
    return JSON.parse(text) as { Status: string; Reason?: number };
  } finally {
    await dispatcher.close();
  }
}

async function serialOf(path: string): Promise<string> {
  return new X509Certificate(await readFile(path, 'utf8')).serialNumber.toLowerCase();
}

describe('marathon-acme revoke', () => {
  it('revokes with the reason given, retires the bundle and signals marathon-lb; a run after a crash before the move finishes it', async (t) => {
    const setup = await issuedDaemon(t, NAME);
    const { config, storage, lb, pebble } = setup;
    await setup.daemon.stop(1_000);
    const certFile = join(storage, 'certs', `${NAME}.pem`);
    const bundle = await readFile(certFile, 'utf8');
    const serial = await serialOf(certFile);
    assert.equal((await pebbleStatus(pebble, serial)).Status, 'Valid');
    const signals = lb.usr1;

    const result = await runRevoke({ config, name: NAME, reason: 'keyCompromise' }, testLogger());
    assert.equal(result.code, 0, result.text);
    assert.match(result.text, new RegExp(`^revoked {8}${escaped(NAME)} {2}serial 0*${serial} {2}reason keyCompromise$`, 'm'));
    assert.match(result.text, new RegExp(`^retired {8}certs/${escaped(NAME)}\\.pem -> retired-certs/${escaped(NAME)}\\.pem$`, 'm'));
    assert.match(result.text, new RegExp(`^signalled {6}${escaped(lb.url)}$`, 'm'));
    assert.match(result.text, new RegExp(`^Start the daemon again: if an app still wants ${escaped(NAME)}, it orders a new certificate with a new key`, 'm'));
    const status = await pebbleStatus(pebble, serial);
    assert.deepEqual({ status: status.Status, reason: status.Reason }, { status: 'Revoked', reason: 1 });
    assert.deepEqual(await readdir(join(storage, 'certs')), [], 'out of certs/');
    assert.equal(await readFile(join(storage, 'retired-certs', `${NAME}.pem`), 'utf8'), bundle, 'kept whole in retired-certs/');
    assert.equal(lb.usr1, signals + 1, 'marathon-lb was signalled');
    assert.ok(!(await readdir(storage)).includes(LOCK_FILE), 'the lock is released');

    // A crash after the CA revoked and before the move leaves the file in certs/: run again.
    await copyFile(join(storage, 'retired-certs', `${NAME}.pem`), certFile);
    const again = await runRevoke({ config, name: NAME, reason: 'keyCompromise' }, silentLogger());
    assert.equal(again.code, 0, again.text);
    assert.match(again.text, /reason keyCompromise {2}\(the CA had revoked it already\)$/m);
    assert.match(again.text, new RegExp(`-> retired-certs/${escaped(NAME)}\\.pem\\.1$`, 'm'), 'never over an earlier retired file');
    assert.deepEqual(await readdir(join(storage, 'certs')), []);
    assert.equal(lb.usr1, signals + 2);
  });

  it('refuses while a daemon holds the storage directory, revoking nothing; the executable reports with exit status 1 and 2', async (t) => {
    const { config, storage, pebble } = await issuedDaemon(t, NAME);
    const certFile = join(storage, 'certs', `${NAME}.pem`);
    const serial = await serialOf(certFile);
    const options = ['--storage-dir', storage, '--acme', config.acmeDirectoryUrl, '--acme-ca-file', config.acmeCaFile ?? '', '--lb', config.lbUrls.join(',')];
    const run = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
      exec(BIN, args, { env: { PATH: process.env['PATH'] } }).then(
        ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
        (err: unknown) => err as { code: number; stdout: string; stderr: string },
      );

    const locked = await run(['revoke', NAME, '--reason', 'superseded', ...options]);
    assert.equal(locked.code, 1, locked.stderr);
    assert.match(locked.stdout, new RegExp(`locked by marathon-acme daemon, pid ${process.pid}`));
    assert.match(locked.stdout, /Stop the daemon first \(or run `marathon-acme revoke` in its place\), then start it again afterwards\./);
    assert.equal((await pebbleStatus(pebble, serial)).Status, 'Valid');
    assert.deepEqual(await readdir(join(storage, 'certs')), [`${NAME}.pem`]);

    const unknown = await run(['revoke', 'other.example.test', ...options]);
    assert.equal(unknown.code, 2, unknown.stderr);
    assert.match(unknown.stdout, /^no certificate for other\.example\.test in .*certs: names are the certificates' file names in certs\//);
  });
});
