/**
 * Runs the probes for many names on one load balancer, bounded three ways: a few handshakes at a time
 * per LB (and in total), a time limit per probe, and a time limit per batch. An LB whose TLS port does
 * not answer costs a handful of probes, not one timeout per name: after a run of failed handshakes with
 * no success in between, the rest of the batch is reported unreachable without being tried.
 */
import { setMaxListeners } from 'node:events';
import { Limiter } from '../util/limiter.js';
import { isAborted, type Clock } from '../util/clock.js';
import type { ProbeOptions, ProbeResult } from './probe.js';

export type Probe = (options: ProbeOptions) => Promise<ProbeResult>;

/** Where an LB's TLS listener is: the host of its --lb URL and --delivery-check-port by default. */
export interface TlsTarget {
  host: string;
  port: number;
}

export interface CheckerLimits {
  /** Handshakes in flight per LB. */
  perLb: number;
  /** Handshakes in flight over all LBs. */
  total: number;
  probeTimeoutMs: number;
  /** A batch stops starting probes after this long; the names not tried are left out of the answer. */
  batchBudgetMs: number;
  /** Failed handshakes in a row, none succeeded yet in the batch, after which the rest are not tried. */
  giveUpAfter: number;
}

export const DEFAULT_CHECKER_LIMITS: CheckerLimits = { perLb: 32, total: 64, probeTimeoutMs: 5_000, batchBudgetMs: 120_000, giveUpAfter: 8 };

export interface CheckOutcome {
  /** One answer per name that was tried or written off. */
  results: Array<{ name: string; result: ProbeResult }>;
  /** Names not tried because the batch ran out of time. */
  skipped: string[];
}

export class DeliveryChecker {
  private readonly limits: CheckerLimits;
  private readonly total: Limiter;
  private readonly perLb = new Map<string, Limiter>();

  constructor(
    private readonly probe: Probe,
    private readonly clock: Clock,
    limits: Partial<CheckerLimits> = {},
  ) {
    this.limits = { ...DEFAULT_CHECKER_LIMITS, ...limits };
    this.total = new Limiter(this.limits.total);
  }

  async check(lb: string, target: TlsTarget, names: readonly string[], outer: AbortSignal): Promise<CheckOutcome> {
    // Every probe in flight listens to the batch's signal; that many listeners are expected, not a leak.
    const batch = new AbortController();
    setMaxListeners(this.limits.perLb + 1, batch.signal);
    const forward = (): void => {
      batch.abort();
    };
    if (outer.aborted) batch.abort();
    else outer.addEventListener('abort', forward, { once: true });
    try {
      return await this.run(lb, target, names, batch.signal);
    } finally {
      outer.removeEventListener('abort', forward);
    }
  }

  private async run(lb: string, target: TlsTarget, names: readonly string[], signal: AbortSignal): Promise<CheckOutcome> {
    const limiter = this.limiterFor(lb);
    const deadline = this.clock.now() + this.limits.batchBudgetMs;
    const results: CheckOutcome['results'] = [];
    const skipped: string[] = [];
    let succeeded = false;
    let failedInRow = 0;
    let writtenOff: string | undefined;
    await Promise.all(
      names.map((name) =>
        limiter.run(() =>
          this.total.run(async () => {
            if (signal.aborted || this.clock.now() >= deadline) {
              skipped.push(name);
              return;
            }
            if (writtenOff !== undefined) {
              results.push({ name, result: { ok: false, error: writtenOff } });
              return;
            }
            const result = await this.probe({ host: target.host, port: target.port, servername: name, timeoutMs: this.limits.probeTimeoutMs, signal });
            if (isAborted(signal)) {
              skipped.push(name);
              return;
            }
            results.push({ name, result });
            if (result.ok) {
              succeeded = true;
              failedInRow = 0;
            } else if (!succeeded && ++failedInRow >= this.limits.giveUpAfter) {
              writtenOff ??= `not tried: the first ${failedInRow} handshakes with this LB failed (${result.error})`;
            }
          }),
        ),
      ),
    );
    return { results, skipped };
  }

  private limiterFor(lb: string): Limiter {
    let limiter = this.perLb.get(lb);
    if (limiter === undefined) {
      limiter = new Limiter(this.limits.perLb);
      this.perLb.set(lb, limiter);
    }
    return limiter;
  }
}
