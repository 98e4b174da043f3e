/**
 * A storage directory damaged before the daemon starts (an older tool, a bad disk, a crash of
 * something else): every unusable bundle is moved out of certs/ before HAProxy could see it, then
 * issued again; a damaged state file is kept aside and the daemon goes on.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { createFallbackCertificate } from '../../src/certs/default-cert.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { hostApp } from '../support/apps.js';
import { cleanupStack } from '../support/cleanup.js';
import { testConfig } from '../support/config.js';
import { eventually } from '../support/eventually.js';
import { faultCase } from '../support/fault-report.js';
import { haproxyCheck } from '../support/haproxy.js';
import { startLbReceiver } from '../support/lb-receiver.js';
import { startPeers } from '../support/peers.js';

/** Bad bundles of the kinds a disk or another tool leaves behind, by the name they pretend to be. */
async function damagedBundles(): Promise<Record<string, string>> {
  const good = await createFallbackCertificate(new Date());
  const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' });
  const cert = good.slice(good.indexOf('-----BEGIN CERTIFICATE-----'));
  return {
    'truncated.example.test': good.slice(0, Math.floor(good.length * 0.6)),
    'empty.example.test': '',
    'key-only.example.test': good.slice(0, good.indexOf('-----BEGIN CERTIFICATE-----')),
    'cert-only.example.test': cert,
    'wrong-key.example.test': `${otherKey}${cert}`,
    'binary.example.test': randomBytes(2048).toString('latin1'),
    'text.example.test': 'this is not a certificate\n',
  };
}

async function startDaemon(t: TestContext, storage: string, names: string[]) {
  const defer = cleanupStack(t);
  const { httpPort, pebble, marathon } = await startPeers(defer);
  names.forEach((name, i) => {
    marathon.addApp(hostApp(`/stored${i}`, { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: name }));
  });
  const lb = await startLbReceiver();
  defer(() => lb.stop());
  const config = testConfig({
    storageDir: storage,
    acmeDirectoryUrl: pebble.directoryUrl,
    acmeCaFile: pebble.caFile,
    marathonUrls: [marathon.url],
    lbUrls: [lb.url],
    listen: { host: '127.0.0.1', port: httpPort },
    keyType: 'ecdsa-p256',
  });
  const daemon = new Daemon({ config, logger: silentLogger() });
  return { daemon, defer };
}

describe('damaged storage at start', () => {
  it('moves every unusable bundle aside before HAProxy could load it, and issues it again', async (t) => {
    const bad = await damagedBundles();
    const names = Object.keys(bad);
    const rec = faultCase(t, { area: 'Storage and crashes', fault: 'corrupt or truncated bundles in certs/ at start', tried: `${names.length} files: ${names.map((n) => n.split('.')[0]).join(', ')}` });
    const storage = await mkdtemp(join(tmpdir(), 'ma-damaged-'));
    t.after(() => rm(storage, { recursive: true, force: true }));
    await mkdir(join(storage, 'certs'));
    for (const [name, text] of Object.entries(bad)) await writeFile(join(storage, 'certs', `${name}.pem`), text, 'latin1');
    assert.equal((await haproxyCheck(storage)).ok, false, 'haproxy refuses the damaged directory as it is');

    const { daemon, defer } = await startDaemon(t, storage, names);
    await daemon.start();
    defer(() => daemon.stop(1_000));
    const movedAside = await readdir(join(storage, 'corrupt-certs'));
    const check = await haproxyCheck(storage);
    assert.ok(check.ok, `haproxy accepts the directory as soon as the daemon has started: ${check.output}`);
    assert.equal(movedAside.length, names.length, movedAside.join(', '));
    rec.observe(`${movedAside.length}/${names.length} moved to corrupt-certs/ (kept, not deleted) before the first order; haproxy -c OK right after start`);

    await eventually('all re-issued', async () => (await readdir(join(storage, 'certs'))).length === names.length, 60_000);
    assert.ok((await haproxyCheck(storage)).ok);
    rec.observe(`${names.length}/${names.length} issued again; haproxy -c OK`);
  });

  it('keeps a damaged state file aside and goes on', async (t) => {
    const rec = faultCase(t, { area: 'Storage and crashes', fault: 'damaged state.json at start', tried: 'state.json cut off half-way through its JSON' });
    const storage = await mkdtemp(join(tmpdir(), 'ma-damaged-state-'));
    t.after(() => rm(storage, { recursive: true, force: true }));
    await writeFile(join(storage, 'state.json'), '{"version":1,"certificates":{"a.example.test":{"lastWantedAt":"2026-', 'utf8');
    await mkdir(join(storage, 'certs'));
    const { daemon, defer } = await startDaemon(t, storage, ['state.example.test']);
    await daemon.start();
    defer(() => daemon.stop(1_000));
    const kept = (await readdir(storage)).filter((f) => f.startsWith('state.json.damaged-'));
    assert.equal(kept.length, 1, 'the damaged file is kept under another name');
    assert.match(await readFile(join(storage, kept[0] ?? ''), 'utf8'), /lastWantedAt/);
    await eventually('the certificate', async () => (await readdir(join(storage, 'certs'))).length === 1, 60_000);
    await daemon.whenIdle();
    JSON.parse(await readFile(join(storage, 'state.json'), 'utf8'));
    rec.observe(`kept as ${kept[0]?.replace(/damaged-.*$/, 'damaged-<time>') ?? ''}; the daemon started, issued, and wrote a readable state.json`);
  });
});
