/**
 * The daemon's CA: one ACME account and the whole order of a certificate (authorizations through
 * HTTP-01, CSR, finalization, download), with every failure as an IssueError that says which step
 * failed and carries the CA's problem for the backoff. The protocol itself is protocol/client.ts.
 */
import { generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { encodePrivateKey } from '../certs/key-pem.js';
import type { KeyType } from '../config.js';
import type { Logger } from '../log.js';
import type { AcmeProblem } from '../state/state.js';
import type { Clock } from '../util/clock.js';
import { fetchRenewalInfo, type RenewalInfo } from './ari.js';
import type { ChallengeResponder } from './challenges.js';
import type { AcmeClient } from './protocol/client.js';
import { createCsr } from './protocol/csr.js';
import { AcmeProblemError } from './protocol/problem.js';
import { AcmeTransportError } from './protocol/transport.js';
import type { AcmeAuthorization, TransportFailure } from './protocol/types.js';
import { errorText } from '../util/error-text.js';

const generateKeyPairAsync = promisify(generateKeyPair);

export interface IssuedCertificate {
  /** The certificate's new private key (PEM). */
  keyPem: string;
  /** Leaf first, then the chain, as the CA sent it (PEM). */
  chainPem: string;
}

/** What the rest of the daemon needs from a CA; the ACME protocol stays behind this line. */
export interface CertificateAuthority {
  /** The ACME directory URL: which CA this is, kept with each certificate it issues. */
  readonly directoryUrl: string;
  /** Registers the account (or finds the existing one for our key) and agrees to the terms. */
  ensureAccount(): Promise<void>;
  /** `replaces`: the ARI certificate ID of the certificate this order renews (RFC 9773). */
  issue(names: readonly string[], options?: { replaces?: string | undefined }): Promise<IssuedCertificate>;
  /** The directory's renewalInfo URL when the CA offers ARI, else undefined. */
  renewalInfoUrl(): Promise<string | undefined>;
  /**
   * The CA's renewal window for one certificate (RFC 9773), rejecting with AriError. Stand-ins that
   * offer no ARI (renewalInfoUrl() undefined) need not have it.
   */
  renewalInfo?(certId: string): Promise<RenewalInfo>;
}

/** The ACME problem behind a failure, and how long the CA asked us to wait (Retry-After). */
export interface ProblemReport {
  problem: AcmeProblem;
  retryAfterMs: number | undefined;
}

/**
 * The CA's answers to a newOrder naming `replaces` after which the same order without it can succeed:
 * the predecessor was already replaced (perhaps by an order of ours that died half-way), another
 * account ordered it (Let's Encrypt answers unauthorized, e.g. after a move to a new account key), or
 * the CA does not know it (malformed, e.g. after a move to another CA).
 */
const REPLACES_REFUSED: ReadonlySet<string> = new Set(['alreadyReplaced', 'unauthorized', 'malformed']);

/** A setting the CA cannot honour; retrying will not help, so the daemon stops with this message. */
export class AcmeConfigError extends Error {
  override readonly name = 'AcmeConfigError';
}

/**
 * An issuance failure with the names it was for, the step that failed and the CA's problem, if any;
 * `transport` when the step failed because a request got no answer from the CA at all.
 */
export class IssueError extends Error {
  override readonly name = 'IssueError';
  constructor(
    readonly names: readonly string[],
    readonly step: string,
    cause: unknown,
    readonly report?: ProblemReport,
    readonly transport?: TransportFailure,
  ) {
    super(`${step} failed for ${names.join(', ')}: ${errorText(cause)}`, { cause });
  }
}

export interface AcmeOptions {
  /** The protocol client for this CA and account key (protocol/create-client.ts). */
  client: AcmeClient;
  keyType: KeyType;
  eab?: { kid: string; hmacKey: string } | undefined;
  /** Sent with every order; registration fails with AcmeConfigError when the directory does not list it. */
  profile?: string | undefined;
  /** The issuer CN the certificate chain should lead to, when the CA offers alternate chains. */
  preferredChain?: string | undefined;
  email: string | undefined;
  responder: ChallengeResponder;
  logger: Logger;
  clock: Clock;
}

export class AcmeCertificateAuthority implements CertificateAuthority {
  private accountReady: Promise<void> | undefined;

  constructor(private readonly options: AcmeOptions) {}

  get directoryUrl(): string {
    return this.options.client.directoryUrl;
  }

  ensureAccount(): Promise<void> {
    // One registration at a time; a failed one is forgotten so that the next call tries again.
    this.accountReady ??= this.register().catch((err: unknown) => {
      this.accountReady = undefined;
      throw err;
    });
    return this.accountReady;
  }

  private async register(): Promise<void> {
    const { client, email, eab, logger } = this.options;
    await this.checkProfile();
    let account;
    try {
      // The key's account is looked up first (RFC 8555 §7.3.1), so restarts reuse it, and its contact
      // is updated only when --email changed.
      account = await client.account({ termsOfServiceAgreed: true, contact: email === undefined ? undefined : [`mailto:${email}`], eab });
    } catch (err) {
      throw new Error(`ACME account registration at ${this.directoryUrl} failed: ${errorText(err)}`, { cause: err });
    }
    logger.info({ acme: this.directoryUrl, account: account.url, created: account.created }, 'ACME account ready');
  }

  private async checkProfile(): Promise<void> {
    const wanted = this.options.profile;
    if (wanted === undefined) return;
    const directory = await this.options.client.directory().catch((err: unknown) => {
      throw new Error(`reading the ACME directory ${this.directoryUrl} failed: ${errorText(err)}`, { cause: err });
    });
    const offered = Object.keys(directory.meta.profiles);
    if (!offered.includes(wanted)) {
      throw new AcmeConfigError(
        offered.length === 0
          ? `--acme-profile ${wanted}: the CA at ${this.directoryUrl} offers no profiles`
          : `--acme-profile ${wanted}: the CA at ${this.directoryUrl} offers only ${offered.join(', ')}`,
      );
    }
  }

  async renewalInfoUrl(): Promise<string | undefined> {
    await this.ensureAccount();
    return (await this.options.client.directory()).renewalInfo;
  }

  renewalInfo(certId: string): Promise<RenewalInfo> {
    return fetchRenewalInfo(this.options.client, certId, this.options.clock.now());
  }

  async issue(names: readonly string[], options: { replaces?: string | undefined } = {}): Promise<IssuedCertificate> {
    try {
      return await this.order(names, options.replaces);
    } catch (err) {
      // The renewal itself is still needed, just not as a replacement.
      const refused = err instanceof IssueError && err.step === 'creating the order' ? err.report?.problem.type : undefined;
      if (options.replaces !== undefined && refused !== undefined && REPLACES_REFUSED.has(refused)) {
        this.options.logger.warn({ domain: names[0], replaces: options.replaces, problemType: refused }, 'the CA refused the order naming the certificate it replaces; ordering without "replaces"');
        return this.order(names, undefined);
      }
      throw err;
    }
  }

  private async order(names: readonly string[], replaces: string | undefined): Promise<IssuedCertificate> {
    const { client, clock } = this.options;
    await step(names, 'account registration', () => this.ensureAccount());
    const log = this.options.logger.child({ domain: names[0], names });
    const started = clock.now();

    const keyPromise = generateCertificateKey(this.options.keyType);
    // Unhandled until awaited below; attach a no-op so an early order failure cannot orphan it.
    keyPromise.catch(() => undefined);

    const order = await step(names, 'creating the order', () => client.newOrder(names, { replaces, profile: this.options.profile }));
    const authorizations = await step(names, 'fetching authorizations', () => Promise.all(order.authorizations.map((url) => client.authorization(url))));
    await Promise.all(authorizations.map((authz) => this.validate(names, authz)));

    const key = await step(names, 'generating the key', () => keyPromise);
    // createCsr leaves a name longer than a CN may be (64 characters) out of the subject, in the SAN only.
    const csr = await step(names, 'building the CSR', () => createCsr(names, key));
    const valid = await step(names, 'finalizing the order', () => client.finalize(order, csr));
    const chainPem = await step(names, 'downloading the certificate', () => client.certificate(valid, { preferredChain: this.options.preferredChain }));
    log.info({ durationMs: clock.now() - started }, 'certificate issued');
    return { keyPem: encodePrivateKey(key), chainPem };
  }

  private async validate(names: readonly string[], authz: AcmeAuthorization): Promise<void> {
    // A CA may hand back an authorization that is already valid (reuse); nothing to prove then.
    if (authz.status === 'valid') return;
    const { client, responder } = this.options;
    const identifier = authz.identifier.value;
    const challenge = authz.challenges.find((c) => c.type === 'http-01');
    const token = challenge?.token;
    if (challenge === undefined || token === undefined) {
      const offered = authz.challenges.map((c) => c.type);
      throw new IssueError(names, `validating ${identifier}`, `the CA offered no http-01 challenge (offered: ${offered.length === 0 ? 'none' : offered.join(', ')})`);
    }
    // Served (by every instance, when they share a board) before the CA is told to look, and for as
    // long as it may look.
    await step(names, `publishing the challenge for ${identifier}`, () => responder.publish(token, client.keyAuthorization(token)));
    try {
      await step(names, `validating ${identifier}`, async () => {
        await client.answerChallenge(challenge.url);
        // An invalid authorization throws its challenge's problem (e.g. unauthorized, connection).
        await client.waitForAuthorization(authz.url);
      });
    } finally {
      await responder.withdraw(token);
    }
  }
}

function generateCertificateKey(type: KeyType): Promise<KeyObject> {
  const pair =
    type === 'rsa2048' || type === 'rsa4096'
      ? generateKeyPairAsync('rsa', { modulusLength: type === 'rsa2048' ? 2048 : 4096, publicExponent: 0x10001 })
      : generateKeyPairAsync('ec', { namedCurve: type === 'ecdsa-p256' ? 'P-256' : 'P-384' });
  return pair.then((keys) => keys.privateKey);
}

/**
 * Runs one step of an order; a failure becomes an IssueError naming the step, with the CA's problem
 * (type, detail, Retry-After) when it answered with one, and the kind of failure when it did not answer.
 */
async function step<T>(names: readonly string[], what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof IssueError) throw err;
    const report = err instanceof AcmeProblemError ? { problem: err.toProblem(), retryAfterMs: err.retryAfterMs } : undefined;
    throw new IssueError(names, what, err, report, err instanceof AcmeTransportError ? err.failure : undefined);
  }
}
