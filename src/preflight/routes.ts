/**
 * The routes a preflight tries for one name, all with the same probe and at the same time:
 * - through each load balancer directly: the host of each `--lb` URL, dialled at the preflight port
 *   (the LB's HTTP port) with the name in Host. This bypasses hairpin NAT and split-horizon DNS, and
 *   proves that marathon-lb routes the name's challenge path to this daemon;
 * - through DNS, as the CA will (see preflight.ts).
 * A 502 or 503 answer is what marathon-lb gives while it reloads (HAProxy's old worker closing its
 * connections), so it is tried again a few times, seconds apart, before it counts.
 */
import { isIP } from 'node:net';
import type { Dispatcher } from 'undici';
import type { ChallengeResponder } from '../acme/challenges.js';
import type { Clock } from '../util/clock.js';
import { parseEndpoint } from '../util/endpoint.js';
import { Limiter } from '../util/limiter.js';
import type { DnsRouteOutcome, RouteOutcome } from './decision.js';
import { systemLookup, walkChallengePath, withProbe, type ChallengeProbe, type WalkResult } from './preflight.js';
import { statelessProbe } from '../lb/stateless-challenge.js';

export interface RouteCheckOptions {
  /** The port the CA dials (`--preflight-port`), which is also each load balancer's HTTP port. */
  port: number;
  /** Budget of each walk (one route, one try): DNS, every hop and every body together. */
  timeoutMs: number;
  responder: ChallengeResponder;
  /** The `--lb` URLs; only their hosts are used (credentials never leave this module). */
  lbUrls: readonly string[];
  clock: Clock;
  dispatcher?: Dispatcher | undefined;
  /** All addresses of a host name (the name itself and the LB hosts); defaults to the system resolver. */
  lookup?: ((hostname: string) => Promise<string[]>) | undefined;
  random?: (() => Buffer) | undefined;
  /**
   * With --challenges stateless: the account key's thumbprint. The load balancers answer challenges
   * themselves, so the probe is a random token that must come back as `<token>.<thumbprint>`.
   */
  thumbprint?: string | undefined;
  /** Tries per route while it answers 502/503; default 3. */
  transientTries?: number | undefined;
  /** Pause between those tries; default 1 s. */
  transientPauseMs?: number | undefined;
  /** Told about each 502/503 that is tried again (for the log). */
  onTransient?: ((event: { name: string; via: string; status: number; attempt: number }) => void) | undefined;
}

export interface RouteReport {
  name: string;
  dns: DnsRouteOutcome;
  lbs: RouteOutcome[];
}

const TRANSIENT_STATUSES: ReadonlySet<number> = new Set([502, 503]);
const DEFAULT_TRIES = 3;
const DEFAULT_PAUSE_MS = 1_000;
const DEFAULT_CONCURRENCY = 4;
const VIA_DNS = 'public DNS';

/** Checks every name with at most `concurrency` names in flight; reports come back in input order. */
export async function checkRoutesAll(names: readonly string[], options: RouteCheckOptions, concurrency = DEFAULT_CONCURRENCY): Promise<RouteReport[]> {
  const limiter = new Limiter(concurrency);
  return Promise.all(names.map((name) => limiter.run(() => checkRoutes(name, options))));
}

/** Tries every route of `name`. Network trouble never throws: it is in the report. */
export async function checkRoutes(name: string, options: RouteCheckOptions): Promise<RouteReport> {
  const lookup = options.lookup ?? systemLookup;
  const lbs = lbHosts(options.lbUrls);
  const walk = async (probe: ChallengeProbe): Promise<RouteReport> => {
    const [dns, viaLbs] = await Promise.all([
      tryRoute(name, VIA_DNS, probe, lookup, options).then((result): DnsRouteOutcome => ({ ...outcome(VIA_DNS, result), resolved: (result.addresses[name] ?? []).length > 0 })),
      Promise.all(lbs.map((host) => throughLb(name, host, probe, lookup, options))),
    ]);
    return { name, dns, lbs: viaLbs };
  };
  if (options.thumbprint !== undefined) return walk(statelessProbe(options.thumbprint, options.random));
  return withProbe(options.responder, options.random, walk);
}

/** The distinct hosts of the `--lb` URLs, bare (IPv6 without brackets). */
export function lbHosts(urls: readonly string[]): string[] {
  const hosts = urls.map((url) => new URL(parseEndpoint(url).base).hostname.replace(/^\[(.*)\]$/, '$1'));
  return [...new Set(hosts)];
}

async function throughLb(name: string, host: string, probe: ChallengeProbe, lookup: (hostname: string) => Promise<string[]>, options: RouteCheckOptions): Promise<RouteOutcome> {
  const via = `marathon-lb ${isIP(host) === 6 ? `[${host}]` : host}:${options.port}`;
  let addresses: string[];
  try {
    addresses = isIP(host) !== 0 ? [host] : (await lookup(host)).filter((a) => isIP(a) !== 0);
  } catch (err) {
    return { via, ok: false, kind: 'dns', reason: `cannot resolve the --lb host ${host} (${err instanceof Error ? err.message : String(err)})` };
  }
  if (addresses.length === 0) return { via, ok: false, kind: 'dns', reason: `the --lb host ${host} has no address` };
  // Only the name itself goes to this LB; a redirect to another name is resolved as the CA would.
  const routed = (h: string): Promise<string[]> => (h === name ? Promise.resolve(addresses) : lookup(h));
  return outcome(via, await tryRoute(name, via, probe, routed, options));
}

/** One route, tried again while it answers 502/503 (marathon-lb reloading), a bounded number of times. */
async function tryRoute(name: string, via: string, probe: ChallengeProbe, lookup: (hostname: string) => Promise<string[]>, options: RouteCheckOptions): Promise<WalkResult> {
  const tries = Math.max(1, options.transientTries ?? DEFAULT_TRIES);
  for (let attempt = 1; ; attempt++) {
    const result = await walkChallengePath(name, probe, {
      port: options.port,
      timeoutMs: options.timeoutMs,
      lookup,
      ...(options.dispatcher === undefined ? {} : { dispatcher: options.dispatcher }),
    });
    const status = result.ok ? undefined : result.status;
    if (status === undefined || !TRANSIENT_STATUSES.has(status) || attempt >= tries) return result;
    options.onTransient?.({ name, via, status, attempt });
    await options.clock.sleep(options.transientPauseMs ?? DEFAULT_PAUSE_MS);
  }
}

function outcome(via: string, result: WalkResult): RouteOutcome {
  return result.ok ? { via, ok: true } : { via, ok: false, kind: result.kind, reason: result.reason };
}
