/**
 * The revocation reasons `marathon-acme revoke --reason` offers: the CRLReason codes (RFC 5280
 * §5.3.1) that make sense for a subscriber, and the ones Let's Encrypt accepts from one. No reason
 * means `unspecified`, which RFC 8555 §7.6 expresses by leaving the field out. Pure.
 */
import { closest } from '../util/edit-distance.js';

export const REVOCATION_REASONS = { keyCompromise: 1, superseded: 4, cessationOfOperation: 5 } as const;
export type RevocationReasonName = keyof typeof REVOCATION_REASONS;

const NAMES = Object.keys(REVOCATION_REASONS) as RevocationReasonName[];

export type ReasonResult = { ok: true; name: RevocationReasonName; code: number } | { ok: false; message: string };

/**
 * The reason by its RFC 5280 name, in any letter case and with or without `-`/`_` between the words
 * (typed by hand in an emergency); a misspelt one is refused with the nearest name, never guessed:
 * the reason is final once the CA has it.
 */
export function parseRevocationReason(text: string): ReasonResult {
  const typed = fold(text);
  const name = NAMES.find((n) => fold(n) === typed);
  if (name !== undefined) return { ok: true, name, code: REVOCATION_REASONS[name] };
  const near = closest(typed, NAMES.map(fold), 3);
  const suggestion = near === undefined ? '' : ` Did you mean '${NAMES.find((n) => fold(n) === near) ?? near}'?`;
  return { ok: false, message: `'${text}' is not a revocation reason (${NAMES.join(', ')}; none given: unspecified).${suggestion}` };
}

function fold(text: string): string {
  return text.trim().toLowerCase().replace(/[-_ ]/g, '');
}
