import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseZkUrl, ZkUrlError } from '../../src/zk/zk-url.js';

describe('parseZkUrl', () => {
  it('reads the host list, the path and digest credentials as Marathon writes them', () => {
    assert.deepEqual(parseZkUrl('zk://marathon:s3cr%40t@zk-1:2181,zk-2:2182,[::1]:2183,zk-4/marathon-acme/'), {
      servers: [
        { host: 'zk-1', port: 2181 },
        { host: 'zk-2', port: 2182 },
        { host: '::1', port: 2183 },
        { host: 'zk-4', port: 2181 },
      ],
      path: '/marathon-acme',
      digest: 'marathon:s3cr@t',
      display: 'zk://***@zk-1:2181,zk-2:2182,[::1]:2183,zk-4/marathon-acme',
    });
    assert.equal(parseZkUrl(' ZK://127.0.0.1:2181/a/b ').path, '/a/b');
  });

  const refused: Array<[string, RegExp]> = [
    ['http://zk:2181/x', /not a ZooKeeper URL; expected zk:\/\/host:2181/],
    ['zk://zk:2181', /needs a path of our own/],
    ['zk://zk:2181/', /needs a path of our own/],
    ['zk://zk:2181//x', /empty element/],
    ['zk://zk:2181/a/../b', /'\.' or '\.\.'/],
    ['zk://zk:2181/zookeeper/x', /keeps for itself/],
    ['zk://zk:99999/x', /no valid port/],
    ['zk://zk:0/x', /no valid port/],
    ['zk://zk-1:2181,,zk-2:2181/x', /empty host/],
    ['zk://zk:21a81/x', /not host or host:port/],
    ['zk://user@zk:2181/x', /must be user:password/],
    ['zk://u:%zz@zk:2181/x', /percent-encoding/],
    ['zk://zk:2181/a\u0001b', /does not allow/],
  ];
  for (const [url, message] of refused) {
    it(`refuses ${JSON.stringify(url)} with a reason`, () => {
      assert.throws(() => parseZkUrl(url), (err: unknown) => err instanceof ZkUrlError && message.test(err.message));
    });
  }

  it('never shows the password, in the display or in an error', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 6, maxLength: 20 }).filter((p) => /^[A-Za-z0-9]+$/.test(p)), fc.constantFrom('/x', '', '//x', '/zookeeper'), (password, path) => {
        const url = `zk://user:${password}@zk:2181${path}`;
        try {
          assert.ok(!parseZkUrl(url).display.includes(password));
        } catch (err) {
          assert.ok(err instanceof ZkUrlError);
          assert.ok(!err.message.includes(password), err.message);
        }
        try {
          parseZkUrl(`http://user:${password}@zk:2181/x`);
        } catch (err) {
          assert.ok(err instanceof ZkUrlError && !err.message.includes(password), String(err));
        }
      }),
    );
  });
});
