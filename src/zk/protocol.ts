/**
 * The ZooKeeper requests we send and the answers we read, per ZooKeeper's protocol (jute records as
 * the 3.x Java client sends them). Watches are set through `exists` and `getChildren2`; fencing uses
 * `multi` with a version check.
 */
import { JuteReader, JuteWriter } from './jute.js';

export const OP = {
  create: 1,
  delete: 2,
  exists: 3,
  getData: 4,
  setData: 5,
  sync: 9,
  ping: 11,
  getChildren2: 12,
  check: 13,
  multi: 14,
  auth: 100,
  closeSession: -11,
  error: -1,
} as const;

/** Reserved xids: the server uses -1 for watch events, -2 answers pings, -4 answers addAuth. */
export const XID = { watch: -1, ping: -2, auth: -4 } as const;

export const ERR = {
  ok: 0,
  connectionLoss: -4,
  noNode: -101,
  noAuth: -102,
  badVersion: -103,
  nodeExists: -110,
  notEmpty: -111,
  sessionExpired: -112,
  authFailed: -115,
  runtimeInconsistency: -2,
} as const;

const ERROR_NAMES = new Map<number, string>([
  [-1, 'SYSTEMERROR'],
  [-2, 'RUNTIMEINCONSISTENCY'],
  [-3, 'DATAINCONSISTENCY'],
  [-4, 'CONNECTIONLOSS'],
  [-5, 'MARSHALLINGERROR'],
  [-6, 'UNIMPLEMENTED'],
  [-7, 'OPERATIONTIMEOUT'],
  [-8, 'BADARGUMENTS'],
  [-100, 'APIERROR'],
  [-101, 'NONODE'],
  [-102, 'NOAUTH'],
  [-103, 'BADVERSION'],
  [-108, 'NOCHILDRENFOREPHEMERALS'],
  [-110, 'NODEEXISTS'],
  [-111, 'NOTEMPTY'],
  [-112, 'SESSIONEXPIRED'],
  [-114, 'INVALIDACL'],
  [-115, 'AUTHFAILED'],
  [-118, 'SESSIONMOVED'],
  [-119, 'NOTREADONLY'],
]);

export function errorName(code: number): string {
  return ERROR_NAMES.get(code) ?? `error ${code}`;
}

/** A ZooKeeper error code from an answer, with the path the request was about. */
export class ZkError extends Error {
  override readonly name = 'ZkError';
  constructor(
    readonly code: number,
    readonly path: string | undefined,
    what: string,
  ) {
    super(`ZooKeeper ${what}${path === undefined ? '' : ` ${path}`} failed: ${errorName(code)}`);
  }
}

export const CREATE_MODE = { persistent: 0, ephemeral: 1, persistentSequential: 2, ephemeralSequential: 3 } as const;
export type CreateMode = (typeof CREATE_MODE)[keyof typeof CREATE_MODE];

export const EVENT = { created: 1, deleted: 2, dataChanged: 3, childrenChanged: 4 } as const;

export interface Acl {
  perms: number;
  scheme: string;
  id: string;
}

/** Everyone may do everything: the nodes hold no secrets, and the path is the operator's to protect. */
export const OPEN_ACL: readonly Acl[] = [{ perms: 31, scheme: 'world', id: 'anyone' }];
/** Only the creator's authenticated identities: used when the URL carries digest credentials. */
export const CREATOR_ACL: readonly Acl[] = [{ perms: 31, scheme: 'auth', id: '' }];

export interface Stat {
  czxid: bigint;
  mzxid: bigint;
  version: number;
  cversion: number;
  ephemeralOwner: bigint;
  dataLength: number;
  numChildren: number;
}

export function readStat(r: JuteReader): Stat {
  const czxid = r.long();
  const mzxid = r.long();
  r.long(); // ctime
  r.long(); // mtime
  const version = r.int();
  const cversion = r.int();
  r.int(); // aversion
  const ephemeralOwner = r.long();
  const dataLength = r.int();
  const numChildren = r.int();
  r.long(); // pzxid
  return { czxid, mzxid, version, cversion, ephemeralOwner, dataLength, numChildren };
}

export interface ConnectRequest {
  lastZxidSeen: bigint;
  timeoutMs: number;
  sessionId: bigint;
  password: Buffer;
}

export function connectFrame(req: ConnectRequest): Buffer {
  return new JuteWriter().int(0).long(req.lastZxidSeen).int(req.timeoutMs).long(req.sessionId).buffer(req.password).bool(false).frame();
}

export interface ConnectResponse {
  timeoutMs: number;
  sessionId: bigint;
  password: Buffer;
}

export function readConnectResponse(payload: Buffer): ConnectResponse {
  const r = new JuteReader(payload);
  r.int(); // protocol version
  const timeoutMs = r.int();
  const sessionId = r.long();
  const password = r.buffer() ?? Buffer.alloc(0);
  return { timeoutMs, sessionId, password };
}

export function writeAcl(w: JuteWriter, acl: readonly Acl[]): void {
  w.int(acl.length);
  for (const a of acl) w.int(a.perms).string(a.scheme).string(a.id);
}

/** One operation of a `multi` transaction. */
export type MultiOp =
  | { op: 'create'; path: string; data: Buffer; acl: readonly Acl[]; mode: CreateMode }
  | { op: 'delete'; path: string; version: number }
  | { op: 'check'; path: string; version: number }
  | { op: 'setData'; path: string; data: Buffer; version: number };

export function writeMultiOp(w: JuteWriter, op: MultiOp): void {
  switch (op.op) {
    case 'create':
      w.int(OP.create).bool(false).int(-1).string(op.path).buffer(op.data);
      writeAcl(w, op.acl);
      w.int(op.mode);
      return;
    case 'delete':
      w.int(OP.delete).bool(false).int(-1).string(op.path).int(op.version);
      return;
    case 'check':
      w.int(OP.check).bool(false).int(-1).string(op.path).int(op.version);
      return;
    case 'setData':
      w.int(OP.setData).bool(false).int(-1).string(op.path).buffer(op.data).int(op.version);
      return;
  }
}

/** What one operation of a committed `multi` gave back. */
export type MultiResult = { op: 'create'; path: string } | { op: 'delete' } | { op: 'check' } | { op: 'setData'; stat: Stat };

/**
 * A `multi` answer: all results, or the first error. ZooKeeper reports an error for every operation
 * of a failed transaction (the failing one with its own code, the others as RUNTIMEINCONSISTENCY or OK).
 */
export function readMultiResponse(r: JuteReader): { results: MultiResult[] } | { failedIndex: number; code: number } {
  const results: MultiResult[] = [];
  let failure: { failedIndex: number; code: number } | undefined;
  for (let index = 0; ; index++) {
    const type = r.int();
    const done = r.bool();
    const err = r.int();
    if (done) break;
    switch (type) {
      case OP.create:
        results.push({ op: 'create', path: r.string() ?? '' });
        break;
      case OP.delete:
        results.push({ op: 'delete' });
        break;
      case OP.check:
        results.push({ op: 'check' });
        break;
      case OP.setData:
        results.push({ op: 'setData', stat: readStat(r) });
        break;
      case OP.error: {
        const code = r.int();
        if (failure === undefined && code !== ERR.ok && code !== ERR.runtimeInconsistency) failure = { failedIndex: index, code };
        break;
      }
      default:
        throw new Error(`ZooKeeper answered a multi with an unknown operation type ${type} (header error ${err})`);
    }
  }
  return failure ?? { results };
}
