/**
 * Serves one computed view again for a short while: /status reads and parses every stored
 * certificate, and a page reloaded in a loop must not make the daemon do that again and again. A
 * view that failed is not kept, so the next request tries anew.
 */
import type { Clock } from '../util/clock.js';

export class ViewCache<T> {
  private cached: { at: number; view: Promise<T> } | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly maxAgeMs: number,
    private readonly build: (now: number) => Promise<T>,
  ) {}

  get(): Promise<T> {
    const now = this.clock.now();
    if (this.cached !== undefined && now - this.cached.at < this.maxAgeMs) return this.cached.view;
    const view = this.build(now);
    const entry = { at: now, view };
    this.cached = entry;
    view.catch(() => {
      if (this.cached === entry) this.cached = undefined;
    });
    return view;
  }
}
