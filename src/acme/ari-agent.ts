import { readFile } from 'node:fs/promises';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { Agent } from 'undici';

/**
 * ARI requests and the daemon's own look at the directory (directory-probe.ts) go to the CA outside
 * the ACME library, so they get their own agent with the same trust as the library's (the system
 * roots plus --acme-ca-file) and the same --acme-timeout, which here also bounds the TCP and TLS
 * connect (undici's own default is 10 s whatever the option says). Rejects with a message naming
 * the file when --acme-ca-file cannot be read.
 */
export async function createAriAgent(options: { caFile: string | undefined; timeoutMs: number }): Promise<Agent> {
  const { caFile } = options;
  // Built once: a `ca` list would make every new TLS connection rebuild the whole trust store.
  let secureContext: SecureContext | undefined;
  if (caFile !== undefined) {
    try {
      secureContext = createSecureContext({ ca: [...rootCertificates, await readFile(caFile, 'utf8')] });
    } catch (err) {
      throw new Error(`cannot read --acme-ca-file ${caFile}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
  return new Agent({
    keepAliveTimeout: 4_000,
    connect: { timeout: options.timeoutMs, ...(secureContext === undefined ? {} : { secureContext }) },
  });
}
