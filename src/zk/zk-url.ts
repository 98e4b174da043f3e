/**
 * `--zk zk://[user:password@]host:port[,host:port...]/path`, the form Marathon's and Mesos's own
 * `--zk` flags take, so an operator can copy the cluster's value and change only the path. Credentials
 * are ZooKeeper `digest` credentials (`user:password`, sent with addAuth after each connect); they never
 * appear in `display`.
 */

export interface ZkServer {
  host: string;
  port: number;
}

export interface ZkTarget {
  servers: ZkServer[];
  /** The znode under which everything of ours lives: absolute, no trailing slash, never `/`. */
  path: string;
  /** `user:password` for the digest scheme, undefined when the URL has none. */
  digest: string | undefined;
  /** Safe to log: the URL with any credentials replaced by `***`. */
  display: string;
}

/** Why a `--zk` value is unusable; the message is complete and names what to write instead. */
export class ZkUrlError extends Error {
  override readonly name = 'ZkUrlError';
}

const DEFAULT_PORT = 2181;
/** ZooKeeper refuses these in a path element (besides `/` itself, and `.` or `..` as whole elements). */
const FORBIDDEN_IN_NODE_NAME = /[\u0000-\u001f\u007f-\u009f\ud800-\uf8ff\ufff0-\uffff]/;

export function parseZkUrl(raw: string): ZkTarget {
  const value = raw.trim();
  const match = /^zk:\/\/([^/]*)(\/.*)?$/i.exec(value);
  if (match === null) throw new ZkUrlError(`'${mask(value)}' is not a ZooKeeper URL; expected zk://host:2181[,host2:2181...]/marathon-acme`);
  const authority = match[1] ?? '';
  const path = match[2];
  const at = authority.lastIndexOf('@');
  const credentials = at === -1 ? undefined : authority.slice(0, at);
  const hostList = at === -1 ? authority : authority.slice(at + 1);
  let digest: string | undefined;
  if (credentials !== undefined) {
    const decoded = safeDecode(credentials);
    if (!decoded.includes(':') || decoded.startsWith(':')) throw new ZkUrlError('the credentials in the ZooKeeper URL must be user:password');
    digest = decoded;
  }
  const servers = hostList.split(',').map((entry) => parseServer(entry.trim()));
  if (path === undefined || path === '/' || path === '') {
    throw new ZkUrlError('the ZooKeeper URL needs a path of our own, e.g. zk://zk-1:2181,zk-2:2181/marathon-acme; the root would mix our nodes with Marathon\'s and Mesos\'s');
  }
  return { servers, path: checkPath(path), digest, display: `zk://${digest === undefined ? '' : '***@'}${hostList}${path.replace(/\/+$/, '')}` };
}

function parseServer(entry: string): ZkServer {
  if (entry === '') throw new ZkUrlError('the ZooKeeper URL has an empty host in its host list');
  // [v6]:port, host:port, or a bare host with the default port.
  const v6 = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(entry);
  const plain = /^([^:[\]\s]+)(?::(\d+))?$/.exec(entry);
  const parts = v6 ?? plain;
  if (parts === null) throw new ZkUrlError(`'${entry}' in the ZooKeeper URL is not host or host:port`);
  const port = parts[2] === undefined ? DEFAULT_PORT : Number(parts[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ZkUrlError(`'${entry}' in the ZooKeeper URL has no valid port (1-65535)`);
  return { host: parts[1] ?? '', port };
}

function checkPath(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  const elements = trimmed.split('/').slice(1);
  if (elements[0] === 'zookeeper') throw new ZkUrlError('the ZooKeeper path may not be under /zookeeper, which ZooKeeper keeps for itself');
  for (const element of elements) {
    if (element === '') throw new ZkUrlError(`the ZooKeeper path '${path}' has an empty element (two slashes in a row)`);
    if (element === '.' || element === '..') throw new ZkUrlError(`the ZooKeeper path '${path}' may not contain '.' or '..' elements`);
    if (FORBIDDEN_IN_NODE_NAME.test(element)) throw new ZkUrlError(`the ZooKeeper path '${path}' contains characters ZooKeeper does not allow in a node name`);
  }
  return trimmed;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new ZkUrlError('the credentials in the ZooKeeper URL are not valid percent-encoding');
  }
}

/** A value that failed to parse may still carry a password: mask anything before an `@`. */
function mask(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)?[^/@]*@/i, (_, scheme: string | undefined) => `${scheme ?? ''}***@`);
}
