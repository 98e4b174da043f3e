/** `marathon-acme check` as an operator runs it: the built executable against real HTTP servers. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ChallengeResponder } from '../../src/acme/challenges.js';
import { closeServer, createHttpServer, listen } from '../../src/http/server.js';
import { silentLogger } from '../../src/log.js';
import { hostApp } from '../support/apps.js';
import { cleanupStack } from '../support/cleanup.js';
import { MarathonEmulator } from '../support/marathon-emulator.js';

const BIN = fileURLToPath(new URL('../../bin/marathon-acme', import.meta.url));
const exec = promisify(execFile);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(args: string[]): Promise<Run> {
  try {
    const { stdout, stderr } = await exec(BIN, args, { env: { ...process.env, NO_COLOR: '1' } });
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

  it('refuses bad arguments with exit 2 and a hint', async () => {
    for (const args of [['check'], ['check', '--lb-http', 'https://lb', 'a.example.test'], ['check', '--timeout', '0', 'a.example.test']]) {
      const r = await run(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, /^marathon-acme check: .*\nTry 'marathon-acme check --help'/);
    }
  });
});
