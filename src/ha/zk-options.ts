/** The parsers of the --zk options; their messages are completed by the CLI with the flag or variable. */
import { ConfigError, parseSeconds } from '../config.js';
import { parseZkUrl, ZkUrlError, type ZkTarget } from '../zk/zk-url.js';

export function parseZkOption(text: string): ZkTarget {
  try {
    return parseZkUrl(text);
  } catch (err) {
    if (err instanceof ZkUrlError) throw new ConfigError(err.message);
    throw err;
  }
}

/**
 * A leader steps down after two thirds of it without word from ZooKeeper, and a dead leader is
 * replaced after about all of it; the server grants what its own bounds allow (by default 4-40 s).
 */
export function parseZkSessionTimeout(text: string): number {
  const ms = parseSeconds(text);
  if (ms < 2_000) throw new ConfigError(`'${text}' is too short; a ZooKeeper session timeout needs at least 2 seconds`);
  return ms;
}

/** Must outlast the longest an order can take, or a new leader could order a name its predecessor still is. */
export function parseZkOrderWindow(text: string): number {
  const ms = parseSeconds(text);
  if (ms < 1_000) throw new ConfigError(`'${text}' is too short; the hand-over window must be at least 1 second`);
  return ms;
}
