/**
 * Where an HAProxy's stats socket (its runtime API) is reached: `tcp://host:port` or `unix:///path`,
 * one per --lb, or `none` for an LB without one. Parsed at start with errors that name the value.
 */
import { isIP } from 'node:net';
import { ConfigError } from '../../config.js';

export type RuntimeTarget = { kind: 'tcp'; host: string; port: number; display: string } | { kind: 'unix'; path: string; display: string };

export function parseRuntimeTarget(text: string): RuntimeTarget | undefined {
  const value = text.trim();
  if (value === 'none') return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`'${value}' is not tcp://host:port, unix:///path or none`);
  }
  if (url.protocol === 'unix:') {
    if (url.host !== '' || url.pathname === '' || url.pathname === '/') throw new ConfigError(`'${value}' names no socket path; write unix:///path/to/socket`);
    return { kind: 'unix', path: decodeURIComponent(url.pathname), display: `unix://${url.pathname}` };
  }
  if (url.protocol !== 'tcp:') throw new ConfigError(`'${value}' must be tcp://host:port, unix:///path or none`);
  if (url.username !== '' || url.password !== '' || url.search !== '' || (url.pathname !== '' && url.pathname !== '/')) {
    throw new ConfigError(`'${value}' must be only tcp://host:port: the stats socket takes no credentials and no path`);
  }
  const port = Number(url.port);
  if (url.port === '' || !(port >= 1 && port <= 65535)) throw new ConfigError(`'${value}' needs a port: tcp://host:port`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new ConfigError(`'${value}' needs a host: tcp://host:port`);
  return { kind: 'tcp', host, port, display: `tcp://${isIP(host) === 6 ? `[${host}]` : host}:${port}` };
}

/** `--lb-runtime`: one item per --lb, in the same order. */
export function parseRuntimeTargets(text: string): Array<RuntimeTarget | undefined> {
  const items = text.split(',');
  if (items.some((item) => item.trim() === '')) throw new ConfigError(`'${text}' has an empty item; give tcp://host:port, unix:///path or none for each --lb`);
  return items.map(parseRuntimeTarget);
}
