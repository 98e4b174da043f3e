/**
 * `marathon-acme check`: the routing check from the command line, for names given or (`--all`) for
 * every name Marathon's labelled apps ask for. Read-only and independent of a running daemon: any
 * marathon-acme answers the ping, so this checks the path the CA will take. With access to Marathon
 * it also checks marathon-lb's labels for rules that take the challenge path before marathon-acme's;
 * with `--served` it checks instead what each marathon-lb serves over TLS (served.ts).
 */
import { normaliseHostname } from '../domains/hostname.js';
import type { Logger } from '../log.js';
import { readAccountKey } from '../acme/account-key.js';
import { accountSigner } from '../acme/protocol/jws.js';
import { CertStore } from '../certs/store.js';
import { selectWantedNames } from '../marathon/apps.js';
import { MarathonClient } from '../marathon/client.js';
import { createMarathonAgent } from '../util/trust-store.js';
import { formatRoutingChecks } from './report.js';
import { checkLabels, type LabelCheck, type RouteFinding } from './route-conflicts.js';
import { backendDownReason, checkRouting, parseLbHttp, type RoutingCheck } from './routing.js';
import { runServedCheck, type ServedRequest } from './served.js';

/** Where to read Marathon's apps from, and which of them marathon-lb serves. */
export interface MarathonAccess {
  urls: string[];
  group: string;
  timeoutMs: number;
  /** `--marathon-ca-file`: CAs trusted for an https:// Marathon besides Node's and the system's. */
  caFile: string | undefined;
  /** `--acme-app`: marathon-acme's own app id; otherwise found by its HAPROXY_{n}_PATH. */
  acmeAppId: string | undefined;
}

export interface CheckRequest {
  names: string[];
  /** Also check every name in the labels of Marathon apps in the group (all names of a label, as `separate` mode). */
  all: boolean;
  /** Marathon, for `all` and for the label check; undefined when none was given. */
  marathon: MarathonAccess | undefined;
  /** `--lb-http`: send the checks to this marathon-lb instead of where DNS points. */
  lbHttp: string | undefined;
  timeoutMs: number;
  json: boolean;
  /** `--served`: compare what each marathon-lb serves with the stored certificates instead. */
  served: ServedRequest | undefined;
  /** `--stateless`: the storage directory whose client.key marathon-lb answers challenges with. */
  stateless?: { storageDir: string } | undefined;
}

/** A routing check with what the label check found for the name (when it ran). */
export interface NameCheck extends Omit<RoutingCheck, 'kind'> {
  kind?: RoutingCheck['kind'] | 'label-conflict';
  /** marathon-lb rules in the way of the challenge path for this name; absent without Marathon. */
  labels?: RouteFinding[];
}

export interface CheckOutcome {
  /** One entry per thing checked; the command fails unless every one is `ok`. */
  checks: ReadonlyArray<{ ok: boolean }>;
  text: string;
}

export async function runCheck(request: CheckRequest, logger: Logger): Promise<CheckOutcome> {
  if (request.served !== undefined) return runServedCheck(request.served, request.names, request.json, logger);
  const apps = request.marathon === undefined ? undefined : await readApps(request.marathon, logger);
  const names = [...request.names];
  if (request.all && apps !== undefined && request.marathon !== undefined) names.push(...labelledNames(apps, request.marathon.group, logger));
  const unique = [...new Set(names)];
  const lb = request.lbHttp === undefined ? undefined : parseLbHttp(request.lbHttp);
  const thumbprint = request.stateless === undefined ? undefined : await accountThumbprint(request.stateless.storageDir);
  const routing = await checkRouting(unique, { port: lb?.port ?? 80, timeoutMs: request.timeoutMs, via: lb?.host, thumbprint });
  const labels = apps === undefined || request.marathon === undefined ? undefined : labelCheck(apps, unique, request.marathon, logger);
  const checks = routing.map((check) => withLabels(check, labels));
  const text = request.json ? `${JSON.stringify(checks, null, 2)}\n` : formatRoutingChecks(checks, labels);
  return { checks, text };
}

/** The thumbprint of client.key, which marathon-lb answers with under --challenges stateless. */
async function accountThumbprint(storageDir: string): Promise<string> {
  const pem = await readAccountKey(new CertStore(storageDir));
  if (pem === undefined) throw new Error(`--stateless: there is no ${storageDir}/client.key to take the thumbprint from`);
  return accountSigner(pem).thumbprint;
}

async function readApps(marathon: MarathonAccess, logger: Logger): Promise<unknown[]> {
  const dispatcher = createMarathonAgent(marathon.caFile);
  try {
    const client = new MarathonClient({ urls: marathon.urls, timeoutMs: marathon.timeoutMs, dispatcher, logger });
    return await client.getApps();
  } finally {
    await dispatcher.close();
  }
}

function labelledNames(apps: readonly unknown[], group: string, logger: Logger): string[] {
  // Every name of every label is checked: whichever the daemon's mode orders, each must route.
  const selection = selectWantedNames(apps, { group, multipleDomains: 'separate' });
  for (const w of selection.warnings) logger.warn({ appId: w.appId, portIndex: w.portIndex, label: w.label }, w.message);
  return selection.names.map((n) => n.name);
}

function labelCheck(apps: readonly unknown[], names: readonly string[], marathon: MarathonAccess, logger: Logger): LabelCheck {
  const normalised = names.flatMap((raw) => {
    const result = normaliseHostname(raw);
    return result.ok ? [result.name] : [];
  });
  const result = checkLabels(apps, [...new Set(normalised)], { group: marathon.group, acmeAppId: marathon.acmeAppId });
  for (const problem of result.problems) logger.warn({ group: marathon.group }, `labels not fully checked: ${problem}`);
  return result;
}

/**
 * A rule in the way fails the name even when the ping got through now: marathon-lb writes it as
 * soon as that app has a task again, or drops the one that let the ping through.
 */
function withLabels(check: RoutingCheck, labels: LabelCheck | undefined): NameCheck {
  if (labels === undefined) return check;
  const normalised = normaliseHostname(check.name);
  const findings = normalised.ok ? labels.findings.filter((f) => f.name === normalised.name) : [];
  const blocking = findings.find((f) => f.severity === 'breaks');
  const result: NameCheck = { ...check, labels: findings };
  // Labels that route the name to marathon-acme leave only its backend to explain HAProxy's 503.
  const lastHop = check.hops.at(-1);
  if (check.kind === 'backend-down' && labels.acme !== undefined && blocking === undefined && lastHop !== undefined) {
    result.reason = backendDownReason(lastHop, true);
  }
  if (check.ok && blocking !== undefined) return { ...result, ok: false, kind: 'label-conflict', reason: blocking.reason };
  return result;
}
