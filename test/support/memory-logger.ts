import { createLogger, type Logger } from '../../src/log.js';

export interface LogLine {
  level: string;
  msg: string;
  [field: string]: unknown;
}

/**
 * The daemon's real JSON logger, writing into memory so a test can read what the daemon said.
 * Set MARATHON_ACME_TEST_LOGS=1 to also see the lines on stderr while debugging a test.
 */
export function memoryLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const echo = process.env['MARATHON_ACME_TEST_LOGS'] === '1';
  const logger = createLogger('info', {
    write(line: string) {
      lines.push(JSON.parse(line) as LogLine);
      if (echo) process.stderr.write(line);
    },
  });
  return { logger, lines };
}
