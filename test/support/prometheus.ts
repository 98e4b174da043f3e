/**
 * Prometheus in tests: our /metrics text read back as samples, turned into promtool's input series,
 * and Debian's promtool run on them (no Prometheus server is needed).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The text exposition format as prom-client writes it; throws on a line it cannot read. */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  const labelPair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/y;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`not an exposition line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    const raw = m[2] ?? '';
    labelPair.lastIndex = 0;
    while (labelPair.lastIndex < raw.length) {
      const pair = labelPair.exec(raw);
      if (pair === null) throw new Error(`bad labels in ${JSON.stringify(line)}`);
      labels[pair[1] ?? ''] = (pair[2] ?? '').replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: m[1] ?? '', labels, value: sampleValue(m[3] ?? '', line) });
  }
  return samples;
}

/**
 * A sample's value as Prometheus reads it: Go's ParseFloat, so NaN and the infinities in any case.
 * prom-client writes an empty summary's mean (nodejs_eventloop_lag_mean_seconds right after start) as
 * `Nan`, which Number() does not read.
 */
function sampleValue(text: string, line: string): number {
  const special = /^([+-]?)(nan|inf|infinity)$/i.exec(text);
  if (special !== null) {
    if ((special[2] ?? '').toLowerCase() === 'nan') return Number.NaN;
    return special[1] === '-' ? -Infinity : Infinity;
  }
  const value = Number(text);
  if (text === '' || Number.isNaN(value)) throw new Error(`not a sample value in ${JSON.stringify(line)}`);
  return value;
}

export function seriesKey(name: string, labels: Record<string, string>): string {
  const pairs = Object.entries(labels)
    .filter(([, v]) => v !== '') // Prometheus stores an empty label as no label
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return `${name}{${pairs.join(',')}}`;
}

/** promtool's values notation: `_` before a series appears, `stale` once it leaves the scrape (as Prometheus marks it). */
export function valuesNotation(values: ReadonlyArray<number | undefined>): string {
  return values.map((v, i) => (v !== undefined ? String(v) : values[i - 1] !== undefined ? 'stale' : '_')).join(' ');
}

export async function promtool(args: string[], cwd: string): Promise<string> {
  try {
    const { stdout, stderr } = await exec('promtool', args, { cwd, timeout: 60_000 });
    return `${stdout}${stderr}`;
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string; message: string };
    if (typeof e.code !== 'number') throw new Error(`could not run promtool (apt-get install -y prometheus): ${e.message}`, { cause: err });
    throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`, { cause: err });
  }
}

/**
 * The rules as the tests evaluate them: descriptions are operator prose checked by `requiredLabels`
 * below, and promtool compares annotations verbatim, so the copy under test keeps only the summaries.
 */
export function withoutDescriptions(text: string): string {
  const out: string[] = [];
  let skipDeeperThan: number | undefined;
  for (const line of text.split('\n')) {
    const indent = line.search(/\S/);
    if (skipDeeperThan !== undefined && (line.trim() === '' || indent > skipDeeperThan)) continue;
    skipDeeperThan = undefined;
    if (/^\s*description:/.test(line)) {
      skipDeeperThan = indent;
      continue;
    }
    out.push(line);
  }
  return out.join('\n');
}
