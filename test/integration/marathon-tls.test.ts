/**
 * An HTTPS Marathon signed by an internal CA: refused with a message that says what to do, trusted
 * through --marathon-ca-file, through the system store (SSL_CERT_FILE, as OpenSSL and so the Python
 * original read it) and through NODE_EXTRA_CA_CERTS. The executable runs under whichever Node is first
 * on the PATH: Node reads SSL_CERT_FILE through tls.getCACertificates('system').
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Config } from '../../src/config.js';
import { Daemon, StartupError } from '../../src/daemon.js';
import { hostApp } from '../support/apps.js';
import { cleanupStack } from '../support/cleanup.js';
import { testConfig } from '../support/config.js';
import { eventually } from '../support/eventually.js';
import { MarathonEmulator } from '../support/marathon-emulator.js';
import { memoryLogger } from '../support/memory-logger.js';
import { freePort } from '../support/ports.js';
import { makePrivateCa, type PrivateCa } from '../support/private-ca.js';

const BIN = fileURLToPath(new URL('../../bin/marathon-acme', import.meta.url));
const exec = promisify(execFile);

let pki: PrivateCa;
let other: PrivateCa;

before(async () => {
  [pki, other] = await Promise.all([makePrivateCa(), makePrivateCa('an unrelated CA')]);
});

interface Setup {
  marathon: MarathonEmulator;
  dir: string;
  /** The internal CA's certificate. */
  caFile: string;
  /** A bundle with only an unrelated CA: a system store that does not know ours. */
  otherBundle: string;
  defer: (cleanup: () => Promise<unknown>) => void;
}

async function setup(t: TestContext): Promise<Setup> {
  const defer = cleanupStack(t);
  const marathon = await MarathonEmulator.start({ heartbeatMs: 0, tls: { key: pki.key, cert: pki.cert } });
  defer(() => marathon.stop());
  marathon.addApp(hostApp('/shop', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'shop.example.test' }));
  const dir = await mkdtemp(join(tmpdir(), 'ma-marathon-tls-'));
  defer(() => rm(dir, { recursive: true, force: true }));
  const caFile = join(dir, 'internal-ca.pem');
  const otherBundle = join(dir, 'other-bundle.pem');
  await writeFile(caFile, pki.caPem);
  await writeFile(otherBundle, other.caPem);
  return { marathon, dir, caFile, otherBundle, defer };
}

/** A daemon on the HTTPS emulator; the CA is never reachable, so only Marathon is exercised. */
async function daemonFor(s: Setup, overrides: Partial<Config>) {
  const { logger, lines } = memoryLogger();
  const config = testConfig({
    storageDir: s.dir,
    acmeDirectoryUrl: `http://127.0.0.1:${await freePort()}/directory`,
    marathonUrls: [s.marathon.url],
    lbUrls: [`http://127.0.0.1:${await freePort()}`],
    listen: { host: '127.0.0.1', port: 0 },
    syncIntervalMs: 0,
    ...overrides,
  });
  const daemon = new Daemon({ config, logger });
  return { daemon, lines };
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The built executable with only these variables of ours (and none of the parent's trust settings). */
async function run(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('MARATHON_ACME_') && !['SSL_CERT_FILE', 'SSL_CERT_DIR', 'NODE_EXTRA_CA_CERTS', 'NODE_OPTIONS'].includes(name)),
  );
  try {
    const { stdout, stderr } = await exec(BIN, args, { env: { ...base, NO_COLOR: '1', ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('an HTTPS Marathon signed by an internal CA', () => {
  it('is refused without its CA, with the URL and what to do in the sync error', async (t) => {
    const s = await setup(t);
    const { daemon, lines } = await daemonFor(s, {});
    await daemon.start();
    s.defer(() => daemon.stop(1_000));
    daemon.requestSync('test');
    await daemon.whenIdle();
    const problems = daemon.health().problems.join('\n');
    assert.match(problems, new RegExp(`last sync with Marathon failed: .*${s.marathon.url.replace(/\./g, '\\.')}/v2/apps: `));
    assert.match(problems, /give the CA in --marathon-ca-file or install it in the system store/);
    await eventually('the event stream failure is logged with the same advice', () =>
      lines.some((line) => line.msg.startsWith('event stream from Marathon lost') && /--marathon-ca-file/.test(String(line['reason']))),
    );
    assert.equal(s.marathon.appsRequests, 0, 'no request got through the handshake');
  });

  it('is trusted with --marathon-ca-file: the event stream attaches and the sync completes', async (t) => {
    const s = await setup(t);
    const { daemon } = await daemonFor(s, { marathonCaFile: s.caFile });
    await daemon.start();
    s.defer(() => daemon.stop(1_000));
    await eventually('a sync with Marathon', () => daemon.health().details['lastSyncAt'] !== null);
    assert.equal(daemon.health().details['eventStream'], 'attached');
    assert.ok(s.marathon.appsRequests >= 1);
    assert.ok(!daemon.health().problems.some((p) => p.includes('Marathon')), daemon.health().problems.join('; '));
  });

  it('stops the daemon at start when --marathon-ca-file cannot be read, naming the file', async (t) => {
    const s = await setup(t);
    const missing = join(s.dir, 'no-such-ca.pem');
    const { daemon } = await daemonFor(s, { marathonCaFile: missing });
    s.defer(() => daemon.stop(0));
    await assert.rejects(daemon.start(), (err: unknown) => err instanceof StartupError && err.message.includes(`cannot read --marathon-ca-file ${missing}`));
  });

  it('is trusted through the system store (SSL_CERT_FILE) by plan, and refused without it', async (t) => {
    const s = await setup(t);
    const env = { MARATHON_ACME_MARATHON: s.marathon.url };
    const trusted = await run(['plan', s.dir], { ...env, SSL_CERT_FILE: join(s.dir, 'system-bundle.pem') }).then(async (first) => {
      // Written only now: the first run shows that the file's absence is what the refusal comes from.
      assert.equal(first.code, 1, first.stdout);
      await writeFile(join(s.dir, 'system-bundle.pem'), `${other.caPem}${pki.caPem}`);
      return run(['plan', s.dir], { ...env, SSL_CERT_FILE: join(s.dir, 'system-bundle.pem') });
    });
    assert.equal(trusted.code, 0, trusted.stderr);
    assert.match(trusted.stdout, /shop\.example\.test/);
    const refused = await run(['plan', s.dir], { ...env, SSL_CERT_FILE: s.otherBundle });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`${s.marathon.url.replace(/\./g, '\\.')}/v2/apps: .*--marathon-ca-file`));
  });

  it("is trusted through NODE_EXTRA_CA_CERTS, which Node's own clients honour", async (t) => {
    const s = await setup(t);
    const result = await run(['plan', s.dir], { MARATHON_ACME_MARATHON: s.marathon.url, SSL_CERT_FILE: s.otherBundle, NODE_EXTRA_CA_CERTS: s.caFile });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /shop\.example\.test/);
  });

  it('is read by check --all with MARATHON_ACME_MARATHON_CA_FILE', async (t) => {
    const s = await setup(t);
    s.marathon.removeApp('/shop');
    const env = { MARATHON_ACME_MARATHON: s.marathon.url, SSL_CERT_FILE: s.otherBundle };
    const refused = await run(['check', '--all'], env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /--marathon-ca-file/);
    const trusted = await run(['check', '--all'], { ...env, MARATHON_ACME_MARATHON_CA_FILE: s.caFile });
    assert.equal(trusted.code, 0, trusted.stderr);
  });
});
