import type { Logger } from '../log.js';
import { backoffDelay, type BackoffPolicy } from '../util/backoff.js';
import { isAborted, type Clock } from '../util/clock.js';
import { describeRequestError } from '../util/http-error.js';
import type { MarathonClient } from './client.js';
import { SseLineTooLongError, SseParser, type SseEvent } from './sse.js';

export const SUBSCRIBED_EVENTS = ['api_post_event', 'event_stream_attached'] as const;

export interface EventWatcherOptions {
  client: MarathonClient;
  clock: Clock;
  logger: Logger;
  /** Silence on the stream for this long means it is dead; 0 disables. */
  idleTimeoutMs: number;
  backoff: BackoffPolicy;
  /** A stream that stayed up this long counts as healthy and resets the backoff. */
  healthyAfterMs: number;
  /** Our own stream is attached (the first `event_stream_attached` on each connection). */
  onAttached: (info: { remoteAddress: unknown; timestamp: unknown }) => void;
  onApiPost: (info: { uri: unknown; timestamp: unknown }) => void;
  onStateChange?: (state: StreamState) => void;
  /** Any event of a subscribed type arrived (other clients' attach broadcasts too): the stream is alive. */
  onEvent?: () => void;
  random?: () => number;
}

export type StreamState = 'connecting' | 'attached' | 'disconnected';

/**
 * Keeps one event stream to Marathon open for as long as the daemon runs: never gives up, never spins.
 * Each (re)connection ends in a full sync through `onAttached`, so nothing that happened while the
 * stream was down is missed.
 */
export class EventWatcher {
  private reconnects = 0;

  constructor(private readonly options: EventWatcherOptions) {}

  async run(signal: AbortSignal): Promise<void> {
    const { clock, logger } = this.options;
    let failures = 0;
    while (!signal.aborted) {
      this.options.onStateChange?.('connecting');
      const startedAt = clock.now();
      const outcome = await this.listenOnce(signal);
      this.options.onStateChange?.('disconnected');
      if (isAborted(signal)) return;
      failures = clock.now() - startedAt >= this.options.healthyAfterMs ? 0 : failures + 1;
      const delay = backoffDelay(this.options.backoff, Math.max(0, failures - 1), this.options.random);
      this.reconnects++;
      logger.warn(
        { reason: outcome, reconnects: this.reconnects, retryInMs: delay },
        'event stream from Marathon lost; reconnecting after a pause (a full sync follows the reconnect)',
      );
      await clock.sleep(delay, signal);
    }
  }

  /** One connection, from opening to its end; resolves with why it ended. */
  private async listenOnce(signal: AbortSignal): Promise<string> {
    const { client, logger } = this.options;
    logger.info({ marathon: client.displayUrls }, 'listening for events from Marathon');
    let stream;
    try {
      stream = await client.openEventStream(SUBSCRIBED_EVENTS, this.options.idleTimeoutMs, signal);
    } catch (err) {
      return `could not open the event stream: ${describeRequestError(err)}`;
    }
    let attached = false;
    const parser = new SseParser((event) => {
      attached = this.dispatch(event, attached);
    });
    const decoder = new TextDecoder();
    try {
      for await (const chunk of stream.body) {
        parser.push(decoder.decode(chunk, { stream: true }));
      }
      return `${stream.endpoint.display} closed the stream`;
    } catch (err) {
      if (isAborted(signal)) return 'shutting down';
      if (err instanceof SseLineTooLongError) return `${err.message} from ${stream.endpoint.display}`;
      const code = (err as { code?: unknown }).code;
      if (code === 'UND_ERR_BODY_TIMEOUT') {
        return `no data from ${stream.endpoint.display} for ${this.options.idleTimeoutMs / 1000} s (--sse-timeout)`;
      }
      return `${stream.endpoint.display}: ${describeRequestError(err)}`;
    } finally {
      stream.close();
    }
  }

  /** Returns whether this connection is now attached. */
  private dispatch(event: SseEvent, attached: boolean): boolean {
    const { logger } = this.options;
    if (event.type !== 'event_stream_attached' && event.type !== 'api_post_event') return attached;
    this.options.onEvent?.();
    let payload: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(event.data);
      payload = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
    } catch {
      logger.warn({ event: event.type }, 'ignoring a Marathon event whose data is not JSON');
      return attached;
    }
    if (event.type === 'event_stream_attached') {
      // Marathon broadcasts every client's attach to every subscriber; only our own first one counts.
      if (attached) return true;
      this.options.onStateChange?.('attached');
      this.options.onAttached({ remoteAddress: payload['remoteAddress'], timestamp: payload['timestamp'] });
      return true;
    }
    this.options.onApiPost({ uri: payload['uri'], timestamp: payload['timestamp'] });
    return attached;
  }
}
