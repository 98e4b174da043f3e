/**
 * The preflight as one step of an order: which of the names may be ordered now (preflight/gate.ts
 * checks the routes and preflight/decision.ts decides), and what a name's failure record keeps of it
 * (failed preflights in a row, the last order sent anyway), so that advisory mode's daily order
 * survives restarts.
 */
import { recordFailure, type FailureRecord, type PlannedOrder } from '../certs/plan.js';
import type { Logger } from '../log.js';
import type { PreflightHistory } from '../preflight/decision.js';
import { PreflightGate, type PreflightSettings } from '../preflight/gate.js';
import type { AcmeProblem, DaemonState } from '../state/state.js';
import type { Clock } from '../util/clock.js';
import { OrderNotSent } from './order-not-sent.js';

export class PreflightStep {
  private readonly gate: PreflightGate | undefined;

  /** `settings` undefined: the preflight is off, every name may go. */
  constructor(
    settings: PreflightSettings | undefined,
    private readonly state: DaemonState,
    private readonly clock: Clock,
  ) {
    this.gate = settings === undefined ? undefined : new PreflightGate(settings, clock);
  }

  /**
   * Checks that each name reaches this daemon, through each load balancer and the way the CA will
   * try, so that a name that cannot validate does not cost a failed validation at the CA (5 per hour
   * per name at Let's Encrypt). Returns the names to order: all of them, or in san mode those that may
   * go. A primary name (or single name) held back stops the order; secondary names held back are
   * remembered and left out. See preflight/decision.ts for what may go.
   */
  async check(names: string[], log: Logger): Promise<PreflightPass> {
    if (this.gate === undefined) return { names, anyway: undefined };
    const verdicts = await this.gate.check(names, (n) => this.history(n), log);
    const passed: string[] = [];
    let anyway: PreflightPass['anyway'];
    const now = this.clock.now();
    for (const { name, decision } of verdicts) {
      if (decision.order) {
        passed.push(name);
        if (decision.basis === 'anyway') anyway = { history: decision.history, why: decision.why };
        continue;
      }
      const problem: AcmeProblem = { type: `preflight:${decision.kind}`, detail: decision.reason, status: undefined };
      if (name === names[0]) throw new OrderNotSent(problem, undefined, { history: decision.history, orderAnywayAt: decision.orderAnywayAt });
      const cert = this.state.certificates.get(name);
      const failure = withPreflightHistory(recordFailure(cert?.failure, problem, undefined, now), decision.history, undefined);
      this.state.certificates.set(name, { ...cert, failure });
      log.warn(
        { name, kind: decision.kind, reason: decision.reason, retryAt: new Date(failure.nextAttemptAt).toISOString() },
        'name left out of the certificate: it does not reach this daemon (preflight)',
      );
    }
    return { names: passed, anyway };
  }

  private history(name: string): PreflightHistory {
    const failure = this.state.certificates.get(name)?.failure;
    return { failures: failure?.preflightFailures ?? 0, orderedAnywayAt: failure?.orderedAnywayAt };
  }

  /**
   * A failed attempt's record with what the preflight remembers: the failed preflights in a row and
   * the last order sent anyway. An order sent anyway says so in its detail (status shows it); one the
   * rate budget then held back does not count as sent. An attempt whose preflight passed starts afresh.
   */
  remember(record: FailureRecord, err: unknown, checked: PreflightPass | undefined, name: string): FailureRecord {
    if (err instanceof OrderNotSent && err.preflight !== undefined) return withPreflightHistory(record, err.preflight.history, err.preflight.orderAnywayAt);
    const anyway = checked?.anyway;
    if (anyway === undefined) return record;
    if (err instanceof OrderNotSent) {
      const previous = this.state.certificates.get(name)?.failure?.orderedAnywayAt;
      return withPreflightHistory(record, { ...anyway.history, orderedAnywayAt: previous }, undefined);
    }
    const detail = `${record.lastError.detail} [sent despite the failing preflight: ${anyway.why}]`;
    return { ...withPreflightHistory(record, anyway.history, undefined), lastError: { ...record.lastError, detail } };
  }

  /**
   * Names new to us come from apps that have just changed, and marathon-lb reloads for those at this
   * very moment: give it a short, bounded time, so that neither our check nor the CA's validation lands
   * in the reload. Retries of names that failed before do not wait.
   */
  async settleBeforeNewNames(orders: readonly PlannedOrder[], failed: ReadonlyMap<string, FailureRecord>, logger: Logger): Promise<void> {
    if (this.gate === undefined) return;
    if (orders.every((o) => failed.has(o.wanted.name))) return;
    await this.gate.settle(logger);
  }
}

/** What the preflight let through, and for an order sent despite a failing preflight what to remember. */
export interface PreflightPass {
  names: string[];
  anyway: { history: PreflightHistory; why: string } | undefined;
}

/** `record` with the preflight's history; its retry comes no later than advisory mode's next order anyway. */
function withPreflightHistory(record: FailureRecord, history: PreflightHistory, orderAnywayAt: number | undefined): FailureRecord {
  return {
    ...record,
    nextAttemptAt: orderAnywayAt === undefined ? record.nextAttemptAt : Math.min(record.nextAttemptAt, orderAnywayAt),
    preflightFailures: history.failures,
    orderedAnywayAt: history.orderedAnywayAt,
  };
}
