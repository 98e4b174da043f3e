/**
 * Which app's marathon-lb rule answers the CA's plain-HTTP challenge request for a name, worked out
 * from Marathon's labels alone (see lb-rules.ts for marathon-lb's rules). It finds what the routing
 * check can only observe: an app whose redirect to HTTPS, password or route comes before
 * marathon-acme's rule, most often because both have weight 1 (every `HAPROXY_{n}_PATH` gives it)
 * and marathon-lb then orders by app id; and, for each, what to change.
 */
import {
  CHALLENGE_PATH,
  frontendRules,
  isChallengePathOnly,
  readLbPorts,
  ruleMatches,
  RuleIndex,
  takesChallengePath,
  type FrontendRule,
  type LbPort,
} from './lb-rules.js';

/**
 * - `breaks`: another app's rule answers the challenge request, so validation fails;
 * - `tie`: marathon-acme's rule wins only because its app id sorts first among equal weights.
 */
export interface RouteFinding {
  name: string;
  severity: 'breaks' | 'tie';
  /** The app whose rule is in the way; undefined when no rule at all sends the request to marathon-acme. */
  appId: string | undefined;
  portIndex: number | undefined;
  reason: string;
}

export interface LabelCheck {
  group: string;
  /** marathon-acme's own app port, as identified. */
  acme: { appId: string; portIndex: number; weight: number } | undefined;
  /** Why the labels could not be checked, or what in them cannot be read. */
  problems: string[];
  findings: RouteFinding[];
  /** A `HAPROXY_{n}_BACKEND_WEIGHT` for marathon-acme above every other app's in the group. */
  recommendedWeight: number | undefined;
}

export interface LabelCheckOptions {
  group: string;
  /** marathon-acme's app id (`--acme-app`); otherwise the app whose `HAPROXY_{n}_PATH` is the challenge path. */
  acmeAppId?: string | undefined;
}

/** A weight well above what apps use for ordering among themselves, so that it stays above them. */
export const SAFE_WEIGHT = 100;

/** Checks `names` (normalised host names) against the labels of `apps` (Marathon's `/v2/apps` entries). */
export function checkLabels(apps: Iterable<unknown>, names: readonly string[], options: LabelCheckOptions): LabelCheck {
  const { ports, problems } = readLbPorts(apps, options.group);
  const base = { group: options.group, problems, findings: [], recommendedWeight: undefined };
  const acme = identifyAcme(ports, options, problems);
  if (acme === undefined) return { ...base, acme: undefined };

  const rules = new RuleIndex(ports);
  const others = ports.filter((p) => p.appId !== acme.appId);
  const recommendedWeight = Math.max(SAFE_WEIGHT, ...others.map((p) => p.weight + 1));
  const context: Context = { acme, rules, group: options.group, recommendedWeight };
  const findings = names.flatMap((name) => checkName(name, context));
  return {
    ...base,
    acme: { appId: acme.appId, portIndex: acme.portIndex, weight: acme.weight },
    findings,
    recommendedWeight: findings.length === 0 ? undefined : recommendedWeight,
  };
}

interface Context {
  acme: LbPort;
  rules: RuleIndex;
  group: string;
  recommendedWeight: number;
}

function identifyAcme(ports: readonly LbPort[], options: LabelCheckOptions, problems: string[]): LbPort | undefined {
  const where = `among the apps of group ${options.group} that have a HAPROXY_{n}_VHOST`;
  if (options.acmeAppId !== undefined) {
    const id = options.acmeAppId.startsWith('/') ? options.acmeAppId : `/${options.acmeAppId}`;
    const own = ports.filter((p) => p.appId === id);
    const found = own.find((p) => isChallengePathOnly(p.paths)) ?? own.find((p) => takesChallengePath(p.paths)) ?? own[0];
    if (found === undefined) problems.push(`marathon-acme's app ${id} (--acme-app) is not ${where}, so marathon-lb has no rule for it: give it the labels from the README`);
    return found;
  }
  const candidates = ports.filter((p) => isChallengePathOnly(p.paths));
  const ids = [...new Set(candidates.map((p) => p.appId))];
  if (ids.length === 1) return candidates[0];
  problems.push(
    ids.length === 0
      ? `no app ${where} has HAPROXY_{n}_PATH ${CHALLENGE_PATH}, so marathon-acme's app cannot be found and marathon-lb sends the challenge path nowhere: give marathon-acme the labels from the README, or name its app with --acme-app`
      : `several apps route ${CHALLENGE_PATH} (${ids.join(', ')}): only one marathon-acme should; name it with --acme-app to check the others against it`,
  );
  return undefined;
}

function checkName(name: string, context: Context): RouteFinding[] {
  const { acme, rules } = context;
  const winner = rules.deciding(name);
  if (winner === undefined) return [unrouted(name, name, context)];
  if (winner.port !== acme) return [breaks(name, name, winner, context)];
  if (winner.effect === 'redirect-elsewhere' && winner.target?.scheme === 'http' && winner.target.host !== name) {
    // The CA follows the redirect to marathon-acme's own name; that request must reach it too.
    const next = rules.deciding(winner.target.host);
    if (next === undefined) return [unrouted(name, winner.target.host, context)];
    if (next.port !== acme) return [breaks(name, winner.target.host, next, context)];
  }
  return ties(name, winner, context);
}

/** Other apps' rules that would take the request but lose to marathon-acme's only by app id. */
function ties(name: string, winner: FrontendRule, context: Context): RouteFinding[] {
  const { acme } = context;
  return context.rules
    .matching(name)
    .filter((r) => r.port !== acme && r.stage === winner.stage && r.port.weight === acme.weight)
    .map((r) => ({
      name,
      severity: 'tie' as const,
      appId: r.port.appId,
      portIndex: r.port.portIndex,
      reason:
        `app ${r.port.appId} (port ${r.port.portIndex}) ${describeEffect(r)} for ${name} with the same weight ${acme.weight} as marathon-acme's rule, ` +
        `which comes first only because ${acme.appId} sorts before ${r.port.appId}: ${raiseWeight(context)}`,
    }));
}

function breaks(name: string, host: string, rule: FrontendRule, context: Context): RouteFinding {
  const other = `app ${rule.port.appId} (port ${rule.port.portIndex})`;
  const redirected = host === name ? '' : ` (marathon-acme's own name, where the challenge for ${name} is redirected)`;
  const note = rule.port.customTemplates.length === 0 ? '' : ` (it also replaces marathon-lb's templates: ${rule.port.customTemplates.join(', ')}; check what they do)`;
  return {
    name,
    severity: 'breaks',
    appId: rule.port.appId,
    portIndex: rule.port.portIndex,
    reason: `${other} ${describeEffect(rule)} for ${host}${redirected}, so the CA never reaches marathon-acme: ${fix(host, rule, context)}${note}`,
  };
}

/** What makes marathon-acme's rule the one that answers `host`, given the rule that answers now. */
function fix(host: string, winner: FrontendRule, context: Context): string {
  const { acme } = context;
  if (winner.stage === 'http-request') {
    return `HAProxy applies http-request rules before any redirect or route, so no weight helps; remove HAPROXY_${winner.port.portIndex}_AUTH from ${winner.port.appId} or give it a HAPROXY_${winner.port.portIndex}_PATH that leaves out ${CHALLENGE_PATH}`;
  }
  const template = `the README's HAPROXY_${acme.portIndex}_HTTP_FRONTEND_ACL_WITH_PATH, which redirects the challenge path of every name to marathon-acme`;
  const own = frontendRules(acme).find((r) => ruleMatches(r, host));
  if (own === undefined) return `marathon-acme's rules do not cover ${host}: give its app ${template}, and ${raiseWeight(context)}`;
  if (own.stage !== winner.stage) {
    return `HAProxy applies redirects before routes whatever their weight, and marathon-acme's rule for ${host} is a route: give its app ${template}, and ${raiseWeight(context)}`;
  }
  const order =
    winner.port.weight > acme.weight
      ? `its weight ${winner.port.weight} is higher than marathon-acme's ${acme.weight}`
      : `both have weight ${acme.weight}${weightOrigin(winner.port)} and marathon-lb orders equal weights by app id, ${winner.port.appId} before ${acme.appId}`;
  return `${order}; ${raiseWeight(context)}`;
}

function unrouted(name: string, host: string, context: Context): RouteFinding {
  const { acme } = context;
  return {
    name,
    severity: 'breaks',
    appId: undefined,
    portIndex: undefined,
    reason:
      `no marathon-lb rule of group ${context.group} sends http://${host}${CHALLENGE_PATH} anywhere, so HAProxy answers 503: ` +
      `give marathon-acme's app ${acme.appId} the README's HAPROXY_${acme.portIndex}_HTTP_FRONTEND_ACL_WITH_PATH, which redirects the challenge path of every name to marathon-acme`,
  };
}

function describeEffect(rule: FrontendRule): string {
  switch (rule.effect) {
    case 'redirect-to-https':
      return `redirects ${CHALLENGE_PATH} to HTTPS (HAPROXY_${rule.port.portIndex}_REDIRECT_TO_HTTPS)`;
    case 'password':
      return `asks for a password on ${CHALLENGE_PATH} (HAPROXY_${rule.port.portIndex}_AUTH)`;
    case 'redirect-elsewhere':
      return `redirects ${CHALLENGE_PATH} to ${rule.target?.scheme ?? 'http'}://${rule.target?.host ?? '?'}`;
    case 'route':
      return `takes ${CHALLENGE_PATH} to its own backend`;
  }
}

function weightOrigin(port: LbPort): string {
  return port.paths !== undefined && port.weight === 1 ? ' (a HAPROXY_{n}_PATH gives weight 1 when none is set)' : '';
}

function raiseWeight(context: Context): string {
  const { acme, recommendedWeight } = context;
  return `set HAPROXY_${acme.portIndex}_BACKEND_WEIGHT of ${acme.appId} to ${recommendedWeight}, above every other app's weight in group ${context.group}`;
}
