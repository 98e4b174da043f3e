/**
 * Server-Sent Events parser for Marathon's `/v2/events` stream.
 *
 * It works on text that is already decoded (the caller owns the UTF-8 decoder, so a multi-byte
 * character split across network chunks is the decoder's problem, not ours) and knows nothing about
 * sockets or timers: idle timeouts belong to the stream loop.
 *
 * Deliberate differences from the WHATWG algorithm, kept for compatibility with the original
 * marathon-acme: an `event` field with an empty value sets the type to the empty string (not
 * `message`), and `id` / `retry` are ignored because we never resume a stream.
 */

export interface SseEvent {
  /** The `event` field of the block, `message` when it had none. */
  type: string;
  /** The block's `data` lines joined with `\n`. */
  data: string;
}

export interface SseParserOptions {
  /** Longest accepted line, in UTF-16 code units (characters for ordinary text). Default 1 MiB. */
  maxLineLength?: number;
}

export const DEFAULT_MAX_LINE_LENGTH = 1024 * 1024;

/**
 * A line (complete, or still waiting for its terminator) is longer than the parser accepts. A peer
 * that never sends a line break would otherwise make us buffer without bound.
 */
export class SseLineTooLongError extends Error {
  override readonly name = 'SseLineTooLongError';

  constructor(
    readonly length: number,
    readonly max: number,
  ) {
    super(`SSE maximum line length exceeded: ${length} > ${max} characters`);
  }
}

const DEFAULT_TYPE = 'message';

/**
 * Incremental SSE parser: feed it chunks with {@link SseParser.push}, it calls `onEvent` for every
 * complete event, synchronously and in stream order.
 *
 * Once `push` has thrown (a {@link SseLineTooLongError}, or an error thrown by `onEvent`, which
 * propagates unchanged) the parser is broken: part of the chunk may be unprocessed, so its state no
 * longer matches the stream. Every later `push` throws; drop the connection and start a new parser.
 */
export class SseParser {
  private readonly maxLineLength: number;
  /** The start of a line whose terminator has not arrived yet; never contains CR or LF. */
  private pending = '';
  /**
   * The previous chunk ended in CR. If the next one starts with LF, that LF is the second half of a
   * CRLF and must not count as another (empty) line: an empty line dispatches and resets the event
   * type, which would turn `event: x\r` | `\ndata: y` into a `message` event.
   */
  private lastChunkEndedInCr = false;
  private eventType = DEFAULT_TYPE;
  private dataLines: string[] = [];
  private broken = false;

  constructor(
    private readonly onEvent: (event: SseEvent) => void,
    options: SseParserOptions = {},
  ) {
    const max = options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH;
    if (Number.isNaN(max) || max < 0) throw new RangeError(`maxLineLength must be a non-negative number, got ${max}`);
    this.maxLineLength = max;
  }

  /** Feeds the next piece of decoded stream text. Throws {@link SseLineTooLongError}; see the class note. */
  push(chunk: string): void {
    if (this.broken) throw new Error('SseParser used again after push() threw; start a new parser for a new stream');
    try {
      this.consume(chunk);
    } catch (err) {
      this.broken = true;
      throw err;
    }
  }

  private consume(chunk: string): void {
    // An empty chunk carries no information, not even "the CR was not followed by LF".
    if (chunk === '') return;
    let start = 0;
    if (this.lastChunkEndedInCr && chunk.startsWith('\n')) start = 1;
    this.lastChunkEndedInCr = false;

    // Only the new chunk is scanned: `pending` holds no line breaks by construction.
    let i = start;
    while (i < chunk.length) {
      const c = chunk.charCodeAt(i);
      if (c !== 0x0a && c !== 0x0d) {
        i++;
        continue;
      }
      const line = this.pending + chunk.slice(start, i);
      this.pending = '';
      if (c === 0x0d) {
        if (i + 1 === chunk.length) this.lastChunkEndedInCr = true;
        else if (chunk.charCodeAt(i + 1) === 0x0a) i++;
      }
      i++;
      start = i;
      if (line.length > this.maxLineLength) throw new SseLineTooLongError(line.length, this.maxLineLength);
      this.processLine(line);
    }
    if (start < chunk.length) {
      this.pending += chunk.slice(start);
      if (this.pending.length > this.maxLineLength) {
        throw new SseLineTooLongError(this.pending.length, this.maxLineLength);
      }
    }
  }

  private processLine(line: string): void {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    let field = line;
    let value = '';
    if (colon !== -1) {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
    }
    if (field === 'event') this.eventType = value;
    else if (field === 'data') this.dataLines.push(value);
  }

  private dispatch(): void {
    const type = this.eventType;
    const lines = this.dataLines;
    // Reset before calling out, so the handler always sees (and leaves) a consistent parser.
    this.eventType = DEFAULT_TYPE;
    this.dataLines = [];
    if (lines.length > 0) this.onEvent({ type, data: lines.join('\n') });
  }
}
