/** Small HTML helpers the status page's parts share. */

export type Level = 'ok' | 'warn' | 'bad' | 'muted';

const WEIGHT: Record<Level, number> = { muted: 0, ok: 1, warn: 2, bad: 3 };

export function worst(a: Level, b: Level): Level {
  return WEIGHT[b] > WEIGHT[a] ? b : a;
}

export function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A CSS string literal that no text can break out of (every character outside [A-Za-z0-9 .:/-] escaped). */
export function cssString(text: string): string {
  return `"${text.replace(/[^A-Za-z0-9 .:/-]/gu, (c) => `\\${(c.codePointAt(0) ?? 0).toString(16)} `)}"`;
}

export function day(iso: string | null): string {
  return iso === null ? '—' : iso.slice(0, 10);
}

/**
 * The page's one way to show a time: `2026-12-01 12:00 UTC` (a day alone: `2026-12-01`). The
 * minute is what a person acts on, and the zone is said every time because a time read alone (a
 * card, a tooltip, a row on a phone) has no heading to take it from.
 */
export function dateTime(iso: string | null): string {
  return iso === null ? '—' : `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

const ISO_TIME = /\b(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?Z/g;

/**
 * Text written for the `status` command and /status.json (reasons, card summaries, a CA's error)
 * carries RFC 3339 times, seconds and all; on the page they read as every other time there does.
 */
export function pageTimes(text: string): string {
  return text.replace(ISO_TIME, '$1 $2 UTC');
}

export function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** `lb1.example:9090` from a display URL, for column headings; the whole URL where it is no URL. */
export function shortLb(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
