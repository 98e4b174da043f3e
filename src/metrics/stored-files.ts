import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { RETIRED, UNMANAGED } from '../certs/store.js';

/**
 * How many certificate files sit in retired-certs/ and unmanaged-certs/, for the certificate-count
 * gauge (certs/ itself is counted from the daemon's index, which skips unusable files). Read-only.
 *
 * A retired certificate is one file (`<name>.pem`, or `<name>.pem.<n>` when retired again); in
 * unmanaged-certs/ only `*.pem` files count, since HAProxy's side files (`.key`, `.ocsp`, ...) are not
 * certificates of their own. Dot-files are ignored in both.
 */
export async function countStoredFiles(storageDir: string): Promise<{ retired: number; unmanaged: number }> {
  const [retired, unmanaged] = await Promise.all([
    listFiles(join(storageDir, RETIRED)),
    listFiles(join(storageDir, UNMANAGED)),
  ]);
  return { retired: retired.length, unmanaged: unmanaged.filter((f) => f.endsWith('.pem')).length };
}

/** Regular, non-dot files; none when the directory does not exist (retired-certs/ is made on first use). */
async function listFiles(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isFile() && !e.name.startsWith('.')).map((e) => e.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new Error(`cannot list ${dir}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
