import { request, type Dispatcher } from 'undici';
import type { Logger } from '../log.js';
import { describeRequestError } from '../util/http-error.js';
import { endpointDisplayUrl, endpointUrl, parseEndpoint, type Endpoint } from '../util/endpoint.js';
import { backoffDelay, type BackoffPolicy } from '../util/backoff.js';
import type { Clock } from '../util/clock.js';

export interface LbSignallerOptions {
  urls: readonly string[];
  dispatcher: Dispatcher;
  clock: Clock;
  logger: Logger;
  backoff: BackoffPolicy;
  timeoutMs: number;
  random?: () => number;
  onResult?: (lb: string, ok: boolean, error?: string) => void;
}

/** One marathon-lb instance: a signal is owed to it until a POST succeeds. */
interface LbState {
  endpoint: Endpoint;
  owed: boolean;
  delivering: Promise<void> | undefined;
}

const PATH = '/_mlb_signal/usr1';

/**
 * Tells every marathon-lb to reload its HAProxy config (USR1: re-read the certificate files). Each LB
 * is handled on its own: a slow or failing one neither delays nor blocks the others, and it keeps
 * being retried with backoff until it accepts, so a written certificate never stays unannounced.
 * Signals requested while a delivery is pending fold into it: the reload reads whatever is on disk.
 */
export class LbSignaller {
  private readonly lbs: LbState[];
  private readonly stopping = new AbortController();

  constructor(private readonly options: LbSignallerOptions) {
    this.lbs = options.urls.map((url) => ({ endpoint: parseEndpoint(url), owed: false, delivering: undefined }));
  }

  /** Owes a signal to every LB and starts delivering in the background; never blocks the caller. */
  signalAll(reason: string): void {
    for (const lb of this.lbs) {
      lb.owed = true;
      lb.delivering ??= this.deliver(lb, reason).finally(() => {
        lb.delivering = undefined;
      });
    }
  }

  /** LBs that are still owed a signal (they failed and are being retried). */
  get pending(): string[] {
    return this.lbs.filter((lb) => lb.owed).map((lb) => lb.endpoint.display);
  }

  /** Stops retrying; in-flight requests are abandoned. */
  stop(): void {
    this.stopping.abort();
  }

  /** Waits until every owed signal was delivered (tests and shutdown). */
  async settled(): Promise<void> {
    await Promise.all(this.lbs.flatMap((lb) => (lb.delivering === undefined ? [] : [lb.delivering])));
  }

  private async deliver(lb: LbState, reason: string): Promise<void> {
    const { clock, logger } = this.options;
    let attempt = 0;
    while (lb.owed && !this.stopping.signal.aborted) {
      lb.owed = false;
      const display = endpointDisplayUrl(lb.endpoint, PATH);
      try {
        await this.post(lb.endpoint);
        this.options.onResult?.(lb.endpoint.display, true);
        logger.info({ lb: lb.endpoint.display, reason }, 'marathon-lb signalled to reload (USR1)');
        attempt = 0;
      } catch (err) {
        lb.owed = true;
        this.options.onResult?.(lb.endpoint.display, false, describeRequestError(err));
        const delay = backoffDelay(this.options.backoff, attempt++, this.options.random);
        logger.error(
          { lb: lb.endpoint.display, url: display, err: describeRequestError(err), retryInMs: delay },
          'signalling marathon-lb failed; will retry',
        );
        await clock.sleep(delay, this.stopping.signal);
      }
    }
  }

  private async post(endpoint: Endpoint): Promise<void> {
    const headers: Record<string, string> = { 'user-agent': 'marathon-acme' };
    if (endpoint.authorization !== undefined) headers['authorization'] = endpoint.authorization;
    const response = await request(endpointUrl(endpoint, PATH), {
      method: 'POST',
      headers,
      dispatcher: this.options.dispatcher,
      headersTimeout: this.options.timeoutMs,
      bodyTimeout: this.options.timeoutMs,
      signal: this.stopping.signal,
    });
    const body = await response.body.text();
    if (response.statusCode >= 400) {
      throw new Error(`${response.statusCode}: ${body.slice(0, 200).trim()}`);
    }
  }
}
