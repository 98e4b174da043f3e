import type { TestContext } from 'node:test';

/**
 * Returns `defer`: cleanups registered with it run after the test in reverse order, so a daemon is
 * stopped before the storage directory and the servers it uses go away. (node:test runs its own
 * after-hooks in the order they were added.)
 */
export function cleanupStack(t: TestContext): (cleanup: () => Promise<unknown>) => void {
  const stack: Array<() => Promise<unknown>> = [];
  t.after(async () => {
    for (const cleanup of stack.reverse()) await cleanup();
  });
  return (cleanup) => {
    stack.push(cleanup);
  };
}
