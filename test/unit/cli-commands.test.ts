/** The commands: dispatch, `help`, misspelt commands, each command's own help, usage errors and version. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it, type TestContext } from 'node:test';
import { OPTIONS, parseCommandLine, type CommandLine } from '../../src/cli.js';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const nothingExists = (): boolean => false;

/** What the command line printed to stdout (help, version), and what it returned. */
function printed(t: TestContext, argv: string[], exists = nothingExists): { stdout: string; result: CommandLine } {
  let stdout = '';
  const write = t.mock.method(process.stdout, 'write', (chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  try {
    return { result: parseCommandLine(argv, {}, exists), stdout };
  } finally {
    // At once, not at the end of the test: the test runner reports through stdout too.
    write.mock.restore();
  }
}

function refusal(argv: string[], exists = nothingExists): string {
  const result = parseCommandLine(argv, {}, exists);
  if (result.kind !== 'exit') assert.fail(`expected a usage error for ${JSON.stringify(argv)}, got ${result.kind}`);
  assert.equal(result.code, 2);
  return result.stderr;
}

describe('help', () => {
  it('`help` prints the help with the list of commands, exit 0', (t) => {
    const { result, stdout } = printed(t, ['help']);
    assert.deepEqual(result, { kind: 'exit', code: 0, stderr: '' });
    assert.match(stdout, /^Usage: marathon-acme \[options\] \[storage-dir\]/);
    for (const command of ['plan', 'status', 'check', 'renew', 'account rollover', 'revoke', 'help']) assert.match(stdout, new RegExp(`^  marathon-acme ${command} `, 'm'));
    assert.equal(printed(t, ['--help']).stdout, stdout, 'the same as --help');
  });

  it('`help <command>` prints that command\'s help, exit 0', (t) => {
    for (const command of ['plan', 'status', 'check', 'renew', 'revoke']) {
      const { result, stdout } = printed(t, ['help', command]);
      assert.equal(result.kind === 'exit' && result.code, 0);
      assert.match(stdout, new RegExp(`^Usage: marathon-acme ${command} `));
      assert.equal(printed(t, [command, '--help']).stdout, stdout);
    }
  });

  it('refuses an unknown topic with the nearest command', () => {
    assert.match(refusal(['help', 'stauts']), /^marathon-acme: unknown command 'stauts': did you mean 'marathon-acme status'\?\n/);
    assert.match(refusal(['help', 'frobnicate']), /unknown command 'frobnicate' \(commands: plan, status, check, renew, account, revoke, lb-config, help\)/);
    assert.match(refusal(['help', 'plan', 'status']), /help takes one command/);
  });
});

describe('a storage directory that is really a command', () => {
  it('refuses a command name put after an option, exit 2', () => {
    const stderr = refusal(['-g', 'web', 'status']);
    assert.match(stderr, /^marathon-acme: 'status' is a command, not a storage directory: did you mean 'marathon-acme status'\? .*write \.\/status\)\n/);
    assert.match(refusal(['--group', 'web', 'plan', '/d']), /'plan' is a command.*did you mean 'marathon-acme plan'\?/, 'before "too many arguments"');
    assert.match(refusal(['version']), /did you mean 'marathon-acme --version'\?/);
    // Even when a directory of that name exists: ./status names it.
    assert.match(refusal(['-g', 'web', 'check'], () => true), /'check' is a command/);
    const dotted = parseCommandLine(['./status'], {}, () => true);
    assert.equal(dotted.kind === 'run' && dotted.config.storageDir, './status');
  });

  it('refuses a misspelt command that is no directory, and takes it when it is one', () => {
    assert.match(refusal(['stauts']), /^marathon-acme: storage directory 'stauts' does not exist: did you mean 'marathon-acme status'\?\n/);
    assert.match(refusal(['chek', 'a.example']), /did you mean 'marathon-acme check'\?/, 'before "too many arguments"');
    assert.match(refusal(['plna']), /did you mean 'marathon-acme plan'\?/);
    assert.match(refusal(['verison']), /did you mean 'marathon-acme --version'\?/);
    const existing = parseCommandLine(['stauts'], {}, (path) => path === 'stauts');
    assert.equal(existing.kind === 'run' && existing.config.storageDir, 'stauts');
    // Far from every command, or a path: a storage directory, checked at start like any other.
    for (const dir of ['data', 'certs', '/var/lib/status', 'x/plan']) {
      const result = parseCommandLine([dir], {}, nothingExists);
      assert.equal(result.kind === 'run' && result.config.storageDir, dir);
    }
  });
});

describe('usage errors', () => {
  it('point at the help of the command that was run', () => {
    for (const [argv, command] of [
      [['--sse-timeout', 'x', '/d'], 'marathon-acme'],
      [['plan', '--sse-timeout', 'x', '/d'], 'marathon-acme plan'],
      [['plan', '/a', '/b'], 'marathon-acme plan'],
      [['plan'], 'marathon-acme plan'],
      [['status', '--nope'], 'marathon-acme status'],
      [['check', '--nope'], 'marathon-acme check'],
      [['renew', '--nope'], 'marathon-acme renew'],
      [['account', 'rollover', '--nope'], 'marathon-acme account rollover'],
      [['revoke', '--nope'], 'marathon-acme revoke'],
    ] as const) {
      const stderr = refusal([...argv]);
      assert.match(stderr, new RegExp(`^${command}: [^\\n]+\\nTry '${command} --help' for the list of options\\.\\n$`), stderr);
    }
  });
});

describe('--version', () => {
  it('prints the version with exit 0 for every command', (t) => {
    for (const argv of [['--version'], ['plan', '--version'], ['status', '--version'], ['check', '--version'], ['renew', '--version'], ['account', 'rollover', '--version'], ['revoke', '--version']]) {
      const { result, stdout } = printed(t, argv);
      assert.deepEqual(result, { kind: 'exit', code: 0, stderr: '' }, argv.join(' '));
      assert.equal(stdout, `${VERSION}\n`);
    }
  });
});

describe("each command's help", () => {
  it('`plan --help` lists only the options plan reads, and plan still accepts the others', (t) => {
    const help = printed(t, ['plan', '--help']).stdout;
    for (const flag of ['--marathon', '--group', '--multiple-domains', '--allowed-domains', '--max-names-per-app', '--marathon-timeout', '--retire-after']) {
      assert.match(help, new RegExp(`${flag} `), flag);
    }
    for (const flag of ['--listen', '--sse-timeout', '--sync-interval', '--preflight', '--notify-url', '--eab-kid', '--delivery-check-port', '--key-type']) {
      assert.doesNotMatch(help, new RegExp(`${flag}[ ,]`), flag);
    }
    const daemonLine = ['plan', '--listen', '127.0.0.1:9000', '--notify-url', 'https://h.example/x', '--preflight', 'strict', '/d'];
    assert.equal(parseCommandLine(daemonLine, {}).kind, 'plan');
  });

  it('`check --help` shows the defaults of the options it shares with the daemon', (t) => {
    const help = printed(t, ['check', '--help']).stdout.replace(/\s+/g, ' ');
    for (const key of ['marathon', 'group', 'marathonTimeout', 'lb', 'deliveryCheckPort']) {
      const spec = OPTIONS.find((o) => o.key === key);
      assert.ok(spec?.defaultText !== undefined);
      assert.ok(help.includes(`(default: ${spec.defaultText})`), `${key}: default ${spec.defaultText}`);
    }
    assert.match(help, /--timeout <seconds> .*\(default: 10\)/);
  });

  it('the daemon --help names every endpoint under --listen', (t) => {
    const help = printed(t, ['--help']).stdout.replace(/\s+/g, ' ');
    const listen = /--listen <\[ip\]:port> (.*?)\(env MARATHON_ACME_LISTEN\)/.exec(help)?.[1] ?? '';
    for (const endpoint of ['/.well-known/acme-challenge/', 'ping', '/health', '/ready', '/metrics', '/status ', '/status.json']) {
      assert.ok(listen.includes(endpoint), `--listen help lacks ${endpoint}: ${listen}`);
    }
  });
});
