/**
 * What every benchmark hands back, and the one table `npm run bench` prints. A figure is measured
 * with a peer in the same run where the issue names one (certbot, JSON.parse, a bare node:http
 * server), so machine speed cancels out of the ratio.
 */
export interface Figure {
  /** Which benchmark it came from, e.g. "issuance". */
  bench: string;
  /** What was measured, e.g. "50 certificates from zero". */
  figure: string;
  value: number;
  unit: string;
  /** The same work done by the peer in the same run, when there is one. */
  peer?: { name: string; value: number };
  /** How the target reads, e.g. "≥ 10× faster than certbot", "< 150 MB". */
  target: string;
  /** Whether the target is met; undefined when the figure is informational. */
  met: boolean | undefined;
  /** What the number means or where the time goes, in one line. */
  note?: string;
}

export interface Benchmark {
  name: string;
  /** What it needs that may be missing (Debian packages); checked before it runs. */
  tools?: string[];
  run(): Promise<Figure[]>;
}

function format(value: number, unit: string): string {
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${unit}`;
}

/** The peer's value over ours: how many times better we are for "lower is better" units. */
export function ratio(f: Figure): string {
  if (f.peer === undefined || f.value === 0) return '';
  const higherIsBetter = /\/s$/.test(f.unit);
  const r = higherIsBetter ? f.value / f.peer.value : f.peer.value / f.value;
  return `${r.toFixed(r >= 10 ? 0 : 2)}×`;
}

export function table(figures: readonly Figure[]): string {
  const rows = figures.map((f) => [
    f.bench,
    f.figure,
    format(f.value, f.unit),
    f.peer === undefined ? '' : `${f.peer.name}: ${format(f.peer.value, f.unit)}`,
    ratio(f),
    f.target,
    f.met === undefined ? '' : f.met ? 'met' : 'NOT MET',
  ]);
  const header = ['bench', 'figure', 'value', 'peer (same run)', 'ratio', 'target', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** The same figures as a Markdown table, notes included, for BENCHMARKS.md. */
export function markdown(figures: readonly Figure[]): string {
  const cell = (text: string): string => text.replace(/\|/g, '\\|');
  const lines = ['| bench | figure | value | peer (same run) | ratio | target | met | note |', '| --- | --- | --- | --- | --- | --- | --- | --- |'];
  for (const f of figures) {
    lines.push(
      `| ${[f.bench, f.figure, format(f.value, f.unit), f.peer === undefined ? '' : `${f.peer.name}: ${format(f.peer.value, f.unit)}`, ratio(f), f.target, f.met === undefined ? '' : f.met ? 'yes' : '**no**', f.note ?? ''].map(cell).join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

/** Median and 95th percentile (nearest rank) of a sample. */
export function percentiles(values: readonly number[]): { median: number; p95: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
  return { median: at(0.5), p95: at(0.95) };
}
