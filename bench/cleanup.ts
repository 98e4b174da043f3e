/**
 * The clean-up stack every benchmark uses to stop what it started (servers, child processes,
 * temporary directories), so that one which crashes half-way still leaves nothing running.
 */

/** Runs clean-ups in reverse order of registration; a failing one is reported and the rest still run. */
export class Cleanup {
  readonly #steps: Array<{ what: string; run: () => Promise<unknown> }> = [];

  /** Registers `run`, described as `what` in the report should it fail. */
  defer(what: string, run: () => Promise<unknown>): void {
    this.#steps.push({ what, run });
  }

  async run(): Promise<void> {
    for (const step of this.#steps.splice(0).reverse()) {
      try {
        await step.run();
      } catch (err) {
        // Thrown from a finally block this would mask the benchmark's own error; stderr keeps both.
        process.stderr.write(`[bench] clean-up "${step.what}" failed: ${err instanceof Error ? err.message : String(err)}\n`);
      }
    }
  }
}
