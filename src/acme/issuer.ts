import { generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import acme from 'acme-client';
import { encodePrivateKey } from '../certs/key-pem.js';
import type { KeyType } from '../config.js';
import type { Logger } from '../log.js';
import {
  AcmeRequestTracker,
  AcmeTransportError,
  configureAcmeHttp,
  lastProblem,
  requestsFor,
  withProblemCapture,
  type AcmeEndpoint,
  type AcmeRequestObserver,
  type ProblemReport,
  type TransportFailure,
} from './acme-http.js';
import type { ChallengeResponder } from './challenges.js';
import { reuseNonces } from './nonce-pool.js';

const generateKeyPairAsync = promisify(generateKeyPair);

export interface IssuedCertificate {
  /** The certificate's new private key (PEM). */
  keyPem: string;
  /** Leaf first, then the chain, as the CA sent it (PEM). */
  chainPem: string;
}

/** What the rest of the daemon needs from a CA; the ACME library stays behind this line. */
export interface CertificateAuthority {
  /** Registers the account (or finds the existing one for our key) and agrees to the terms. */
  ensureAccount(): Promise<void>;
  /** `replaces`: the ARI certificate ID of the certificate this order renews (RFC 9773). */
  issue(names: readonly string[], options?: { replaces?: string | undefined }): Promise<IssuedCertificate>;
  /** The directory's renewalInfo URL when the CA offers ARI, else undefined. */
  renewalInfoUrl(): Promise<string | undefined>;
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
    super(`${step} failed for ${names.join(', ')}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

export interface AcmeOptions {
  directoryUrl: string;
  keyType: KeyType;
  eab?: { kid: string; hmacKey: string } | undefined;
  /** Sent with every order; registration fails with AcmeConfigError when the directory does not list it. */
  profile?: string | undefined;
  accountKeyPem: string;
  email: string | undefined;
  responder: ChallengeResponder;
  logger: Logger;
  /** Extra PEM CA certificates to trust for the ACME server (private CAs, test CAs). */
  caFile?: string | undefined;
  /** Per-request timeout for ACME calls (--acme-timeout). */
  requestTimeoutMs: number;
  /** Told the duration of every HTTP request to the CA (metrics). */
  onRequest?: AcmeRequestObserver | undefined;
}

export class AcmeCertificateAuthority implements CertificateAuthority {
  private client: acme.Client | undefined;
  private accountReady: Promise<void> | undefined;
  private readonly tracker: AcmeRequestTracker | undefined;

  constructor(private readonly options: AcmeOptions) {
    this.tracker = options.onRequest === undefined ? undefined : new AcmeRequestTracker(options.onRequest);
  }

  /** Runs one acme-client call; its requests are timed as `resource` (see AcmeRequestTracker). */
  private call<T>(resource: AcmeEndpoint, fn: () => Promise<T>): Promise<T> {
    return requestsFor(this.tracker, resource, fn);
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
    await configureAcmeHttp({ requestTimeoutMs: this.options.requestTimeoutMs, caFile: this.options.caFile });
    const { eab } = this.options;
    const client = new acme.Client({
      directoryUrl: this.options.directoryUrl,
      accountKey: this.options.accountKeyPem,
      ...(eab === undefined ? {} : { externalAccountBinding: { kid: eab.kid, hmacKey: eab.hmacKey } }),
      // Status polling: a first poll 50 ms after the challenge is answered catches a CA that validates
      // at once (with reused nonces nothing else delays it, and a 250 ms first wait doubled the time of
      // an order); then doubling up to 10 s between polls, about a minute in all.
      backoffMin: 50,
      backoffMax: 10_000,
      backoffAttempts: 14,
    });
    // A rejected nonce is retried with a fresh one, which is always safe; the library's 5 tries lose
    // about one order in seven to a CA that rejects half of all nonces, so allow more.
    (client as unknown as { http: { maxBadNonceRetries: number } }).http.maxBadNonceRetries = 20;
    // Each answer's Replay-Nonce signs the next request, instead of a HEAD newNonce before each one.
    reuseNonces(client);
    await this.checkProfile(client);
    const contact = this.options.email === undefined ? {} : { contact: [`mailto:${this.options.email}`] };
    try {
      await withProblemCapture(async () => {
        // Read first so that the directory's entries are known by URL before they are requested.
        await this.directory(client);
        // Look the key's account up first (RFC 8555 §7.3.1): restarts reuse it. Re-sending a plain
        // newAccount would make acme-client follow up with an account update that carries nothing
        // new, which CAs may refuse (pebble does).
        try {
          await this.call('account', () => client.createAccount({ onlyReturnExisting: true }));
        } catch (err) {
          if (lastProblem()?.problem.type !== 'accountDoesNotExist') throw err;
          await this.call('account', () => client.createAccount({ termsOfServiceAgreed: true, ...contact }));
          return;
        }
        if (this.options.email !== undefined) await this.call('account', () => client.updateAccount(contact));
      });
    } catch (err) {
      throw new Error(`ACME account registration at ${this.options.directoryUrl} failed: ${errorText(err)}`, { cause: err });
    }
    this.client = client;
    this.options.logger.info({ acme: this.options.directoryUrl, account: client.getAccountUrl() }, 'ACME account ready');
  }

  /** The CA's directory (acme-client fetches and caches it; its accessor is not in the typings). */
  private async directory(client: acme.Client): Promise<Record<string, unknown>> {
    const internals = client as unknown as { http: { getDirectory(): Promise<Record<string, unknown>> } };
    const directory = await this.call('directory', () => internals.http.getDirectory());
    this.tracker?.learnDirectory(directory);
    return directory;
  }

  private async checkProfile(client: acme.Client): Promise<void> {
    const wanted = this.options.profile;
    if (wanted === undefined) return;
    const directory = await this.directory(client).catch((err: unknown) => {
      throw new Error(`reading the ACME directory ${this.options.directoryUrl} failed: ${errorText(err)}`);
    });
    const meta = directory['meta'];
    const profiles = typeof meta === 'object' && meta !== null ? (meta as Record<string, unknown>)['profiles'] : undefined;
    const offered = typeof profiles === 'object' && profiles !== null ? Object.keys(profiles) : [];
    if (!offered.includes(wanted)) {
      throw new AcmeConfigError(
        offered.length === 0
          ? `--acme-profile ${wanted}: the CA at ${this.options.directoryUrl} offers no profiles`
          : `--acme-profile ${wanted}: the CA at ${this.options.directoryUrl} offers only ${offered.join(', ')}`,
      );
    }
  }

  async renewalInfoUrl(): Promise<string | undefined> {
    await this.ensureAccount();
    if (this.client === undefined) return undefined;
    const url = (await this.directory(this.client))['renewalInfo'];
    return typeof url === 'string' ? url : undefined;
  }

  async issue(names: readonly string[], options: { replaces?: string | undefined } = {}): Promise<IssuedCertificate> {
    try {
      return await withProblemCapture(() => this.issueInContext(names, options.replaces));
    } catch (err) {
      // The renewal itself is still needed, just not as a replacement.
      const refused = err instanceof IssueError && err.step === 'creating the order' ? err.report?.problem.type : undefined;
      if (options.replaces !== undefined && refused !== undefined && REPLACES_REFUSED.has(refused)) {
        this.options.logger.warn({ domain: names[0], replaces: options.replaces, problemType: refused }, 'the CA refused the order naming the certificate it replaces; ordering without "replaces"');
        return withProblemCapture(() => this.issueInContext(names, undefined));
      }
      throw err;
    }
  }

  private async issueInContext(names: readonly string[], replaces: string | undefined): Promise<IssuedCertificate> {
    await this.ensureAccount();
    const client = this.client;
    if (client === undefined) throw new IssueError(names, 'account registration', 'no ACME account');
    const log = this.options.logger.child({ domain: names[0], names });
    const started = Date.now();

    const keyPromise = generateCertificateKey(this.options.keyType);
    // Unhandled until awaited below; attach a no-op so an early order failure cannot orphan it.
    keyPromise.catch(() => undefined);

    // acme-client sends the order payload as given; its typings just do not know `profile`/`replaces`.
    const payload = {
      identifiers: names.map((value) => ({ type: 'dns', value })),
      ...(this.options.profile === undefined ? {} : { profile: this.options.profile }),
      ...(replaces === undefined ? {} : { replaces }),
    } as Parameters<acme.Client["createOrder"]>[0];
    const order = await step(names, 'creating the order', () => this.call('newOrder', () => client.createOrder(payload)));
    const authorizations = await step(names, 'fetching authorizations', () => this.call('authz', () => client.getAuthorizations(order)));
    await Promise.all(authorizations.map((authz) => this.validate(client, names, authz)));

    // PKCS#8: what acme-client's CSR builder reads; the bundle gets the original's encoding (key-pem.ts).
    const keyPem = (await keyPromise).export({ type: 'pkcs8', format: 'pem' }).toString();
    // A CN holds at most 64 characters; longer names go in the SAN only (the CN is optional).
    const first = names[0] ?? '';
    const [, csr] = await step(names, 'building the CSR', () =>
      acme.crypto.createCsr({ altNames: [...names], ...(first.length <= 64 ? { commonName: first } : {}) }, keyPem),
    );
    const finalized = await step(names, 'finalizing the order', () => this.call('finalize', () => client.finalizeOrder(order, csr)));
    const chainPem = await step(names, 'downloading the certificate', async () => {
      const valid = finalized.status === 'valid' ? finalized : await this.call('order', () => client.waitForValidStatus(finalized));
      return this.call('cert', () => client.getCertificate(valid));
    });
    log.info({ durationMs: Date.now() - started }, 'certificate issued');
    return { keyPem: encodePrivateKey(await keyPromise), chainPem };
  }

  private async validate(client: acme.Client, names: readonly string[], authz: acme.Authorization): Promise<void> {
    // A CA may hand back an authorization that is already valid (reuse); nothing to prove then.
    if (authz.status === 'valid') return;
    const identifier = authz.identifier.value;
    const challenge = authz.challenges.find((c) => c.type === 'http-01');
    if (challenge === undefined) {
      throw new IssueError(names, `validating ${identifier}`, 'the CA offered no http-01 challenge');
    }
    const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
    const { responder } = this.options;
    responder.add(challenge.token, keyAuthorization);
    try {
      await step(names, `validating ${identifier}`, () =>
        this.call('challenge', async () => {
          await client.completeChallenge(challenge);
          // Waiting on the challenge (not the authorization) makes a failure carry the challenge's
          // problem detail instead of the whole authorization as text.
          await client.waitForValidStatus(challenge);
        }),
      );
    } finally {
      responder.remove(challenge.token);
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

async function step<T>(names: readonly string[], what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof IssueError) throw err;
    throw new IssueError(names, what, errorText(err), lastProblem(), err instanceof AcmeTransportError ? err.failure : undefined);
  }
}

/** acme-client throws plain Errors whose message is the problem detail; axios errors carry a code. */
function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}
