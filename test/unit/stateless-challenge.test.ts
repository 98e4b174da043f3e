import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseCli, parseCommandLine } from '../../src/cli.js';
import { lbConfigText } from '../../src/lb-config/command.js';
import { statelessChallengeRule, statelessProbe } from '../../src/lb/stateless-challenge.js';

const THUMBPRINT = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs';

describe('HTTP-01 answered by the load balancer (--challenges stateless)', () => {
  it('writes one HAProxy line with the thumbprint, answering only base64url tokens', () => {
    assert.equal(
      statelessChallengeRule(THUMBPRINT),
      `http-request return status 200 content-type text/plain lf-string "%[path,field(4,/)].${THUMBPRINT}" if { path_reg ^/\\.well-known/acme-challenge/[A-Za-z0-9_-]+$ }`,
    );
    assert.throws(() => statelessChallengeRule('a"b'), /not a JWK thumbprint/);
    const text = lbConfigText('/srv/acme/client.key', THUMBPRINT);
    assert.ok(text.includes(`\n  ${statelessChallengeRule(THUMBPRINT)}\n`));
    assert.match(text, /HAPROXY_HTTP_FRONTEND_HEAD/);
  });

  it('probes with a random token that only <token>.<thumbprint> answers', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.string(), (bytes, other) => {
        const probe = statelessProbe(THUMBPRINT, () => Buffer.from(bytes));
        assert.match(probe.token, /^[A-Za-z0-9_-]+$/);
        assert.equal(probe.matches(`${probe.token}.${THUMBPRINT}`), true);
        if (other !== `${probe.token}.${THUMBPRINT}`) assert.equal(probe.matches(other), false);
      }),
    );
    assert.match(statelessProbe(THUMBPRINT, undefined).wrongAnswer('http://lb1/x', 'a.example'), /marathon-acme lb-config/);
  });

  it('is chosen with --challenges or its variable; the daemon answers by default', () => {
    const byFlag = parseCli(['--challenges', 'stateless', '/srv/acme'], {});
    assert.ok(byFlag.kind === 'run' && byFlag.config.challenges === 'stateless');
    const byEnv = parseCli(['/srv/acme'], { MARATHON_ACME_CHALLENGES: 'stateless' });
    assert.ok(byEnv.kind === 'run' && byEnv.config.challenges === 'stateless');
    const plain = parseCli(['/srv/acme'], {});
    assert.ok(plain.kind === 'run' && plain.config.challenges === 'daemon');
    const bad = parseCli(['--challenges', 'haproxy', '/srv/acme'], {});
    assert.ok(bad.kind === 'exit' && bad.code === 2);
  });

  it('has check --stateless read the thumbprint from the storage directory', () => {
    const missing = parseCommandLine(['check', '--stateless', 'a.example'], {});
    assert.ok(missing.kind === 'exit' && missing.code === 2 && /--stateless needs the storage directory/.test(missing.stderr));
    const given = parseCommandLine(['check', '--stateless', '--storage-dir', '/srv/acme', 'a.example'], {});
    assert.ok(given.kind === 'check');
    assert.deepEqual(given.request.stateless, { storageDir: '/srv/acme' });
    const fromEnv = parseCommandLine(['check', '--stateless', 'a.example'], { MARATHON_ACME_STORAGE_DIR: '/srv/acme' });
    assert.ok(fromEnv.kind === 'check' && fromEnv.request.stateless?.storageDir === '/srv/acme');
    const plain = parseCommandLine(['check', 'a.example'], {});
    assert.ok(plain.kind === 'check' && plain.request.stateless === undefined);
  });
});
