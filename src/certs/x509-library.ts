/**
 * @peculiar/x509, loaded on first use. Only a CSR (an order) or the fallback certificate (a new
 * storage directory) needs it, and with its dependencies (reflect-metadata, tsyringe, the asn1
 * schemas) it costs a daemon that has nothing to order about 4 MB of resident memory.
 */
import { webcrypto } from 'node:crypto';

type X509Library = typeof import('@peculiar/x509');

let library: Promise<X509Library> | undefined;

export function x509Library(): Promise<X509Library> {
  library ??= (async () => {
    // @peculiar/x509 2.x reads decorator metadata while its module body runs, so Reflect's metadata
    // API has to exist before it is evaluated.
    await import('reflect-metadata');
    const x509 = await import('@peculiar/x509');
    // Node's webcrypto and the DOM's Crypto type describe the same object; the library is typed with the latter.
    x509.cryptoProvider.set(webcrypto as unknown as Crypto);
    return x509;
  })();
  return library;
}
