/**
 * Sends each order to one of the configured CAs, as fallback-policy.ts decides, and keeps what that
 * decision needs: each CA's health (in state.json, so an outage is counted across restarts), its
 * rate budget and ledger, and which CA is being tested after an outage. With one CA it is simply
 * that CA with its budget.
 */
import type { CertificateAuthority, IssuedCertificate } from '../acme/issuer.js';
import { IssueError } from '../acme/issuer.js';
import { checkBudget, recordOrder, releaseReservation, type BudgetLimits } from '../acme/rate-budget.js';
import { failureBackoffMs } from '../certs/plan.js';
import type { Logger } from '../log.js';
import { emptyCaState, type CaState } from '../state/ca-state.js';
import type { DaemonState, FailureState } from '../state/state.js';
import { OrderNotSent } from '../sync/order-not-sent.js';
import { AcmeProblemError } from '../acme/protocol/problem.js';
import { AcmeTransportError } from '../acme/protocol/transport.js';
import type { Clock } from '../util/clock.js';
import { chooseCa, classifyFailure, isDown, nextHealth, recordCaFailure, type CaView, type FailureClass } from './fallback-policy.js';

export interface CaEntry {
  ca: CertificateAuthority;
  /** The client-side rate budget at this CA; undefined: none. */
  limits: BudgetLimits | undefined;
}

export interface CaRouterOptions {
  /** Primary first. */
  entries: readonly CaEntry[];
  state: DaemonState;
  clock: Clock;
  logger: Logger;
  fallbackAfterMs: number;
}

export interface OrderRequest {
  names: readonly string[];
  /** Why it is ordered (new, names changed, renewal), for the log. */
  reason: string;
  /** Exactly the names of the stored certificate (spends no rate budget at Let's Encrypt). */
  renewal: boolean;
  /** The name's last failure, if its last attempt failed. */
  failure: FailureState | undefined;
  /** For renewals: the current certificate's validity, which makes a failing renewal urgent near expiry. */
  validity?: { notBefore: number; notAfter: number } | undefined;
  /** The certificate this order renews (RFC 9773), named only to the CA that issued it. */
  replaces?: { directory: string; certId: string } | undefined;
}

/** A failed order and what it says about the CA it went to. */
export class CaOrderFailure extends Error {
  override readonly name = 'CaOrderFailure';
  constructor(
    readonly directory: string,
    readonly kind: FailureClass,
    /** Until when the CA (or our budget for it) asked not to be sent this order again. */
    readonly waitUntil: number | undefined,
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

export class CaRouter {
  private readonly trials = new Set<string>();

  constructor(private readonly options: CaRouterOptions) {
    const { state, entries } = options;
    for (const entry of entries) if (!state.cas.has(entry.ca.directoryUrl)) state.cas.set(entry.ca.directoryUrl, emptyCaState());
  }

  get primary(): CertificateAuthority {
    const first = this.options.entries[0];
    if (first === undefined) throw new Error('no CA is configured');
    return first.ca;
  }

  get all(): readonly CertificateAuthority[] {
    return this.options.entries.map((e) => e.ca);
  }

  /** Unavailable for at least --fallback-after. */
  isDown(directory: string): boolean {
    const health = this.options.state.cas.get(directory)?.health;
    return health !== undefined && isDown(health, this.options.clock.now(), this.options.fallbackAfterMs);
  }

  /** The CA with this directory URL, when it is one of ours. */
  byDirectory(directory: string | undefined): CertificateAuthority | undefined {
    return this.options.entries.find((e) => e.ca.directoryUrl === directory)?.ca;
  }

  /**
   * Sends the order to the CA the policy picks, within that CA's rate budget. Resolves with the
   * certificate and the CA that issued it; rejects with CaOrderFailure.
   */
  async order(request: OrderRequest, log: Logger): Promise<{ issued: IssuedCertificate; directory: string }> {
    const { clock, state } = this.options;
    const choice = chooseCa({ cas: this.views(), failure: request.failure, validity: request.validity, now: clock.now(), fallbackAfterMs: this.options.fallbackAfterMs });
    const entry = this.options.entries.find((e) => e.ca.directoryUrl === choice.directory) ?? this.options.entries[0];
    if (entry === undefined) throw new Error('no CA is configured');
    const directory = entry.ca.directoryUrl;
    if (choice.passedOver !== undefined) log.warn({ ca: directory, passedOver: choice.passedOver }, 'ordering from a CA other than the first: the ones before it cannot take this order now');
    if (choice.trial) {
      this.trials.add(directory);
      log.info({ ca: directory }, 'this order also tests whether the CA is back');
    }
    const caState = state.cas.get(directory) ?? emptyCaState();
    state.cas.set(directory, caState);
    let reservedAt: number | undefined;
    try {
      if (entry.limits !== undefined) {
        const budget = checkBudget(caState.budget, request.names, clock.now(), entry.limits, { renewal: request.renewal });
        if (!budget.allowed) throw new OrderNotSent({ type: 'budget', detail: budget.reason, status: undefined }, budget.retryAt);
        // Spent before the order is sent, so that orders in flight at the same time all see it.
        const at = clock.now();
        caState.budget = recordOrder(caState.budget, request.names, at, entry.limits, { renewal: request.renewal, issued: true });
        if (!request.renewal) reservedAt = at;
      }
      const replaces = request.replaces?.directory === directory ? request.replaces.certId : undefined;
      log.info({ names: request.names, reason: request.reason, ...(this.options.entries.length > 1 ? { ca: directory } : {}) }, 'requesting a certificate');
      const issued = await entry.ca.issue(request.names, { replaces });
      this.settle(directory, 'ok', log);
      return { issued, directory };
    } catch (err) {
      if (reservedAt !== undefined) {
        // The certificate slots go back; the order slot too when the order never reached the CA.
        const orderSent = !(err instanceof IssueError && err.step === 'account registration');
        caState.budget = releaseReservation(caState.budget, request.names, reservedAt, { orderSent });
      }
      const kind = failureClass(err);
      // Not sent by our own choice says nothing about the CA's health.
      if (!(err instanceof OrderNotSent)) this.settle(directory, kind, log);
      throw new CaOrderFailure(directory, kind, waitUntil(err, clock.now()), err);
    } finally {
      // Only the order that took the test slot gives it back; a concurrent order must not free it.
      if (choice.trial) this.trials.delete(directory);
    }
  }

  /** The name's failure record after a failed order: where it failed, and when and where to try next. */
  afterFailure(record: FailureState, previous: FailureState | undefined, failure: CaOrderFailure, validity: OrderRequest['validity']): FailureState {
    const now = this.options.clock.now();
    return recordCaFailure({
      record,
      backoffOnlyAt: now + failureBackoffMs((previous?.failures ?? 0) + 1),
      directory: failure.directory,
      kind: failure.kind,
      waitUntil: failure.waitUntil,
      cas: this.views(),
      validity,
      now,
      fallbackAfterMs: this.options.fallbackAfterMs,
    });
  }

  private views(): CaView[] {
    return this.options.entries.map((e) => {
      const health = this.options.state.cas.get(e.ca.directoryUrl)?.health;
      return { directory: e.ca.directoryUrl, downSince: health?.downSince, lastFailureAt: health?.lastFailureAt, trialInFlight: this.trials.has(e.ca.directoryUrl) };
    });
  }

  /** Also fed by the account registration, which talks to the primary before any order does. */
  settle(directory: string, kind: FailureClass | 'ok', log: Logger = this.options.logger): void {
    const { state, clock, fallbackAfterMs } = this.options;
    const caState: CaState = state.cas.get(directory) ?? emptyCaState();
    const before = caState.health;
    const now = clock.now();
    caState.health = nextHealth(before, kind, now);
    state.cas.set(directory, caState);
    if (this.options.entries.length < 2) return;
    if (before.downSince === undefined && caState.health.downSince !== undefined) {
      log.warn({ ca: directory, fallbackAfterSeconds: fallbackAfterMs / 1000 }, 'the CA did not answer or failed with a server error; if it keeps failing for --fallback-after, orders go to the next CA');
    } else if (before.downSince !== undefined && caState.health.downSince === undefined) {
      log.info({ ca: directory, downSince: new Date(before.downSince).toISOString(), wasCountedDown: isDown(before, now, fallbackAfterMs) }, 'the CA answers again; orders go to it again in the configured order');
    }
  }
}

/** What an error says about the CA, looking through the causes a step wrapped it in. */
export function failureClass(err: unknown): FailureClass {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof OrderNotSent) return classifyFailure(e.problem, undefined);
    if (e instanceof IssueError && (e.report !== undefined || e.transport !== undefined)) {
      return classifyFailure(e.report?.problem ?? { type: undefined, detail: '', status: undefined }, e.transport);
    }
    if (e instanceof AcmeTransportError) return 'unavailable';
    if (e instanceof AcmeProblemError) return classifyFailure(e.toProblem(), undefined);
  }
  return 'other';
}

function waitUntil(err: unknown, now: number): number | undefined {
  if (err instanceof OrderNotSent) return err.notBefore;
  const ms = err instanceof IssueError ? err.report?.retryAfterMs : undefined;
  return ms === undefined ? undefined : now + ms;
}
