import type { PreflightHistory } from '../preflight/decision.js';
import type { AcmeProblem } from '../state/state.js';

/** An order we decided not to send; recorded like a failure so that it is retried later. */
export class OrderNotSent extends Error {
  constructor(
    readonly problem: AcmeProblem,
    readonly notBefore: number | undefined,
    /** Set when the preflight held the order back: what to remember of it. */
    readonly preflight?: { history: PreflightHistory; orderAnywayAt: number | undefined },
  ) {
    super(problem.detail);
  }
}
