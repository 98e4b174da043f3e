/**
 * One command to an HAProxy stats socket. HAProxy's CLI in its default (non-interactive) mode reads
 * one command line, with its payload after `<<` up to an empty line, answers and closes the
 * connection: a connection per command, so a broken or slow socket costs one timeout, never a
 * stalled queue.
 */
import { connect, type Socket } from 'node:net';
import type { RuntimeTarget } from './runtime-target.js';

/** The answers of admin commands are a few lines; `show ssl cert` of every store is the largest. */
const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

export type RuntimeCommand = (line: string, payload?: string) => Promise<string>;

export function socketCommand(target: RuntimeTarget, timeoutMs: number): RuntimeCommand {
  return (line, payload) => send(target, timeoutMs, line, payload);
}

function send(target: RuntimeTarget, timeoutMs: number, line: string, payload: string | undefined): Promise<string> {
  if (/[\r\n]/.test(line)) return Promise.reject(new Error('a runtime API command is one line'));
  const text = payload === undefined ? `${line}\n` : `${line} <<\n${payloadLines(payload)}\n\n`;
  return new Promise((resolve, reject) => {
    const socket: Socket = target.kind === 'tcp' ? connect({ host: target.host, port: target.port }) : connect({ path: target.path });
    const chunks: Buffer[] = [];
    let size = 0;
    const fail = (message: string): void => {
      socket.destroy();
      reject(new Error(`${target.display}: ${message} (command: ${line.split(' ').slice(0, 3).join(' ')})`));
    };
    socket.setTimeout(timeoutMs, () => {
      fail(`no answer within ${timeoutMs} ms`);
    });
    socket.once('connect', () => {
      socket.end(text);
    });
    socket.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_ANSWER_BYTES) fail('the answer is too long');
      else chunks.push(chunk);
    });
    socket.once('error', (err: Error) => {
      fail(err.message);
    });
    socket.once('close', (hadError) => {
      if (!hadError) resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

/** The payload ends at the first empty line, so a PEM goes without its blank lines. */
function payloadLines(payload: string): string {
  return payload
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '')
    .join('\n');
}
