import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it, type TestContext } from 'node:test';
import { Agent, request } from 'undici';
import { HttpMarathonLbApi } from '../../src/lb/lb-api.js';
import { parseEndpoint } from '../../src/util/endpoint.js';
import { caFileCertificates, createMarathonAgent, pemCertificates, untrustedHint } from '../../src/util/trust-store.js';
import { makePrivateCa, type PrivateCa } from '../support/private-ca.js';

let pki: PrivateCa;
let other: PrivateCa;

before(async () => {
  [pki, other] = await Promise.all([makePrivateCa(), makePrivateCa('another CA')]);
});

/** A file reader over an in-memory file system; `files` maps path → content, anything else is missing. */
function memoryFiles(files: Record<string, string>): (path: string) => string {
  return (path) => {
    const text = files[path];
    if (text === undefined) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
    return text;
  };
}

// Which store Node reads (SSL_CERT_FILE, NODE_EXTRA_CA_CERTS) is proved end to end with the built
// executable in test/integration/marathon-tls.test.ts.
describe('a CA bundle', () => {
  it('gives only its CERTIFICATE blocks', () => {
    const text = `# comment\n${pki.caPem}${pki.key}-----BEGIN TRUSTED CERTIFICATE-----\nAAAA\n-----END TRUSTED CERTIFICATE-----\n${other.caPem}`;
    assert.deepEqual(pemCertificates(text), [pki.caPem, other.caPem]);
  });
});

describe('--marathon-ca-file', () => {
  it('names the option and the file when it cannot be read or holds no certificate', () => {
    const readFile = memoryFiles({ '/keys-only.pem': pki.key });
    assert.throws(() => caFileCertificates('/missing.pem', readFile), /cannot read --marathon-ca-file \/missing\.pem: ENOENT/);
    assert.throws(() => caFileCertificates('/keys-only.pem', readFile), /--marathon-ca-file \/keys-only\.pem holds no PEM certificate/);
    assert.throws(() => createMarathonAgent('/nonexistent/marathon-ca.pem'), /cannot read --marathon-ca-file \/nonexistent\/marathon-ca\.pem/);
  });
});

describe('untrustedHint', () => {
  it('tells what to do about a certificate from an unknown CA, and nothing for other errors', () => {
    const untrusted = Object.assign(new Error('fetch failed'), { cause: Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }) });
    assert.match(untrustedHint(untrusted), /give the CA in --marathon-ca-file or install it in the system store/);
    assert.match(untrustedHint(Object.assign(new Error('x'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' })), /--marathon-ca-file/);
    assert.equal(untrustedHint(Object.assign(new Error('expired'), { code: 'CERT_HAS_EXPIRED' })), '');
    assert.equal(untrustedHint(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })), '');
    assert.equal(untrustedHint('text'), '');
  });
});

/** An HTTPS server with the private CA's certificate, answering like marathon-lb's signal endpoint. */
async function httpsServer(t: TestContext): Promise<{ url: string; caFile: string; paths: string[] }> {
  const paths: string[] = [];
  const server: Server = createServer({ key: pki.key, cert: pki.cert }, (req, res) => {
    paths.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'text/plain' }).end('Sent SIGUSR1 signal to marathon-lb');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const dir = await mkdtemp(join(tmpdir(), 'ma-trust-'));
  const caFile = join(dir, 'internal-ca.pem');
  await writeFile(caFile, pki.caPem);
  t.after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, caFile, paths };
}

async function withAgent<T>(agent: Agent, use: (agent: Agent) => Promise<T>): Promise<T> {
  try {
    return await use(agent);
  } finally {
    await agent.destroy();
  }
}

describe('the agent for Marathon and marathon-lb', () => {
  it('trusts a server signed by the CA in --marathon-ca-file, and only then', async (t) => {
    const { url, caFile } = await httpsServer(t);
    await withAgent(createMarathonAgent(undefined), async (dispatcher) => {
      await assert.rejects(request(url, { dispatcher }), (err: unknown) => untrustedHint(err) !== '');
    });
    const status = await withAgent(createMarathonAgent(caFile), async (dispatcher) => {
      const response = await request(url, { dispatcher });
      await response.body.dump();
      return response.statusCode;
    });
    assert.equal(status, 200);
  });
});

describe("marathon-lb's HTTP API over HTTPS", () => {
  it('signals through --marathon-ca-file, and says why not (with the URL) without it', async (t) => {
    const { url, caFile, paths } = await httpsServer(t);
    const endpoint = parseEndpoint(`${url}/?token=s3cret`);
    await withAgent(createMarathonAgent(undefined), async (dispatcher) => {
      const api = new HttpMarathonLbApi(endpoint, dispatcher, 2_000);
      await assert.rejects(api.signalReload(AbortSignal.timeout(5_000)), (err: Error) => {
        assert.match(err.message, new RegExp(`^${url.replace(/\./g, '\\.')}/_mlb_signal/usr1\\?token=\\*\\*\\*: `));
        assert.match(err.message, /--marathon-ca-file/);
        assert.doesNotMatch(err.message, /s3cret/);
        return true;
      });
      const health = await api.health(AbortSignal.timeout(5_000));
      if (health.kind !== 'down') assert.fail(`health answered ${health.kind}`);
      assert.match(health.error, /--marathon-ca-file/);
    });
    assert.deepEqual(paths, [], 'no request got through the handshake');
    await withAgent(createMarathonAgent(caFile), async (dispatcher) => {
      await new HttpMarathonLbApi(endpoint, dispatcher, 2_000).signalReload(AbortSignal.timeout(5_000));
    });
    assert.deepEqual(paths, ['/_mlb_signal/usr1?token=s3cret']);
  });
});
