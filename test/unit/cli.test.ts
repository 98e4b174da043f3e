import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OPTIONS, envName, parseCli, parseCommandLine, describeConfig } from '../../src/cli.js';
import { LETS_ENCRYPT_DIRECTORY, parseListenAddress } from '../../src/config.js';

function run(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const result = parseCli(argv, env);
  if (result.kind === 'exit') assert.fail(`expected a config, got exit ${result.code}: ${result.stderr}`);
  return result.config;
}

function fail(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const result = parseCli(argv, env);
  if (result.kind !== 'exit') assert.fail('expected a usage error');
  return result;
}

describe('command line', () => {
  it('uses the original defaults, except the ACME v2 directory', () => {
    const c = run(['/var/lib/marathon-acme']);
    assert.equal(c.storageDir, '/var/lib/marathon-acme');
    assert.equal(c.acmeDirectoryUrl, LETS_ENCRYPT_DIRECTORY);
    assert.equal(c.email, undefined);
    assert.deepEqual(c.marathonUrls, ['http://marathon.mesos:8080']);
    assert.deepEqual(c.lbUrls, ['http://marathon-lb.marathon.mesos:9090']);
    assert.equal(c.group, 'external');
    assert.equal(c.multipleDomains, 'first');
    assert.deepEqual(c.listen, { host: '0.0.0.0', port: 8000 });
    assert.equal(c.marathonTimeoutMs, 10_000);
    assert.equal(c.sseTimeoutMs, 60_000);
    assert.equal(c.syncIntervalMs, 300_000);
    assert.equal(c.maxConcurrentOrders, 4);
    assert.equal(c.logLevel, 'info');
  });

  it('accepts every original flag in short and long form', () => {
    const c = run([
      '-a', 'https://ca.example/dir', '-e', 'ops@example.com', '-m', 'http://m1:8080,http://m2:8080',
      '-l', 'http://lb1:9090,http://lb2:9090', '-g', 'internal', '--allow-multiple-certs',
      '--listen', '127.0.0.1:9000', '--marathon-timeout', '2.5', '--sse-timeout', '0', '--log-level', 'debug', '/data',
    ]);
    assert.equal(c.acmeDirectoryUrl, 'https://ca.example/dir');
    assert.equal(c.email, 'ops@example.com');
    assert.deepEqual(c.marathonUrls, ['http://m1:8080', 'http://m2:8080']);
    assert.deepEqual(c.lbUrls, ['http://lb1:9090', 'http://lb2:9090']);
    assert.equal(c.group, 'internal');
    assert.equal(c.multipleDomains, 'separate');
    assert.deepEqual(c.listen, { host: '127.0.0.1', port: 9000 });
    assert.equal(c.marathonTimeoutMs, 2500);
    assert.equal(c.sseTimeoutMs, 0);
    assert.equal(c.logLevel, 'debug');
  });

  it('accepts --opt=value', () => {
    assert.equal(run(['--group=web', '/d']).group, 'web');
  });

  it('reads every option from MARATHON_ACME_* variables, and flags win', () => {
    const env = {
      MARATHON_ACME_GROUP: 'from-env',
      MARATHON_ACME_EMAIL: 'env@example.com',
      MARATHON_ACME_ALLOW_MULTIPLE_CERTS: 'true',
      MARATHON_ACME_SSE_TIMEOUT: '5',
      MARATHON_ACME_LOG_LEVEL: 'warn',
      MARATHON_ACME_STORAGE_DIR: '/env-dir',
      MARATHON_ACME_MARATHON: 'http://a:1, http://b:2',
    };
    const fromEnv = run([], env);
    assert.equal(fromEnv.group, 'from-env');
    assert.equal(fromEnv.email, 'env@example.com');
    assert.equal(fromEnv.multipleDomains, 'separate');
    assert.equal(fromEnv.sseTimeoutMs, 5000);
    assert.equal(fromEnv.logLevel, 'warn');
    assert.equal(fromEnv.storageDir, '/env-dir');
    assert.deepEqual(fromEnv.marathonUrls, ['http://a:1', 'http://b:2']);
    const flagsWin = run(['-g', 'flag', '/flag-dir'], env);
    assert.equal(flagsWin.group, 'flag');
    assert.equal(flagsWin.storageDir, '/flag-dir');
  });

  it('takes the CA options: key type, external account binding, profile', () => {
    const c = run(['--key-type', 'ecdsa-p384', '--eab-kid', 'kid-1', '--eab-hmac-key', 'c2VjcmV0', '--acme-profile', 'tlsserver', '/d']);
    assert.equal(c.keyType, 'ecdsa-p384');
    assert.deepEqual(c.eab, { kid: 'kid-1', hmacKey: 'c2VjcmV0' });
    assert.equal(c.acmeProfile, 'tlsserver');
    assert.equal(run(['/d']).keyType, 'rsa2048', 'RSA 2048 stays the default for compatibility');
    assert.doesNotMatch(JSON.stringify(describeConfig(c)), /c2VjcmV0/, 'the MAC key is never shown');
  });

  it('takes --acme-timeout in seconds (default 30), from the flag or MARATHON_ACME_ACME_TIMEOUT, and never 0', () => {
    assert.equal(run(['/d']).acmeTimeoutMs, 30_000);
    assert.equal(run(['--acme-timeout', '2.5', '/d']).acmeTimeoutMs, 2_500);
    assert.equal(run(['--acme-timeout=1', '/d']).acmeTimeoutMs, 1_000, 'one second is the shortest allowed');
    assert.equal(run(['/d'], { MARATHON_ACME_ACME_TIMEOUT: '90' }).acmeTimeoutMs, 90_000);
    assert.equal(run(['--acme-timeout', '5', '/d'], { MARATHON_ACME_ACME_TIMEOUT: '90' }).acmeTimeoutMs, 5_000, 'the flag wins');
    assert.equal(describeConfig(run(['--acme-timeout', '45', '/d'])).acmeTimeoutSeconds, 45);
    // 0 disables the Marathon timeouts; here it would let a CA that never answers hold an order forever.
    for (const bad of ['0', '0.5', '-1', 'soon']) {
      const r = fail(['--acme-timeout', bad, '/d']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, new RegExp(`--acme-timeout.*'${bad}'`));
    }
    assert.match(fail(['--acme-timeout', '0', '/d']).stderr, /at least 1 second/);
    assert.match(fail(['/d'], { MARATHON_ACME_ACME_TIMEOUT: '0' }).stderr, /environment variable MARATHON_ACME_ACME_TIMEOUT: '0' is too short/);
  });

  it('chooses how several domains per label are handled, with --allow-multiple-certs as an alias', () => {
    assert.equal(run(['--multiple-domains', 'san', '/d']).multipleDomains, 'san');
    assert.equal(run(['--allow-multiple-certs', '/d']).multipleDomains, 'separate');
    assert.equal(run(['/d'], { MARATHON_ACME_MULTIPLE_DOMAINS: 'san' }).multipleDomains, 'san');
    assert.equal(run(['--allow-multiple-certs', '--multiple-domains', 'separate', '/d']).multipleDomains, 'separate', 'agreeing is fine');
    assert.equal(fail(['--multiple-domains', 'all', '/d']).code, 2);
  });

  it('applies one precedence rule to --allow-multiple-certs and --multiple-domains, flags and variables alike', () => {
    // A flag beats the other option's variable, whichever way round.
    assert.equal(run(['--multiple-domains', 'san', '/d'], { MARATHON_ACME_ALLOW_MULTIPLE_CERTS: 'true' }).multipleDomains, 'san');
    assert.equal(run(['--allow-multiple-certs', '/d'], { MARATHON_ACME_MULTIPLE_DOMAINS: 'san' }).multipleDomains, 'separate');
    // Two flags, or two variables, that disagree: refused, one line naming both.
    const flags = fail(['--allow-multiple-certs', '--multiple-domains', 'san', '/d']);
    assert.equal(flags.code, 2);
    assert.equal(flags.stderr.split('\n')[0], 'marathon-acme: --allow-multiple-certs (that is, --multiple-domains separate) contradicts --multiple-domains san; give only one of them');
    const variables = fail(['/d'], { MARATHON_ACME_ALLOW_MULTIPLE_CERTS: 'true', MARATHON_ACME_MULTIPLE_DOMAINS: 'san' });
    assert.equal(
      variables.stderr.split('\n')[0],
      'marathon-acme: MARATHON_ACME_ALLOW_MULTIPLE_CERTS=true (that is, --multiple-domains separate) contradicts MARATHON_ACME_MULTIPLE_DOMAINS=san; give only one of them',
    );
    // false sets nothing, so it contradicts nothing.
    assert.equal(run(['/d'], { MARATHON_ACME_ALLOW_MULTIPLE_CERTS: 'false', MARATHON_ACME_MULTIPLE_DOMAINS: 'san' }).multipleDomains, 'san');
  });

  it('counts an empty variable as unset, for every option and the storage directory', () => {
    const defaults = run(['/d']);
    for (const spec of OPTIONS) {
      for (const empty of ['', '  ']) {
        assert.deepEqual(run(['/d'], { [envName(spec)]: empty }), defaults, `${envName(spec)}=${JSON.stringify(empty)}`);
      }
    }
    assert.equal(run(['/d'], { MARATHON_ACME_EMAIL: '' }).email, undefined);
    assert.match(fail([], { MARATHON_ACME_STORAGE_DIR: '' }).stderr, /missing required argument 'storage-dir'/);
    // On the command line an empty value is written on purpose, and checked like any other.
    assert.match(fail(['--email', '', '/d']).stderr, /--email.*'' is not an e-mail address/);
  });

  it('checks that --email looks like an address (the original did not)', () => {
    assert.equal(run(['--email', 'ops+acme@example.com', '/d']).email, 'ops+acme@example.com');
    for (const bad of ['ops', 'ops@', '@example.com', 'a b@example.com']) assert.equal(fail(['--email', bad, '/d']).code, 2, bad);
    assert.match(fail(['/d'], { MARATHON_ACME_EMAIL: 'ops' }).stderr, /environment variable MARATHON_ACME_EMAIL: 'ops' is not an e-mail address/);
  });

  it('takes the usual spellings of a boolean variable, and says which in its error', () => {
    for (const yes of ['true', 'TRUE', '1', 'yes', 'on']) assert.equal(run(['/d'], { MARATHON_ACME_ALLOW_MULTIPLE_CERTS: yes }).multipleDomains, 'separate', yes);
    for (const no of ['false', '0', 'No', 'off']) assert.equal(run(['/d'], { MARATHON_ACME_ALLOW_MULTIPLE_CERTS: no }).multipleDomains, 'first', no);
    assert.match(
      fail(['/d'], { MARATHON_ACME_ALLOW_MULTIPLE_CERTS: 'y' }).stderr,
      /MARATHON_ACME_ALLOW_MULTIPLE_CERTS: 'y' is not a boolean: use true or false \(1\/0, yes\/no and on\/off work too\)/,
    );
  });

  it('parses `plan` with the same options as the daemon', () => {
    const result = parseCli(['plan', '-g', 'web', '--multiple-domains', 'san', '/d'], {});
    if (result.kind !== 'plan') assert.fail(`expected plan, got ${result.kind}`);
    assert.equal(result.config.group, 'web');
    assert.equal(result.config.multipleDomains, 'san');
    assert.equal(parseCli(['/d'], {}).kind, 'run');
  });

  it('takes --log-format json|pretty from the flag or MARATHON_ACME_LOG_FORMAT, and leaves it open by default', () => {
    const format = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
      const result = parseCli(argv, env);
      if (result.kind === 'exit') assert.fail(result.stderr);
      return result.logFormat;
    };
    // Undefined: the executable picks pretty for a terminal and JSON otherwise, per stream.
    assert.equal(format(['/d']), undefined);
    assert.equal(format(['--log-format', 'pretty', '/d']), 'pretty');
    assert.equal(format(['plan', '--log-format=json', '/d']), 'json');
    assert.equal(format(['/d'], { MARATHON_ACME_LOG_FORMAT: 'pretty' }), 'pretty');
    assert.equal(format(['--log-format', 'json', '/d'], { MARATHON_ACME_LOG_FORMAT: 'pretty' }), 'json', 'the flag wins');
    assert.match(fail(['--log-format', 'colour', '/d']).stderr, /--log-format.*'colour' is invalid.*json, pretty/);
    assert.match(fail(['/d'], { MARATHON_ACME_LOG_FORMAT: 'text' }).stderr, /environment variable MARATHON_ACME_LOG_FORMAT: 'text' is invalid/);
  });

  it('parses `status` with its own options only: --json and the storage directory', () => {
    assert.deepEqual(parseCommandLine(['status', '/d'], {}), { kind: 'status', storageDir: '/d', json: false });
    assert.deepEqual(parseCommandLine(['status', '--json', '/d'], {}), { kind: 'status', storageDir: '/d', json: true });
    assert.deepEqual(parseCommandLine(['status'], { MARATHON_ACME_STORAGE_DIR: '/env' }), { kind: 'status', storageDir: '/env', json: false });
    // A daemon's environment must not break the offline inspection.
    assert.equal(parseCommandLine(['status', '/d'], { MARATHON_ACME_SSE_TIMEOUT: 'soon' }).kind, 'status');
    assert.equal(parseCommandLine(['plan', '/d'], {}).kind, 'plan');
    for (const [argv, needle] of [
      [['status'], "missing required argument 'storage-dir'"],
      [['status', '--group', 'web', '/d'], "unknown option '--group'"],
      [['status', '/a', '/b'], 'too many arguments'],
    ] as const) {
      const r = parseCommandLine([...argv], {});
      if (r.kind !== 'exit') assert.fail(`expected a usage error for ${JSON.stringify(argv)}`);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /^marathon-acme status: [^\n]+\nTry 'marathon-acme status --help' for the list of options\.\n$/);
      assert.ok(r.stderr.includes(needle), r.stderr);
    }
  });

  it('takes the allowed domains, normalised, and the per-app cap', () => {
    const c = run(['--allowed-domains', 'Example.COM., apps.example.org', '--max-names-per-app', '5', '/d']);
    assert.deepEqual(c.allowedDomains, ['example.com', 'apps.example.org']);
    assert.equal(c.maxNamesPerApp, 5);
    assert.equal(run(['/d']).allowedDomains, undefined, 'any domain by default');
    assert.equal(run(['/d']).maxNamesPerApp, 100);
    assert.match(fail(['--allowed-domains', '*.example.com', '/d']).stderr, /--allowed-domains.*'\*\.example\.com' is not a domain/);
  });

  it('refuses half an external account binding', () => {
    const r = fail(['--eab-kid', 'kid-1', '/d']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--eab-kid and --eab-hmac-key go together/);
    assert.equal(fail(['--key-type', 'dsa', '/d']).code, 2);
  });

  it('treats MARATHON_ACME_ALLOW_MULTIPLE_CERTS=false as false', () => {
    assert.equal(run(['/d'], { MARATHON_ACME_ALLOW_MULTIPLE_CERTS: 'false' }).multipleDomains, 'first');
  });

  for (const [argv, needle] of [
    [[], "missing required argument 'storage-dir'"],
    [['--sse-timeout', 'abc', '/d'], "'abc'"],
    [['--sse-timeout', '-1', '/d'], '--sse-timeout'],
    [['--log-level', 'verbose', '/d'], "'verbose'"],
    [['--listen', 'foobar', '/d'], 'foobar'],
    [['--marathon', 'ftp://x', '/d'], 'ftp://x'],
    [['--max-concurrent-orders', '0', '/d'], "'0'"],
    [['--no-such-flag', '/d'], '--no-such-flag'],
    [['/a', '/b'], 'too many arguments'],
  ] as const) {
    it(`exits 2 with one clear line for ${JSON.stringify(argv)}`, () => {
      const r = fail([...argv]);
      assert.equal(r.code, 2);
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 2, r.stderr);
      assert.match(lines[0] ?? '', new RegExp(needle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      assert.match(lines[1] ?? '', /--help/);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    });
  }

  it('names the environment variable when its value is bad', () => {
    const r = fail(['/d'], { MARATHON_ACME_SSE_TIMEOUT: 'soon' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /MARATHON_ACME_SSE_TIMEOUT: 'soon'/);
  });

  it('never shows Marathon credentials in the start-up description', () => {
    const c = run(['-m', 'http://user:s3cret@m1:8080', '/d']);
    assert.doesNotMatch(JSON.stringify(describeConfig(c)), /s3cret/);
  });
});

describe('listen address', () => {
  it('parses the forms the original accepted', () => {
    assert.deepEqual(parseListenAddress(':8080'), { host: '0.0.0.0', port: 8080 });
    assert.deepEqual(parseListenAddress('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(parseListenAddress('[::]:8080'), { host: '::', port: 8080 });
    assert.deepEqual(parseListenAddress('[::1]:1'), { host: '::1', port: 1 });
  });

  it('rejects what the original rejected, with its messages', () => {
    assert.throws(() => parseListenAddress('foobar'), /'foobar' does not have the correct form for a listen address: \[ipaddress\]:port/);
    assert.throws(() => parseListenAddress('hello:8080'), /'hello' does not appear to be an IPv4 or IPv6 address/);
    for (const port of ['foo', '0', '65536', '']) {
      assert.throws(() => parseListenAddress(`:${port}`), new RegExp(`'${port}' does not appear to be a valid port number`));
    }
  });
});
