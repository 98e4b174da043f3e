/**
 * Port selection for tests. Every peer in the suite binds 127.0.0.1 on a port chosen at run time,
 * because the machines running the suite may already use the well-known ones.
 */
import { createServer } from 'node:net';

/**
 * Asks the kernel for a currently free TCP port on 127.0.0.1 and releases it again.
 * There is an unavoidable window in which another process could take the port; callers that
 * start external programs (pebble) retry with a fresh port when that happens.
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve();
    });
  });
  const address = server.address();
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
  if (address === null || typeof address === 'string') throw new Error('unexpected address for a TCP listener');
  return address.port;
}
