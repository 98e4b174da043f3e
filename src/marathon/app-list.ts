/**
 * Reads Marathon's `{"apps": [...]}` answer as it arrives and hands over one app at a time, so that a
 * 10,000-app list never exists in memory as one string or one object graph: only the app being read
 * is buffered, and each app's objects die young.
 *
 * The scanner finds value boundaries only; every value it finds (each app, each key, each other
 * top-level member) goes through `JSON.parse`, so the body is accepted exactly when `JSON.parse`
 * would accept it and give an object with an `"apps"` array, except that a second top-level `"apps"`
 * key is refused: `JSON.parse` would keep the last, but by then the first list has been handed over.
 * Scanning bytes is safe because every byte JSON's structure depends on is ASCII, and no byte of a
 * multi-byte UTF-8 character is. Other top-level members (Marathon sends none) are buffered whole to
 * be checked, so they cost memory like an app does; the client's body limit bounds them.
 */

/** Why a body is not Marathon's app list; the message is a complete reason to try another instance. */
export class AppListError extends Error {
  override readonly name = 'AppListError';
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

const isWhitespace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
/** A scalar (number, `true`, …) has no closing byte; it ends where its container or list goes on. */
const endsScalar = (c: number): boolean => isWhitespace(c) || c === COMMA || c === CLOSE_ARRAY || c === CLOSE_OBJECT;
/** Bytes that start some JSON value, so a body starting with one is JSON-like but not an object. */
const JSON_VALUE_START = /^[["\-0-9tfn]$/;

/** Where the top level is: what the next byte that is not whitespace may be. */
type Expect =
  | 'object' // the body's opening brace
  | 'first-key' // a key, or the closing brace of an empty object
  | 'key' // a key, after a comma
  | 'colon'
  | 'value' // a member's value
  | 'member-end' // a comma or the closing brace
  | 'first-app' // an app, or the closing bracket of an empty list
  | 'app' // an app, after a comma
  | 'app-end' // a comma or the closing bracket
  | 'end'; // nothing but whitespace

/** What a value being read is for, once complete. */
type Capture = 'key' | 'member' | 'app';

const notJson = (detail: string): AppListError => new AppListError(`answered with a body that is not JSON (${detail})`);

function describeByte(c: number): string {
  return c > 0x20 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `byte 0x${c.toString(16).padStart(2, '0')}`;
}

/**
 * Feed it the body's chunks with `write`, then call `end`; each app goes to `onApp` as soon as its
 * last byte arrives. Throws AppListError as soon as the body cannot be the app list (apps already
 * handed over are then to be discarded); what `onApp` throws comes out of `write` unchanged.
 */
export class AppListScanner {
  private expect: Expect = 'object';
  /** Bytes of the chunks before the current one, for positions in messages. */
  private offset = 0;
  private appsFound = false;
  private currentKeyIsApps = false;
  private appCount = 0;

  // The value being read; `capture` undefined = none. Its bytes from earlier chunks are in `pieces`.
  private capture: Capture | undefined;
  private captureStart = 0;
  private captureOffset = 0;
  private pieces: Buffer[] = [];
  private depth = 0;
  private scalar = false;
  private inString = false;
  /** The previous chunk ended inside a string on an odd run of backslashes: this chunk's first byte is escaped. */
  private escaped = false;

  constructor(private readonly onApp: (app: unknown) => void) {}

  write(chunk: Buffer): void {
    const length = chunk.length;
    let i = 0;
    if (this.capture !== undefined && length > 0) {
      this.captureStart = 0;
      i = this.continueValue(chunk, 0);
    }
    while (i < length) {
      const c = chunk[i] ?? 0;
      if (isWhitespace(c)) i++;
      else i = this.structure(chunk, i, c);
    }
    this.offset += length;
  }

  end(): void {
    if (this.offset === 0) throw notJson('it is empty');
    if (this.capture !== undefined || this.expect !== 'end') throw notJson(`it ends unfinished after ${this.offset} bytes`);
    if (!this.appsFound) throw new AppListError('answered without an "apps" list');
  }

  /** Handles the byte at `i`, which is not whitespace; returns where to go on. */
  private structure(chunk: Buffer, i: number, c: number): number {
    switch (this.expect) {
      case 'object':
        if (c === OPEN_OBJECT) return this.next(i, 'first-key');
        if (JSON_VALUE_START.test(String.fromCharCode(c))) throw new AppListError('answered without an "apps" list (the body is not a JSON object)');
        break;
      case 'first-key':
        if (c === CLOSE_OBJECT) return this.next(i, 'end');
        if (c === QUOTE) return this.startValue(chunk, i, 'key');
        break;
      case 'key':
        if (c === QUOTE) return this.startValue(chunk, i, 'key');
        break;
      case 'colon':
        if (c === COLON) return this.next(i, 'value');
        break;
      case 'value':
        if (!this.currentKeyIsApps) return this.startValue(chunk, i, 'member');
        if (c !== OPEN_ARRAY) throw new AppListError('answered without an "apps" list (its "apps" is not an array)');
        return this.next(i, 'first-app');
      case 'member-end':
        if (c === COMMA) return this.next(i, 'key');
        if (c === CLOSE_OBJECT) return this.next(i, 'end');
        break;
      case 'first-app':
        if (c === CLOSE_ARRAY) return this.next(i, 'member-end');
        return this.startValue(chunk, i, 'app');
      case 'app':
        return this.startValue(chunk, i, 'app');
      case 'app-end':
        if (c === COMMA) return this.next(i, 'app');
        if (c === CLOSE_ARRAY) return this.next(i, 'member-end');
        break;
      case 'end':
        break;
    }
    throw this.unexpected(c, i);
  }

  private unexpected(c: number, i: number): AppListError {
    return notJson(`unexpected ${describeByte(c)} at byte ${this.offset + i}`);
  }

  private next(i: number, expect: Expect): number {
    this.expect = expect;
    return i + 1;
  }

  private startValue(chunk: Buffer, i: number, capture: Capture): number {
    const c = chunk[i] ?? 0;
    // A value cannot be empty: `[1,]`, `{"a":}`.
    if (endsScalar(c)) throw this.unexpected(c, i);
    this.capture = capture;
    this.captureStart = i;
    this.captureOffset = this.offset + i;
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
    this.scalar = c !== QUOTE && c !== OPEN_OBJECT && c !== OPEN_ARRAY;
    return this.continueValue(chunk, i);
  }

  /** Reads on in the current value from `i`; returns where it ended, or the chunk's length if it did not. */
  private continueValue(chunk: Buffer, i: number): number {
    const end = this.scalar ? this.scanScalar(chunk, i) : this.scanNested(chunk, i);
    if (end < 0) {
      this.pieces.push(this.captureStart === 0 ? chunk : chunk.subarray(this.captureStart));
      return chunk.length;
    }
    this.completeValue(chunk, end);
    return end;
  }

  private scanScalar(chunk: Buffer, from: number): number {
    for (let i = from; i < chunk.length; i++) {
      if (endsScalar(chunk[i] ?? 0)) return i;
    }
    return -1;
  }

  /** A string, object or array: the index just past its last byte, or -1 if it goes on in the next chunk. */
  private scanNested(chunk: Buffer, from: number): number {
    let i = from;
    if (this.inString) {
      i = this.skipString(chunk, i);
      if (i < 0) return -1;
      if (this.depth === 0) return i;
    }
    const length = chunk.length;
    while (i < length) {
      const c = chunk[i] ?? 0;
      if (c === QUOTE) {
        i = this.skipString(chunk, i + 1);
        if (i < 0) return -1;
        if (this.depth === 0) return i;
        continue;
      }
      // Brackets are only counted, not matched: JSON.parse of the value refuses `[}`.
      if (c === OPEN_OBJECT || c === OPEN_ARRAY) this.depth++;
      else if ((c === CLOSE_OBJECT || c === CLOSE_ARRAY) && --this.depth === 0) return i + 1;
      i++;
    }
    return -1;
  }

  /**
   * From just inside a string, the index just past its closing quote, or -1 if it goes on in the next
   * chunk. A byte loop: most of an app list's strings are short (ids, labels, ports), and on Node 26
   * a `Buffer#indexOf` call per string cost more than the bytes it skipped.
   */
  private skipString(chunk: Buffer, from: number): number {
    let i = from;
    if (this.escaped) {
      this.escaped = false;
      i++;
    }
    const length = chunk.length;
    while (i < length) {
      const c = chunk[i];
      if (c === QUOTE) {
        this.inString = false;
        return i + 1;
      }
      i += c === BACKSLASH ? 2 : 1;
    }
    this.inString = true;
    // Past the end only when the chunk's last byte was a backslash: the next chunk's first byte is escaped.
    this.escaped = i > length;
    return -1;
  }

  private completeValue(chunk: Buffer, end: number): void {
    const capture = this.capture;
    let text: string;
    if (this.pieces.length === 0) {
      text = chunk.toString('utf8', this.captureStart, end);
    } else {
      // Joined before decoding: a character may be split between two chunks.
      this.pieces.push(chunk.subarray(0, end));
      text = Buffer.concat(this.pieces).toString('utf8');
      this.pieces = [];
    }
    this.capture = undefined;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      const what = capture === 'app' ? `entry ${this.appCount} of the app list` : `the ${capture === 'key' ? 'key' : 'value'}`;
      throw notJson(`${what} at byte ${this.captureOffset} is not valid JSON`);
    }
    if (capture === 'app') {
      this.appCount++;
      this.expect = 'app-end';
      this.onApp(value);
    } else if (capture === 'key') {
      this.currentKeyIsApps = value === 'apps';
      if (this.currentKeyIsApps && this.appsFound) throw new AppListError('answered with two "apps" lists; refusing to guess which one is meant');
      this.appsFound ||= this.currentKeyIsApps;
      this.expect = 'colon';
    } else {
      this.expect = 'member-end';
    }
  }
}
