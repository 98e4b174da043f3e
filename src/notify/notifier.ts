/**
 * The notifications the daemon wires: fed a snapshot whenever something may have changed (as often as
 * it likes), it works out the active conditions, keeps what changed since the last snapshot and hands
 * those events to one background sender per `--notify-url`.
 */
import type { Dispatcher } from 'undici';
import type { Logger } from '../log.js';
import type { Clock } from '../util/clock.js';
import { activeConditions, type NotifySnapshot } from './conditions.js';
import { EMPTY_MEMORY, step, type NotifyMemory } from './dedup.js';
import { WebhookSender, type SendOutcome, type SenderTiming } from './sender.js';
import { parseWebhookUrl } from './target.js';

export interface NotifierOptions {
  /** Webhook URLs (each a secret); none: the notifier does nothing at all. */
  urls: readonly string[];
  /** Failures in a row of an issue or renewal before it is notified (`--notify-after-failures`). */
  failureThreshold: number;
  clock: Clock;
  logger: Logger;
  dispatcher: Dispatcher;
  random?: () => number;
  /** After every POST, retries included. */
  onSent?: (outcome: SendOutcome) => void;
  /** Overrides of the senders' limits (tests); the defaults are DEFAULT_SENDER_TIMING. */
  timing?: Partial<SenderTiming>;
}

export class Notifier {
  private readonly senders: WebhookSender[];
  private memory: NotifyMemory = EMPTY_MEMORY;
  private stopped = false;

  constructor(private readonly options: NotifierOptions) {
    if (!Number.isSafeInteger(options.failureThreshold) || options.failureThreshold < 1) {
      throw new RangeError(`failureThreshold must be a whole number of at least 1, not ${options.failureThreshold}`);
    }
    this.senders = options.urls.map(
      (url, i) =>
        new WebhookSender({
          target: parseWebhookUrl(url),
          position: i + 1,
          dispatcher: options.dispatcher,
          clock: options.clock,
          logger: options.logger,
          ...(options.random === undefined ? {} : { random: options.random }),
          ...(options.timing === undefined ? {} : { timing: options.timing }),
          ...(options.onSent === undefined ? {} : { onSent: options.onSent }),
        }),
    );
  }

  /** Synchronous: computes what changed and queues it; the sending happens in the background. */
  update(snapshot: NotifySnapshot): void {
    if (this.senders.length === 0 || this.stopped) return;
    const current = activeConditions(snapshot, { failureThreshold: this.options.failureThreshold });
    const { memory, events } = step(this.memory, current, snapshot.now);
    this.memory = memory;
    if (events.length === 0) return;
    const firing = events.filter((e) => e.state === 'firing');
    this.options.logger.info(
      { firing: firing.length, resolved: events.length - firing.length, conditions: events.slice(0, 20).map((e) => `${e.state} ${e.condition.kind} ${e.condition.name}`) },
      'conditions changed; sending notifications',
    );
    for (const sender of this.senders) sender.enqueue(events);
  }

  /** Stops sending; events not sent yet are dropped (logged with their count). */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.senders.map((s) => s.stop()));
  }

  /** Resolves when every sender has nothing queued or in flight (tests). */
  async settled(): Promise<void> {
    await Promise.all(this.senders.map((s) => s.settled()));
  }
}
