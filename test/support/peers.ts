import { MarathonEmulator } from './marathon-emulator.js';
import { startPebble, type Pebble } from './pebble.js';
import { freePort } from './ports.js';

export interface Peers {
  /** The port pebble's validator dials: the daemon under test must listen on it. */
  httpPort: number;
  pebble: Pebble;
  marathon: MarathonEmulator;
}

/**
 * What most daemon tests start first: a fresh pebble (default settings) and an empty Marathon
 * emulator without heartbeats. Both are handed to `defer` to be stopped after the test.
 */
export async function startPeers(defer: (cleanup: () => Promise<unknown>) => void): Promise<Peers> {
  const httpPort = await freePort();
  const pebble = await startPebble({ httpPort });
  defer(() => pebble.stop());
  const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
  defer(() => marathon.stop());
  return { httpPort, pebble, marathon };
}
