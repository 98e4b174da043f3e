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

/** `2026-12-01 12:00`, the zone said once in the heading. */
export function dateTime(iso: string | null): string {
  return iso === null ? '—' : iso.slice(0, 16).replace('T', ' ');
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
