/**
 * Signalling one marathon-lb, on its own: a slow or broken LB never delays another.
 *
 * - A request owes the LB a signal; requests that arrive while one is on its way fold into the next,
 *   and signals that marathon-lb accepted are at least `minIntervalMs` apart: the first of a burst of
 *   new certificates goes out at once, the rest of the burst one interval later, together.
 * - An LB met for the first time, or one that failed a request, is signalled only once its health
 *   endpoint has answered OK for a while (HealthGate): a USR1 kills a marathon-lb that is starting.
 * - A signal is done when the evidence (the served certificates, or HAProxy's pids) shows the
 *   reload, not when marathon-lb answers 200; until then it is sent again (SignalCycle).
 */
import type { Logger } from '../log.js';
import { backoffDelay, type BackoffPolicy } from '../util/backoff.js';
import { isAborted, type Clock } from '../util/clock.js';
import { HealthGate } from './health-gate.js';
import type { MarathonLbApi } from './lb-api.js';
import type { ReloadEvidence, ReloadWatch } from './reload-evidence.js';
import { SignalCycle, type CycleTiming, type ReloadOutcome } from './signal-cycle.js';

export interface LinkTiming extends CycleTiming {
  minIntervalMs: number;
  healthStableMs: number;
  /** Between health looks while the LB answers OK; a down LB is looked at less and less often, up to `healthDownMaxMs`. */
  healthPollMs: number;
  healthDownMaxMs: number;
}

export interface LinkOptions {
  display: string;
  api: MarathonLbApi;
  evidence: ReloadEvidence;
  clock: Clock;
  logger: Logger;
  timing: LinkTiming;
  /** Pauses after failed signal requests. */
  backoff: BackoffPolicy;
  random: () => number;
  stopping: AbortSignal;
  onResult?: ((lb: string, ok: boolean, error?: string) => void) | undefined;
}

export interface SignalResult {
  ok: boolean;
  at: number;
  error: string | undefined;
}

export interface LinkState {
  /** A signal is owed or its reload has not shown yet. */
  pending: boolean;
  /** The last request to the signal endpoint. */
  lastResult: SignalResult | undefined;
  /** The last cycle ended without the reload showing. */
  undelivered: boolean;
  /** Waiting for the health endpoint before signalling. */
  awaitingHealth: boolean;
}

/** How many names a log line lists; the rest are counted. */
const LOGGED_NAMES = 10;
const MAX_REASONS = 50;

export class LbLink {
  private requested = new Set<string>();
  private reasons: string[] = [];
  private owed = false;
  private cycle: SignalCycle | undefined;
  private watching: { watch: ReloadWatch; signalledAt: number } | undefined;
  private lastAcceptedAt: number | undefined;
  private failures = 0;
  private undelivered = false;
  private awaitingHealth = false;
  private lastResult: SignalResult | undefined;
  private readonly gate: HealthGate;
  /** Aborted when a request arrives while a reload is being waited for. */
  private interrupt = new AbortController();
  private running: Promise<void> | undefined;

  constructor(private readonly options: LinkOptions) {
    this.gate = new HealthGate(options.timing.healthStableMs);
  }

  get display(): string {
    return this.options.display;
  }

  state(): LinkState {
    return {
      pending: this.owed || this.cycle !== undefined,
      lastResult: this.lastResult,
      undelivered: this.undelivered,
      awaitingHealth: this.awaitingHealth,
    };
  }

  /** Owes the LB a signal that delivers `names`; returns at once. */
  request(names: Iterable<string>, reason: string): void {
    if (this.options.stopping.aborted) return;
    for (const name of names) this.requested.add(name);
    // A log line shows a few reasons; an LB that is down for days must not collect them all.
    if (this.reasons.length < MAX_REASONS) this.reasons.push(reason);
    this.owed = true;
    this.interrupt.abort();
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
  }

  /** Resolves once nothing is owed and no reload is being waited for. */
  async idle(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  private async run(): Promise<void> {
    const { stopping } = this.options;
    while (!isAborted(stopping)) {
      if (this.owed) await this.sendOne();
      else if (this.watching !== undefined && this.cycle !== undefined) await this.confirm(this.cycle, this.watching);
      else return;
    }
  }

  private async sendOne(): Promise<void> {
    const { clock, stopping, timing, logger, display } = this.options;
    if (!this.gate.open && !(await this.awaitHealthy())) return;
    const earliest = (this.lastAcceptedAt ?? -Infinity) + timing.minIntervalMs;
    if (clock.now() < earliest) await clock.sleep(earliest - clock.now(), stopping);
    if (isAborted(stopping)) return;
    const names = [...this.requested];
    const reasons = this.reasons;
    this.requested = new Set();
    this.reasons = [];
    this.owed = false;
    const watch = await this.options.evidence.watch(stopping);
    try {
      await this.options.api.signalReload(stopping);
    } catch (err) {
      if (isAborted(stopping)) return;
      for (const name of names) this.requested.add(name);
      this.reasons.unshift(...reasons);
      this.owed = true;
      this.gate.distrust();
      const error = err instanceof Error ? err.message : String(err);
      this.lastResult = { ok: false, at: clock.now(), error };
      this.options.onResult?.(display, false, error);
      const delay = backoffDelay(this.options.backoff, this.failures++, this.options.random);
      logger.error({ lb: display, err: error, retryInMs: delay }, 'signalling marathon-lb failed; will retry once its health endpoint has answered OK for a while');
      await clock.sleep(delay, stopping);
      return;
    }
    const at = clock.now();
    this.lastAcceptedAt = at;
    this.failures = 0;
    this.lastResult = { ok: true, at, error: undefined };
    this.options.onResult?.(display, true);
    const cycle = (this.cycle ??= new SignalCycle(timing, at));
    cycle.accepted(names, at);
    this.watching = { watch, signalledAt: at };
    logger.info(
      { lb: display, reason: summarise(reasons), names: cycle.names.size, signal: cycle.signals },
      cycle.signals === 1 ? 'marathon-lb accepted the reload signal (USR1); checking that the reload happens' : 'marathon-lb accepted the reload signal (USR1) again; checking that the reload happens',
    );
  }

  /** Polls the health endpoint until the gate opens; false when stopped first. */
  private async awaitHealthy(): Promise<boolean> {
    const { clock, stopping, timing, logger, display, api } = this.options;
    this.awaitingHealth = true;
    let downs = 0;
    let said = false;
    try {
      while (!isAborted(stopping)) {
        const answer = await api.health(stopping);
        if (isAborted(stopping)) return false;
        this.gate.observe(answer.kind, clock.now());
        if (this.gate.open) {
          if (said) logger.info({ lb: display }, 'marathon-lb is healthy again; signalling it');
          return true;
        }
        if (answer.kind === 'down') {
          if (!said) logger.warn({ lb: display, err: answer.error }, 'marathon-lb is not healthy; its reload signal waits until its health endpoint has answered OK for a while');
          said = true;
          await clock.sleep(backoffDelay({ baseMs: timing.healthPollMs, capMs: timing.healthDownMaxMs }, downs++, this.options.random), stopping);
        } else {
          downs = 0;
          await clock.sleep(timing.healthPollMs, stopping);
        }
      }
      return false;
    } finally {
      this.awaitingHealth = false;
    }
  }

  private async confirm(cycle: SignalCycle, watching: { watch: ReloadWatch; signalledAt: number }): Promise<void> {
    const { clock, stopping, logger, display } = this.options;
    // One controller for both causes, wired by hand: AbortSignal.any would hang a dependant on the
    // daemon-long `stopping` signal at every confirmation.
    const interrupt = new AbortController();
    this.interrupt = interrupt;
    const onStop = (): void => {
      interrupt.abort();
    };
    stopping.addEventListener('abort', onStop, { once: true });
    const names = [...cycle.names];
    let outcome: ReloadOutcome;
    try {
      outcome = await watching.watch.outcome({ lb: display, signalledAt: watching.signalledAt, names, until: cycle.waitUntil(watching.signalledAt), signal: interrupt.signal });
    } finally {
      stopping.removeEventListener('abort', onStop);
    }
    // A newer request: the next signal carries this cycle's names as well.
    if (isAborted(stopping) || this.owed) return;
    this.watching = undefined;
    const now = clock.now();
    const step = cycle.next(outcome, now);
    const fields = { lb: display, names: summarise(names), signals: cycle.signals };
    if (step === 'resend') {
      this.owed = true;
      this.reasons.push(`the reload of signal ${cycle.signals} did not show`);
      logger.warn({ ...fields, waitedMs: now - watching.signalledAt }, 'marathon-lb accepted the signal but the reload has not shown; sending it again');
      return;
    }
    this.cycle = undefined;
    this.undelivered = step === 'give-up';
    if (step === 'give-up') {
      logger.error(fields, 'the reload never showed although marathon-lb accepted every signal; giving up on this change, the next change or delivery check signals again');
    } else if (outcome === 'delivered') {
      logger.info(fields, 'marathon-lb reloaded: the change is delivered');
    } else {
      logger.info(fields, 'marathon-lb accepted the signal; whether it reloaded cannot be told (no delivery check answer or pid list)');
    }
  }
}

function summarise(items: readonly string[]): string {
  if (items.length <= LOGGED_NAMES) return items.join(', ');
  return `${items.slice(0, LOGGED_NAMES).join(', ')} and ${items.length - LOGGED_NAMES} more`;
}
