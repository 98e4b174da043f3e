import 'reflect-metadata';
import assert from 'node:assert/strict';
import { generateKeyPairSync, webcrypto, X509Certificate } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AuthorityKeyIdentifier, Certificate, GeneralName, id_ce_authorityKeyIdentifier, KeyIdentifier } from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import fc from 'fast-check';
import { Agent } from 'undici';
import {
  ARI_DEFAULT_RETRY_MS,
  ARI_MAX_RETRY_MS,
  ARI_MIN_RETRY_MS,
  AriError,
  ariCertId,
  clampRetryAfter,
  fetchRenewalInfo,
  formatAriCertId,
  parseRenewalInfo,
} from '../../src/acme/ari.js';
import { createAcmeClient } from '../../src/acme/protocol/create-client.js';
import { parseBundle } from '../../src/certs/bundle.js';
import { summarizeBundle } from '../../src/certs/summary.js';
import { silentLogger } from '../../src/log.js';
import { systemClock } from '../../src/util/clock.js';

// Node's webcrypto and the DOM's Crypto type describe the same object; the library is typed with the latter.
const crypto = webcrypto as unknown as Crypto;
x509.cryptoProvider.set(crypto);

const NOW = Date.UTC(2026, 0, 10, 12, 0, 0);
const HOUR = 3_600_000;

let keys: CryptoKeyPair;

before(async () => {
  keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
});

/** A self-signed test certificate; `akiHex` adds an AuthorityKeyIdentifier with that keyIdentifier. */
async function makeCert(serialHex: string, akiHex: string | undefined): Promise<string> {
  const extensions: x509.Extension[] = [new x509.BasicConstraintsExtension(false, undefined, true)];
  if (akiHex !== undefined) extensions.push(new x509.AuthorityKeyIdentifierExtension(akiHex));
  return makeCertWith(serialHex, extensions);
}

async function makeCertWith(serialHex: string, extensions: x509.Extension[]): Promise<string> {
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialHex,
    name: 'CN=ari.example.test',
    notBefore: new Date(Date.UTC(2026, 0, 1)),
    notAfter: new Date(Date.UTC(2026, 3, 1)),
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions,
  });
  return cert.toString('pem');
}

describe('ariCertId', () => {
  it('reproduces the RFC 9773 example (AKI 69:88:5B:…:D4, serial 0x87654321, leading 00 kept)', async () => {
    const pem = await makeCert('87654321', '69885b6b87464041e1b37b847ba0ae2cde01c8d4');
    // The pitfall this guards against: Node reports the serial without the DER sign byte.
    assert.equal(new X509Certificate(pem).serialNumber.toLowerCase(), '87654321');
    assert.equal(ariCertId(pem), 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
  });

  it('keeps the leading 00 of a longer serial with the top bit set', async () => {
    const pem = await makeCert('87654321aabbccdd', '0102030405');
    assert.equal(ariCertId(pem), 'AQIDBAU.AIdlQyGqu8zd');
  });

  it('adds nothing to a serial whose top bit is clear', async () => {
    const pem = await makeCert('0a1b2c', '0102030405');
    assert.equal(ariCertId(pem), `AQIDBAU.${Buffer.from('0a1b2c', 'hex').toString('base64url')}`);
  });

  it('uses the first certificate of a chain', async () => {
    const leaf = await makeCert('87654321', '69885b6b87464041e1b37b847ba0ae2cde01c8d4');
    const other = await makeCert('0a1b2c', '0102030405');
    assert.equal(ariCertId(`${leaf}\n${other}`), 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
  });

  it('throws a clear error for a certificate without AKI', async () => {
    const pem = await makeCert('0a1b2c', undefined);
    assert.throws(() => ariCertId(pem), /no Authority Key Identifier extension/);
  });

  it('throws a clear error for text that is not a certificate', () => {
    assert.throws(() => ariCertId('not a certificate'), /certificate cannot be read/);
  });

  it('throws a clear error for an AKI that names the issuer and serial but no keyIdentifier', async () => {
    const aki = new AuthorityKeyIdentifier({ authorityCertIssuer: [new GeneralName({ dNSName: 'ca.example.test' })], authorityCertSerialNumber: new Uint8Array([1]).buffer });
    const pem = await makeCertWith('0a1b2c', [new x509.Extension(id_ce_authorityKeyIdentifier, false, AsnConvert.serialize(aki))]);
    assert.throws(() => ariCertId(pem), /Authority Key Identifier extension has no keyIdentifier/);
  });

  it('reads the same certID as a full ASN.1 decoder, whatever the serial, the AKI and the extensions around it', async () => {
    const hexBytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max }).map((b) => Buffer.from(b).toString('hex'));
    await fc.assert(
      fc.asyncProperty(
        // No leading 00 unless the next byte needs it: the DER serial is what the generator is given.
        fc.tuple(fc.integer({ min: 1, max: 255 }), hexBytes(0, 19)).map(([first, rest]) => first.toString(16).padStart(2, '0') + rest),
        hexBytes(1, 32),
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        async (serialHex, akiHex, withIssuer, critical, akiFirst) => {
          const aki = new AuthorityKeyIdentifier({
            keyIdentifier: new KeyIdentifier(Buffer.from(akiHex, 'hex')),
            ...(withIssuer ? { authorityCertIssuer: [new GeneralName({ dNSName: 'ca.example.test' })], authorityCertSerialNumber: new Uint8Array([0x7f, 1]).buffer } : {}),
          });
          const others = [
            new x509.BasicConstraintsExtension(false, undefined, true),
            new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'ari.example.test' }]),
            // An extension whose value holds the AKI's OID bytes, for a walk that would merely search for them.
            new x509.Extension('1.3.6.1.4.1.99999.1', false, Buffer.from('0403551d23', 'hex')),
          ];
          const akiExtension = new x509.Extension(id_ce_authorityKeyIdentifier, critical, AsnConvert.serialize(aki));
          const pem = await makeCertWith(serialHex, akiFirst ? [akiExtension, ...others] : [...others, akiExtension]);
          assert.equal(ariCertId(pem), certIdByAsn1Schema(pem));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('is what summarizeBundle gives from the fields parseBundle read, without parsing again', async () => {
    const key = await crypto.subtle.exportKey('pkcs8', keys.privateKey);
    const keyPem = `-----BEGIN PRIVATE KEY-----\n${Buffer.from(key).toString('base64')}\n-----END PRIVATE KEY-----\n`;
    const pem = await makeCert('87654321', '69885b6b87464041e1b37b847ba0ae2cde01c8d4');
    const parsed = parseBundle(keyPem + pem);
    if (!parsed.ok) assert.fail(parsed.reason);
    assert.equal(summarizeBundle('ari.example.test', parsed.bundle).ariCertId, 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
    assert.equal(formatAriCertId('69885b6b87464041e1b37b847ba0ae2cde01c8d4', '0087654321'), 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
    const withoutAki = parseBundle(keyPem + (await makeCert('0a1b2c', undefined)));
    if (!withoutAki.ok) assert.fail(withoutAki.reason);
    assert.equal(summarizeBundle('ari.example.test', withoutAki.bundle).ariCertId, undefined);
  });
});

/**
 * The certID as a full ASN.1 decoder reads it (how ariCertId used to compute it), to check the DER walk
 * against: @peculiar/asn1-schema's INTEGER converter hands back the serial's content bytes as encoded.
 */
function certIdByAsn1Schema(pem: string): string | undefined {
  const tbs = AsnConvert.parse(new X509Certificate(pem).raw, Certificate).tbsCertificate;
  const extension = tbs.extensions?.find((ext) => ext.extnID === id_ce_authorityKeyIdentifier);
  const keyIdentifier = extension === undefined ? undefined : AsnConvert.parse(extension.extnValue, AuthorityKeyIdentifier).keyIdentifier;
  if (keyIdentifier === undefined) return undefined;
  return `${Buffer.from(keyIdentifier.buffer).toString('base64url')}.${Buffer.from(tbs.serialNumber).toString('base64url')}`;
}

describe('clampRetryAfter', () => {
  it('reads delay-seconds', () => {
    assert.equal(clampRetryAfter('21600', NOW), 21_600_000);
    assert.equal(clampRetryAfter(' 120 ', NOW), 120_000);
  });

  it('reads an HTTP-date relative to now', () => {
    const in2h = new Date(NOW + 2 * HOUR).toUTCString();
    assert.equal(clampRetryAfter(in2h, NOW), 2 * HOUR);
  });

  it('defaults to 6 hours when missing, empty or garbage', () => {
    for (const value of [undefined, '', 'soon', '1.5', '-5', '2e3', 'Soonday, 01 Jan 2026 00:00:00 GMT', 'Mon, garbage']) {
      assert.equal(clampRetryAfter(value, NOW), ARI_DEFAULT_RETRY_MS, String(value));
    }
  });

  it('raises too small values (and dates in the past) to one minute', () => {
    assert.equal(clampRetryAfter('0', NOW), ARI_MIN_RETRY_MS);
    assert.equal(clampRetryAfter('5', NOW), ARI_MIN_RETRY_MS);
    assert.equal(clampRetryAfter(new Date(NOW - HOUR).toUTCString(), NOW), ARI_MIN_RETRY_MS);
  });

  it('lowers too large values (and far dates) to one day', () => {
    assert.equal(clampRetryAfter('999999999', NOW), ARI_MAX_RETRY_MS);
    assert.equal(clampRetryAfter('99999999999999999999999', NOW), ARI_MAX_RETRY_MS);
    assert.equal(clampRetryAfter(new Date(NOW + 30 * 24 * HOUR).toUTCString(), NOW), ARI_MAX_RETRY_MS);
  });
});

const goodBody = {
  suggestedWindow: { start: '2026-03-01T04:00:00Z', end: '2026-03-02T04:00:00Z' },
  explanationURL: 'https://acme.example.test/docs/ari',
};

describe('parseRenewalInfo', () => {
  it('parses a valid object', () => {
    const info = parseRenewalInfo(goodBody, '21600', NOW);
    assert.deepEqual(info, {
      window: { start: Date.UTC(2026, 2, 1, 4), end: Date.UTC(2026, 2, 2, 4) },
      explanationUrl: 'https://acme.example.test/docs/ari',
      retryAfterMs: 21_600_000,
    });
  });

  it('accepts offsets, fractions and lower-case separators', () => {
    const info = parseRenewalInfo({ suggestedWindow: { start: '2026-03-01t06:00:00.250+02:00', end: '2026-03-01 23:00:00-01:30' } }, undefined, NOW);
    assert.deepEqual(info.window, { start: Date.UTC(2026, 2, 1, 4, 0, 0, 250), end: Date.UTC(2026, 2, 2, 0, 30) });
    assert.equal(info.explanationUrl, undefined);
    assert.equal(info.retryAfterMs, ARI_DEFAULT_RETRY_MS);
  });

  it('drops an explanationURL that is not an http(s) URL instead of failing', () => {
    for (const explanationURL of [42, 'javascript:alert(1)', 'not a url']) {
      assert.equal(parseRenewalInfo({ ...goodBody, explanationURL }, undefined, NOW).explanationUrl, undefined);
    }
  });

  it('rejects a window whose end is not after its start', () => {
    for (const end of ['2026-03-01T04:00:00Z', '2026-02-28T04:00:00Z']) {
      assert.throws(
        () => parseRenewalInfo({ suggestedWindow: { start: '2026-03-01T04:00:00Z', end } }, undefined, NOW),
        (err: unknown) => err instanceof AriError && /is not after start/.test(err.message),
      );
    }
  });

  it('rejects missing fields', () => {
    const cases: [unknown, RegExp][] = [
      [{}, /no "suggestedWindow"/],
      [{ suggestedWindow: 'soon' }, /no "suggestedWindow"/],
      [{ suggestedWindow: { end: '2026-03-02T04:00:00Z' } }, /no "start"/],
      [{ suggestedWindow: { start: '2026-03-01T04:00:00Z' } }, /no "end"/],
      [{ suggestedWindow: { start: 1, end: 2 } }, /no "start"/],
    ];
    for (const [body, pattern] of cases) assert.throws(() => parseRenewalInfo(body, undefined, NOW), pattern);
  });

  it('rejects timestamps that are not RFC 3339', () => {
    for (const start of ['2026-03-01', '2026-03-01T04:00:00', '2026-02-30T04:00:00Z', '2026-03-01T25:00:00Z', 'Sun, 01 Mar 2026 04:00:00 GMT', '']) {
      assert.throws(
        () => parseRenewalInfo({ suggestedWindow: { start, end: '2026-03-02T04:00:00Z' } }, undefined, NOW),
        /not an RFC 3339 timestamp|no "start"/,
        start,
      );
    }
  });

  it('rejects bodies that are not JSON objects', () => {
    for (const body of [null, undefined, 'text', 42, [goodBody]]) {
      assert.throws(() => parseRenewalInfo(body, undefined, NOW), /not a JSON object/);
    }
  });
});

describe('fetchRenewalInfo', () => {
  type Handler = (req: IncomingMessage, res: ServerResponse) => void;
  let server: Server;
  let base: string;
  let handler: Handler = (_req, res) => res.end();
  const seen: { url: string | undefined; method: string | undefined; authorization: string | undefined }[] = [];
  const dispatcher = new Agent();
  const accountKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

  /** The ACME client fetchRenewalInfo asks through; the directory is served apart from `handler`. */
  function client(directoryUrl = `${base}/directory`, timeoutMs = 2_000) {
    return createAcmeClient({ acmeDirectoryUrl: directoryUrl, acmeTimeoutMs: timeoutMs }, accountKey, { dispatcher, clock: systemClock, logger: silentLogger() });
  }

  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/directory') {
        // renewalInfo ends in '/', which RFC 9773's join must not double.
        const directory = { newNonce: `${base}/nonce`, newAccount: `${base}/account`, newOrder: `${base}/order`, renewalInfo: `${base}/renewal-info/` };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(directory));
        return;
      }
      seen.push({ url: req.url, method: req.method, authorization: req.headers.authorization });
      handler(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => { resolve(); }));
    await dispatcher.close();
  });

  it('GETs <renewalInfo>/<certId> and parses a 200 with Retry-After', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'retry-after': '21600' });
      res.end(JSON.stringify(goodBody));
    };
    seen.length = 0;
    const info = await fetchRenewalInfo(client(), 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE', NOW);
    assert.deepEqual(seen, [{ url: '/renewal-info/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE', method: 'GET', authorization: undefined }]);
    assert.equal(info.window.start, Date.UTC(2026, 2, 1, 4));
    assert.equal(info.retryAfterMs, 21_600_000);
    assert.equal(info.explanationUrl, 'https://acme.example.test/docs/ari');
  });

  it('turns a 404 into an AriError with the status and no Retry-After', async () => {
    handler = (_req, res) => {
      res.writeHead(404, { 'content-type': 'application/problem+json' });
      res.end('{"type":"urn:ietf:params:acme:error:malformed","detail":"no such certificate"}');
    };
    await assert.rejects(fetchRenewalInfo(client(), 'x.y', NOW), (err: unknown) => {
      assert.ok(err instanceof AriError);
      assert.equal(err.status, 404);
      assert.equal(err.retryAfterMs, undefined);
      assert.match(err.message, /answered 404: .*no such certificate/);
      return true;
    });
  });

  it('turns a 500 with Retry-After into an AriError carrying the clamped wait', async () => {
    handler = (_req, res) => {
      res.writeHead(500, { 'retry-after': '30' });
      res.end();
    };
    await assert.rejects(fetchRenewalInfo(client(), 'x.y', NOW), (err: unknown) => {
      assert.ok(err instanceof AriError);
      assert.equal(err.status, 500);
      assert.equal(err.retryAfterMs, ARI_MIN_RETRY_MS);
      return true;
    });
  });

  it('turns an invalid 200 body into an AriError with status 200', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"suggestedWindow":{"start":"2026-03-02T04:00:00Z","end":"2026-03-01T04:00:00Z"}}');
    };
    await assert.rejects(fetchRenewalInfo(client(), 'x.y', NOW), (err: unknown) => {
      assert.ok(err instanceof AriError);
      assert.equal(err.status, 200);
      assert.match(err.message, /is not after start/);
      return true;
    });
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('<html>oops</html>');
    };
    await assert.rejects(fetchRenewalInfo(client(), 'x.y', NOW), /is not JSON/);
  });

  it('times out on a server that never answers', async () => {
    handler = () => {
      // Never respond; the connection is closed in after().
    };
    const started = Date.now();
    await assert.rejects(fetchRenewalInfo(client(undefined, 200), 'x.y', NOW), (err: unknown) => {
      assert.ok(err instanceof AriError);
      assert.equal(err.status, undefined);
      assert.match(err.message, /timed out after 200 ms|Timeout/i);
      return true;
    });
    assert.ok(Date.now() - started < 1_500, 'gave up promptly');
  });

  it('turns a refused connection into an AriError without status', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => { resolve(); }));
    await assert.rejects(fetchRenewalInfo(client(`http://127.0.0.1:${port}/directory`), 'x.y', NOW), (err: unknown) => {
      assert.ok(err instanceof AriError);
      assert.equal(err.status, undefined);
      assert.match(err.message, /ECONNREFUSED/);
      return true;
    });
  });
});
