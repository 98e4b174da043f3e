import { describeConfig, parseCommandLine, unknownVariables, version } from './cli.js';
import { Daemon, StartupError } from './daemon.js';
import type { Config } from './config.js';
import { createLogger, logDestination, type LogFormat, type Logger } from './log.js';
import { runPlan } from './plan/command.js';
import { formatStatusJson, formatStatusTable, readStatus } from './status/command.js';
import { runCheck, type CheckRequest } from './check/command.js';
import { runRenew, type RenewRequest } from './renew/command.js';
import { runRollover } from './account/rollover.js';
import { runRevoke } from './revoke/command.js';
import { runLbConfig } from './lb-config/command.js';
import type { CommandOutcome } from './storage/locked-run.js';

async function main(): Promise<number> {
  const parsed = parseCommandLine(process.argv.slice(2), process.env);
  if (parsed.kind === 'exit') {
    process.stderr.write(parsed.stderr);
    return parsed.code;
  }
  if (parsed.kind === 'status') return status(parsed.storageDir, parsed.json);
  if (parsed.kind === 'check') return check(parsed.request);
  if (parsed.kind === 'lb-config') {
    const { code, text } = await runLbConfig(parsed.storageDir);
    (code === 0 ? process.stdout : process.stderr).write(text);
    return code;
  }
  const { config } = parsed;
  if (parsed.kind === 'plan') return plan(config, parsed.logFormat);
  if (parsed.kind === 'renew') {
    const { names, all, offline, waitMs } = parsed;
    return renew({ config, names, all, offline, waitMs }, parsed.logFormat);
  }
  if (parsed.kind === 'account-rollover') return oneShot('account rollover', config, parsed.logFormat, (logger) => runRollover(config, logger));
  if (parsed.kind === 'revoke') {
    const { name, reason } = parsed;
    return oneShot('revoke', config, parsed.logFormat, (logger) => runRevoke({ config, name, reason }, logger));
  }
  const log = logDestination(1, parsed.logFormat, process.env);
  const logger = createLogger(config.logLevel, log.stream);
  logger.info({ version: version(), config: { ...describeConfig(config), logFormat: log.format } }, 'starting marathon-acme');
  for (const unknown of unknownVariables(process.env)) logger.warn({ variable: unknown.name, didYouMean: unknown.suggestion }, unknown.message);
  // Handlers go in before anything starts, so a SIGTERM during start-up still ends in a clean stop.
  const shutdown = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  const daemon = new Daemon({ config, logger, version: version() });
  try {
    await daemon.start();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    logger.fatal({ err: message }, 'cannot start');
    process.stderr.write(`marathon-acme: ${message}\n`);
    await daemon.stop(0).catch(() => undefined);
    return err instanceof StartupError ? 1 : 70;
  }
  const outcome = await Promise.race([shutdown.then((signal) => ({ signal })), daemon.fatal.then((error) => ({ error }))]);
  if ('error' in outcome) {
    process.stderr.write(`marathon-acme: ${outcome.error.message}\n`);
    await daemon.stop();
    return 1;
  }
  logger.info({ signal: outcome.signal }, 'shutdown requested');
  await daemon.stop();
  return 0;
}

async function plan(config: Config, logFormat: LogFormat | undefined): Promise<number> {
  // Logs go to stderr so that stdout carries only the plan.
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, logDestination(2, logFormat, process.env).stream);
  try {
    const { text } = await runPlan(config, logger, Date.now());
    process.stdout.write(text);
    return 0;
  } catch (err) {
    process.stderr.write(`marathon-acme plan: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

/** The answer goes to stdout, logs (the offline renewal's progress) to stderr. */
async function renew(request: RenewRequest, logFormat: LogFormat | undefined): Promise<number> {
  const logger = createLogger(request.config.logLevel, logDestination(2, logFormat, process.env).stream);
  try {
    const { code, text } = await runRenew(request, logger);
    process.stdout.write(text);
    return code;
  } catch (err) {
    process.stderr.write(`marathon-acme renew: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

/** `account rollover` and `revoke`: the report goes to stdout, logs to stderr. */
async function oneShot(command: string, config: Config, logFormat: LogFormat | undefined, run: (logger: Logger) => Promise<CommandOutcome>): Promise<number> {
  const logger = createLogger(config.logLevel, logDestination(2, logFormat, process.env).stream);
  try {
    const { code, text } = await run(logger);
    process.stdout.write(text);
    return code;
  } catch (err) {
    process.stderr.write(`marathon-acme ${command}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

/** Offline: reads the storage directory only; the report goes to stdout, anything else to stderr. */
async function status(storageDir: string, json: boolean): Promise<number> {
  try {
    const report = await readStatus(storageDir, Date.now());
    for (const warning of report.warnings) process.stderr.write(`marathon-acme status: ${warning}\n`);
    process.stdout.write(json ? formatStatusJson(report) : formatStatusTable(report));
    return 0;
  } catch (err) {
    process.stderr.write(`marathon-acme status: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

/** Results go to stdout, warnings about Marathon's apps to stderr; exit 1 when any name fails. */
async function check(request: CheckRequest): Promise<number> {
  const logger = createLogger('warn', logDestination(2, undefined, process.env).stream);
  try {
    const { checks, text } = await runCheck(request, logger);
    process.stdout.write(text);
    return checks.every((c) => c.ok) ? 0 : 1;
  } catch (err) {
    process.stderr.write(`marathon-acme check: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`marathon-acme: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 70;
  },
);
