/**
 * Pre-flight for HTTP-01: before an order is placed (and a failed validation is spent against Let's
 * Encrypt's 5-failures-per-hour and consecutive-failure limits), fetch a probe token through the same
 * path the CA will use and check that the answer comes from this very daemon.
 *
 * The walk imitates the CA's validator as documented by Let's Encrypt (docs/challenge-types) and as
 * Boulder's VA does it:
 * - resolve the name ourselves and dial the address, sending the name in the Host header;
 * - prefer the first IPv6 address and fall back once to the first IPv4 address on a connection error;
 * - follow at most 10 redirects, only to http/https and only to ports 80/443;
 * - do not verify certificates after a redirect to https (the name has no valid certificate yet);
 * - no keep-alive; trailing whitespace of the body is ignored.
 *
 * Deliberate differences, all documented where they happen: redirects may also go to the configured
 * probe port (tests and pebble validate on a non-standard port; with the default port 80 the rule is
 * exactly the CA's); a redirect must keep the token at the end of its path (otherwise no responder can
 * answer it, so we say so instead of reporting a confusing 404); a loop is reported as a loop instead
 * of running into the hop limit. The daemon resolves names with its own resolver, so split-horizon DNS
 * can make it see a different address than the CA; that is a limit of any self-check.
 */
import { randomBytes } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { Agent, request, type Dispatcher } from 'undici';
import { CHALLENGE_TOKEN, type ChallengeResponder } from '../acme/challenges.js';

export type PreflightFailureKind = 'dns' | 'connection' | 'timeout' | 'wrong-answer' | 'wrong-redirect' | 'http-status';

export type PreflightResult =
  | { ok: true; name: string; hops: string[] }
  | {
      ok: false;
      name: string;
      kind: PreflightFailureKind;
      reason: string;
      hops: string[];
      /** The HTTP status, for `http-status` failures (a 502/503 is worth another try within seconds). */
      status?: number | undefined;
    };

/** What a walk of the challenge path fetches and which answer counts as the right one. */
export interface ChallengeProbe {
  /** The last path segment after /.well-known/acme-challenge/. */
  token: string;
  /** Whether a 200 body (trailing whitespace removed, as the CA does) is the expected answer. */
  matches(body: string): boolean;
  /** The reason given when a 200 answer is not the expected one; `url` is where it came from. */
  wrongAnswer(url: string, name: string): string;
}

export interface WalkOptions {
  port: number;
  timeoutMs: number;
  dispatcher?: Dispatcher;
  lookup?: (hostname: string) => Promise<string[]>;
}

/** A walk's outcome plus what it saw on the way: the addresses each host resolved to. */
export type WalkResult = PreflightResult & { addresses: Record<string, string[]> };

export interface PreflightOptions {
  /** The port the CA dials (`--preflight-port`, 80 in production; pebble's httpPort in tests). */
  port: number;
  /** Budget for the whole check: DNS, every hop and every body, together. */
  timeoutMs: number;
  /** Where the probe is published for the duration of the check; the daemon's HTTP server answers from it. */
  responder: ChallengeResponder;
  /**
   * Defaults to a private undici Agent that skips certificate verification (as the CA does for
   * redirects to https) and is destroyed after the check. An injected dispatcher is used as it is, so
   * it decides itself whether https hops with invalid certificates pass.
   */
  dispatcher?: Dispatcher;
  /** All addresses of a host name. Defaults to the system resolver (`dns.lookup`, all addresses). */
  lookup?: (hostname: string) => Promise<string[]>;
  /** Random bytes for the probe token and the expected body; defaults to 32 bytes from node:crypto. */
  random?: () => Buffer;
}

const CHALLENGE_PATH = '/.well-known/acme-challenge/';
/** Let's Encrypt: "follows redirects, up to 10 redirects deep". */
const MAX_REDIRECTS = 10;
/** The CA only follows redirects to these ports (plus, here, the configured probe port). */
const CA_REDIRECT_PORTS: readonly number[] = [80, 443];
const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
/** Our probe body is under 100 bytes; anything much longer is certainly not our answer, so stop reading. */
const MAX_BODY_BYTES = 4096;
/** The CA ignores trailing spaces, tabs and line breaks of the body (Boulder trims exactly these). */
const TRAILING_WHITESPACE = /[ \t\r\n]+$/;
const URL_SYNTAX = /[\s/?#@:\\[\]%]/;
const REFUSED = 'connection refused at ';
const USER_AGENT = 'marathon-acme preflight';

interface Failure {
  kind: PreflightFailureKind;
  reason: string;
  status?: number | undefined;
}

interface Answer {
  status: number;
  location: string | undefined;
  body: string;
  /** The body was longer than MAX_BODY_BYTES and was cut. */
  truncated: boolean;
}

interface Walk {
  name: string;
  probe: ChallengeProbe;
  options: WalkOptions;
  dispatcher: Dispatcher;
  lookup: (hostname: string) => Promise<string[]>;
  signal: AbortSignal;
  deadline: number;
  hops: string[];
  addresses: Record<string, string[]>;
}

/**
 * Proves that `http://<name>:<port>/.well-known/acme-challenge/<probe>` reaches this daemon. Network
 * problems never throw: they come back as a failure whose reason names what to fix.
 */
export async function preflight(name: string, options: PreflightOptions): Promise<PreflightResult> {
  return withProbe(options.responder, options.random, (probe) => walkChallengePath(name, probe, options));
}

/**
 * Publishes a fresh random probe on `responder` for as long as `use` runs (one probe can serve several
 * walks of the same name at once, e.g. through each load balancer and through DNS).
 */
export async function withProbe<T>(responder: ChallengeResponder, random: (() => Buffer) | undefined, use: (probe: ChallengeProbe) => Promise<T>): Promise<T> {
  const draw = random ?? ((): Buffer => randomBytes(32));
  const token = draw().toString('base64url');
  if (!CHALLENGE_TOKEN.test(token)) throw new RangeError('the random source must give 1 to 192 bytes for a probe token');
  // Shaped like a key authorization (token.thumbprint), with a random second half: nothing but the
  // responder that holds this probe right now can produce it.
  const expected = `${token}.${draw().toString('base64url')}`;
  // On the shared board too: the walk goes through marathon-lb, which may pick any instance.
  await responder.publish(token, expected);
  try {
    return await use({
      token,
      matches: (body) => body === expected,
      wrongAnswer: (url, host) =>
        `the answer from ${url} came from something else than this marathon-acme (wrong body): check the HAPROXY_0_* labels, another app or an old marathon-acme may be answering ${CHALLENGE_PATH} for ${host}`,
    });
  } finally {
    // Never leave a probe behind: a stale token would be answerable by anyone who learned it.
    await responder.withdraw(token);
  }
}

/**
 * Fetches `http://<name>:<port>/.well-known/acme-challenge/<probe.token>` as the CA would (see the
 * file comment) and checks the answer with `probe`. Network problems never throw: they come back as
 * a failure whose reason names what to fix.
 */
export async function walkChallengePath(name: string, probe: ChallengeProbe, options: WalkOptions): Promise<WalkResult> {
  const hops: string[] = [];
  const addresses: Record<string, string[]> = {};
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort(new Error('preflight timed out'));
  }, options.timeoutMs);
  let ownAgent: Agent | undefined;
  const dispatcher = options.dispatcher ?? (ownAgent = newInsecureAgent());
  try {
    const failure = await walk({
      name,
      probe,
      options,
      dispatcher,
      lookup: options.lookup ?? systemLookup,
      signal: controller.signal,
      deadline: Date.now() + options.timeoutMs,
      hops,
      addresses,
    });
    return failure === undefined ? { ok: true, name, hops, addresses } : { ok: false, name, ...failure, hops, addresses };
  } catch (err) {
    // Everything expected is classified inside walk(); this is the safety net that keeps the promise
    // of never throwing for network trouble even for an error shape we did not foresee.
    return { ok: false, name, kind: 'connection', reason: `the probe of ${name} failed unexpectedly (${describe(err)}): check the network path to marathon-lb`, hops, addresses };
  } finally {
    clearTimeout(timer);
    // Destroying (not closing) also cuts a request still hanging on a server that never answers.
    await ownAgent?.destroy().catch(() => undefined);
  }
}

function newInsecureAgent(): Agent {
  // Let's Encrypt documents that after a redirect to https it does not validate the certificate (the
  // name is being validated precisely because it has no valid certificate yet), and Boulder's VA
  // dials with InsecureSkipVerify. Verifying here would fail checks the CA passes.
  return new Agent({ connect: { rejectUnauthorized: false } });
}

/** Every address of `hostname` from the system resolver, in its order. */
export async function systemLookup(hostname: string): Promise<string[]> {
  const addresses = await dnsLookup(hostname, { all: true, order: 'verbatim' });
  return addresses.map((a) => a.address);
}

async function walk(w: Walk): Promise<Failure | undefined> {
  const invalid: Failure = { kind: 'dns', reason: `${JSON.stringify(w.name)} is not a valid host name: fix the name in the app's labels` };
  // URL syntax characters would silently move the probe to another host or path ("a/b" parses as
  // host "a"), so they are refused before the name goes into a URL.
  if (w.name === '' || URL_SYNTAX.test(w.name)) return invalid;
  let url: URL;
  try {
    url = new URL(`http://${w.name}:${w.options.port}${CHALLENGE_PATH}${w.probe.token}`);
  } catch {
    return invalid;
  }
  const first = url.href;
  const seen = new Set<string>();
  for (let redirects = 0; ; redirects++) {
    w.hops.push(url.href);
    seen.add(url.href);
    const answer = await fetchOnce(w, url);
    if (!isAnswer(answer)) return answer;

    if (REDIRECT_STATUSES.has(answer.status) && answer.location !== undefined) {
      let next: URL;
      try {
        next = new URL(answer.location, url);
      } catch {
        return wrongRedirect(`${url.href} redirects to an invalid Location ${JSON.stringify(answer.location)}: fix that redirect rule`);
      }
      next.hash = '';
      const problem = checkRedirect(w, url, next, seen, first, redirects + 1);
      if (problem !== undefined) return problem;
      url = next;
      continue;
    }

    if (answer.status !== 200) {
      return {
        kind: 'http-status',
        status: answer.status,
        reason: `${url.href} answered ${answer.status} instead of the probe: check that marathon-lb routes ${CHALLENGE_PATH} for ${w.name} to this marathon-acme (HAPROXY_0_* labels of the marathon-acme app)`,
      };
    }
    if (!answer.truncated && w.probe.matches(answer.body.replace(TRAILING_WHITESPACE, ''))) return undefined;
    return { kind: 'wrong-answer', reason: w.probe.wrongAnswer(url.href, w.name) };
  }
}

function checkRedirect(w: Walk, from: URL, next: URL, seen: ReadonlySet<string>, first: string, redirects: number): Failure | undefined {
  if (next.protocol !== 'http:' && next.protocol !== 'https:') {
    return wrongRedirect(`${from.href} redirects to ${next.href}, but the CA only follows http and https redirects: fix that redirect rule`);
  }
  const port = effectivePort(next);
  // The CA accepts 80 and 443 only. The configured port is accepted too, because that is the port the
  // CA is told to use in tests and pebble setups; with the production default (80) this is the CA's rule.
  if (!CA_REDIRECT_PORTS.includes(port) && port !== w.options.port) {
    return wrongRedirect(`${from.href} redirects to port ${port} (${next.href}), but the CA only follows redirects to ports 80 and 443: fix that redirect rule`);
  }
  if (!next.pathname.endsWith(`/${w.probe.token}`)) {
    return wrongRedirect(`${from.href} redirects to ${next.href}, which no longer ends with the challenge token: exempt ${CHALLENGE_PATH} from that redirect`);
  }
  if (seen.has(next.href)) {
    return wrongRedirect(`redirect loop: ${from.href} sends the CA back to ${next.href}: fix the redirect rules for ${w.name}`);
  }
  if (redirects > MAX_REDIRECTS) {
    return wrongRedirect(`more than ${MAX_REDIRECTS} redirects starting at ${first}: the CA gives up after ${MAX_REDIRECTS}, shorten the redirect chain`);
  }
  return undefined;
}

function wrongRedirect(reason: string): Failure {
  return { kind: 'wrong-redirect', reason };
}

function isAnswer(value: Answer | Failure): value is Answer {
  return 'status' in value;
}

function effectivePort(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

/** One GET of `url`, dialled at the address(es) the CA would pick, with the host name in Host. */
async function fetchOnce(w: Walk, url: URL): Promise<Answer | Failure> {
  // URL keeps IPv6 literals in brackets; the resolver and isIP want them bare.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = effectivePort(url);
  let addresses: string[];
  if (isIP(host) !== 0) {
    addresses = [host];
  } else {
    const resolved = await resolve(w, host);
    if (!Array.isArray(resolved)) return resolved;
    addresses = resolved;
  }

  const failures: Failure[] = [];
  const refused: string[] = [];
  for (const address of candidates(addresses)) {
    const result = await get(w, url, address, port);
    if (isAnswer(result) || result.kind !== 'connection') return result;
    // Like the CA: a connection error on the preferred (IPv6) address falls back to IPv4.
    failures.push(result);
    if (result.reason.startsWith(REFUSED)) refused.push(endpoint(address, port));
  }
  const [only] = failures;
  if (only === undefined) return { kind: 'dns', reason: `DNS has no usable address for ${host}: add an A or AAAA record that points at marathon-lb` };
  if (failures.length === 1) return only;
  // Both the IPv6 and the IPv4 address failed: one sentence naming both.
  if (refused.length === failures.length) return refusedAt(refused.join(' and '));
  return { kind: 'connection', reason: failures.map((f) => f.reason.replace(/\.$/, '')).join('; ') };
}

function refusedAt(where: string): Failure {
  return { kind: 'connection', reason: `${REFUSED}${where}: is marathon-lb listening?` };
}

function endpoint(address: string, port: number): string {
  return `${isIP(address) === 6 ? `[${address}]` : address}:${port}`;
}

async function resolve(w: Walk, host: string): Promise<string[] | Failure> {
  let addresses: string[];
  try {
    addresses = await untilDeadline(w, w.lookup(host));
  } catch (err) {
    if (w.signal.aborted) {
      return { kind: 'timeout', reason: `the DNS lookup of ${host} did not finish within ${w.options.timeoutMs} ms: check the resolver of the marathon-acme host` };
    }
    const code = errorCode(err);
    return { kind: 'dns', reason: `DNS has no address for ${host}${code === undefined ? '' : ` (${code})`}: add an A or AAAA record that points at marathon-lb` };
  }
  const usable = addresses.filter((a) => isIP(a) !== 0);
  w.addresses[host] = usable;
  if (usable.length === 0) {
    return { kind: 'dns', reason: `DNS has no address for ${host}: add an A or AAAA record that points at marathon-lb` };
  }
  return usable;
}

/**
 * Boulder's choice: the first IPv6 address, then the first IPv4 address as the only fallback. To
 * check a particular marathon-lb node, inject a `lookup` that returns just that node's address.
 */
function candidates(addresses: readonly string[]): string[] {
  const v6 = addresses.find((a) => isIP(a) === 6);
  const v4 = addresses.find((a) => isIP(a) === 4);
  return [v6, v4].filter((a): a is string => a !== undefined);
}

async function get(w: Walk, url: URL, address: string, port: number): Promise<Answer | Failure> {
  const where = endpoint(address, port);
  const remaining = Math.max(1, w.deadline - Date.now());
  try {
    const response = await request(`${url.protocol}//${where}${url.pathname}${url.search}`, {
      method: 'GET',
      // url.host carries the port only when it is not the scheme's default, which is what the CA
      // sends; undici also takes the TLS server name (SNI) from this header.
      headers: { host: url.host, 'user-agent': USER_AGENT, accept: '*/*' },
      dispatcher: w.dispatcher,
      signal: w.signal,
      headersTimeout: remaining,
      bodyTimeout: remaining,
      // The CA opens a fresh connection for every request.
      reset: true,
    });
    const location = header(response.headers['location']);
    if (REDIRECT_STATUSES.has(response.statusCode)) {
      await response.body.dump();
      return { status: response.statusCode, location, body: '', truncated: false };
    }
    const { text, truncated } = await readCapped(response.body);
    return { status: response.statusCode, location, body: text, truncated };
  } catch (err) {
    return networkFailure(w, err, where, url);
  }
}

async function readCapped(body: Dispatcher.ResponseData['body']): Promise<{ text: string; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    chunks.push(buffer);
    size += buffer.length;
    if (size > MAX_BODY_BYTES) {
      body.destroy();
      return { text: Buffer.concat(chunks).toString('utf8', 0, MAX_BODY_BYTES), truncated: true };
    }
  }
  return { text: Buffer.concat(chunks).toString('utf8'), truncated: false };
}

const TIMEOUT_CODES: ReadonlySet<string> = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
const CLOSED_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

function networkFailure(w: Walk, err: unknown, where: string, url: URL): Failure {
  const code = errorCode(err);
  if (w.signal.aborted || (code !== undefined && TIMEOUT_CODES.has(code))) {
    return {
      kind: 'timeout',
      reason: `no answer from ${where} for ${url.href} within ${w.options.timeoutMs} ms: check firewalls and that marathon-lb forwards ${CHALLENGE_PATH} to marathon-acme`,
    };
  }
  if (code === 'ECONNREFUSED') {
    return refusedAt(where);
  }
  if (code !== undefined && CLOSED_CODES.has(code)) {
    return { kind: 'connection', reason: `${where} closed the connection without answering ${url.href} (${code}): check what listens on that port` };
  }
  return {
    kind: 'connection',
    reason: `cannot fetch ${url.href} from ${where} (${code ?? describe(err)}): check the network path to marathon-lb`,
  };
}

/** The most specific error code on the error or its cause chain (undici wraps socket errors). */
function errorCode(err: unknown): string | undefined {
  let current: unknown = err;
  let found: string | undefined;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') found = code;
    current = current.cause;
  }
  return found;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Rejects once the check's deadline passes, so a resolver that hangs cannot hold the check. */
function untilDeadline<T>(w: Walk, promise: Promise<T>): Promise<T> {
  if (w.signal.aborted) return Promise.reject(new Error('preflight timed out'));
  return new Promise<T>((resolvePromise, reject) => {
    const onAbort = (): void => {
      reject(new Error('preflight timed out'));
    };
    w.signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        w.signal.removeEventListener('abort', onAbort);
        resolvePromise(value);
      },
      (err: unknown) => {
        w.signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
