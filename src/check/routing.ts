/**
 * The routing check behind `marathon-acme check`: fetch each name's
 * `/.well-known/acme-challenge/ping` the way the CA fetches a challenge (the preflight's walk: its
 * DNS choice, redirect rules and ports) and say, per name, what DNS answered, where redirects led,
 * whether a marathon-acme answered, and what to fix. It is the original README's troubleshooting
 * section as a command.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { Agent, type Dispatcher } from 'undici';
import { normaliseHostname } from '../domains/hostname.js';
import { walkChallengePath, type ChallengeProbe, type PreflightFailureKind } from '../preflight/preflight.js';
import { Limiter } from '../util/limiter.js';
import { statelessProbe } from '../lb/stateless-challenge.js';
import { recordingDispatcher } from './answer-recorder.js';

export interface RoutingCheckOptions {
  /** The port the CA dials; 80 unless a load balancer URL says otherwise. */
  port: number;
  timeoutMs: number;
  /**
   * Send every check to this address instead of what DNS says (`--lb-http`): checks one marathon-lb
   * before DNS points at it, or each of several.
   */
  via?: string | undefined;
  lookup?: (hostname: string) => Promise<string[]>;
  dispatcher?: Dispatcher;
  /**
   * `--stateless`: the thumbprint of client.key. marathon-lb answers challenges itself, so each name
   * gets a random token that must come back as `<token>.<thumbprint>` instead of the daemon's ping.
   */
  thumbprint?: string | undefined;
}

export interface RoutingCheck {
  /** The name as given. */
  name: string;
  ok: boolean;
  /** Addresses the name resolved to (or the --lb-http address it was sent to). */
  addresses: string[];
  /** Every URL fetched, in order: the first one, then each redirect target. */
  hops: string[];
  /**
   * What went wrong, for a failed check. `backend-down`: HAProxy itself answered 503 "No server is
   * available", so marathon-lb has nowhere to send the request.
   */
  kind?: PreflightFailureKind | 'invalid-name' | 'backend-down';
  /** What went wrong and what to fix, for a failed check. */
  reason?: string;
}

const PONG = { message: 'pong' };
const CONCURRENCY = 8;
/** The body of HAProxy's built-in 503 page, the same in HAProxy 1.x and 2.x. */
const HAPROXY_NO_SERVER = /No server is available to handle this request/;

/** The daemon's ping answer is fixed (and the original's): `{"message": "pong"}`. */
const PING_PROBE: ChallengeProbe = {
  token: 'ping',
  matches(body) {
    try {
      const parsed: unknown = JSON.parse(body);
      return typeof parsed === 'object' && parsed !== null && (parsed as { message?: unknown }).message === PONG.message;
    } catch {
      return false;
    }
  },
  wrongAnswer: (url, name) =>
    `${url} answered 200, but not with marathon-acme's {"message": "pong"}: another app answers /.well-known/acme-challenge/ for ${name}; give the marathon-acme app the path-routing labels (see README "The marathon-lb labels")`,
};

export async function checkRouting(names: readonly string[], options: RoutingCheckOptions): Promise<RoutingCheck[]> {
  const limiter = new Limiter(CONCURRENCY);
  const viaAddresses = options.via === undefined ? undefined : await resolveVia(options.via, options.lookup ?? systemLookup);
  // The walk's own default, shared: the CA does not verify certificates after a redirect to https.
  let own: Agent | undefined;
  const base = options.dispatcher ?? (own = new Agent({ connect: { rejectUnauthorized: false } }));
  try {
    return await Promise.all(names.map((name) => limiter.run(() => checkOne(name, options, viaAddresses, base))));
  } finally {
    await own?.destroy();
  }
}

/**
 * The reason for a `backend-down` check. With the labels checked and found right (`labelsChecked`),
 * the page can only mean marathon-acme's backend; otherwise HAProxy gives the same page when no
 * rule matches, which is what marathon-lb writes while the app has no running task.
 */
export function backendDownReason(url: string, labelsChecked: boolean): string {
  const page = `${url} answered HAProxy's own 503 page ("No server is available to handle this request")`;
  const question = 'marathon-lb has no healthy marathon-acme backend: is the marathon-acme task running / passing its health check?';
  if (labelsChecked) return `${page}: ${question}`;
  return `${page}: ${question} (HAProxy answers the same when no rule matches the request, so if the task is healthy, check the labels: give check --marathon to have them checked)`;
}

async function checkOne(raw: string, options: RoutingCheckOptions, via: string[] | undefined, base: Dispatcher): Promise<RoutingCheck> {
  const normalised = normaliseHostname(raw);
  if (!normalised.ok) {
    return { name: raw, ok: false, addresses: [], hops: [], kind: 'invalid-name', reason: `not a name the CA can validate: ${normalised.reason}` };
  }
  const name = normalised.name;
  const lookup = options.lookup ?? systemLookup;
  // With --lb-http only the first host goes to the given LB; a redirect to another name is resolved
  // normally, as the CA would.
  const routed = via === undefined ? lookup : (host: string) => (host === name ? Promise.resolve(via) : lookup(host));
  const recorder = recordingDispatcher(base);
  const probe = options.thumbprint === undefined ? PING_PROBE : statelessProbe(options.thumbprint, undefined);
  const result = await walkChallengePath(name, probe, { port: options.port, timeoutMs: options.timeoutMs, lookup: routed, dispatcher: recorder.dispatcher });
  const addresses = result.addresses[name] ?? (isIP(name) !== 0 ? [name] : []);
  if (result.ok) return { name: raw, ok: true, addresses, hops: result.hops };
  const seen = recorder.last();
  const lastHop = result.hops.at(-1);
  if (result.kind === 'http-status' && seen?.status === 503 && HAPROXY_NO_SERVER.test(seen.body) && lastHop !== undefined) {
    return { name: raw, ok: false, addresses, hops: result.hops, kind: 'backend-down', reason: backendDownReason(lastHop, false) };
  }
  return { name: raw, ok: false, addresses, hops: result.hops, kind: result.kind, reason: result.reason };
}

async function resolveVia(host: string, lookup: (hostname: string) => Promise<string[]>): Promise<string[]> {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bare) !== 0) return [bare];
  try {
    const addresses = await lookup(bare);
    if (addresses.length > 0) return addresses;
  } catch {
    // Reported below with the name that failed.
  }
  throw new Error(`--lb-http: cannot resolve ${host}`);
}

async function systemLookup(hostname: string): Promise<string[]> {
  const addresses = await dnsLookup(hostname, { all: true, order: 'verbatim' });
  return addresses.map((a) => a.address);
}

/** `--lb-http URL` → the address to dial and the port the CA would use there. */
export function parseLbHttp(value: string): { host: string; port: number } {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`'${value}' is not a URL (expected http://host[:port])`);
  }
  if (url.protocol !== 'http:') throw new Error(`'${value}' must be an http:// URL: the CA starts HTTP-01 on plain HTTP`);
  if (url.pathname !== '/' || url.search !== '' || url.username !== '') {
    throw new Error(`'${value}' must be just http://host[:port] (no path, query or credentials)`);
  }
  return { host: url.hostname, port: url.port === '' ? 80 : Number(url.port) };
}
