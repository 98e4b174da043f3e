import type { Logger } from '../log.js';
import type { MarathonClient } from '../marathon/client.js';
import { EventWatcher, type StreamState } from '../marathon/events.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Clock } from '../util/clock.js';

export interface EventTriggerOptions {
  client: MarathonClient;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  random: () => number;
  /** --sse-timeout: a stream silent for this long is reopened. */
  idleTimeoutMs: number;
  signal: AbortSignal;
  onStateChange: (state: StreamState) => void;
  requestSync: (reason: string) => void;
}

/**
 * Turns the Marathon event stream into sync requests: a full sync whenever the stream attaches (it
 * may have missed anything while it was away) and for every api_post_event. Runs until `signal`.
 */
export async function watchMarathonEvents(options: EventTriggerOptions): Promise<void> {
  const { clock, logger, metrics } = options;
  const watcher = new EventWatcher({
    client: options.client,
    clock,
    logger,
    idleTimeoutMs: options.idleTimeoutMs,
    backoff: { baseMs: 1_000, capMs: 60_000 },
    healthyAfterMs: 30_000,
    random: options.random,
    onStateChange: (state) => {
      options.onStateChange(state);
      metrics.setStreamState(state);
    },
    onEvent: () => {
      metrics.marathonEvent(clock.now());
    },
    onAttached: (info) => {
      logger.info({ remoteAddress: info.remoteAddress, timestamp: info.timestamp }, 'attached to the Marathon event stream; running a full sync');
      options.requestSync('event stream attached');
    },
    onApiPost: (info) => {
      // A deployment posts one event per app; at info level a burst would flood the log, while
      // the sync it triggers logs its reasons anyway.
      logger.debug({ uri: info.uri, timestamp: info.timestamp }, 'api_post_event received; triggering a sync');
      options.requestSync(typeof info.uri === 'string' ? `api_post_event ${info.uri}` : 'api_post_event');
    },
  });
  await watcher.run(options.signal);
}
