import type { NameCheck } from './command.js';
import type { LabelCheck } from './route-conflicts.js';

/**
 * The check's results for people: one block per name, the verdict first, then what DNS said, the
 * path the request took, for a failure the reason with what to fix, and what the label check found.
 */
export function formatRoutingChecks(checks: readonly NameCheck[], labels?: LabelCheck): string {
  const lines: string[] = [];
  for (const c of checks) {
    lines.push(`${c.ok ? 'ok  ' : 'FAIL'}  ${c.name}`);
    lines.push(`      dns:     ${c.addresses.length === 0 ? '(no address)' : c.addresses.join(', ')}`);
    if (c.hops.length > 0) lines.push(`      fetched: ${c.hops.join(' → ')}`);
    if (c.kind !== 'label-conflict') {
      lines.push(c.ok ? '      answer:  marathon-acme answered the ping, so the CA can reach it for this name' : `      problem: ${c.reason ?? 'unknown'}`);
    } else {
      lines.push('      answer:  marathon-acme answered the ping, but marathon-lb\'s labels put another rule first:');
    }
    for (const f of c.labels ?? []) lines.push(`      ${f.severity === 'breaks' ? 'labels: ' : 'warning:'} ${f.reason}`);
  }
  const failed = checks.filter((c) => !c.ok).length;
  lines.push('', failed === 0 ? `all ${checks.length} names reach marathon-acme` : `${failed} of ${checks.length} names do not reach marathon-acme`);
  if (labels?.acme !== undefined) {
    const { appId, portIndex, weight } = labels.acme;
    const weightNote = labels.recommendedWeight === undefined ? '' : `; recommended weight: ${labels.recommendedWeight}`;
    lines.push(`labels checked against marathon-acme's app ${appId} (port ${portIndex}, weight ${weight}) in group ${labels.group}${weightNote}`);
  }
  return `${lines.join('\n')}\n`;
}
