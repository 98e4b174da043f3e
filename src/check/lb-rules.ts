/**
 * The rules marathon-lb writes into HAProxy's plain-HTTP frontend (`marathon_http_in`, port 80), read
 * from Marathon's app labels the way marathon-lb 1.15 reads them (config.py, marathon_lb.py):
 *
 * - Only app ports in the LB's group (`HAPROXY_{n}_GROUP`, else `HAPROXY_GROUP`, comma lists) that
 *   are enabled and have a `HAPROXY_{n}_VHOST` get rules there.
 * - `HAPROXY_{n}_BACKEND_WEIGHT` is Python's int() of the label (default 0); marathon-lb applies the
 *   labels in alphabetical order, so `HAPROXY_{n}_PATH` comes after the weight and turns a weight of
 *   0 (the default or written out) into 1.
 * - Ports are emitted sorted by app id (then service port) and then, stably, by weight from largest
 *   to smallest: equal weights keep app id order.
 * - HAProxy runs every matching `http-request` rule (basic auth) first, then the first matching
 *   `redirect` rule, then the first matching `use_backend`, wherever each line is in the file.
 *
 * Tasks are not looked at: marathon-lb leaves out a port without running tasks, but it comes back as
 * soon as the app scales up, so its rules count.
 */
import { AppPortsError, countAppPorts } from '../marathon/ports.js';

export const CHALLENGE_PATH = '/.well-known/acme-challenge/';

export type RuleStage = 'http-request' | 'redirect' | 'use_backend';
const STAGE_ORDER: Readonly<Record<RuleStage, number>> = { 'http-request': 0, redirect: 1, use_backend: 2 };

/** `HAPROXY_{n}_PATH`: the arguments of HAProxy's `path_beg`. */
export interface PathPatterns {
  patterns: readonly string[];
  ignoreCase: boolean;
}

/** One app port as marathon-lb's HTTP frontend sees it. */
export interface LbPort {
  appId: string;
  portIndex: number;
  weight: number;
  /** `HAPROXY_{n}_VHOST` names, lower-case. */
  hosts: readonly string[];
  /** undefined: no `HAPROXY_{n}_PATH`, every path. */
  paths: PathPatterns | undefined;
  redirectToHttps: boolean;
  auth: boolean;
  /** `HAPROXY_{n}_HTTP_FRONTEND_ACL_WITH_PATH`, the template the README's marathon-acme app replaces. */
  aclWithPathTemplate: string | undefined;
  /** Labels that replace marathon-lb's templates for the HTTP frontend (their effect is not modelled). */
  customTemplates: readonly string[];
}

/** Which Host headers a rule matches: its own names, or every name but those. */
export type HostMatch = { only: readonly string[] } | { except: readonly string[] };

export interface FrontendRule {
  port: LbPort;
  stage: RuleStage;
  hosts: HostMatch;
  paths: PathPatterns | undefined;
  effect: 'redirect-to-https' | 'password' | 'route' | 'redirect-elsewhere';
  /** For `redirect-elsewhere`: where the request is sent, e.g. `http://marathon-acme.example.com`. */
  target?: { scheme: 'http' | 'https'; host: string };
}

const TEMPLATE_LABEL =
  /^HAPROXY_(?:0|[1-9][0-9]*)_(?:MAP_)?HTTP_FRONTEND_(?:ACL|ROUTING)(?:_[A-Z_]+)?$|^HAPROXY_(?:0|[1-9][0-9]*)_BACKEND_REDIRECT_HTTP_TO_HTTPS(?:_WITH_PATH)?$/;
const PYTHON_INT = /^\s*([+-]?\d+(?:_\d+)*)\s*$/;
const TRUE_WORDS: ReadonlySet<string> = new Set(['true', 't', 'yes', 'y']);

type Labels = ReadonlyMap<string, string>;

function isObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Every app port that has rules in the HTTP frontend of an LB serving `group`, in marathon-lb's
 * order, plus what could not be read (one sentence each).
 */
export function readLbPorts(apps: Iterable<unknown>, group: string): { ports: LbPort[]; problems: string[] } {
  const ports: LbPort[] = [];
  const problems: string[] = [];
  for (const app of apps) {
    if (!isObject(app) || typeof app['id'] !== 'string' || !isObject(app['labels'])) continue;
    const appId = app['id'];
    const labels = new Map<string, string>();
    for (const [key, value] of Object.entries(app['labels'])) if (typeof value === 'string') labels.set(key, value);
    for (const portIndex of portIndices(app, labels)) {
      const port = readPort(appId, portIndex, labels, group, problems);
      if (port !== undefined) ports.push(port);
    }
  }
  ports.sort(compareLbOrder);
  return { ports, problems };
}

/** marathon-lb's order of ports in the frontend: larger weight first, then app id, then port. */
export function compareLbOrder(a: LbPort, b: LbPort): number {
  if (a.weight !== b.weight) return b.weight - a.weight;
  if (a.appId !== b.appId) return a.appId < b.appId ? -1 : 1;
  return a.portIndex - b.portIndex;
}

/** The port count as marathon-lb counts it; when it cannot be told, every index a label names. */
function portIndices(app: Readonly<Record<string, unknown>>, labels: Labels): number[] {
  try {
    return Array.from({ length: countAppPorts(app) }, (_, i) => i);
  } catch (err) {
    if (!(err instanceof AppPortsError)) throw err;
    const indices = new Set<number>();
    for (const key of labels.keys()) {
      const match = /^HAPROXY_(0|[1-9][0-9]*)_/.exec(key);
      if (match?.[1] !== undefined) indices.add(Number(match[1]));
    }
    return [...indices].sort((a, b) => a - b);
  }
}

function readPort(appId: string, i: number, labels: Labels, group: string, problems: string[]): LbPort | undefined {
  const label = (name: string): string | undefined => labels.get(`HAPROXY_${i}_${name}`);
  const groups = (label('GROUP') ?? labels.get('HAPROXY_GROUP'))?.split(',') ?? [];
  if (group !== '*' && !groups.includes(group)) return undefined;
  const enabled = label('ENABLED');
  if (enabled !== undefined && !TRUE_WORDS.has(enabled.toLowerCase())) return undefined;
  const vhost = label('VHOST')?.toLowerCase();
  if (vhost === undefined || vhost === '') return undefined;

  let weight = 0;
  const weightText = label('BACKEND_WEIGHT');
  if (weightText !== undefined) {
    const match = PYTHON_INT.exec(weightText);
    if (match?.[1] === undefined) {
      problems.push(`label HAPROXY_${i}_BACKEND_WEIGHT of app ${appId} is ${JSON.stringify(weightText)}, not a whole number, so marathon-lb cannot read it; fix the label`);
      return undefined;
    }
    weight = Number(match[1].replaceAll('_', ''));
  }
  const pathText = label('PATH');
  if (pathText !== undefined && weight === 0) weight = 1;
  return {
    appId,
    portIndex: i,
    weight,
    hosts: vhost.split(/[\s,]+/).filter((h) => h !== ''),
    paths: pathText === undefined ? undefined : parsePathBeg(pathText),
    redirectToHttps: TRUE_WORDS.has((label('REDIRECT_TO_HTTPS') ?? '').toLowerCase()),
    auth: label('AUTH') !== undefined,
    aclWithPathTemplate: label('HTTP_FRONTEND_ACL_WITH_PATH'),
    customTemplates: [...labels.keys()].filter((key) => key.startsWith(`HAPROXY_${i}_`) && TEMPLATE_LABEL.test(key)).sort(),
  };
}

/**
 * `path_beg` arguments: `-i` makes the match case-insensitive, `--` ends the flags; other flags are
 * skipped (marathon-lb passes the label through, so anything HAProxy takes may appear).
 */
export function parsePathBeg(text: string): PathPatterns {
  const patterns: string[] = [];
  let ignoreCase = false;
  let flags = true;
  for (const token of text.split(/\s+/).filter((t) => t !== '')) {
    if (flags && token === '--') {
      flags = false;
    } else if (flags && token.startsWith('-')) {
      if (token === '-i') ignoreCase = true;
    } else {
      flags = false;
      patterns.push(token);
    }
  }
  return { patterns, ignoreCase };
}

/** Whether a rule's path condition takes some request for /.well-known/acme-challenge/<token>. */
export function takesChallengePath(paths: PathPatterns | undefined): boolean {
  if (paths === undefined) return true;
  const fold = (s: string): string => (paths.ignoreCase ? s.toLowerCase() : s);
  const challenge = fold(CHALLENGE_PATH);
  return paths.patterns.some((p) => challenge.startsWith(fold(p)) || fold(p).startsWith(challenge));
}

/** Whether `paths` is exactly the challenge path: how marathon-acme's own app is recognised. */
export function isChallengePathOnly(paths: PathPatterns | undefined): boolean {
  return paths !== undefined && paths.patterns.length === 1 && [CHALLENGE_PATH, CHALLENGE_PATH.slice(0, -1)].includes(paths.patterns[0] ?? '');
}

/**
 * The rules one port contributes that can take a plain-HTTP request, as marathon-lb's templates
 * write them. `HAPROXY_{n}_HTTP_FRONTEND_ACL_WITH_PATH` is understood in the one shape the README
 * gives marathon-acme (a `redirect prefix` of every other host to its own name); other replaced
 * templates are taken as the defaults they replace.
 */
export function frontendRules(port: LbPort): FrontendRule[] {
  const own: HostMatch = { only: port.hosts };
  if (port.redirectToHttps) return [{ port, stage: 'redirect', hosts: own, paths: port.paths, effect: 'redirect-to-https' }];
  const rules: FrontendRule[] = [];
  if (port.auth) rules.push({ port, stage: 'http-request', hosts: own, paths: port.paths, effect: 'password' });
  // marathon-lb uses this template only for a single VHOST with a PATH and no auth.
  const template = port.paths !== undefined && port.hosts.length === 1 && !port.auth ? port.aclWithPathTemplate : undefined;
  const redirect = template === undefined ? undefined : redirectInTemplate(template, port.hosts[0] ?? '');
  if (redirect !== undefined) {
    rules.push({ port, stage: 'redirect', hosts: redirect.hosts, paths: port.paths, effect: 'redirect-elsewhere', target: redirect.target });
    if (!redirect.routesOwn) return rules;
  }
  rules.push({ port, stage: 'use_backend', hosts: own, paths: port.paths, effect: 'route' });
  return rules;
}

function redirectInTemplate(template: string, hostname: string): { hosts: HostMatch; target: { scheme: 'http' | 'https'; host: string }; routesOwn: boolean } | undefined {
  const line = template.split('\n').find((l) => /^\s*redirect\s+prefix\s/.test(l));
  const match = line === undefined ? undefined : /redirect\s+prefix\s+(https?):\/\/\{hostname\}/.exec(line);
  if (line === undefined || match?.[1] === undefined) return undefined;
  const scheme = match[1] === 'https' ? 'https' : 'http';
  const exceptOwn = /!host_\{cleanedUpHostname\}/.test(line);
  return {
    hosts: { except: exceptOwn ? [hostname] : [] },
    target: { scheme, host: hostname },
    routesOwn: /^\s*use_backend\s/m.test(template),
  };
}

export function hostMatches(hosts: HostMatch, host: string): boolean {
  return 'only' in hosts ? hosts.only.includes(host) : !hosts.except.includes(host);
}

/** Whether `rule` takes the plain-HTTP challenge request for `host`. */
export function ruleMatches(rule: FrontendRule, host: string): boolean {
  return hostMatches(rule.hosts, host) && takesChallengePath(rule.paths);
}

/**
 * The rules of all ports that can take a challenge request, indexed by host name, so that thousands
 * of names against thousands of apps cost a lookup each instead of a scan.
 */
export class RuleIndex {
  private readonly byHost = new Map<string, FrontendRule[]>();
  private readonly anyHost: FrontendRule[] = [];
  private readonly position = new Map<FrontendRule, number>();

  constructor(ports: readonly LbPort[]) {
    const rules = [...ports].sort(compareLbOrder).flatMap(frontendRules).filter((r) => takesChallengePath(r.paths));
    rules.forEach((rule, i) => this.position.set(rule, i));
    for (const rule of rules) {
      if ('except' in rule.hosts) {
        this.anyHost.push(rule);
        continue;
      }
      for (const host of new Set(rule.hosts.only)) {
        const list = this.byHost.get(host);
        if (list === undefined) this.byHost.set(host, [rule]);
        else list.push(rule);
      }
    }
  }

  /** Every rule that takes the request for `host`, in the order HAProxy meets them within a stage. */
  matching(host: string): FrontendRule[] {
    const found = [...(this.byHost.get(host) ?? []), ...this.anyHost.filter((r) => hostMatches(r.hosts, host))];
    return found.sort((a, b) => (this.position.get(a) ?? 0) - (this.position.get(b) ?? 0));
  }

  /** The rule HAProxy applies to the request for `host`: the earliest stage first, then file order. */
  deciding(host: string): FrontendRule | undefined {
    let best: FrontendRule | undefined;
    for (const rule of this.matching(host)) {
      if (best === undefined || STAGE_ORDER[rule.stage] < STAGE_ORDER[best.stage]) best = rule;
    }
    return best;
  }
}
