import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { namesHeldByOthers, parseIntent } from '../../src/ha/order-intents.js';

describe('order intents', () => {
  const now = 1_000_000;
  const window = 300_000;

  it('holds back the names other instances ordered within the window, until their orders are over', () => {
    const held = namesHeldByOthers(
      [
        { names: ['a.example', 'b.example'], at: now - 60_000, by: 'old-leader' },
        { names: ['b.example'], at: now - 10_000, by: 'old-leader' },
        { names: ['c.example'], at: now - window, by: 'old-leader' },
        { names: ['d.example'], at: now - 1_000, by: 'me' },
      ],
      'me',
      now,
      window,
    );
    assert.deepEqual([...held].sort(), [
      ['a.example', now - 60_000 + window],
      ['b.example', now - 10_000 + window],
    ]);
  });

  it('ignores an intent stamped far in the future (a clock that was wrong) rather than hold a name for ever', () => {
    assert.equal(namesHeldByOthers([{ names: ['x'], at: now + 2 * window, by: 'skewed' }], 'me', now, window).size, 0);
  });

  it('reads only well-formed intents', () => {
    assert.deepEqual(parseIntent(Buffer.from('{"names":["a"],"at":5,"by":"x","extra":1}')), { names: ['a'], at: 5, by: 'x' });
    for (const bad of ['', 'null', '[]', '{"names":"a","at":5,"by":"x"}', '{"names":[1],"at":5,"by":"x"}', '{"names":[],"at":"5","by":"x"}', '{"names":[],"at":5}']) {
      assert.equal(parseIntent(Buffer.from(bad)), undefined, bad);
    }
  });
});
