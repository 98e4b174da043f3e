/** `marathon-acme check` as an operator runs it: the built executable against real HTTP servers. */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { createSecureContext, createServer as createTlsServer, type SecureContext } from 'node:tls';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ChallengeResponder } from '../../src/acme/challenges.js';
import { formatBundle } from '../../src/certs/bundle.js';
import { CertStore } from '../../src/certs/store.js';
import { closeServer, createHttpServer, listen } from '../../src/http/server.js';
import { silentLogger } from '../../src/log.js';
import { hostApp } from '../support/apps.js';
import { cleanupStack } from '../support/cleanup.js';
import { eventually } from '../support/eventually.js';
import { FakeCa } from '../support/fake-ca.js';
import { MarathonEmulator } from '../support/marathon-emulator.js';
import { freePort } from '../support/ports.js';

const BIN = fileURLToPath(new URL('../../bin/marathon-acme', import.meta.url));
const exec = promisify(execFile);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  try {
    const { stdout, stderr } = await exec(BIN, args, { env: { ...process.env, NO_COLOR: '1', ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** A marathon-acme HTTP server standing where marathon-lb would forward the challenge path. */
async function marathonAcme(t: TestContext): Promise<number> {
  const server = createHttpServer({ responder: new ChallengeResponder(), health: () => ({ healthy: true, problems: [], details: {} }), logger: silentLogger() });
  const { port } = await listen(server, '127.0.0.1', 0);
  cleanupStack(t)(() => closeServer(server));
  return port;
}

/** Debian's HAProxy in the foreground with these sections after `global` and `defaults`; the first bind line is waited for. */
async function startHaproxy(t: TestContext, sections: string[]): Promise<void> {
  const defer = cleanupStack(t);
  const dir = await mkdtemp(join(tmpdir(), 'ma-check-haproxy-'));
  defer(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'haproxy.cfg');
  await writeFile(file, ['global', '  no strict-limits', 'defaults', '  mode http', '  timeout connect 2s', '  timeout client 5s', '  timeout server 5s', ...sections, ''].join('\n'));
  const child = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
  defer(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  const bind = /bind 127\.0\.0\.1:(\d+)/.exec(sections.join('\n'))?.[1];
  await eventually(`haproxy listening on 127.0.0.1:${bind ?? '?'}`, () => {
    if (child.exitCode !== null) assert.fail(`haproxy exited: ${stderr}`);
    return listening(Number(bind));
  });
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      resolve(false);
    });
  });
}

/** The README's marathon-acme app, with the given weight. */
function acmeApp(weight: string) {
  return hostApp('/marathon-acme', {
    HAPROXY_GROUP: 'external',
    HAPROXY_0_VHOST: 'marathon-acme.example.test',
    HAPROXY_0_BACKEND_WEIGHT: weight,
    HAPROXY_0_PATH: '/.well-known/acme-challenge/',
    HAPROXY_0_HTTP_FRONTEND_ACL_WITH_PATH:
      '  acl host_{cleanedUpHostname} hdr(host) -i {hostname}\n  acl path_{backend} path_beg {path}\n  redirect prefix http://{hostname} code 302 if !host_{cleanedUpHostname} path_{backend}\n  use_backend {backend} if host_{cleanedUpHostname} path_{backend}\n',
  });
}

describe('marathon-acme check', () => {
  it('passes names that reach marathon-acme through the given load balancer, exit 0', async (t) => {
    const port = await marathonAcme(t);
    const r = await run(['check', '--lb-http', `http://127.0.0.1:${port}`, 'shop.example.test', 'api.example.test']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ok {4}shop\.example\.test$/m);
    assert.match(r.stdout, /^ok {4}api\.example\.test$/m);
    assert.match(r.stdout, new RegExp(`fetched: http://shop\\.example\\.test:${port}/\\.well-known/acme-challenge/ping`));
    assert.match(r.stdout, /all 2 names reach marathon-acme/);
  });

  it('fails a name that reaches something else, saying what to fix, exit 1; JSON on request', async (t) => {
    const defer = cleanupStack(t);
    const other = createServer((_req, res) => res.writeHead(404).end('no such app'));
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    defer(() => closeServer(other));
    const address = other.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const r = await run(['check', '--json', '--lb-http', `http://127.0.0.1:${port}`, 'shop.example.test']);
    assert.equal(r.code, 1);
    const [check] = JSON.parse(r.stdout) as Array<{ ok: boolean; kind: string; reason: string; addresses: string[] }>;
    assert.equal(check?.ok, false);
    assert.equal(check.kind, 'http-status');
    assert.deepEqual(check.addresses, ['127.0.0.1']);
    assert.match(check.reason, /answered 404 .*check that marathon-lb routes \/\.well-known\/acme-challenge\//);
  });

  it("with --all checks every name of Marathon's labelled apps in the group", async (t) => {
    const port = await marathonAcme(t);
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    cleanupStack(t)(() => marathon.stop());
    marathon.addApp(hostApp('/shop', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'shop.example.test,www.shop.example.test' }));
    marathon.addApp(hostApp('/intranet', { HAPROXY_GROUP: 'internal', MARATHON_ACME_0_DOMAIN: 'intranet.example.test' }));
    const r = await run(['check', '--all', '--marathon', marathon.url, '--lb-http', `http://127.0.0.1:${port}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([...r.stdout.matchAll(/^(?:ok {4}|FAIL {2})(\S+)$/gm)].map((m) => m[1]), ['shop.example.test', 'www.shop.example.test']);
  });

  it("says marathon-lb has no healthy marathon-acme backend when HAProxy answers its own 503, not that the labels are wrong", async (t) => {
    const daemon = await marathonAcme(t);
    const port = await freePort();
    await startHaproxy(t, [
      'frontend marathon_http_in',
      `  bind 127.0.0.1:${port}`,
      '  acl path_acme path_beg /.well-known/acme-challenge/',
      '  acl host_down hdr_beg(host) -i down.example.test',
      '  use_backend acme_down if host_down path_acme',
      '  use_backend acme_up if path_acme',
      // Like a marathon-acme task failing HAProxy's health check: the server is there but not available.
      'backend acme_down',
      `  server acme1 127.0.0.1:${daemon} disabled`,
      'backend acme_up',
      `  server acme1 127.0.0.1:${daemon}`,
    ]);
    const r = await run(['check', '--json', '--lb-http', `http://127.0.0.1:${port}`, 'up.example.test', 'down.example.test']);
    assert.equal(r.code, 1, r.stderr);
    const [up, down] = JSON.parse(r.stdout) as Array<{ ok: boolean; kind?: string; reason?: string }>;
    assert.equal(up?.ok, true, up?.reason);
    assert.equal(down?.kind, 'backend-down');
    assert.match(down.reason ?? '', /answered HAProxy's own 503 page \("No server is available to handle this request"\): marathon-lb has no healthy marathon-acme backend: is the marathon-acme task running \/ passing its health check\?/);
    // Without Marathon the labels are not known, so the one other cause of that page is named too.
    assert.match(down.reason ?? '', /HAProxy answers the same when no rule matches/);
  });

  it('finds an app whose HTTPS redirect ties with the README weight and comes first, although the ping got through', async (t) => {
    const port = await marathonAcme(t);
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    cleanupStack(t)(() => marathon.stop());
    marathon.addApp(acmeApp('1'));
    marathon.addApp(hostApp('/api', { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'api.example.test', HAPROXY_0_PATH: '/', HAPROXY_0_REDIRECT_TO_HTTPS: 'true', MARATHON_ACME_0_DOMAIN: 'api.example.test' }));
    marathon.addApp(hostApp('/shop', { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'shop.example.test', MARATHON_ACME_0_DOMAIN: 'shop.example.test' }));

    const text = await run(['check', '--all', '--marathon', marathon.url, '--lb-http', `http://127.0.0.1:${port}`]);
    assert.equal(text.code, 1, text.stderr);
    assert.match(text.stdout, /^FAIL {2}api\.example\.test\n(?:.*\n)*? {6}labels: {2}app \/api \(port 0\) redirects \/\.well-known\/acme-challenge\/ to HTTPS .*orders equal weights by app id, \/api before \/marathon-acme; set HAPROXY_0_BACKEND_WEIGHT of \/marathon-acme to 100/m);
    assert.match(text.stdout, /^ok {4}shop\.example\.test$/m);
    assert.match(text.stdout, /labels checked against marathon-acme's app \/marathon-acme \(port 0, weight 1\) in group external; recommended weight: 100/);

    const json = await run(['check', '--json', '--marathon', marathon.url, '--lb-http', `http://127.0.0.1:${port}`, 'api.example.test']);
    const [api] = JSON.parse(json.stdout) as Array<{ ok: boolean; kind: string; labels: Array<{ appId: string; severity: string }> }>;
    assert.equal(api?.ok, false);
    assert.equal(api.kind, 'label-conflict');
    assert.deepEqual(api.labels.map((f) => [f.appId, f.severity]), [['/api', 'breaks']]);

    marathon.updateApp(acmeApp('100'));
    const fixed = await run(['check', '--marathon', marathon.url, '--lb-http', `http://127.0.0.1:${port}`, 'api.example.test', 'shop.example.test']);
    assert.equal(fixed.code, 0, fixed.stdout);
    assert.doesNotMatch(fixed.stdout, /labels:|warning:/);
  });

  it('--served compares what the load balancers present over TLS with the stored certificates', async (t) => {
    const defer = cleanupStack(t);
    const storage = await mkdtemp(join(tmpdir(), 'ma-check-served-'));
    defer(() => rm(storage, { recursive: true, force: true }));
    const store = new CertStore(storage);
    await store.init(new Date());
    const DAY = 86_400_000;
    const issue = (name: string, daysAgo: number) => new FakeCa(90 * DAY, () => Date.now() - daysAgo * DAY).issue([name]);
    const contexts = new Map<string, SecureContext>();
    for (const name of ['shop.example.test', 'api.example.test', 'blog.example.test']) {
      const current = await issue(name, 1);
      await store.write(name, formatBundle(current.keyPem, current.chainPem));
      contexts.set(name, createSecureContext({ key: current.keyPem, cert: current.chainPem }));
    }
    // api: the LB still holds the certificate from before the last renewal; blog: it falls back to default.pem.
    const older = await issue('api.example.test', 60);
    contexts.set('api.example.test', createSecureContext({ key: older.keyPem, cert: older.chainPem }));
    const defaultPem = await readFile(join(storage, 'default.pem'), 'utf8');
    const fallback = createSecureContext({ key: defaultPem, cert: defaultPem });
    contexts.set('blog.example.test', fallback);
    const lb = createTlsServer({ key: defaultPem, cert: defaultPem, SNICallback: (name, done) => { done(null, contexts.get(name) ?? fallback); } }, (socket) => socket.end());
    await new Promise<void>((resolve) => lb.listen(0, '127.0.0.1', resolve));
    defer(() => new Promise((resolve) => lb.close(resolve)));
    const address = lb.address();
    const tlsPort = typeof address === 'object' && address !== null ? address.port : 0;
    const lbs = 'http://127.0.0.1:9090,http://admin:hunter2@127.0.0.1:9090';

    const r = await run(['check', '--served', '--json', '--storage-dir', storage, '--lb', lbs, '--delivery-check-port', String(tlsPort), 'shop.example.test', 'api.example.test', 'blog.example.test', 'none.example.test']);
    assert.equal(r.code, 1, r.stderr);
    assert.doesNotMatch(r.stdout, /hunter2/);
    const checks = JSON.parse(r.stdout) as Array<{ name: string; lb?: string; address?: string; status: string; detail?: string }>;
    assert.deepEqual(
      checks.map((c) => [c.name, c.lb, c.status]),
      [
        ['shop.example.test', 'http://127.0.0.1:9090', 'served'],
        ['shop.example.test', 'http://***@127.0.0.1:9090', 'served'],
        ['api.example.test', 'http://127.0.0.1:9090', 'stale'],
        ['api.example.test', 'http://***@127.0.0.1:9090', 'stale'],
        ['blog.example.test', 'http://127.0.0.1:9090', 'other'],
        ['blog.example.test', 'http://***@127.0.0.1:9090', 'other'],
        ['none.example.test', undefined, 'not-stored'],
      ],
    );
    assert.equal(checks[0]?.address, `127.0.0.1:${tlsPort}`);
    assert.match(checks[2]?.detail ?? '', /an older certificate is served \(api\.example\.test; serial /);
    assert.match(checks[4]?.detail ?? '', /default\.pem is served/);

    // Without names: every certificate in certs/, as text.
    const text = await run(['check', '--served', '--storage-dir', storage, '--lb', 'http://127.0.0.1:9090', '--delivery-check-port', String(tlsPort)]);
    assert.equal(text.code, 1);
    assert.match(text.stdout, new RegExp(`^ok {4}shop\\.example\\.test +127\\.0\\.0\\.1:${tlsPort} +served$`, 'm'));
    assert.match(text.stdout, /^FAIL {2}api\.example\.test +\S+ +stale: an older certificate is served/m);
    assert.match(text.stdout, /^2 of 3 checks: the stored certificate is not served$/m);

    const served = await run(['check', '--served', '--storage-dir', storage, '--lb', 'http://127.0.0.1:9090', '--delivery-check-port', String(tlsPort), 'shop.example.test']);
    assert.equal(served.code, 0, served.stdout);

    // Through the daemon's own variables, against a port nothing listens on.
    const closed = await freePort();
    const down = await run(['check', '--served', '--json', 'shop.example.test'], { MARATHON_ACME_STORAGE_DIR: storage, MARATHON_ACME_LB: 'http://127.0.0.1:9090', MARATHON_ACME_DELIVERY_CHECK_PORT: String(closed) });
    assert.equal(down.code, 1);
    const [unreachable] = JSON.parse(down.stdout) as Array<{ status: string; detail: string }>;
    assert.equal(unreachable?.status, 'unreachable');
    assert.match(unreachable.detail, new RegExp(`127\\.0\\.0\\.1:${closed}`));
  });

  it('refuses bad arguments with exit 2 and a hint', async () => {
    for (const args of [
      ['check'],
      ['check', '--lb-http', 'https://lb', 'a.example.test'],
      ['check', '--timeout', '0', 'a.example.test'],
      ['check', '--served', '--storage-dir', '/tmp', '--all'],
      ['check', '--served', 'a.example.test'],
      ['check', '--storage-dir', '/tmp', 'a.example.test'],
      ['check', '--served', '--storage-dir', '/tmp', '--delivery-check-port', '0'],
    ]) {
      const r = await run(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, /^marathon-acme check: .*\nTry 'marathon-acme check --help'/);
    }
  });
});
