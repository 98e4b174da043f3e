/**
 * One USR1 to every marathon-lb after `renew --offline` wrote certificates. Once, without the daemon's
 * retries and delivery check: the command ends here, and an LB it could not reach loads the files at
 * its next reload (and the daemon, once it runs again, checks what every LB serves).
 */
import type { Agent } from 'undici';
import { HttpMarathonLbApi } from '../lb/lb-api.js';
import { parseEndpoint } from '../util/endpoint.js';
import { createMarathonAgent } from '../util/trust-store.js';

const SIGNAL_TIMEOUT_MS = 5_000;

export interface LbSignalOutcome {
  /** The --lb URL with any credentials masked. */
  lb: string;
  error: string | undefined;
}

/** `caFile`: --marathon-ca-file, trusted for https:// LBs besides Node's roots and the system store. */
export async function signalEveryLb(urls: readonly string[], caFile: string | undefined): Promise<LbSignalOutcome[]> {
  let dispatcher: Agent;
  try {
    dispatcher = createMarathonAgent(caFile, { connections: 4 });
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    return urls.map((url) => ({ lb: parseEndpoint(url).display, error }));
  }
  try {
    return await Promise.all(
      urls.map(async (url) => {
        const endpoint = parseEndpoint(url);
        try {
          await new HttpMarathonLbApi(endpoint, dispatcher, SIGNAL_TIMEOUT_MS).signalReload(AbortSignal.timeout(SIGNAL_TIMEOUT_MS));
          return { lb: endpoint.display, error: undefined };
        } catch (err) {
          return { lb: endpoint.display, error: err instanceof Error ? err.message : String(err) };
        }
      }),
    );
  } finally {
    await dispatcher.destroy().catch(() => undefined);
  }
}

export function formatSignals(outcomes: readonly LbSignalOutcome[]): string {
  return outcomes
    .map((o) => (o.error === undefined ? `signalled      ${o.lb}\n` : `not signalled  ${o.lb}  ${o.error}; it loads the new certificates at its next reload\n`))
    .join('');
}
