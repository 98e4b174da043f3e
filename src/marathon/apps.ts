import { normaliseHostname } from '../domains/hostname.js';
import { AppPortsError, countAppPorts } from './ports.js';
import { errorText } from '../util/error-text.js';

/**
 * `first`: one name per port (the first of its label); `separate`: every name, each its own
 * certificate; `san`: one certificate per port whose subjectAltNames are all the port's names.
 */
export type MultipleDomainsMode = 'first' | 'separate' | 'san';
export const MULTIPLE_DOMAINS_MODES: readonly MultipleDomainsMode[] = ['first', 'separate', 'san'];

/** The most names a certificate may carry (Let's Encrypt's classic profile). */
export const MAX_NAMES_PER_CERTIFICATE = 100;

/**
 * A certificate some app asks for; `name` is its primary name (and file name), `appId` / `portIndex`
 * say where it was first found. `sans` is set in `san` mode only: the exact set of names the
 * certificate must cover, primary first.
 */
export interface WantedName {
  name: string;
  appId: string;
  portIndex: number;
  sans?: readonly string[];
}

/** What was wrong, as a closed set: the logging edge and the metrics key on it, never on the text. */
export type AppWarningReason =
  | 'not an object'
  | 'no id'
  | 'labels not an object'
  | 'label not a string'
  | 'ports unknown'
  | 'port out of range'
  | 'multiple domains'
  | 'outside allowed domains'
  | 'too many names'
  | 'invalid domain'
  | 'too many names for one certificate'
  | 'unexpected error';

/**
 * Something in an app definition was ignored, as data: where (app, port, label), why (`reason`),
 * and a message that is complete on its own and names the offending value.
 */
export interface AppWarning {
  appId: string;
  portIndex?: number;
  label?: string;
  reason: AppWarningReason;
  message: string;
}

export interface SelectionResult {
  names: WantedName[];
  warnings: AppWarning[];
}

export interface SelectionOptions {
  /** marathon-lb group whose apps are served; compared exactly, like the original (no lists, no `*`). */
  group: string;
  multipleDomains: MultipleDomainsMode;
  /**
   * Normalised domain suffixes names must fall under (the name itself or a subdomain); undefined
   * allows any name. Keeps a tenant who can deploy an app from using our CA account for any domain.
   */
  allowedDomains?: readonly string[] | undefined;
  /** The most names one app may ask for, all ports together; undefined = no cap. */
  maxNamesPerApp?: number | undefined;
}

/** Whether `name` is one of `suffixes` or below one of them. */
export function isAllowedDomain(name: string, suffixes: readonly string[]): boolean {
  return suffixes.some((suffix) => name === suffix || name.endsWith(`.${suffix}`));
}

const APP_GROUP_LABEL = 'HAPROXY_GROUP';
const portGroupLabel = (i: number): string => `HAPROXY_${i}_GROUP`;
const domainLabel = (i: number): string => `MARATHON_ACME_${i}_DOMAIN`;
// Port indices are written the way the labels are generated (no leading zeros), so that
// `MARATHON_ACME_01_DOMAIN` is ignored exactly as marathon-lb ignores `HAPROXY_01_*`.
const DOMAIN_LABEL = /^MARATHON_ACME_(0|[1-9][0-9]{0,8})_DOMAIN$/;
const READ_LABEL = /^(?:HAPROXY_GROUP|HAPROXY_(?:0|[1-9][0-9]*)_GROUP|MARATHON_ACME_(?:0|[1-9][0-9]*)_DOMAIN)$/;

/** A cheap first look before READ_LABEL, which most keys (other tools' labels) fail. */
const mayBeReadLabel = (key: string): boolean => key.startsWith('HAPROXY_') || key.startsWith('MARATHON_ACME_');

type JsonObject = Readonly<Record<string, unknown>>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Label values are user-written and may be long; keep messages readable. */
function quote(text: string): string {
  return `'${text.length > 100 ? `${text.slice(0, 100)}…` : text}'`;
}

/** Splits a `MARATHON_ACME_{n}_DOMAIN` value: commas and whitespace both separate, empty pieces vanish. */
export function parseDomainLabel(value: string): string[] {
  return value
    .replaceAll(',', ' ')
    .split(/\s+/)
    .filter((piece) => piece !== '');
}

/**
 * Every host name the apps want certificates for, in app order then port order, each name once.
 * Apps are added one at a time, as they are read, so that the app list never has to be held whole.
 *
 * Unlike the original, one odd app never stops the others: an app that is malformed, whose ports
 * cannot be counted, or whose label holds an invalid name is skipped (wholly or for that name) with a
 * warning. Never throws.
 */
export class NameSelector {
  private readonly names: WantedName[] = [];
  private readonly warnings: AppWarning[] = [];
  private readonly seen = new Set<string>();
  private count = 0;

  constructor(private readonly options: SelectionOptions) {}

  /** How many app list entries were added, apps or not. */
  get appCount(): number {
    return this.count;
  }

  add(app: unknown): void {
    const index = this.count++;
    const found: WantedName[] = [];
    const appWarnings: AppWarning[] = [];
    try {
      selectFromApp(app, index, this.options, found, appWarnings);
    } catch (err) {
      // Not expected (everything below validates its input); still, one app must not end the sync.
      const appId = isObject(app) && typeof app['id'] === 'string' ? app['id'] : entryId(index);
      this.warnings.push({ appId, reason: 'unexpected error', message: `app ${appId} skipped after an unexpected error: ${errorText(err)}` });
      return;
    }
    this.warnings.push(...appWarnings);
    for (const wanted of found) {
      if (this.seen.has(wanted.name)) continue;
      this.seen.add(wanted.name);
      this.names.push(wanted);
    }
  }

  /** The selection from the apps added so far. */
  result(): SelectionResult {
    return { names: [...this.names], warnings: [...this.warnings] };
  }
}

/** NameSelector for an app list already in memory. */
export function selectWantedNames(apps: Iterable<unknown>, options: SelectionOptions): SelectionResult {
  const selector = new NameSelector(options);
  for (const app of apps) selector.add(app);
  return selector.result();
}

const entryId = (index: number): string => `(entry ${index} of the app list)`;

function selectFromApp(app: unknown, index: number, options: SelectionOptions, found: WantedName[], warnings: AppWarning[]): void {
  if (!isObject(app)) {
    warnings.push({ appId: entryId(index), reason: 'not an object', message: `app list entry ${index} is not an object; skipped` });
    return;
  }
  const id = app['id'];
  if (typeof id !== 'string') {
    warnings.push({ appId: entryId(index), reason: 'no id', message: `app list entry ${index} has no string 'id'; skipped` });
    return;
  }
  const rawLabels = app['labels'];
  // No labels at all is an app that wants nothing (Marathon always sends `{}`, but older fakes may not).
  if (rawLabels === undefined || rawLabels === null) return;
  if (!isObject(rawLabels)) {
    warnings.push({ appId: id, reason: 'labels not an object', message: `the labels of app ${id} are not an object; app skipped` });
    return;
  }

  // Only the labels we read are kept: every sync walks every app's labels, and most are other tools'.
  const labels = new Map<string, string>();
  const domainIndices: number[] = [];
  for (const key of Object.keys(rawLabels)) {
    if (!mayBeReadLabel(key) || !READ_LABEL.test(key)) continue;
    const value = rawLabels[key];
    if (typeof value !== 'string') {
      warnings.push({ appId: id, label: key, reason: 'label not a string', message: `label ${key} of app ${id} is not a string; ignored` });
      continue;
    }
    labels.set(key, value);
    const match = DOMAIN_LABEL.exec(key);
    if (match?.[1] !== undefined) domainIndices.push(Number(match[1]));
  }
  domainIndices.sort((a, b) => a - b);

  const appGroup = labels.get(APP_GROUP_LABEL);
  // The per-port group wins whenever it is present, even when empty: that is how marathon-lb reads it.
  const portGroup = (i: number): string | undefined => labels.get(portGroupLabel(i)) ?? appGroup;
  const ports = domainIndices
    .filter((i) => portGroup(i) === options.group)
    .map((i) => ({ index: i, label: domainLabel(i), domains: parseDomainLabel(labels.get(domainLabel(i)) ?? '') }))
    .filter((p) => p.domains.length > 0);
  // Ports are only counted for apps that want something, so an unrelated app with an exotic network
  // setup does not produce a warning at every sync.
  if (ports.length === 0) return;

  let portCount: number;
  try {
    portCount = countAppPorts(app);
  } catch (err) {
    const why = err instanceof AppPortsError ? err.message : `unexpected error: ${errorText(err)}`;
    warnings.push({ appId: id, reason: 'ports unknown', message: `cannot tell how many ports app ${id} has (${why}); its domain labels are ignored` });
    return;
  }

  let taken = 0;
  let capped = false;
  for (const { index: portIndex, label, domains } of ports) {
    if (portIndex >= portCount) {
      warnings.push({
        appId: id,
        portIndex,
        label,
        reason: 'port out of range',
        message: `label ${label} of app ${id} is for port ${portIndex}, but the app has ${portCount} port${portCount === 1 ? '' : 's'}; ignored`,
      });
      continue;
    }
    let candidates = domains;
    if (options.multipleDomains === 'first') {
      if (domains.length > 1) {
        warnings.push({
          appId: id,
          portIndex,
          label,
          reason: 'multiple domains',
          message: `Multiple domains found for port ${portIndex} of app ${id}, only the first will be used`,
        });
      }
      // Deliberately only the first: if it is invalid, taking the second would silently change which
      // certificate the operator gets.
      candidates = domains.slice(0, 1);
    }
    const valid: string[] = [];
    // A label may hold thousands of names; a list scan per name would make that quadratic.
    const seen = new Set<string>();
    for (const candidate of candidates) {
      const result = normaliseHostname(candidate);
      if (result.ok && options.allowedDomains !== undefined && !isAllowedDomain(result.name, options.allowedDomains)) {
        warnings.push({
          appId: id,
          portIndex,
          label,
          reason: 'outside allowed domains',
          message: `domain ${quote(result.name)} in label ${label} of app ${id} (port ${portIndex}) is outside --allowed-domains; refused`,
        });
      } else if (result.ok) {
        if (seen.has(result.name)) continue;
        if (valid.length + taken >= (options.maxNamesPerApp ?? Infinity)) {
          if (!capped) {
            warnings.push({
              appId: id,
              portIndex,
              label,
              reason: 'too many names',
              message: `app ${id} asks for more than ${options.maxNamesPerApp ?? 0} names (--max-names-per-app); the rest are ignored`,
            });
            capped = true;
          }
          continue;
        }
        valid.push(result.name);
        seen.add(result.name);
      } else {
        warnings.push({
          appId: id,
          portIndex,
          label,
          reason: 'invalid domain',
          message: `invalid domain ${quote(candidate)} in label ${label} of app ${id} (port ${portIndex}) ignored: ${result.reason}`,
        });
      }
    }
    taken += valid.length;
    if (options.multipleDomains !== 'san') {
      for (const name of valid) found.push({ name, appId: id, portIndex });
      continue;
    }
    const primary = valid[0];
    if (primary === undefined) continue;
    if (valid.length > MAX_NAMES_PER_CERTIFICATE) {
      warnings.push({
        appId: id,
        portIndex,
        label,
        reason: 'too many names for one certificate',
        message: `label ${label} of app ${id} names ${valid.length} domains for port ${portIndex}, more than the ${MAX_NAMES_PER_CERTIFICATE} a certificate may carry; no certificate for this port`,
      });
      continue;
    }
    found.push({ name: primary, appId: id, portIndex, sans: valid });
  }
}
