/** `marathon-acme renew [name...] [--all] [--offline] [--wait <seconds>]`: the parsing only. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCli, parseCommandLine, type RenewCommand } from '../../src/cli.js';

const STORAGE = { MARATHON_ACME_STORAGE_DIR: '/var/lib/marathon-acme' };

function renew(argv: string[], env: NodeJS.ProcessEnv = STORAGE): RenewCommand {
  const result = parseCommandLine(['renew', ...argv], env);
  if (result.kind !== 'renew') assert.fail(`expected renew, got ${result.kind}: ${result.kind === 'exit' ? result.stderr : ''}`);
  return result;
}

function refusal(argv: string[], env: NodeJS.ProcessEnv = STORAGE): string {
  const result = parseCommandLine(['renew', ...argv], env);
  if (result.kind !== 'exit') assert.fail(`expected a usage error, got ${result.kind}`);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /^marathon-acme renew: [^\n]+\nTry 'marathon-acme renew --help' for the list of options\.\n$/);
  return result.stderr;
}

describe('renew', () => {
  it('takes names, normalised as labels are and without repeats; asks the daemon and waits 300 s by default', () => {
    const r = renew(['Shop.Example.COM.', 'api.example.com', 'shop.example.com']);
    assert.deepEqual(r.names, ['shop.example.com', 'api.example.com']);
    assert.equal(r.all, false);
    assert.equal(r.offline, false);
    assert.equal(r.waitMs, 300_000);
    assert.equal(r.config.storageDir, '/var/lib/marathon-acme');
    assert.equal(r.logFormat, undefined);
  });

  it('takes --all instead of names, --offline, and --wait in seconds with 0 for no wait', () => {
    assert.deepEqual({ ...renew(['--all', '--offline']), config: undefined }, { kind: 'renew', config: undefined, logFormat: undefined, names: [], all: true, offline: true, waitMs: 300_000 });
    assert.equal(renew(['--all', '--wait', '0']).waitMs, 0);
    assert.equal(renew(['a.example', '--wait=2.5']).waitMs, 2_500);
  });

  it("takes the daemon's options and variables, under the same rules", () => {
    const r = renew(['--all', '--offline', '--key-type', 'ecdsa-p256', '--log-format', 'json'], { ...STORAGE, MARATHON_ACME_ACME: 'https://ca.example/dir', MARATHON_ACME_EMAIL: '' });
    assert.equal(r.config.keyType, 'ecdsa-p256');
    assert.equal(r.config.acmeDirectoryUrl, 'https://ca.example/dir');
    assert.equal(r.config.email, undefined, 'an empty variable is unset');
    assert.equal(r.logFormat, 'json');
    assert.match(refusal(['--all'], { ...STORAGE, MARATHON_ACME_ACME_TIMEOUT: '0' }), /environment variable MARATHON_ACME_ACME_TIMEOUT/);
    assert.match(refusal(['--all', '--eab-kid', 'k']), /--eab-kid and --eab-hmac-key go together/);
  });

  it('takes the storage directory from --storage-dir or MARATHON_ACME_STORAGE_DIR, the flag first', () => {
    assert.equal(renew(['--all', '--storage-dir', '/flag']).config.storageDir, '/flag');
    assert.equal(renew(['--all', '--storage-dir', '/flag'], {}).config.storageDir, '/flag');
    assert.match(refusal(['--all'], {}), /the storage directory is missing: give --storage-dir \(or set MARATHON_ACME_STORAGE_DIR\)/);
    assert.match(refusal(['--all'], { MARATHON_ACME_STORAGE_DIR: '' }), /the storage directory is missing/);
  });

  it('refuses what cannot be meant', () => {
    assert.match(refusal([]), /give the names to renew, or --all/);
    assert.match(refusal(['--all', 'a.example']), /give the names to renew or --all, not both/);
    assert.match(refusal(['--offline', '--all', '--wait', '10']), /--wait is how long to wait for the running daemon, and --offline asks no daemon/);
    assert.match(refusal(['--all', '--wait', 'soon']), /--wait.*'soon' is not a non-negative number of seconds/);
    assert.match(refusal(['*.example.com']), /'\*\.example\.com' is not a domain name: wildcard names need DNS-01/);
    assert.match(refusal(['a.example', '/var/lib/marathon-acme']), /is not a domain name: .*; the storage directory goes in --storage-dir/);
  });

  it('is a command of its own: parseCli alone takes `renew` for a storage directory and refuses it', () => {
    const result = parseCli(['renew'], {});
    if (result.kind !== 'exit') assert.fail(`expected a usage error, got ${result.kind}`);
    assert.match(result.stderr, /'renew' is a command/);
  });
});
