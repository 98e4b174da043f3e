/**
 * An HTTP Retry-After value (RFC 9110: whole seconds, or an HTTP date) as milliseconds from `now`;
 * undefined when absent or unreadable, 0 for a date already past.
 */
export function parseRetryAfter(value: unknown, now: number): number | undefined {
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Only the HTTP-date forms, all of which start with a day name: Date.parse alone accepts far too
  // much ("1", "-5", "2025") and would turn garbage into a plausible-looking date.
  if (!/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? /i.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}
