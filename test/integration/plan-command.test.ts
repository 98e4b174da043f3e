/** `marathon-acme plan` as an operator runs it: real executable, emulator, a prepared storage directory. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { formatBundle } from '../../src/certs/bundle.js';
import { CertStore } from '../../src/certs/store.js';
import { hostApp } from '../support/apps.js';
import { FakeCa } from '../support/fake-ca.js';
import { MarathonEmulator } from '../support/marathon-emulator.js';

const exec = promisify(execFile);
const BIN = fileURLToPath(new URL('../../bin/marathon-acme', import.meta.url));
const DAY = 86_400_000;

async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    out.push(join(entry.parentPath, entry.name).slice(dir.length));
  }
  return out.sort();
}

describe('marathon-acme plan', () => {
  it('prints what a sync would do, with reasons, and changes nothing', async (t) => {
    const storage = await mkdtemp(join(tmpdir(), 'ma-plan-'));
    t.after(() => rm(storage, { recursive: true, force: true }));
    const store = new CertStore(storage);
    await store.init(new Date());
    const now = Date.now();
    const store90 = async (name: string, issuedDaysAgo: number) => {
      const ca = new FakeCa(90 * DAY, () => now - issuedDaysAgo * DAY);
      const issued = await ca.issue([name]);
      await store.write(name, formatBundle(issued.keyPem, issued.chainPem));
    };
    await store90('shop.example.test', 10);
    await store90('blog.example.test', 70);
    await store90('old.example.test', 5);
    await writeFile(join(storage, 'certs', 'broken.example.test.pem'), 'not a certificate');
    await writeFile(
      join(storage, 'state.json'),
      JSON.stringify({
        version: 1,
        certificates: {
          'api.example.test': {
            failure: {
              failures: 2,
              lastError: { type: 'connection', detail: 'Fetching http://api.example.test/.well-known/acme-challenge/x: Connection refused', status: 400 },
              nextAttemptAt: new Date(now + 3_600_000).toISOString(),
              lastFailureAt: new Date(now - 60_000).toISOString(),
            },
          },
          'old.example.test': { lastWantedAt: new Date(now - 2 * DAY).toISOString() },
        },
      }),
    );

    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    t.after(() => marathon.stop());
    marathon.addApp(hostApp('/shop', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'shop.example.test' }));
    marathon.addApp(hostApp('/blog', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'blog.example.test' }));
    marathon.addApp(hostApp('/new', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'new.example.test' }));
    marathon.addApp(hostApp('/api', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'api.example.test' }));
    marathon.addApp(hostApp('/wild', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: '*.example.test' }));
    const before = await tree(storage);

    const { stdout } = await exec(BIN, ['plan', '-m', marathon.url, storage]);
    const lines = stdout.trimEnd().split('\n');
    const line = (action: string, subject: string) => lines.find((l) => l.startsWith(action.padEnd(7)) && l.includes(` ${subject} `));
    assert.match(line('issue', 'new.example.test') ?? '', /no certificate yet: new.example.test for app \/new port 0/);
    assert.match(line('wait', 'api.example.test') ?? '', /after a failure: connection: Fetching/);
    assert.match(line('renew', 'blog.example.test') ?? '', /less than a third of its lifetime left/);
    assert.match(line('keep', 'shop.example.test') ?? '', /valid until .* renewal from/);
    assert.match(line('keep', 'old.example.test') ?? '', /no app wants it \(would retire at /);
    assert.match(line('replace', 'broken.example.test') ?? '', /unusable/);
    assert.match(line('skip', '/wild') ?? '', /wildcard/);
    assert.deepEqual(await tree(storage), before, 'plan changes nothing in the storage directory');
    assert.equal(marathon.requests.filter((r) => r.path.startsWith('/v2/events')).length, 0);
  });

  it('on a directory the daemon never ran on, plans the first run (start-up files, then every name) and creates nothing', async (t) => {
    const storage = await mkdtemp(join(tmpdir(), 'ma-plan-'));
    t.after(() => rm(storage, { recursive: true, force: true }));
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    t.after(() => marathon.stop());
    marathon.addApp(hostApp('/shop', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'shop.example.test,www.shop.example.test' }));
    marathon.addApp(hostApp('/api', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'api.example.test' }));
    const modified = (await stat(storage)).mtimeMs;

    const { stdout } = await exec(BIN, ['plan', '-m', marathon.url, '--multiple-domains', 'separate', storage]);
    const lines = stdout.trimEnd().split('\n');
    assert.deepEqual(
      lines.map((l) => l.split(/\s+/).slice(0, 2).join(' ')),
      ['create certs/', 'create unmanaged-certs/', 'create default.pem', 'create client.key', 'issue shop.example.test', 'issue www.shop.example.test', 'issue api.example.test'],
      stdout,
    );
    assert.match(stdout, /client\.key +a new ACME account key, registered as a new account with https:\/\/acme-v02/);
    assert.match(stdout, /issue +api\.example\.test +no certificate yet: api\.example\.test for app \/api port 0/);
    assert.deepEqual(await tree(storage), [], 'plan creates nothing, not even certs/ or .tmp/');
    assert.equal((await stat(storage)).mtimeMs, modified);
  });

  it('plans a directory whose certs/ is missing although other files are there, without creating it', async (t) => {
    const storage = await mkdtemp(join(tmpdir(), 'ma-plan-'));
    t.after(() => rm(storage, { recursive: true, force: true }));
    await writeFile(join(storage, 'default.pem'), 'kept as it is');
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    t.after(() => marathon.stop());
    marathon.addApp(hostApp('/shop', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'shop.example.test' }));
    const { stdout } = await exec(BIN, ['plan', '-m', marathon.url, storage]);
    assert.deepEqual(
      stdout.trimEnd().split('\n').map((l) => l.split(/\s+/).slice(0, 2).join(' ')),
      ['create certs/', 'create unmanaged-certs/', 'create client.key', 'issue shop.example.test'],
    );
    assert.deepEqual(await tree(storage), ['/default.pem']);
  });

  it('refuses a storage directory that does not exist, as the daemon would, and creates nothing', async (t) => {
    const parent = await mkdtemp(join(tmpdir(), 'ma-plan-'));
    t.after(() => rm(parent, { recursive: true, force: true }));
    const storage = join(parent, 'not-mounted');
    await assert.rejects(exec(BIN, ['plan', '-m', 'http://127.0.0.1:1', storage]), (err: { code?: number; stdout?: string; stderr?: string }) => {
      assert.equal(err.code, 1);
      assert.equal(err.stdout, '');
      assert.match(err.stderr ?? '', /^marathon-acme plan: storage directory .*not-mounted does not exist; the daemon would refuse to start .*create it or mount the volume/);
      return true;
    });
    assert.deepEqual(await tree(parent), []);
  });

  it('fails with a clear message and exit 1 when Marathon cannot be read', async (t) => {
    const storage = await mkdtemp(join(tmpdir(), 'ma-plan-'));
    t.after(() => rm(storage, { recursive: true, force: true }));
    await new CertStore(storage).init(new Date());
    await assert.rejects(exec(BIN, ['plan', '-m', 'http://127.0.0.1:1', storage]), (err: { code?: number; stderr?: string }) => {
      assert.equal(err.code, 1);
      assert.match(err.stderr ?? '', /marathon-acme plan: no Marathon instance answered/);
      return true;
    });
  });
});
