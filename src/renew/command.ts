/**
 * `marathon-acme renew <name>... | --all [--offline] [--wait <seconds>]`: renews certificates now,
 * whatever their renewal time. By default the running daemon does it, asked through the storage
 * directory (ask-daemon.ts; the daemon's HTTP server changes nothing, by design); with --offline this
 * process does, with the storage directory locked (offline.ts).
 */
import { stat } from 'node:fs/promises';
import { CertStore } from '../certs/store.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { systemClock, type Clock } from '../util/clock.js';
import { askDaemon, type AskOutcome } from './ask-daemon.js';
import { renewOffline } from './offline.js';
import { formatOutcomes, outcomeExitCode } from './report.js';

export interface RenewRequest {
  config: Config;
  /** Certificate names (certs/<name>.pem), normalised; empty with `all`. */
  names: string[];
  all: boolean;
  offline: boolean;
  /** How long to wait for the daemon's answer; 0: hand the request over and return. */
  waitMs: number;
}

/**
 * `text` is for stdout, whatever the outcome. Exit codes: 0 every name renewed (or the request handed
 * over with --wait 0); 1 a name failed, no daemon answered in time, or the storage directory is
 * locked or unusable; 2 a name without a stored certificate (nothing was renewed then).
 */
export async function runRenew(request: RenewRequest, logger: Logger, clock: Clock = systemClock): Promise<{ code: number; text: string }> {
  const dir = request.config.storageDir;
  const isDir = await stat(dir).then((s) => s.isDirectory(), () => false);
  if (!isDir) return { code: 1, text: `storage directory ${dir} does not exist\n` };
  // Checked before anything is asked or locked: a misspelt name is a usage error, not a failed renewal.
  // By the name each file serves: certs/Example.com.pem is renewed as example.com (see file-names.ts).
  const stored = await new CertStore(dir).servedNames().catch(() => new Set<string>());
  const missing = request.names.filter((name) => !stored.has(name));
  if (missing.length > 0) {
    const outcomes = missing.map((name) => ({ name, outcome: 'not-managed' as const }));
    return { code: outcomeExitCode(outcomes), text: `${formatOutcomes(outcomes)}Names are the certificates' file names in certs/ in lower case, as \`marathon-acme status\` lists them.\n` };
  }
  if (request.offline) return renewOffline(request, logger, clock);
  return describe(await askDaemon({ storageDir: dir, names: request.names, all: request.all, waitMs: request.waitMs, clock }), request.waitMs);
}

function describe(outcome: AskOutcome, waitMs: number): { code: number; text: string } {
  const seconds = Math.round(waitMs / 1000);
  switch (outcome.kind) {
    case 'answered': {
      const { result } = outcome;
      if (result.rejected !== undefined) return { code: 1, text: `${result.rejected}\n` };
      if (result.outcomes.length === 0) return { code: 0, text: 'nothing to renew: certs/ holds no certificate\n' };
      const renewed = result.outcomes.some((o) => o.outcome === 'renewed');
      const note = renewed ? 'The daemon signals every marathon-lb and checks that each serves the new certificates.\n' : '';
      return { code: outcomeExitCode(result.outcomes), text: `${formatOutcomes(result.outcomes)}${note}` };
    }
    case 'no-daemon':
      return {
        code: 1,
        text: `${outcome.reason}: is the daemon running on this storage directory? Without it, \`marathon-acme renew --offline\` renews in this process.\n`,
      };
    case 'busy':
      return { code: 1, text: `an offline renewal holds the storage directory (${outcome.holder}); try again when it is done\n` };
    case 'queued':
      return { code: 0, text: `asked the daemon (${outcome.file}); it acts within seconds, and drops a request it finds older than an hour\n` };
    case 'not-taken':
      return { code: 1, text: `no daemon took the request within ${seconds} s: is the daemon running on this storage directory? The request was withdrawn.\n` };
    case 'unfinished':
      return { code: 1, text: `the daemon took the request but had not finished within ${seconds} s; it carries on (see its log, or \`marathon-acme status\`)\n` };
  }
}
