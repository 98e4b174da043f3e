/** undici errors carry a code (UND_ERR_HEADERS_TIMEOUT, ECONNREFUSED...) that says more than the text. */
export function describeRequestError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const cause = (err as { cause?: unknown }).cause;
    const causeCode = cause instanceof Error ? (cause as { code?: unknown }).code : undefined;
    const parts = [err.message];
    if (typeof code === 'string') parts.push(code);
    if (typeof causeCode === 'string' && causeCode !== code) parts.push(causeCode);
    return parts.join(' ');
  }
  return String(err);
}
