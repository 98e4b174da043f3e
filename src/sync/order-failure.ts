/**
 * What a failed order leaves in the name's failure record: the problem (the CA's, or why the order was
 * not sent), the backoff or the CA's Retry-After, the preflight's history, and where and when the next
 * attempt goes when several CAs are configured.
 */
import { IssueError } from '../acme/issuer.js';
import type { TransportFailure } from '../acme/protocol/types.js';
import { CaOrderFailure, type CaRouter } from '../ca/ca-router.js';
import { recordFailure } from '../certs/plan.js';
import type { AcmeProblem, FailureState } from '../state/state.js';
import { errorText } from '../util/error-text.js';
import type { OrderJob } from './manager-types.js';
import { OrderNotSent } from './order-not-sent.js';
import type { PreflightPass, PreflightStep } from './preflight-step.js';

export interface OrderFailure {
  record: FailureState;
  problem: AcmeProblem;
  /** Set when the CA did not answer at all, which leaves no problem type. */
  transport: TransportFailure | undefined;
  message: string;
}

export interface FailureContext {
  name: string;
  job: OrderJob;
  previous: FailureState | undefined;
  /** What the preflight let through, when it ran before the failure. */
  checked: PreflightPass | undefined;
  preflight: PreflightStep;
  router: CaRouter;
  now: number;
}

export function orderFailure(caught: unknown, context: FailureContext): OrderFailure {
  const routed = caught instanceof CaOrderFailure ? caught : undefined;
  const err = routed?.cause ?? caught;
  const message = errorText(err);
  const problem: AcmeProblem =
    err instanceof OrderNotSent
      ? err.problem
      : err instanceof IssueError && err.report !== undefined
      ? { ...err.report.problem, detail: err.report.problem.detail === '' ? message : err.report.problem.detail }
      : { type: undefined, detail: message, status: undefined };
  const retryAfterMs = err instanceof IssueError ? err.report?.retryAfterMs : undefined;
  const recorded = recordFailure(context.previous, problem, retryAfterMs, context.now);
  const notBefore = err instanceof OrderNotSent ? err.notBefore : undefined;
  const remembered = context.preflight.remember(notBefore === undefined ? recorded : { ...recorded, nextAttemptAt: notBefore }, err, context.checked, context.name);
  const record = routed === undefined ? remembered : context.router.afterFailure(remembered, context.previous, routed, context.job.validity);
  return { record, problem, transport: err instanceof IssueError ? err.transport : undefined, message };
}
