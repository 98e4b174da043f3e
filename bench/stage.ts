/**
 * What the issuance-shaped benchmarks start before the daemon: a fresh pebble whose validator dials
 * `httpPort`, an empty Marathon emulator without heartbeats, two marathon-lb stand-ins and an empty
 * storage directory, each registered with the clean-up stack.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLbReceiver, type LbReceiver } from '../test/support/lb-receiver.js';
import { MarathonEmulator } from '../test/support/marathon-emulator.js';
import { startPebble, type Pebble } from '../test/support/pebble.js';
import { freePort } from '../test/support/ports.js';
import type { Cleanup } from './cleanup.js';

export interface Stage {
  /** The port pebble validates HTTP-01 on: the daemon (or a proxy in front of several) listens there. */
  httpPort: number;
  pebble: Pebble;
  marathon: MarathonEmulator;
  lbs: LbReceiver[];
  storage: string;
}

export async function startStage(stack: Cleanup, name: string): Promise<Stage> {
  const httpPort = await freePort();
  const pebble = await startPebble({ httpPort });
  stack.defer('pebble', () => pebble.stop());
  const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
  stack.defer('Marathon emulator', () => marathon.stop());
  const lbs = [await startLbReceiver(), await startLbReceiver()];
  for (const lb of lbs) stack.defer('LB stand-in', () => lb.stop());
  const storage = await mkdtemp(join(tmpdir(), `ma-bench-${name}-`));
  stack.defer('storage directory', () => rm(storage, { recursive: true, force: true }));
  return { httpPort, pebble, marathon, lbs, storage };
}
