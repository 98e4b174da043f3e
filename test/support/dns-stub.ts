/**
 * A tiny authoritative DNS server for pebble's validator (`pebble -dnsserver 127.0.0.1:<port>`):
 * every name has A 127.0.0.1 and nothing else. AAAA must come back empty (NOERROR, no records)
 * because pebble dials the first address it gets, and an IPv6 answer would send HTTP-01 validation
 * to ::1 where the challenge server does not listen.
 *
 * Wire format per RFC 1035 §4.1. Only what resolvers send is parsed: one question, uncompressed
 * name (compression pointers do not occur in queries), any additional records (EDNS OPT) ignored.
 */
import { createSocket, type RemoteInfo } from 'node:dgram';

export interface DnsStub {
  port: number;
  /** `"<TYPE> <name>"` per question received, e.g. `"AAAA app1.example.test"`. */
  queries: string[];
  stop(): Promise<void>;
}

const TYPE_A = 1;
const CLASS_IN = 1;
const TTL_SECONDS = 5;

const TYPE_NAMES: Record<number, string> = {
  1: 'A',
  2: 'NS',
  5: 'CNAME',
  6: 'SOA',
  12: 'PTR',
  15: 'MX',
  16: 'TXT',
  28: 'AAAA',
  33: 'SRV',
  41: 'OPT',
  64: 'SVCB',
  65: 'HTTPS',
  255: 'ANY',
  257: 'CAA',
};

const RCODE_FORMERR = 1;
const RCODE_NOTIMP = 4;

interface Question {
  name: string;
  type: number;
  cls: number;
  /** Offset just past the question: the raw question bytes are echoed back. */
  end: number;
}

/** Parses the first question; undefined when it is malformed or uses compression. */
function parseQuestion(message: Buffer): Question | undefined {
  const labels: string[] = [];
  let offset = 12;
  for (;;) {
    const length = message[offset];
    if (length === undefined) return undefined;
    offset += 1;
    if (length === 0) break;
    // 0xC0 marks a compression pointer, 0x40/0x80 reserved label types: none belong in a query.
    if ((length & 0xc0) !== 0) return undefined;
    if (offset + length > message.length) return undefined;
    labels.push(message.toString('latin1', offset, offset + length));
    offset += length;
  }
  if (offset + 4 > message.length) return undefined;
  return {
    name: labels.length === 0 ? '.' : labels.join('.'),
    type: message.readUInt16BE(offset),
    cls: message.readUInt16BE(offset + 2),
    end: offset + 4,
  };
}

function header(id: number, queryFlags: number, rcode: number, qdcount: number, ancount: number): Buffer {
  const opcode = (queryFlags >> 11) & 0x0f;
  const recursionDesired = queryFlags & 0x0100;
  // QR (response) | opcode echoed | AA | RD echoed | RA | rcode. AA and RA matter: Go's resolver
  // (pebble's) treats an empty answer with neither bit set as a lame referral and fails the lookup.
  const flags = 0x8000 | (opcode << 11) | 0x0400 | recursionDesired | 0x0080 | (rcode & 0x0f);
  const buffer = Buffer.alloc(12);
  buffer.writeUInt16BE(id, 0);
  buffer.writeUInt16BE(flags, 2);
  buffer.writeUInt16BE(qdcount, 4);
  buffer.writeUInt16BE(ancount, 6);
  return buffer;
}

/** Builds the answer to one query message, or undefined if the message should be dropped. */
function answer(message: Buffer, queries: string[]): Buffer | undefined {
  if (message.length < 12) return undefined;
  const id = message.readUInt16BE(0);
  const flags = message.readUInt16BE(2);
  if ((flags & 0x8000) !== 0) return undefined; // a response, not a query
  const opcode = (flags >> 11) & 0x0f;
  const qdcount = message.readUInt16BE(4);
  if (qdcount !== 1) return header(id, flags, RCODE_FORMERR, 0, 0);
  const question = parseQuestion(message);
  if (question === undefined) return header(id, flags, RCODE_FORMERR, 0, 0);
  const echoed = message.subarray(12, question.end);
  if (opcode !== 0) return Buffer.concat([header(id, flags, RCODE_NOTIMP, 1, 0), echoed]);

  queries.push(`${TYPE_NAMES[question.type] ?? `TYPE${question.type}`} ${question.name}`);
  if (question.type !== TYPE_A || question.cls !== CLASS_IN) {
    // NOERROR with no records ("no data"): the name exists, it just has nothing of this type.
    return Buffer.concat([header(id, flags, 0, 1, 0), echoed]);
  }
  const record = Buffer.alloc(16);
  record.writeUInt16BE(0xc00c, 0); // name: pointer to the question's name at offset 12
  record.writeUInt16BE(TYPE_A, 2);
  record.writeUInt16BE(CLASS_IN, 4);
  record.writeUInt32BE(TTL_SECONDS, 6);
  record.writeUInt16BE(4, 10);
  Buffer.from([127, 0, 0, 1]).copy(record, 12);
  return Buffer.concat([header(id, flags, 0, 1, 1), echoed, record]);
}

export async function startDnsStub(): Promise<DnsStub> {
  const socket = createSocket('udp4');
  const queries: string[] = [];
  socket.on('message', (message: Buffer, remote: RemoteInfo) => {
    const reply = answer(message, queries);
    if (reply !== undefined) socket.send(reply, remote.port, remote.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  // A send error (the querier went away) must not crash the test process.
  socket.on('error', () => undefined);
  let stopped: Promise<void> | undefined;
  return {
    port: socket.address().port,
    queries,
    stop(): Promise<void> {
      stopped ??= new Promise<void>((resolve) => {
        socket.close(() => {
          resolve();
        });
      });
      return stopped;
    },
  };
}
