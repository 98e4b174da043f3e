/**
 * `marathon-acme check`: the routing check from the command line, for names given or (`--all`) for
 * every name Marathon's labelled apps ask for. Read-only and independent of a running daemon: any
 * marathon-acme answers the ping, so this checks the path the CA will take.
 */
import { Agent } from 'undici';
import type { Logger } from '../log.js';
import { selectWantedNames } from '../marathon/apps.js';
import { MarathonClient } from '../marathon/client.js';
import { formatRoutingChecks } from './report.js';
import { checkRouting, parseLbHttp, type RoutingCheck } from './routing.js';

export interface CheckRequest {
  names: string[];
  /** Check every name in the labels of Marathon apps in `group` (all names of a label, as `separate` mode). */
  all: { marathonUrls: string[]; group: string; marathonTimeoutMs: number } | undefined;
  /** `--lb-http`: send the checks to this marathon-lb instead of where DNS points. */
  lbHttp: string | undefined;
  timeoutMs: number;
  json: boolean;
}

export interface CheckOutcome {
  checks: RoutingCheck[];
  text: string;
}

export async function runCheck(request: CheckRequest, logger: Logger): Promise<CheckOutcome> {
  const names = [...request.names];
  if (request.all !== undefined) names.push(...(await labelledNames(request.all, logger)));
  const unique = [...new Set(names)];
  const lb = request.lbHttp === undefined ? undefined : parseLbHttp(request.lbHttp);
  const checks = await checkRouting(unique, { port: lb?.port ?? 80, timeoutMs: request.timeoutMs, via: lb?.host });
  const text = request.json ? `${JSON.stringify(checks, null, 2)}\n` : formatRoutingChecks(checks);
  return { checks, text };
}

async function labelledNames(all: NonNullable<CheckRequest['all']>, logger: Logger): Promise<string[]> {
  const dispatcher = new Agent();
  try {
    const client = new MarathonClient({ urls: all.marathonUrls, timeoutMs: all.marathonTimeoutMs, dispatcher, logger });
    const apps = await client.getApps();
    // Every name of every label is checked: whichever the daemon's mode orders, each must route.
    const selection = selectWantedNames(apps, { group: all.group, multipleDomains: 'separate' });
    for (const w of selection.warnings) logger.warn({ appId: w.appId, portIndex: w.portIndex, label: w.label }, w.message);
    return selection.names.map((n) => n.name);
  } finally {
    await dispatcher.close();
  }
}
