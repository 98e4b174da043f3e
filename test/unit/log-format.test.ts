import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatLogLine, prettyStream } from '../../src/log-format.js';
import { createLogger } from '../../src/log.js';

const plain = { colour: false, baseName: 'marathon-acme' };
const pretty = (entry: Record<string, unknown>, options = plain) => formatLogLine(JSON.stringify(entry), options);

describe('pretty log lines', () => {
  it('puts time, level and message first, then the fields as key=value', () => {
    assert.equal(
      pretty({ level: 'info', time: '2026-11-28T15:36:55.123Z', name: 'marathon-acme', domain: 'shop.example.test', count: 2, ok: true, msg: 'certificate stored' }),
      '15:36:55.123 INFO  certificate stored domain=shop.example.test count=2 ok=true',
    );
  });

  it('quotes strings only when they contain spaces (or would break the line), and shows objects as JSON', () => {
    assert.equal(
      pretty({
        level: 'warn',
        time: '2026-11-28T15:36:55.000Z',
        reason: 'no Marathon instance answered',
        url: 'http://***@m1:8080/v2/apps?a=b',
        detail: 'line one\nline two',
        empty: '',
        missing: null,
        names: ['a.example.test', 'b.example.test'],
        msg: 'Marathon request failed',
      }),
      '15:36:55.000 WARN  Marathon request failed reason="no Marathon instance answered" url=http://***@m1:8080/v2/apps?a=b detail="line one\\nline two" empty="" missing=null names=["a.example.test","b.example.test"]',
    );
  });

  it('keeps errors and retry times', () => {
    assert.equal(
      pretty({
        level: 'error',
        time: '2026-11-28T15:36:55.000Z',
        err: 'connect ECONNREFUSED 127.0.0.1:1',
        retryInMs: 1350,
        retryAt: '2026-11-28T16:36:55.000Z',
        msg: 'ACME account is not ready; retrying after a pause',
      }),
      '15:36:55.000 ERROR ACME account is not ready; retrying after a pause err="connect ECONNREFUSED 127.0.0.1:1" retryInMs=1350 retryAt=2026-11-28T16:36:55.000Z',
    );
    // pino's own serializer turns an Error object under `err` into { type, message, stack }.
    assert.equal(
      pretty({ level: 'fatal', time: '2026-11-28T15:36:55.000Z', err: { type: 'TypeError', message: 'x is not a function', stack: 'TypeError: x is not a function\n    at y' }, msg: 'cannot start' }),
      '15:36:55.000 FATAL cannot start err="TypeError: x is not a function"',
    );
  });

  it('keeps a name field that is not the logger\'s own', () => {
    assert.equal(pretty({ level: 'debug', time: '2026-11-28T15:36:55.000Z', name: 'shop.example.test', msg: 'x' }), '15:36:55.000 DEBUG x name=shop.example.test');
  });

  it('escapes control characters, so text from outside cannot reach the terminal as escape sequences', () => {
    assert.equal(
      pretty({ level: 'warn', time: '2026-11-28T15:36:55.000Z', label: '\u001b[31mred', msg: 'bad label\n\u001b[2J' }),
      '15:36:55.000 WARN  bad label\\n\\u001b[2J label="\\u001b[31mred"',
    );
  });

  it('colours the level and dims the time only when asked to', () => {
    const entry = { level: 'warn', time: '2026-11-28T15:36:55.000Z', msg: 'x' };
    assert.equal(pretty(entry, { ...plain, colour: true }), '\u001b[2m15:36:55.000\u001b[0m \u001b[33mWARN \u001b[0m x');
    assert.doesNotMatch(pretty(entry), /\u001b/);
  });

  it('passes a line that is not JSON through unchanged', () => {
    assert.equal(formatLogLine('not json', plain), 'not json');
  });

  it('turns the real logger\'s JSON into one pretty line per entry', () => {
    const written: string[] = [];
    const logger = createLogger('info', prettyStream({ write: (text: string) => written.push(text) }, plain));
    logger.info({ domain: 'shop.example.test', retryInMs: 60_000 }, 'certificate stored');
    logger.child({ appId: '/shop' }).warn('renewal postponed');
    logger.debug('not shown at info');
    assert.equal(written.length, 2);
    assert.match(written[0] ?? '', /^\d\d:\d\d:\d\d\.\d{3} INFO  certificate stored domain=shop\.example\.test retryInMs=60000\n$/);
    assert.match(written[1] ?? '', /^\d\d:\d\d:\d\d\.\d{3} WARN  renewal postponed appId=\/shop\n$/);
  });
});
