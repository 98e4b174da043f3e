/**
 * Which name a file in certs/ serves, and which file stays when several serve one name. Pure.
 *
 * The original named each file after the label's text, letter case and all: a label
 * `MARATHON_ACME_0_DOMAIN=Example.com` gave `certs/Example.com.pem`. Host names are case-insensitive,
 * the daemon holds them in lower case, and HAProxy picks a certificate by the names inside it, never
 * by its file name. So a file serves its file name in lower case, and a directory adopted from the
 * original keeps its certificates instead of having each ordered again (and the old file retired a
 * week later).
 */

/**
 * ASCII letters only: host names are ASCII (IDNs are held as punycode), and lower-casing other
 * letters would make up names (`İ` becomes `i̇`, two code points).
 */
export function servedName(fileStem: string): string {
  return fileStem.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}

/** What decides between files serving one name. */
export interface NamedFile {
  /** The name served (lower case). */
  name: string;
  /** The file name without `.pem`. */
  file: string;
  notAfter: number;
}

export interface Shadowed<T> {
  item: T;
  /** The file (without `.pem`) kept for the name in its place. */
  keptFile: string;
}

/**
 * Splits files into one per served name and the rest. Two files serving one name (the original made
 * `Example.com.pem` and `example.com.pem` from two labels differing only in case) cannot both stay:
 * HAProxy would present either one for the name, and only one is renewed, so the other would
 * eventually be served expired. The one kept is the last to expire; on a tie, the one already named
 * in lower case (it is where the daemon writes), then the first by file name. Order is kept.
 */
export function splitDuplicates<T>(items: readonly T[], describe: (item: T) => NamedFile): { kept: T[]; shadowed: Shadowed<T>[] } {
  const best = new Map<string, NamedFile>();
  for (const item of items) {
    const candidate = describe(item);
    const current = best.get(candidate.name);
    if (current === undefined || preferred(candidate, current)) best.set(candidate.name, candidate);
  }
  const kept: T[] = [];
  const shadowed: Shadowed<T>[] = [];
  for (const item of items) {
    const { name, file } = describe(item);
    const keptFile = best.get(name)?.file ?? file;
    if (keptFile === file) kept.push(item);
    else shadowed.push({ item, keptFile });
  }
  return { kept, shadowed };
}

function preferred(a: NamedFile, b: NamedFile): boolean {
  if (a.notAfter !== b.notAfter) return a.notAfter > b.notAfter;
  if ((a.file === a.name) !== (b.file === b.name)) return a.file === a.name;
  return a.file < b.file;
}
