/** `marathon-acme account rollover` and `marathon-acme revoke <name>`: the parsing only. */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { parseCommandLine, type CommandLine, type RevokeCommand, type RolloverCommand } from '../../src/cli.js';

const STORAGE = { MARATHON_ACME_STORAGE_DIR: '/var/lib/marathon-acme' };

function parsed(argv: string[], env: NodeJS.ProcessEnv = STORAGE): CommandLine {
  return parseCommandLine(argv, env);
}

function rollover(argv: string[], env: NodeJS.ProcessEnv = STORAGE): RolloverCommand {
  const result = parsed(['account', 'rollover', ...argv], env);
  if (result.kind !== 'account-rollover') assert.fail(`expected account-rollover, got ${result.kind}: ${result.kind === 'exit' ? result.stderr : ''}`);
  return result;
}

function revoke(argv: string[], env: NodeJS.ProcessEnv = STORAGE): RevokeCommand {
  const result = parsed(['revoke', ...argv], env);
  if (result.kind !== 'revoke') assert.fail(`expected revoke, got ${result.kind}: ${result.kind === 'exit' ? result.stderr : ''}`);
  return result;
}

/** A usage error of `command`: exit 2, one line naming the problem, one naming the command's help. */
function refusal(argv: string[], command: string, env: NodeJS.ProcessEnv = STORAGE): string {
  const result = parsed(argv, env);
  if (result.kind !== 'exit') assert.fail(`expected a usage error for ${JSON.stringify(argv)}, got ${result.kind}`);
  assert.equal(result.code, 2);
  assert.match(result.stderr, new RegExp(`^${command}: [^\\n]+\\nTry '${command} --help' for the list of options\\.\\n$`), result.stderr);
  return result.stderr;
}

function helpOf(t: TestContext, argv: string[]): string {
  let stdout = '';
  const write = t.mock.method(process.stdout, 'write', (chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  try {
    assert.deepEqual(parseCommandLine(argv, {}), { kind: 'exit', code: 0, stderr: '' });
  } finally {
    write.mock.restore();
  }
  return stdout;
}

describe('account rollover', () => {
  it("takes the storage directory from --storage-dir or the variable, and the daemon's options and variables", () => {
    const r = rollover(['--acme-timeout', '5', '--log-format', 'json'], { ...STORAGE, MARATHON_ACME_ACME: 'https://ca.example/dir' });
    assert.equal(r.config.storageDir, '/var/lib/marathon-acme');
    assert.equal(r.config.acmeDirectoryUrl, 'https://ca.example/dir');
    assert.equal(r.config.acmeTimeoutMs, 5_000);
    assert.equal(r.logFormat, 'json');
    assert.equal(rollover(['--storage-dir', '/flag'], {}).config.storageDir, '/flag');
    // The daemon's whole command line works, its other options accepted and unused.
    assert.equal(rollover(['--listen', '127.0.0.1:9000', '--group', 'web', '--storage-dir', '/flag']).config.storageDir, '/flag');
  });

  it('refuses a missing storage directory, arguments, a missing or unknown subcommand', () => {
    assert.match(refusal(['account', 'rollover'], 'marathon-acme account rollover', {}), /the storage directory is missing: give --storage-dir \(or set MARATHON_ACME_STORAGE_DIR\)/);
    assert.match(refusal(['account', 'rollover', '/var/lib/marathon-acme'], 'marathon-acme account rollover'), /too many arguments/);
    assert.match(refusal(['account', 'rollover', '--acme-timeout', '0'], 'marathon-acme account rollover'), /--acme-timeout/);
    assert.match(refusal(['account'], 'marathon-acme account'), /missing subcommand \(subcommands: rollover\)/);
    assert.match(refusal(['account', 'rolover'], 'marathon-acme account'), /unknown subcommand 'rolover': did you mean 'marathon-acme account rollover'\?/);
    assert.match(refusal(['account', 'delete'], 'marathon-acme account'), /unknown subcommand 'delete' \(subcommands: rollover\)/);
  });

  it('has a help that lists only the options it reads and says the daemon must be stopped', (t) => {
    const help = helpOf(t, ['account', 'rollover', '--help']).replace(/\s+/g, ' ');
    assert.match(help, /^Usage: marathon-acme account rollover \[options\]/);
    assert.match(help, /stop the daemon first \(or run this in its place\)/);
    for (const flag of ['--storage-dir', '--acme', '--acme-ca-file', '--acme-timeout']) assert.match(help, new RegExp(`${flag} `), flag);
    for (const flag of ['--listen', '--marathon', '--lb', '--email', '--eab-kid']) assert.doesNotMatch(help, new RegExp(`${flag}[ ,]`), flag);
    const account = helpOf(t, ['account', '--help']);
    assert.match(account, /^Usage: marathon-acme account /);
    assert.match(account, /^ {2}rollover /m);
    assert.equal(helpOf(t, ['help', 'account']), account);
  });
});

describe('revoke', () => {
  it('takes one name, normalised as labels are, and no reason by default', () => {
    const r = revoke(['Shop.Example.COM.']);
    assert.equal(r.name, 'shop.example.com');
    assert.equal(r.reason, undefined);
    assert.equal(r.config.storageDir, '/var/lib/marathon-acme');
  });

  it('takes --reason by its RFC 5280 name, forgiving letter case and separators', () => {
    assert.equal(revoke(['a.example', '--reason', 'keyCompromise']).reason, 'keyCompromise');
    assert.equal(revoke(['a.example', '--reason=superseded']).reason, 'superseded');
    assert.equal(revoke(['a.example', '--reason', 'cessation-of-operation']).reason, 'cessationOfOperation');
    assert.match(refusal(['revoke', 'a.example', '--reason', 'keycompromize'], 'marathon-acme revoke'), /'keycompromize' is not a revocation reason .*Did you mean 'keyCompromise'\?/);
    assert.match(refusal(['revoke', 'a.example', '--reason', 'affiliationChanged'], 'marathon-acme revoke'), /not a revocation reason \(keyCompromise, superseded, cessationOfOperation; none given: unspecified\)\.\n/);
  });

  it("takes --lb and the daemon's other options and variables, and the storage directory as for renew", () => {
    const r = revoke(['a.example', '--lb', 'http://lb1:9090,http://lb2:9090', '--storage-dir', '/flag'], {});
    assert.deepEqual(r.config.lbUrls, ['http://lb1:9090', 'http://lb2:9090']);
    assert.equal(r.config.storageDir, '/flag');
    assert.match(refusal(['revoke', 'a.example'], 'marathon-acme revoke', {}), /the storage directory is missing/);
  });

  it('refuses anything but one domain name', () => {
    assert.match(refusal(['revoke'], 'marathon-acme revoke'), /missing required argument 'name'/);
    assert.match(refusal(['revoke', 'a.example', 'b.example'], 'marathon-acme revoke'), /too many arguments/);
    assert.match(refusal(['revoke', '*.example.com'], 'marathon-acme revoke'), /'\*\.example\.com' is not a domain name/);
    assert.match(refusal(['revoke', '/var/lib/marathon-acme'], 'marathon-acme revoke'), /is not a domain name: .*; the storage directory goes in --storage-dir/);
  });

  it('has a help that lists only the options it reads and says what follows', (t) => {
    const help = helpOf(t, ['revoke', '--help']).replace(/\s+/g, ' ');
    assert.match(help, /^Usage: marathon-acme revoke \[options\] <name>/);
    assert.match(help, /Irreversible; the daemon never revokes on its own/);
    assert.match(help, /stop the daemon first/);
    for (const flag of ['--reason', '--storage-dir', '--acme', '--lb', '--marathon-ca-file']) assert.match(help, new RegExp(`${flag} `), flag);
    for (const flag of ['--listen', '--group', '--email', '--key-type']) assert.doesNotMatch(help, new RegExp(`${flag}[ ,]`), flag);
    assert.equal(helpOf(t, ['help', 'revoke']), helpOf(t, ['revoke', '--help']));
  });
});
