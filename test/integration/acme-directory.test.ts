/**
 * An --acme URL that is no ACME v2 directory stops the daemon at start with one clear line (the real
 * executable against local servers: a web page, an ACME v1 directory, Let's Encrypt's v1 address),
 * while a directory that fails for a moment is retried until the account is ready (in-process,
 * Debian's pebble behind the test proxy).
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Daemon } from '../../src/daemon.js';
import { AcmeProxy } from '../support/acme-proxy.js';
import { hostApp } from '../support/apps.js';
import { cleanupStack } from '../support/cleanup.js';
import { testConfig } from '../support/config.js';
import { eventually } from '../support/eventually.js';
import { startLbReceiver } from '../support/lb-receiver.js';
import { MarathonEmulator } from '../support/marathon-emulator.js';
import { memoryLogger } from '../support/memory-logger.js';
import { pebbleTls, startPebble } from '../support/pebble.js';
import { freePort } from '../support/ports.js';

const BIN = fileURLToPath(new URL('../../bin/marathon-acme', import.meta.url));
const V2 = 'https://acme-v02.api.letsencrypt.org/directory';

/** A plain HTTP server answering every GET with `body`; counts the requests. */
async function serve(t: TestContext, contentType: string, body: string): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  const server: Server = createServer((_req, res) => {
    requests++;
    res.writeHead(200, { 'content-type': contentType }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/directory`, requests: () => requests };
}

interface Run { code: number | null; stdout: string; stderr: string }

/** The daemon as an operator starts it; Marathon is unreachable, which must not matter here. */
async function runDaemon(t: TestContext, acme: string): Promise<Run> {
  const storage = await mkdtemp(join(tmpdir(), 'ma-acmedir-'));
  t.after(() => rm(storage, { recursive: true, force: true }));
  const args = ['--listen', `127.0.0.1:${await freePort()}`, '--acme', acme, '-m', 'http://127.0.0.1:1', storage];
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { env: { PATH: process.env['PATH'] }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Exit 1, exactly one line on stderr, and the same reason in a fatal JSON log line. */
function assertStopped(r: Run, pattern: RegExp): void {
  assert.equal(r.code, 1, `stderr: ${r.stderr}\nstdout: ${r.stdout}`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0] ?? '', /^marathon-acme: --acme /);
  assert.match(lines[0] ?? '', pattern);
  const fatal = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { level: string; msg: string; err?: string }).filter((l) => l.level === 'fatal');
  assert.equal(fatal.length, 1, r.stdout);
  assert.match(fatal[0]?.err ?? '', pattern);
  assert.doesNotMatch(r.stdout, /retrying after a pause/, 'not retried');
}

describe('an --acme URL that is not an ACME v2 directory', () => {
  it('an HTML page: exit 1 at start, naming what was found and the v2 URL', async (t) => {
    const page = await serve(t, 'text/html; charset=utf-8', '<!doctype html><html><head><title>Example Corp intranet</title></head><body>Hello</body></html>');
    const r = await runDaemon(t, page.url);
    assertStopped(r, /is not an ACME directory: it answered an HTML page titled "Example Corp intranet"/);
    assert.ok(r.stderr.includes(V2), r.stderr);
    assert.equal(page.requests(), 1, 'looked at once');
  });

  it('an ACME v1 directory: exit 1 at start, saying v1 is gone and where v2 is', async (t) => {
    const v1 = await serve(t, 'application/json', JSON.stringify({
      'key-change': 'http://127.0.0.1/acme/key-change',
      'new-authz': 'http://127.0.0.1/acme/new-authz',
      'new-cert': 'http://127.0.0.1/acme/new-cert',
      'new-reg': 'http://127.0.0.1/acme/new-reg',
      'revoke-cert': 'http://127.0.0.1/acme/revoke-cert',
    }));
    const r = await runDaemon(t, v1.url);
    assertStopped(r, /this is an ACME v1 directory; ACME v1 was switched off in 2021; use https:\/\/acme-v02\.api\.letsencrypt\.org\/directory \(staging: https:\/\/acme-staging-v02\.api\.letsencrypt\.org\/directory\)/);
  });

  it("Let's Encrypt's old v1 address, the original's default: exit 1 without asking the network", async (t) => {
    const r = await runDaemon(t, 'https://acme-v01.api.letsencrypt.org/directory');
    assertStopped(r, /--acme https:\/\/acme-v01\.api\.letsencrypt\.org\/directory: this is an ACME v1 directory/);
  });
});

describe('a directory that fails for a moment', () => {
  it('is retried (503 at first), then the account is registered and certificates issued', async (t) => {
    const defer = cleanupStack(t);
    const httpPort = await freePort();
    const pebble = await startPebble({ httpPort });
    defer(() => pebble.stop());
    const proxy = await AcmeProxy.start({ upstream: pebble.directoryUrl, caPem: (await pebbleTls()).caPem });
    defer(() => proxy.stop());
    proxy.failNext('/dir', 2, 503);
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    defer(() => marathon.stop());
    marathon.addApp(hostApp('/blip', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'blip.example.test' }));
    const lb = await startLbReceiver();
    defer(() => lb.stop());
    const storage = await mkdtemp(join(tmpdir(), 'ma-acmedir-'));
    defer(() => rm(storage, { recursive: true, force: true }));
    const config = testConfig({
      storageDir: storage,
      acmeDirectoryUrl: proxy.directoryUrl,
      acmeCaFile: pebble.caFile,
      marathonUrls: [marathon.url],
      lbUrls: [lb.url],
      listen: { host: '127.0.0.1', port: httpPort },
      keyType: 'ecdsa-p256',
    });
    const { logger, lines } = memoryLogger();
    const daemon = new Daemon({ config, logger });
    let fatal: Error | undefined;
    void daemon.fatal.then((err) => (fatal = err));
    await daemon.start();
    defer(() => daemon.stop(1_000));

    await eventually('the certificate', async () => (await readdir(join(storage, 'certs'))).includes('blip.example.test.pem'), 60_000);
    const retries = lines.filter((l) => l.msg === 'ACME account is not ready; retrying after a pause');
    assert.equal(retries.length, 2, JSON.stringify(retries));
    for (const r of retries) assert.match(String(r['err']), /^GET https:\/\/\S+\/dir answered 503/);
    assert.equal(fatal, undefined, 'not stopped');
    assert.ok(lines.some((l) => l.msg === 'ACME account ready'));
  });
});
