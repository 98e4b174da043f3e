/**
 * A stand-in CA for tests of the daemon's own decisions (concurrency, de-duplication, failure memory),
 * where pebble's real protocol adds nothing but time. It signs real X.509 certificates, so every
 * bundle it produces goes through the same parsing and storage as a CA's.
 */
import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { CertificateAuthority, IssuedCertificate } from '../../src/acme/issuer.js';

// Node's webcrypto and the DOM's Crypto type describe the same object; the library is typed with the latter.
const crypto = webcrypto as unknown as Crypto;
x509.cryptoProvider.set(crypto);

const EC: EcKeyGenParams & EcdsaParams = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

export class FakeCa implements CertificateAuthority {
  readonly directoryUrl: string;
  /** Names of every issue() call, in call order. */
  readonly calls: string[][] = [];
  active = 0;
  peak = 0;
  /** When set, issue() rejects with this message. */
  failWith: string | undefined;
  /** When set, issue() rejects with this error (e.g. an IssueError carrying the CA's problem). */
  failWithError: Error | undefined;
  /** Resolves each issue() only when released (tests of in-flight behaviour). */
  private gate: Promise<void> | undefined;
  private release: (() => void) | undefined;

  constructor(
    private readonly lifetimeMs: number,
    private readonly now: () => number,
    directoryUrl = 'https://fake-ca.example.test/directory',
  ) {
    this.directoryUrl = directoryUrl;
  }

  ensureAccount(): Promise<void> {
    return Promise.resolve();
  }

  renewalInfoUrl(): Promise<string | undefined> {
    return Promise.resolve(undefined);
  }

  hold(): void {
    this.gate = new Promise((resolve) => { this.release = resolve; });
  }

  open(): void {
    this.release?.();
    this.gate = undefined;
  }

  async issue(names: readonly string[]): Promise<IssuedCertificate> {
    this.calls.push([...names]);
    this.active++;
    this.peak = Math.max(this.peak, this.active);
    try {
      await this.gate;
      await new Promise((r) => setImmediate(r));
      if (this.failWith !== undefined) throw new Error(this.failWith);
      if (this.failWithError !== undefined) throw this.failWithError;
      const keys = await crypto.subtle.generateKey(EC, true, ['sign', 'verify']);
      const notBefore = new Date(Math.floor(this.now() / 1000) * 1000);
      const cert = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: randomBytes(8).toString('hex'),
        name: `CN=${names[0] ?? 'x'}`,
        notBefore,
        notAfter: new Date(notBefore.getTime() + this.lifetimeMs),
        keys,
        signingAlgorithm: EC,
        extensions: [new x509.SubjectAlternativeNameExtension(names.map((value) => ({ type: 'dns' as const, value })), false)],
      });
      const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
      const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.replace(/(.{64})/g, '$1\n').trimEnd()}\n-----END PRIVATE KEY-----\n`;
      return { keyPem, chainPem: cert.toString('pem') };
    } finally {
      this.active--;
    }
  }
}
