/**
 * Sends notification events to one webhook URL in the background: batched (what arrives while a POST
 * is waiting or in flight goes into the next one), rate-limited (at most one POST per
 * `minIntervalMs`, retries included), retried with backoff on network errors, 408, 429 and 5xx
 * (Retry-After honoured), and bounded (a batch is dropped with an error log after `giveUpAfterMs`,
 * or at once when the receiver refuses it with another 4xx or a redirect).
 *
 * Only the URL's scheme://host is ever logged, together with its position in --notify-url.
 */
import { request, type Dispatcher } from 'undici';
import type { Logger } from '../log.js';
import { backoffDelay, type BackoffPolicy } from '../util/backoff.js';
import type { Clock } from '../util/clock.js';
import { isAborted } from '../util/clock.js';
import { describeRequestError } from '../util/http-error.js';
import { parseRetryAfter } from '../util/retry-after.js';
import type { NotifyEvent } from './dedup.js';
import { notificationBody } from './message.js';
import { hideSecrets, type WebhookTarget } from './target.js';

export interface SenderTiming {
  /** The least time between two POSTs to the URL (first tries and retries alike). */
  minIntervalMs: number;
  /** Between retries of one batch; never shorter than minIntervalMs or the receiver's Retry-After. */
  backoff: BackoffPolicy;
  /** A batch not delivered this long after its first try is dropped. */
  giveUpAfterMs: number;
  /** For the response headers, and again for each piece of the response body. */
  requestTimeoutMs: number;
  /** Events in one POST; the rest wait for the next one. */
  maxEventsPerPost: number;
  /** Event lines in the body's text before "… and N more". */
  maxTextLines: number;
}

export const DEFAULT_SENDER_TIMING: SenderTiming = {
  minIntervalMs: 5_000,
  backoff: { baseMs: 5_000, capMs: 5 * 60_000 },
  giveUpAfterMs: 30 * 60_000,
  requestTimeoutMs: 10_000,
  maxEventsPerPost: 50,
  maxTextLines: 10,
};

export type SendOutcome = 'success' | 'failure';

export interface WebhookSenderOptions {
  target: WebhookTarget;
  /** 1-based position in the configured list: tells apart two URLs on one host in the logs. */
  position: number;
  dispatcher: Dispatcher;
  clock: Clock;
  logger: Logger;
  random?: () => number;
  timing?: Partial<SenderTiming>;
  /** Called after every POST (retries included). */
  onSent?: (outcome: SendOutcome) => void;
}

type PostResult =
  | { kind: 'sent' }
  | { kind: 'retry'; reason: string; retryAfterMs: number | undefined }
  | { kind: 'refused'; reason: string };

/** How much of a receiver's answer is read (for the log), so a huge one cannot fill the memory. */
const ANSWER_BYTES = 2_048;
/** How much of it is logged. */
const ANSWER_LOG_CHARS = 200;

export class WebhookSender {
  private readonly timing: SenderTiming;
  /** Events not sent yet, by condition key: a newer event for a condition replaces a queued one. */
  private readonly queue = new Map<string, NotifyEvent>();
  private readonly stopping = new AbortController();
  private running = false;
  private worker: Promise<void> = Promise.resolve();
  private lastPostAt: number | undefined;
  /** Events of a batch abandoned because of stop(). */
  private abandoned = 0;

  constructor(private readonly options: WebhookSenderOptions) {
    this.timing = { ...DEFAULT_SENDER_TIMING, ...options.timing };
  }

  /** Queues events and makes sure a worker sends them; returns at once. */
  enqueue(events: readonly NotifyEvent[]): void {
    if (this.stopping.signal.aborted || events.length === 0) return;
    for (const event of events) {
      this.queue.delete(event.condition.key);
      this.queue.set(event.condition.key, event);
    }
    if (!this.running) {
      this.running = true;
      this.worker = this.run();
    }
  }

  /** Events waiting for a POST (not counting a batch in flight). */
  get queued(): number {
    return this.queue.size;
  }

  /** Resolves when nothing is queued or being sent. */
  async settled(): Promise<void> {
    while (this.running) await this.worker;
  }

  /** Abandons what is queued or in flight (with a warning saying how much) and waits for the worker. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.settled();
    const dropped = this.abandoned + this.queue.size;
    this.queue.clear();
    if (dropped > 0) {
      this.options.logger.warn({ ...this.where(), events: dropped }, 'stopping: notification events not sent yet are dropped');
    }
  }

  private where(): { notifyUrl: string; target: number } {
    return { notifyUrl: this.options.target.display, target: this.options.position };
  }

  private async run(): Promise<void> {
    const { clock, logger } = this.options;
    try {
      // `running` is cleared in the same synchronous step as the emptiness check, so an enqueue that
      // comes after it starts a new worker and no event is stranded.
      while (this.queue.size > 0 && !this.stopping.signal.aborted) {
        const wait = this.lastPostAt === undefined ? 0 : this.lastPostAt + this.timing.minIntervalMs - clock.now();
        if (wait > 0) await clock.sleep(wait, this.stopping.signal);
        if (isAborted(this.stopping.signal)) break;
        await this.deliver(this.takeBatch());
      }
    } catch (err) {
      // Nothing above is meant to throw; should it, the events stay queued for the next enqueue.
      logger.error({ ...this.where(), err: hideSecrets(this.options.target, describeRequestError(err)) }, 'notification sender failed; queued events wait for the next notification');
    }
    this.running = false;
  }

  private takeBatch(): NotifyEvent[] {
    const batch: NotifyEvent[] = [];
    for (const [key, event] of this.queue) {
      if (batch.length >= this.timing.maxEventsPerPost) break;
      batch.push(event);
      this.queue.delete(key);
    }
    return batch;
  }

  private async deliver(batch: NotifyEvent[]): Promise<void> {
    const { clock, logger, target } = this.options;
    const body = notificationBody(batch, { maxTextLines: this.timing.maxTextLines });
    const payload = JSON.stringify(body);
    const firstTry = clock.now();
    for (let attempt = 1; ; attempt++) {
      this.lastPostAt = clock.now();
      const result = await this.post(payload);
      if (result.kind === 'sent') {
        this.options.onSent?.('success');
        logger.info({ ...this.where(), events: batch.length, firing: body.firing, resolved: body.resolved, attempts: attempt }, 'notification sent');
        return;
      }
      if (isAborted(this.stopping.signal)) {
        this.abandoned += batch.length;
        return;
      }
      this.options.onSent?.('failure');
      const reason = hideSecrets(target, result.reason);
      if (result.kind === 'refused') {
        logger.error({ ...this.where(), err: reason, events: batch.length }, 'the notification receiver refused the notification; its events are dropped (check the URL); later changes are sent as usual');
        return;
      }
      const delay = Math.max(backoffDelay(this.timing.backoff, attempt - 1, this.options.random), result.retryAfterMs ?? 0, this.timing.minIntervalMs);
      if (clock.now() + delay - firstTry > this.timing.giveUpAfterMs) {
        logger.error(
          { ...this.where(), err: reason, events: batch.length, attempts: attempt, sinceMs: clock.now() - firstTry },
          'sending a notification kept failing; its events are dropped; later changes are sent as usual',
        );
        return;
      }
      logger.warn({ ...this.where(), err: reason, attempt, retryInMs: delay }, 'sending a notification failed; will retry');
      await clock.sleep(delay, this.stopping.signal);
      if (isAborted(this.stopping.signal)) {
        this.abandoned += batch.length;
        return;
      }
    }
  }

  private async post(payload: string): Promise<PostResult> {
    const { target, dispatcher, clock } = this.options;
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'marathon-acme' };
    if (target.authorization !== undefined) headers['authorization'] = target.authorization;
    try {
      const response = await request(target.url, {
        method: 'POST',
        headers,
        body: payload,
        dispatcher,
        headersTimeout: this.timing.requestTimeoutMs,
        bodyTimeout: this.timing.requestTimeoutMs,
        signal: this.stopping.signal,
      });
      // The status decides; an answer cut short must not turn a delivered notification into a retry.
      const answer = await readSome(response.body).catch(() => '');
      const status = response.statusCode;
      if (status >= 200 && status < 300) return { kind: 'sent' };
      const reason = `HTTP ${status}${answer === '' ? '' : `: ${answer}`}`;
      if (status === 408 || status === 429 || status >= 500) {
        return { kind: 'retry', reason, retryAfterMs: parseRetryAfter(response.headers['retry-after'], clock.now()) };
      }
      return { kind: 'refused', reason: status >= 300 && status < 400 ? `${reason} (redirects are not followed)` : reason };
    } catch (err) {
      return { kind: 'retry', reason: describeRequestError(err), retryAfterMs: undefined };
    }
  }
}

/** The start of a response body as one line of text; the rest is discarded unread. */
async function readSome(body: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    // Leaving the loop destroys the stream, so a receiver that sends on and on is not read to the end.
    if (size >= ANSWER_BYTES) break;
  }
  return Buffer.concat(chunks).toString('utf8').replace(/\s+/g, ' ').trim().slice(0, ANSWER_LOG_CHARS);
}
