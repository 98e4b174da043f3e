import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCli } from '../../src/cli.js';
import { ConfigError } from '../../src/config.js';
import { parseZkOption, parseZkOrderWindow, parseZkSessionTimeout } from '../../src/ha/zk-options.js';

describe('the --zk options', () => {
  it('parse a Marathon-style ZooKeeper URL, and refuse others with a ConfigError', () => {
    const target = parseZkOption('zk://user:pw@zk-1:2181,zk-2/marathon-acme');
    assert.deepEqual(target.servers, [{ host: 'zk-1', port: 2181 }, { host: 'zk-2', port: 2181 }]);
    assert.equal(target.display, 'zk://***@zk-1:2181,zk-2/marathon-acme');
    assert.throws(() => parseZkOption('http://zk-1:2181/x'), (err: unknown) => err instanceof ConfigError && /not a ZooKeeper URL/.test(err.message));
    assert.throws(() => parseZkOption('zk://zk-1:2181/'), ConfigError);
  });

  it('bound the session timeout and the hand-over window', () => {
    assert.equal(parseZkSessionTimeout('6'), 6_000);
    assert.throws(() => parseZkSessionTimeout('1.5'), /at least 2 seconds/);
    assert.equal(parseZkOrderWindow('300'), 300_000);
    assert.throws(() => parseZkOrderWindow('0'), /at least 1 second/);
  });

  it('reach the configuration from flags and the environment, with defaults, and never show the credentials', () => {
    const plain = parseCli(['/srv/acme'], {});
    assert.ok(plain.kind === 'run');
    assert.deepEqual([plain.config.zk, plain.config.zkSessionTimeoutMs, plain.config.zkOrderWindowMs], [undefined, 6_000, 300_000]);
    const fromEnv = parseCli(['/srv/acme'], { MARATHON_ACME_ZK: 'zk://zk-1:2181/ma', MARATHON_ACME_ZK_SESSION_TIMEOUT: '10' });
    assert.ok(fromEnv.kind === 'run');
    assert.equal(fromEnv.config.zk?.path, '/ma');
    assert.equal(fromEnv.config.zkSessionTimeoutMs, 10_000);
    const bad = parseCli(['--zk', 'zk://user:secret@zk-1:2181', '/srv/acme'], {});
    assert.ok(bad.kind === 'exit');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--zk <url>.*needs a path of our own/);
    assert.doesNotMatch(bad.stderr, /secret/, 'the credentials are not echoed');
  });
});
