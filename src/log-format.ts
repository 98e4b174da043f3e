/**
 * Log lines for people: pino still produces every entry as JSON (the single source of what is
 * logged), and this destination turns each JSON line into one readable line
 *
 *   15:36:55.123 WARN  renewal postponed after an earlier failure domain=api.example.test retryAt=2026-11-28T16:36:55.000Z
 *
 * instead of depending on pino-pretty, which is a development tool and not shipped with the daemon.
 */
import type { DestinationStream } from 'pino';

export interface PrettyOptions {
  /** ANSI colour on the level and the time; only for a terminal, and never when NO_COLOR is set. */
  colour: boolean;
  /** The logger's constant `name` field, left out of every line (a different `name` is kept). */
  baseName?: string | undefined;
}

/** Fields every line shows in its fixed place, not as key=value. */
const PLACED = new Set(['time', 'level', 'msg']);

const COLOURS: Readonly<Record<string, string>> = {
  debug: '\u001b[90m',
  info: '\u001b[32m',
  warn: '\u001b[33m',
  error: '\u001b[31m',
  fatal: '\u001b[35m',
};
const DIM = '\u001b[2m';
const RESET = '\u001b[0m';

/**
 * A pino destination writing pretty lines to `out`. pino hands over one complete JSON line per
 * write; anything that is not JSON goes through unchanged rather than being lost.
 */
export function prettyStream(out: { write(text: string): unknown }, options: PrettyOptions): DestinationStream {
  return {
    write(chunk: string): void {
      for (const line of chunk.split('\n')) {
        if (line !== '') out.write(`${formatLogLine(line, options)}\n`);
      }
    },
  };
}

/** One JSON log line → one readable line, without the newline. */
export function formatLogLine(line: string, options: PrettyOptions): string {
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch {
    return line;
  }
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return line;
  const fields = entry as Record<string, unknown>;
  const parts: string[] = [];
  const time = clockTime(fields['time']);
  if (time !== undefined) parts.push(options.colour ? `${DIM}${time}${RESET}` : time);
  const level = typeof fields['level'] === 'string' ? fields['level'] : formatValue(fields['level']);
  const label = level.toUpperCase().padEnd(5);
  const colour = COLOURS[level];
  parts.push(options.colour && colour !== undefined ? `${colour}${label}${RESET}` : label);
  const msg = fields['msg'];
  if (msg !== undefined) parts.push(typeof msg === 'string' ? escapeControl(msg) : formatValue(msg));
  for (const [key, value] of Object.entries(fields)) {
    if (PLACED.has(key) || (key === 'name' && value === options.baseName)) continue;
    parts.push(`${key}=${formatValue(value)}`);
  }
  return parts.join(' ');
}

/** HH:MM:SS.mmm in UTC, like the ISO times in the JSON lines and in state.json. */
function clockTime(value: unknown): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return undefined;
  return date.toISOString().slice(11, 23);
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return quoteIfNeeded(value);
  if (isSerializedError(value)) return quoteIfNeeded(value.type === 'Error' ? value.message : `${value.type}: ${value.message}`);
  if (typeof value === 'object' && value !== null) return jsonText(value);
  return String(value);
}

/** C0 and C1 control characters: line breaks, and what starts terminal escape sequences. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
const NEEDS_QUOTES = /[\s"\u0000-\u001f\u007f-\u009f]/;

/**
 * Bare unless the value would be ambiguous or span lines: empty, with white space, a quote, or a
 * control character.
 */
function quoteIfNeeded(text: string): string {
  return text === '' || NEEDS_QUOTES.test(text) ? jsonText(text) : text;
}

/**
 * Messages and values can carry text from outside (a CA's problem detail, an app label); escaping
 * control characters keeps every entry on one line and keeps escape sequences from the terminal.
 */
export function escapeControl(text: string): string {
  return text.replace(CONTROL, (c) => jsonText(c).slice(1, -1));
}

/** JSON, with the C1 controls JSON.stringify leaves raw escaped too (still valid JSON). */
function jsonText(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** pino's standard serializer turns an Error under `err` into { type, message, stack }. */
function isSerializedError(value: unknown): value is { type: string; message: string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { type?: unknown }).type === 'string' &&
    typeof (value as { message?: unknown }).message === 'string' &&
    typeof (value as { stack?: unknown }).stack === 'string'
  );
}
