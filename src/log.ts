import { isatty } from 'node:tty';
import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';
import { prettyStream } from './log-format.js';

export type Logger = PinoLogger;

/** The original's level names; `warn` and `critical` map onto pino's `warn` and `fatal`. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'critical'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `json`: one JSON object a line, for log shippers; `pretty`: one readable line, for people. */
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

const LOGGER_NAME = 'marathon-acme';

export function pinoLevel(level: LogLevel): string {
  return level === 'critical' ? 'fatal' : level;
}

/**
 * Structured JSON lines on stdout (or the given stream). Secrets never reach the logger: URLs are
 * redacted where they are built (see marathon/url.ts), and key material is never passed to it.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level: pinoLevel(level),
      base: { name: LOGGER_NAME },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/**
 * Where the executable's log goes: file descriptor 1 or 2, in the requested format or, when none was
 * requested, pretty on a terminal and JSON otherwise (a pipe or file usually feeds a log shipper).
 * Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org).
 */
export function logDestination(fd: 1 | 2, requested: LogFormat | undefined, env: NodeJS.ProcessEnv): { stream: DestinationStream; format: LogFormat } {
  const terminal = isatty(fd);
  const format = requested ?? (terminal ? 'pretty' : 'json');
  // Synchronous writes: the last lines before an exit (a fatal start-up error) must not be lost.
  const raw = pino.destination({ dest: fd, sync: true });
  if (format === 'json') return { stream: raw, format };
  const noColor = env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '';
  return { stream: prettyStream(raw, { colour: terminal && !noColor, baseName: LOGGER_NAME }), format };
}

/** A logger that drops everything; for tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
