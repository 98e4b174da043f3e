import { readFile } from 'node:fs/promises';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { Agent } from 'undici';

/**
 * The one agent for everything a process sends to the CA: the ACME client (orders, ARI, account
 * commands) and the daemon's own look at the directory (directory-probe.ts). It trusts Node's roots
 * plus --acme-ca-file, and --acme-timeout also bounds the TCP and TLS connect (undici's own default
 * is 10 s whatever the option says). Rejects with a message naming the file when --acme-ca-file
 * cannot be read. The caller owns the agent and destroys it when done.
 */
export async function createAcmeAgent(options: { caFile: string | undefined; timeoutMs: number }): Promise<Agent> {
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
