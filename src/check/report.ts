import type { RoutingCheck } from './routing.js';

/**
 * The check's results for people: one block per name, the verdict first, then what DNS said, the
 * path the request took, and for a failure the reason with what to fix.
 */
export function formatRoutingChecks(checks: readonly RoutingCheck[]): string {
  const lines: string[] = [];
  for (const c of checks) {
    lines.push(`${c.ok ? 'ok  ' : 'FAIL'}  ${c.name}`);
    lines.push(`      dns:     ${c.addresses.length === 0 ? '(no address)' : c.addresses.join(', ')}`);
    if (c.hops.length > 0) lines.push(`      fetched: ${c.hops.join(' → ')}`);
    lines.push(c.ok ? '      answer:  marathon-acme answered the ping, so the CA can reach it for this name' : `      problem: ${c.reason ?? 'unknown'}`);
  }
  const failed = checks.filter((c) => !c.ok).length;
  lines.push('', failed === 0 ? `all ${checks.length} names reach marathon-acme` : `${failed} of ${checks.length} names do not reach marathon-acme`);
  return `${lines.join('\n')}\n`;
}
