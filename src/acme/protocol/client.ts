/**
 * An RFC 8555 client for one CA: account, orders, HTTP-01 challenges, finalization, certificate
 * download, ARI, account key change and revocation. It knows the protocol's steps and nothing of the
 * daemon; which names to order and what to do with failures is the caller's business. One instance
 * per CA (and account key); instances share nothing.
 */
import type { KeyObject } from 'node:crypto';
import type { Logger } from '../../log.js';
import type { Clock } from '../../util/clock.js';
import { pemCertificates, topIssuerCommonName } from './chain.js';
import type { AcmeEndpoint } from './endpoints.js';
import { accountSigner, externalAccountBinding, keyAuthorization, signJws, type AccountSigner } from './jws.js';
import { isRecord, parseAuthorization, parseDirectory, parseOrder, unusableAnswer } from './objects.js';
import { AcmePollTimeoutError, DEFAULT_POLL_BACKOFF, nextPoll, type PollBackoff } from './poll.js';
import { AcmeProblemError } from './problem.js';
import { AcmeTransportError, type AcmeResponse, type AcmeTransport } from './transport.js';
import type { AcmeAccount, AcmeAuthorization, AcmeDirectory, AcmeOrder } from './types.js';

export interface AcmeClientOptions {
  directoryUrl: string;
  /** PEM (PKCS#1, SEC1 or PKCS#8) or a private KeyObject: RSA, EC P-256 or EC P-384. */
  accountKey: KeyObject | string;
  transport: AcmeTransport;
  clock: Clock;
  logger: Logger;
  pollBackoff?: PollBackoff | undefined;
}

export interface AccountOptions {
  /** e.g. `mailto:admin@example.com`; undefined leaves an existing account's contacts alone. */
  contact?: readonly string[] | undefined;
  termsOfServiceAgreed: boolean;
  /** External account binding (RFC 8555 §7.3.4), sent only when a new account is created. */
  eab?: { kid: string; hmacKey: string } | undefined;
}

export interface OrderOptions {
  /** RFC 9773 §5: the ARI certificate ID of the certificate this order renews. */
  replaces?: string | undefined;
  /** draft-ietf-acme-profiles. */
  profile?: string | undefined;
}

const PEM_CHAIN = 'application/pem-certificate-chain';

export class AcmeClient {
  private signer: AccountSigner;
  private directoryPromise: Promise<AcmeDirectory> | undefined;
  private accountUrlValue: string | undefined;
  private readonly transport: AcmeTransport;
  private readonly pollBackoff: PollBackoff;

  constructor(private readonly options: AcmeClientOptions) {
    this.signer = accountSigner(options.accountKey);
    this.transport = options.transport;
    this.pollBackoff = options.pollBackoff ?? DEFAULT_POLL_BACKOFF;
  }

  /** The directory URL this client was made for (for messages naming the CA). */
  get directoryUrl(): string {
    return this.options.directoryUrl;
  }

  /** The account URL (the `kid`) once `account()` has succeeded. */
  get accountUrl(): string | undefined {
    return this.accountUrlValue;
  }

  /** The directory, read once; a failed read is forgotten so that the next call tries again. */
  directory(): Promise<AcmeDirectory> {
    this.directoryPromise ??= this.readDirectory().catch((err: unknown) => {
      this.directoryPromise = undefined;
      throw err;
    });
    return this.directoryPromise;
  }

  private async readDirectory(): Promise<AcmeDirectory> {
    const url = this.options.directoryUrl;
    const response = await this.transport.get(url, 'directory');
    const directory = parseDirectory(response.body, { url, endpoint: 'directory', status: response.status });
    this.transport.setNewNonceUrl(directory.newNonce);
    return directory;
  }

  /**
   * The account of this key, looked up without creating one (RFC 8555 §7.3.1 onlyReturnExisting);
   * undefined when the CA has none. Found, it becomes the `kid` of this client's later requests.
   */
  async findAccount(): Promise<{ url: string; status: string } | undefined> {
    const found = await this.lookUpAccount();
    return found === undefined ? undefined : { url: found.url, status: found.status };
  }

  private async lookUpAccount(): Promise<{ url: string; status: string; contact: unknown } | undefined> {
    const directory = await this.directory();
    let response: AcmeResponse;
    try {
      response = await this.transport.signedPost(directory.newAccount, 'newAccount', this.signer, undefined, { onlyReturnExisting: true });
    } catch (err) {
      if (err instanceof AcmeProblemError && err.type === 'accountDoesNotExist') return undefined;
      throw err;
    }
    const url = this.rememberAccount(response, directory.newAccount);
    const body = isRecord(response.body) ? response.body : {};
    return { url, status: accountStatus(body), contact: body['contact'] };
  }

  /**
   * Finds the account of this key or, when there is none, creates it. Looking first means a restart
   * never re-sends newAccount, which some CAs answer with an account update the client did not ask
   * for. An existing account whose contacts differ from `contact` is updated (§7.3.2).
   */
  async account(options: AccountOptions): Promise<AcmeAccount> {
    const existing = await this.lookUpAccount();
    if (existing !== undefined) {
      const { url, status } = existing;
      if (options.contact !== undefined && !sameContacts(options.contact, existing.contact)) {
        await this.transport.signedPost(url, 'account', this.signer, url, { contact: options.contact });
        this.options.logger.info({ acme: this.options.directoryUrl, account: url, contact: options.contact }, 'ACME account contact updated');
      }
      return { url, status, created: false };
    }
    const directory = await this.directory();
    const { eab } = options;
    const created = await this.transport.signedPost(directory.newAccount, 'newAccount', this.signer, undefined, {
      termsOfServiceAgreed: options.termsOfServiceAgreed,
      ...(options.contact === undefined ? {} : { contact: options.contact }),
      ...(eab === undefined
        ? {}
        : { externalAccountBinding: externalAccountBinding({ kid: eab.kid, hmacKey: eab.hmacKey, url: directory.newAccount, jwk: this.signer.jwk }) }),
    });
    const url = this.rememberAccount(created, directory.newAccount);
    // 200 instead of 201 means the CA found an account for the key after all (a concurrent create).
    return { url, status: accountStatus(isRecord(created.body) ? created.body : {}), created: created.status === 201 };
  }

  private rememberAccount(response: AcmeResponse, requestUrl: string): string {
    if (response.location === undefined) throw unusableAnswer({ url: requestUrl, endpoint: 'newAccount', status: response.status }, 'no Location header naming the account');
    this.accountUrlValue = response.location;
    return response.location;
  }

  private kid(): string {
    const url = this.accountUrlValue;
    if (url === undefined) throw new Error(`ACME client for ${this.options.directoryUrl}: account() must succeed before requests that need the account`);
    return url;
  }

  /** A kid-signed POST (POST-as-GET when `payload` is undefined). */
  private post(url: string, endpoint: AcmeEndpoint, payload: unknown, accept?: string): Promise<AcmeResponse> {
    return this.transport.signedPost(url, endpoint, this.signer, this.kid(), payload, accept);
  }

  async newOrder(names: readonly string[], options: OrderOptions = {}): Promise<AcmeOrder> {
    const directory = await this.directory();
    const response = await this.post(directory.newOrder, 'newOrder', {
      identifiers: names.map((value) => ({ type: 'dns', value })),
      ...(options.replaces === undefined ? {} : { replaces: options.replaces }),
      ...(options.profile === undefined ? {} : { profile: options.profile }),
    });
    const context = { url: directory.newOrder, endpoint: 'newOrder' as const, status: response.status, retryAfterMs: response.retryAfterMs };
    if (response.location === undefined) throw unusableAnswer(context, 'no Location header naming the order');
    return parseOrder(response.body, response.location, context);
  }

  async order(url: string): Promise<AcmeOrder> {
    const response = await this.post(url, 'order', undefined);
    return parseOrder(response.body, url, answerContext(url, 'order', response));
  }

  async authorization(url: string): Promise<AcmeAuthorization> {
    const response = await this.post(url, 'authz', undefined);
    return parseAuthorization(response.body, url, answerContext(url, 'authz', response));
  }

  /** What the HTTP-01 resource for `token` must contain, for the current account key. */
  keyAuthorization(token: string): string {
    return keyAuthorization(token, this.signer.thumbprint);
  }

  /** Tells the CA the challenge is ready to be validated (RFC 8555 §7.5.1): an empty JSON object. */
  async answerChallenge(url: string): Promise<void> {
    await this.post(url, 'challenge', {});
  }

  /**
   * Polls the authorization until it is no longer pending. Valid returns it; invalid throws the
   * failed challenge's problem (the CA's reason, e.g. `unauthorized` or `connection`).
   */
  async waitForAuthorization(url: string): Promise<AcmeAuthorization> {
    const authz = await this.poll(url, 'authz', undefined, (at) => this.authorization(at), (a) => a.status !== 'pending');
    if (authz.status === 'valid') return authz;
    const failed = authz.challenges.find((c) => c.error !== undefined)?.error;
    throw failed ?? objectFailure(url, 'authz', `the authorization for ${authz.identifier.value} is ${authz.status} and names no reason`);
  }

  /**
   * Sends the CSR (DER) and polls the order until the CA has issued (valid) or given up (invalid,
   * thrown as the order's problem). Returns the valid order, which names the certificate URL.
   */
  async finalize(order: AcmeOrder, csrDer: Buffer): Promise<AcmeOrder> {
    const response = await this.post(order.finalize, 'finalize', { csr: csrDer.toString('base64url') });
    const first = parseOrder(response.body, order.url, answerContext(order.finalize, 'finalize', response));
    const done = (o: AcmeOrder): boolean => o.status === 'valid' || o.status === 'invalid';
    const final = done(first) ? first : await this.poll(order.url, 'order', first, (at) => this.order(at), done);
    if (final.status === 'valid') return final;
    throw final.error ?? objectFailure(order.url, 'order', `the order is ${final.status} and names no reason`);
  }

  /**
   * The certificate chain (PEM, leaf first) of a valid order. With `preferredChain`, when the default
   * chain's topmost issuer CN is not that name, the alternates the CA links to (RFC 8555 §7.4.2) are
   * tried in turn; none matching leaves the default.
   */
  async certificate(order: AcmeOrder, options: { preferredChain?: string | undefined } = {}): Promise<string> {
    const url = order.certificate;
    if (url === undefined) throw new Error(`ACME order ${order.url} is ${order.status} and has no certificate URL yet`);
    const response = await this.downloadChain(url);
    const wanted = options.preferredChain;
    if (wanted === undefined || topIssuerCommonName(response.text) === wanted) return response.text;
    const offered = [topIssuerCommonName(response.text) ?? '(unreadable)'];
    for (const link of response.links.filter((l) => l.rel === 'alternate')) {
      let alternate: AcmeResponse;
      try {
        alternate = await this.downloadChain(link.url);
      } catch (err) {
        // The certificate is issued and the default chain is in hand: an alternate that cannot be
        // fetched must not cost the order.
        if (!(err instanceof AcmeProblemError || err instanceof AcmeTransportError)) throw err;
        this.options.logger.warn({ acme: this.options.directoryUrl, url: link.url, err: err.message }, 'an alternate certificate chain could not be downloaded');
        continue;
      }
      const issuer = topIssuerCommonName(alternate.text);
      if (issuer === wanted) return alternate.text;
      offered.push(issuer ?? '(unreadable)');
    }
    this.options.logger.warn({ acme: this.options.directoryUrl, order: order.url, preferredChain: wanted, offered }, 'no certificate chain leads to the preferred issuer; using the default chain');
    return response.text;
  }

  private async downloadChain(url: string): Promise<AcmeResponse> {
    const response = await this.post(url, 'cert', undefined, PEM_CHAIN);
    if (pemCertificates(response.text).length === 0) throw unusableAnswer(answerContext(url, 'cert', response), 'no PEM certificate in the body');
    return response;
  }

  /**
   * GET <renewalInfo>/<certId> (RFC 9773), unauthenticated. Non-2xx answers throw AcmeProblemError;
   * reading the window is ari.ts's job.
   */
  async renewalInfo(certId: string): Promise<AcmeResponse> {
    const base = (await this.directory()).renewalInfo;
    if (base === undefined) throw new Error(`the CA at ${this.options.directoryUrl} offers no renewalInfo (ARI)`);
    // The directory URL may or may not end in '/'; RFC 9773 joins with exactly one.
    return this.transport.get(`${base.replace(/\/+$/, '')}/${certId}`, 'renewalInfo');
  }

  /**
   * Moves the account to `newKey` (RFC 8555 §7.3.5): an inner JWS by the new key, carrying its JWK and
   * naming the account and the old key, inside a JWS by the old key. Afterwards this client signs
   * with the new key; the caller must store it before anything else can be lost.
   */
  async keyChange(newKey: KeyObject | string): Promise<void> {
    const directory = await this.directory();
    const url = directory.keyChange;
    if (url === undefined) throw new Error(`the CA at ${this.options.directoryUrl} offers no keyChange`);
    const account = this.kid();
    const next = accountSigner(newKey);
    const inner = signJws(next, { url }, { account, oldKey: this.signer.jwk });
    await this.post(url, 'keyChange', inner);
    this.signer = next;
  }

  /** Revokes a certificate of this account (RFC 8555 §7.6); `reason` is an RFC 5280 CRLReason code. */
  async revoke(certDer: Buffer, reason?: number): Promise<void> {
    const url = (await this.directory()).revokeCert;
    if (url === undefined) throw new Error(`the CA at ${this.options.directoryUrl} offers no revokeCert`);
    await this.post(url, 'revokeCert', { certificate: certDer.toString('base64url'), ...(reason === undefined ? {} : { reason }) });
  }

  /**
   * Fetches the object until `done`, waiting between polls as nextPoll says (the CA's Retry-After
   * first). `last` is a state already in hand whose Retry-After sets the first wait.
   */
  private async poll<T extends { status: string; retryAfterMs: number | undefined }>(
    url: string,
    endpoint: AcmeEndpoint,
    last: T | undefined,
    fetch: (url: string) => Promise<T>,
    done: (state: T) => boolean,
  ): Promise<T> {
    let current = last;
    let waitedMs = 0;
    for (let attempt = 0; ; attempt++) {
      const next = nextPoll(this.pollBackoff, attempt, current?.retryAfterMs, waitedMs);
      if ('stop' in next) throw new AcmePollTimeoutError(url, endpoint, current?.status ?? 'unknown', waitedMs, next.stop);
      await this.options.clock.sleep(next.waitMs);
      waitedMs += next.waitMs;
      current = await fetch(url);
      if (done(current)) return current;
    }
  }
}

function answerContext(url: string, endpoint: AcmeEndpoint, response: AcmeResponse): { url: string; endpoint: AcmeEndpoint; status: number; retryAfterMs: number | undefined } {
  return { url, endpoint, status: response.status, retryAfterMs: response.retryAfterMs };
}

/** A failed authorization or order whose CA gave no `error`: still a problem, without a type. */
function objectFailure(url: string, endpoint: AcmeEndpoint, detail: string): AcmeProblemError {
  return new AcmeProblemError({ type: undefined, detail, status: undefined, url, endpoint });
}

/** RFC 8555 makes `status` required; a CA that leaves it out of a 200/201 answer has an account it serves. */
function accountStatus(body: Record<string, unknown>): string {
  return typeof body['status'] === 'string' ? body['status'] : 'valid';
}

/** Contacts compared as sets: a CA may return them in another order. */
function sameContacts(wanted: readonly string[], current: unknown): boolean {
  const have = Array.isArray(current) ? current.filter((c): c is string => typeof c === 'string') : [];
  return wanted.length === have.length && wanted.every((c) => have.includes(c)) && have.every((c) => wanted.includes(c));
}
