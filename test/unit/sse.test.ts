import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_MAX_LINE_LENGTH, SseLineTooLongError, SseParser, type SseEvent } from '../../src/marathon/sse.js';

/** Feeds the chunks, in order, to a fresh parser and returns what it dispatched. */
function parse(chunks: readonly string[], maxLineLength?: number): SseEvent[] {
  const events: SseEvent[] = [];
  const parser = new SseParser((e) => events.push(e), maxLineLength === undefined ? {} : { maxLineLength });
  for (const chunk of chunks) parser.push(chunk);
  return events;
}

const msg = (data: string, type = 'message'): SseEvent => ({ type, data });

describe('SseParser: the original test catalogue', () => {
  it('delivers a single data line as a message event', () => {
    assert.deepEqual(parse(['data:hello\r\n\r\n']), [msg('hello')]);
  });

  it('joins several data lines with LF', () => {
    assert.deepEqual(parse(['data:hello\r\ndata:world\r\n\r\n']), [msg('hello\nworld')]);
  });

  it('accepts LF, CR and CRLF as line breaks in one stream', () => {
    assert.deepEqual(parse(['data:hello\ndata:world\r\r\n']), [msg('hello\nworld')]);
  });

  it('delivers an empty data field as an empty string', () => {
    assert.deepEqual(parse(['data:\r\n\r\n']), [msg('')]);
  });

  it('delivers nothing for a lone empty line', () => {
    assert.deepEqual(parse(['\r\n']), []);
  });

  it('removes exactly one leading space from a value', () => {
    assert.deepEqual(parse(['data: hello\r\n\r\n']), [msg('hello')]);
    assert.deepEqual(parse(['data:    \r\n\r\n']), [msg('   ')]);
  });

  it('uses the event field as the type, even when it arrives in an earlier chunk', () => {
    assert.deepEqual(parse(['event:my_event\r\n', 'data:hello\r\n\r\n']), [msg('hello', 'my_event')]);
  });

  it('delivers consecutive events in order', () => {
    assert.deepEqual(parse(['event:test1\r\ndata:hello\r\n\r\nevent:test2\r\ndata:world\r\n\r\n']), [
      msg('hello', 'test1'),
      msg('world', 'test2'),
    ]);
  });

  for (const line of ['id:123', 'retry:123', 'somefield:123', ':123abc']) {
    it(`ignores "${line}" inside an event`, () => {
      assert.deepEqual(parse([`data:hello\r\n${line}\r\ndata:world\r\n\r\n`]), [msg('hello\nworld')]);
    });
  }

  it('treats a line without a colon as a field with an empty value', () => {
    assert.deepEqual(parse(['data\r\n\r\n']), [msg('')]);
  });

  it('splits lines on a CR at the end of a chunk when the next chunk does not start with LF', () => {
    assert.deepEqual(parse(['data:\r', 'data:\n', 'data:\r\n\r\n']), [msg('\n\n')]);
  });

  it('buffers a partial line until its end arrives', () => {
    assert.deepEqual(parse(['data:', ' hello\r\n', '\r\n']), [msg('hello')]);
  });

  it('handles non-ASCII text', () => {
    assert.deepEqual(parse(['data:hëlló\r\n\r\n']), [msg('hëlló')]);
  });

  it('throws SseLineTooLongError for a complete line over the maximum', () => {
    const parser = new SseParser(() => assert.fail('nothing should be delivered'), { maxLineLength: 8 });
    assert.throws(
      () => { parser.push('data:xxxxxxxxx\r\n'); },
      (err: unknown) => err instanceof SseLineTooLongError && err.length === 14 && err.max === 8,
    );
  });

  it('throws SseLineTooLongError for an incomplete line over the maximum', () => {
    const parser = new SseParser(() => assert.fail('nothing should be delivered'), { maxLineLength: 8 });
    assert.throws(
      () => { parser.push('data:xxxxxxxxx'); },
      (err: unknown) => err instanceof SseLineTooLongError && err.length === 14 && err.max === 8,
    );
  });

  it('resets the event type after every dispatch', () => {
    assert.deepEqual(parse(['event:my_event\r\ndata:hello\r\n\r\ndata:world\r\n\r\n']), [
      msg('hello', 'my_event'),
      msg('world'),
    ]);
  });
});

describe('SseParser: line breaks split across chunks', () => {
  it('keeps the event type when CRLF of the event line is split between chunks', () => {
    assert.deepEqual(parse(['event: x\r', '\ndata: y\r\n\r\n']), [msg('y', 'x')]);
  });

  it('keeps the event type when CRLF of a data line is split between chunks', () => {
    assert.deepEqual(parse(['event: x\r\ndata: y\r', '\n\r\n']), [msg('y', 'x')]);
  });

  it("produces nothing for Marathon's heartbeat (CR and LF flushed separately)", () => {
    assert.deepEqual(parse(['\r', '\n']), []);
    assert.deepEqual(
      parse(['event: a\r\ndata: 1\r\n\r\n', '\r', '\n', '\r', '\n', 'event: b\r\ndata: 2\r\n\r\n']),
      [msg('1', 'a'), msg('2', 'b')],
    );
  });

  it('still treats a CR followed by a non-LF chunk as a complete break', () => {
    assert.deepEqual(parse(['data: a\r', 'data: b\r', '\r']), [msg('a\nb')]);
  });

  it('remembers a trailing CR across empty chunks', () => {
    assert.deepEqual(parse(['event: x\r', '', '\ndata: y\r\n\r\n']), [msg('y', 'x')]);
  });

  it('treats CR CR LF split as CR | CR LF as two breaks', () => {
    assert.deepEqual(parse(['data: a\r', '\r\n']), [msg('a')]);
  });
});

describe('SseParser: details', () => {
  it('gives an empty event field the empty type, as the original did', () => {
    assert.deepEqual(parse(['event:\r\ndata: x\r\n\r\n']), [msg('x', '')]);
  });

  it('resets the type even when a block without data lines dispatches nothing', () => {
    assert.deepEqual(parse(['event: lost\r\n\r\ndata: x\r\n\r\n']), [msg('x')]);
  });

  it('splits field and value at the first colon only', () => {
    assert.deepEqual(parse(['data: {"a":"b:c"}\n\n']), [msg('{"a":"b:c"}')]);
  });

  it('matches field names case-sensitively', () => {
    assert.deepEqual(parse(['Data: x\nEVENT: y\n\n']), []);
  });

  it('does not deliver an unterminated event', () => {
    assert.deepEqual(parse(['event: x\ndata: y\n']), []);
  });

  it('keeps multi-byte characters and surrogate pairs intact, even split across chunks', () => {
    const text = 'data: größe 😀 日本語\n\n';
    // Splitting inside the surrogate pair of the emoji is fine: the halves are concatenated again.
    const emoji = text.indexOf('😀');
    assert.deepEqual(parse([text.slice(0, emoji + 1), text.slice(emoji + 1)]), [msg('größe 😀 日本語')]);
  });

  it('works with bytes decoded by a streaming TextDecoder split inside a character', () => {
    const bytes = new TextEncoder().encode('event: ü\r\ndata: 😀€\r\n\r\n');
    const decoder = new TextDecoder();
    const events: SseEvent[] = [];
    const parser = new SseParser((e) => events.push(e));
    for (let i = 0; i < bytes.length; i++) parser.push(decoder.decode(bytes.subarray(i, i + 1), { stream: true }));
    assert.deepEqual(events, [msg('😀€', 'ü')]);
  });

  it('counts line length without the terminator and accepts exactly the maximum', () => {
    assert.deepEqual(parse(['data:xyz\r\n\r\n'], 8), [msg('xyz')]);
    assert.deepEqual(parse(['data:', 'xyz', '\r\n\r\n'], 8), [msg('xyz')]);
    assert.throws(() => parse(['data:', 'xyzw'], 8), SseLineTooLongError);
  });

  it('measures an incomplete line across chunks', () => {
    assert.throws(() => parse(['data:', 'xx', 'xx'], 8), SseLineTooLongError);
  });

  it('delivers events that precede an over-long line in the same chunk', () => {
    const events: SseEvent[] = [];
    const parser = new SseParser((e) => events.push(e), { maxLineLength: 8 });
    assert.throws(() => { parser.push('data:ok\n\ndata:too-long\n'); }, SseLineTooLongError);
    assert.deepEqual(events, [msg('ok')]);
  });

  it('refuses to be used again after it threw', () => {
    const parser = new SseParser(() => undefined, { maxLineLength: 4 });
    assert.throws(() => { parser.push('data: long'); }, SseLineTooLongError);
    assert.throws(() => { parser.push('\n'); }, /used again/);
  });

  it('propagates an error from the handler and then refuses further input', () => {
    const parser = new SseParser(() => {
      throw new Error('handler failed');
    });
    assert.throws(() => { parser.push('data: x\n\ndata: y\n\n'); }, /handler failed/);
    assert.throws(() => { parser.push('\n'); }, /used again/);
  });

  it('defaults to a 1 MiB maximum', () => {
    assert.equal(DEFAULT_MAX_LINE_LENGTH, 1_048_576);
    const ok = 'x'.repeat(DEFAULT_MAX_LINE_LENGTH - 'data:'.length);
    assert.deepEqual(parse([`data:${ok}\n\n`]), [msg(ok)]);
    assert.throws(
      () => parse([`data:${ok}x`]),
      (err: unknown) => err instanceof SseLineTooLongError && err.length === DEFAULT_MAX_LINE_LENGTH + 1,
    );
  });

  it('names both numbers in the error message', () => {
    const err = new SseLineTooLongError(14, 8);
    assert.match(err.message, /14 > 8/);
    assert.equal(err.name, 'SseLineTooLongError');
    assert.ok(err instanceof Error);
  });

  it('rejects a nonsensical maximum', () => {
    assert.throws(() => new SseParser(() => undefined, { maxLineLength: -1 }), RangeError);
    assert.throws(() => new SseParser(() => undefined, { maxLineLength: Number.NaN }), RangeError);
  });
});

describe('SseParser: properties', () => {
  type Line = { kind: 'event'; value: string } | { kind: 'data'; value: string } | { kind: 'other'; text: string };

  // Text for values: anything but line breaks, including non-ASCII and colons.
  const value = fc
    .oneof(fc.string({ unit: fc.constantFrom('a', ' ', ':', 'ü', '😀', '日', '\t') }), fc.string({ unit: 'binary' }))
    .map((s) => s.replace(/[\r\n]/g, ''));
  const line: fc.Arbitrary<Line> = fc.oneof(
    value.map((v) => ({ kind: 'event' as const, value: v })),
    value.map((v) => ({ kind: 'data' as const, value: v })),
    fc.constantFrom('id: 7', 'retry: 10', ':comment', ': keep-alive', 'foo: bar').map((text) => ({ kind: 'other' as const, text })),
  );
  const block = fc.array(line, { maxLength: 5 });
  const terminator = fc.constantFrom('\n', '\r', '\r\n');

  interface Stream {
    text: string;
    expected: SseEvent[];
  }

  /** A stream of blocks, each ended by an empty line, with the events a correct parser must see. */
  const stream: fc.Arbitrary<Stream> = fc
    .array(fc.tuple(block, fc.array(terminator, { minLength: 6, maxLength: 6 })), { maxLength: 6 })
    .map((blocks) => {
      let text = '';
      let previous = '';
      const expected: SseEvent[] = [];
      const end = (lineText: string, t: string): void => {
        // CR then an empty line ended by LF would read as one CRLF: the stream would mean something else.
        const term = previous === '\r' && lineText === '' && t === '\n' ? '\r\n' : t;
        text += lineText + term;
        previous = term;
      };
      for (const [lines, terms] of blocks) {
        let type = 'message';
        const data: string[] = [];
        lines.forEach((l, i) => {
          const t = terms[i % terms.length] ?? '\n';
          if (l.kind === 'event') {
            type = l.value;
            end(`event: ${l.value}`, t);
          } else if (l.kind === 'data') {
            data.push(l.value);
            end(`data: ${l.value}`, t);
          } else {
            end(l.text, t);
          }
        });
        end('', terms[5] ?? '\n');
        if (data.length > 0) expected.push({ type, data: data.join('\n') });
      }
      return { text, expected };
    });

  /** Cuts text at the given (sorted, de-duplicated) offsets. */
  function cut(text: string, offsets: readonly number[]): string[] {
    const points = [...new Set(offsets.map((o) => o % (text.length + 1)))].sort((a, b) => a - b);
    const chunks: string[] = [];
    let from = 0;
    for (const p of points) {
      chunks.push(text.slice(from, p));
      from = p;
    }
    chunks.push(text.slice(from));
    return chunks;
  }

  it('parses a generated stream into exactly the events it encodes', () => {
    fc.assert(
      fc.property(stream, ({ text, expected }) => {
        assert.deepEqual(parse([text]), expected);
      }),
      { numRuns: 200 },
    );
  });

  it('gives the same events however the stream is chunked', () => {
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 20 }), ({ text, expected }, offsets) => {
        assert.deepEqual(parse(cut(text, offsets)), expected);
      }),
      { numRuns: 200 },
    );
  });

  it('gives the same events when every split point is tried, one at a time', () => {
    fc.assert(
      fc.property(stream, ({ text, expected }) => {
        for (let i = 0; i <= text.length; i++) assert.deepEqual(parse([text.slice(0, i), text.slice(i)]), expected);
      }),
      { numRuns: 50 },
    );
  });

  it('gives the same events when fed one UTF-16 code unit at a time', () => {
    fc.assert(
      fc.property(stream, ({ text, expected }) => {
        assert.deepEqual(parse(Array.from({ length: text.length }, (_, i) => text.slice(i, i + 1))), expected);
      }),
      { numRuns: 100 },
    );
  });

  it('never throws anything but SseLineTooLongError on arbitrary input', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: fc.constantFrom('a', ':', ' ', '\r', '\n', 'd', 'data', 'event') })), (chunks) => {
        try {
          parse(chunks, 16);
        } catch (err) {
          assert.ok(err instanceof SseLineTooLongError);
        }
      }),
      { numRuns: 200 },
    );
  });
});
