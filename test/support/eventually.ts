import assert from 'node:assert/strict';

/**
 * Polls `check` until it holds. The limit is not a performance assertion: it only turns a hang into
 * a failure that says what was being waited for.
 */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, limitMs = 30_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
