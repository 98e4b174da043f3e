/**
 * Security posture of the real executable: with Marathon credentials in its URLs and an external
 * account binding key in its environment, nothing it prints, serves (health, metrics, status) or
 * stores outside the key files
 * contains a secret, even at debug level and while Marathon is failing; key files are 0600; no HTTP
 * endpoint changes anything.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { request } from 'undici';
import { hostApp } from '../support/apps.js';
import { cleanupStack } from '../support/cleanup.js';
import { eventually } from '../support/eventually.js';
import { faultCase } from '../support/fault-report.js';
import { startLbReceiver } from '../support/lb-receiver.js';
import { MarathonEmulator } from '../support/marathon-emulator.js';
import { startPebble } from '../support/pebble.js';
import { freePort } from '../support/ports.js';

const BIN = fileURLToPath(new URL('../../bin/marathon-acme', import.meta.url));
const exec = promisify(execFile);

const USER = 'acme-reader';
const PASSWORD = 'S3cret-marathon-pw';
const EAB_KID = 'kid-secret-test';
const EAB_KEY = 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W';

/** Everything that would betray a secret if it showed up in output: the secrets and their encodings. */
const NEEDLES = [
  PASSWORD,
  encodeURIComponent(PASSWORD),
  Buffer.from(`${USER}:${PASSWORD}`).toString('base64'),
  EAB_KEY,
  EAB_KEY.slice(0, 16),
  'PRIVATE KEY',
];

function leaks(where: string, text: string): string[] {
  return NEEDLES.filter((needle) => text.includes(needle)).map((needle) => `${where} contains ${JSON.stringify(needle.slice(0, 8))}…`);
}

describe('secrets', () => {
  it('never prints, serves or stores a credential or private key outside the key files', async (t) => {
    const rec = faultCase(t, {
      area: 'Security',
      fault: 'secrets in configuration',
      tried: 'Marathon Basic auth in the URL (Marathon down at first), EAB HMAC key from the environment, --log-level debug, one issuance, /health while failing and healthy, /metrics, /status, plan',
    });
    const defer = cleanupStack(t);
    const httpPort = await freePort();
    const pebble = await startPebble({
      httpPort,
      extraConfig: { externalAccountBindingRequired: true, externalAccountMACKeys: { [EAB_KID]: EAB_KEY } },
    });
    defer(() => pebble.stop());
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0, basicAuth: { user: USER, password: PASSWORD } });
    defer(() => marathon.stop());
    marathon.addApp(hostApp('/secret', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'secret.example.test' }));
    await marathon.setMode('down');
    const lb = await startLbReceiver();
    defer(() => lb.stop());
    const storage = await mkdtemp(join(tmpdir(), 'ma-secrets-'));
    defer(() => rm(storage, { recursive: true, force: true }));
    const withAuth = marathon.url.replace('http://', `http://${USER}:${encodeURIComponent(PASSWORD)}@`);
    const args = [
      '--acme', pebble.directoryUrl, '--acme-ca-file', pebble.caFile, '--marathon', withAuth, '--lb', lb.url,
      '--listen', `127.0.0.1:${httpPort}`, '--no-preflight', '--log-level', 'debug', '--key-type', 'ecdsa-p256', storage,
    ];
    const env = { ...process.env, MARATHON_ACME_EAB_KID: EAB_KID, MARATHON_ACME_EAB_HMAC_KEY: EAB_KEY };
    const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => { resolve(`code ${String(code)} signal ${String(signal)}`); }));
    defer(async () => {
      child.kill('SIGKILL');
      await exited;
    });
    const health = async (): Promise<string> => {
      const res = await request(`http://127.0.0.1:${httpPort}/health`);
      return res.body.text();
    };

    await eventually('a failed sync naming the Marathon URL', () => /sync failed/.test(output));
    const failingHealth = await health();
    assert.match(failingHealth, /127\.0\.0\.1/, 'the health report names the Marathon it could not reach');
    await marathon.setMode('up');
    await eventually('the certificate', async () => (await readdir(join(storage, 'certs')).catch(() => [])).length === 1, 60_000);
    const healthyHealth = await health();
    const served: Record<string, string> = {};
    for (const path of ['/metrics', '/status', '/status.json']) {
      const res = await request(`http://127.0.0.1:${httpPort}${path}`);
      assert.equal(res.statusCode, 200, path);
      served[path] = await res.body.text();
    }

    const probes: string[] = [];
    for (const path of ['/health', '/ping', '/.well-known/acme-challenge/x', '/', '/metrics', '/status']) {
      for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
        const res = await request(`http://127.0.0.1:${httpPort}${path}`, { method, body: '{}' });
        await res.body.dump();
        probes.push(`${method} ${path} ${res.statusCode}`);
        assert.ok(res.statusCode >= 400, `${method} ${path} answered ${res.statusCode}`);
      }
    }
    const { stdout: planOut, stderr: planErr } = await exec(BIN, ['plan', '--marathon', withAuth, storage], { env });
    child.kill('SIGTERM');
    assert.equal(await exited, 'code 0 signal null');

    const state = await readFile(join(storage, 'state.json'), 'utf8').catch(() => '');
    const found = [
      ...leaks('daemon output', output),
      ...leaks('/health while failing', failingHealth),
      ...leaks('/health when healthy', healthyHealth),
      ...Object.entries(served).flatMap(([path, text]) => leaks(path, text)),
      ...leaks('plan output', planOut + planErr),
      ...leaks('state.json', state),
    ];
    assert.deepEqual(found, []);
    assert.match(output, /\*\*\*@127\.0\.0\.1/, 'the Marathon URL is logged, with its credentials masked');
    const lines = output.trim().split('\n').length;
    assert.match(served['/status.json'] ?? '', /\*\*\*@127\.0\.0\.1/, 'the status names Marathon with its credentials masked');
    rec.observe(`${lines} log lines at debug level, 2 health reports, /metrics, /status, /status.json, plan output and state.json searched for ${NEEDLES.length} secret forms: none found`);
    rec.observe(`${probes.length} POST/PUT/DELETE/PATCH requests on 6 paths: all refused (${[...new Set(probes.map((p) => p.split(' ')[2]))].join('/')})`);

    const modes: string[] = [];
    for (const file of ['client.key', 'default.pem', 'state.json', ...(await readdir(join(storage, 'certs'))).map((f) => `certs/${f}`)]) {
      const mode = (await stat(join(storage, file))).mode & 0o777;
      modes.push(`${file} ${mode.toString(8)}`);
      assert.equal(mode, 0o600, `${file} is 0600`);
    }
    rec.observe(`file modes: ${modes.join(', ')}`);
  });
});
