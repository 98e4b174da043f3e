/**
 * Whether a marathon-lb may be signalled yet. In its first fraction of a second, before it installs
 * its handler, a USR1 terminates marathon-lb; so an LB met for the first time, or one that has just
 * failed us, is signalled only once its health endpoint has answered OK for `stableMs` without a
 * break. An LB whose stats listener has no health endpoint (404) cannot be judged that way, and is
 * trusted as before. Pure: the caller reports each answer with its time.
 */
export type HealthObservation = 'ok' | 'absent' | 'down';

export class HealthGate {
  private trusted = false;
  private okSince: number | undefined;

  constructor(private readonly stableMs: number) {}

  get open(): boolean {
    return this.trusted;
  }

  /** Since when the current run of OK answers lasts (undefined: none is running). */
  get healthySince(): number | undefined {
    return this.okSince;
  }

  observe(answer: HealthObservation, at: number): void {
    if (this.trusted) return;
    if (answer === 'absent') {
      this.trusted = true;
      return;
    }
    if (answer === 'down') {
      this.okSince = undefined;
      return;
    }
    this.okSince ??= at;
    if (at - this.okSince >= this.stableMs) this.trusted = true;
  }

  /** The LB failed a request: it may be restarting, so it has to prove itself again. */
  distrust(): void {
    this.trusted = false;
    this.okSince = undefined;
  }
}
