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

  it('lets a flag win over the other variable, and refuses two flags or two variables that disagree', () => {
    assert.equal(mode(['--preflight', 'strict'], { MARATHON_ACME_NO_PREFLIGHT: 'true' }), 'strict');
    assert.equal(mode(['--no-preflight'], { MARATHON_ACME_PREFLIGHT: 'strict' }), 'off');
    const contradiction = /^exit 2: marathon-acme: --preflight strict contradicts --no-preflight \(that is, --preflight off\); give only one of them$/;
    assert.match(mode(['--preflight', 'strict', '--no-preflight']), contradiction);
    assert.match(mode(['--no-preflight', '--preflight', 'strict']), contradiction, 'whatever the order');
    assert.match(
      mode([], { MARATHON_ACME_NO_PREFLIGHT: 'true', MARATHON_ACME_PREFLIGHT: 'advisory' }),
      /^exit 2: marathon-acme: MARATHON_ACME_PREFLIGHT=advisory contradicts MARATHON_ACME_NO_PREFLIGHT=true \(that is, --preflight off\)/,
    );
    // Saying the same thing twice is no contradiction.
    assert.equal(mode(['--preflight', 'off', '--no-preflight']), 'off');
    assert.equal(mode([], { MARATHON_ACME_NO_PREFLIGHT: '1', MARATHON_ACME_PREFLIGHT: 'off' }), 'off');
  });

  it('refuses other modes, naming where they came from', () => {
    assert.match(mode(['--preflight', 'blocking']), /^exit 2: .*'--preflight <mode>' argument 'blocking' is invalid\. Allowed choices are advisory, strict, off/);
    assert.match(mode([], { MARATHON_ACME_PREFLIGHT: 'on' }), /^exit 2: .*environment variable MARATHON_ACME_PREFLIGHT: 'on' is invalid/);
    assert.match(mode([], { MARATHON_ACME_NO_PREFLIGHT: 'maybe' }), /^exit 2: .*environment variable MARATHON_ACME_NO_PREFLIGHT: 'maybe' is not a boolean/);
  });
});
