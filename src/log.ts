import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';

export type Logger = PinoLogger;

/** The original's level names; `warn` and `critical` map onto pino's `warn` and `fatal`. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'critical'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

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
      base: { name: 'marathon-acme' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** A logger that drops everything; for tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
