/** `--preflight advisory|strict|off`, with `--no-preflight` and its variable still meaning off. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCli } from '../../src/cli.js';

function mode(argv: string[], env: NodeJS.ProcessEnv = {}): string {
  const result = parseCli([...argv, '/var/lib/marathon-acme'], env);
  return result.kind === 'exit' ? `exit ${result.code}: ${result.stderr.split('\n')[0] ?? ''}` : result.config.preflight;
}

describe('--preflight', () => {
  it('defaults to advisory and takes each mode', () => {
    assert.equal(mode([]), 'advisory');
    for (const m of ['advisory', 'strict', 'off']) assert.equal(mode(['--preflight', m]), m);
    assert.equal(mode([], { MARATHON_ACME_PREFLIGHT: 'strict' }), 'strict');
  });

  it('keeps --no-preflight and MARATHON_ACME_NO_PREFLIGHT as off', () => {
    assert.equal(mode(['--no-preflight']), 'off');
    assert.equal(mode([], { MARATHON_ACME_NO_PREFLIGHT: 'true' }), 'off');
    // false sets nothing: the mode comes from --preflight, its variable or the default.
    assert.equal(mode([], { MARATHON_ACME_NO_PREFLIGHT: 'false' }), 'advisory');
    assert.equal(mode([], { MARATHON_ACME_NO_PREFLIGHT: 'false', MARATHON_ACME_PREFLIGHT: 'strict' }), 'strict');
  });

  it('lets the command line win over the environment, and the later flag over the earlier', () => {
    assert.equal(mode(['--preflight', 'strict'], { MARATHON_ACME_NO_PREFLIGHT: 'true' }), 'strict');
    assert.equal(mode(['--no-preflight'], { MARATHON_ACME_PREFLIGHT: 'strict' }), 'off');
    assert.equal(mode(['--preflight', 'strict', '--no-preflight']), 'off');
    assert.equal(mode(['--no-preflight', '--preflight', 'strict']), 'strict');
  });

  it('refuses other modes, naming where they came from', () => {
    assert.match(mode(['--preflight', 'blocking']), /^exit 2: .*'--preflight <mode>' argument 'blocking' is invalid\. Allowed choices are advisory, strict, off/);
    assert.match(mode([], { MARATHON_ACME_PREFLIGHT: 'on' }), /^exit 2: .*environment variable MARATHON_ACME_PREFLIGHT: 'on' is invalid/);
    assert.match(mode([], { MARATHON_ACME_NO_PREFLIGHT: 'maybe' }), /^exit 2: .*environment variable MARATHON_ACME_NO_PREFLIGHT: 'maybe' is not a boolean/);
  });
});
