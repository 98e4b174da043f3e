import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Gauge, Registry } from 'prom-client';
import { ScrapeTimeGauge } from '../../src/metrics/scrape-time-gauge.js';

describe('ScrapeTimeGauge', () => {
  function setUp(): { registry: Registry; items: Map<string, number> } {
    const registry = new Registry();
    const items = new Map<string, number>();
    new ScrapeTimeGauge(
      { name: 'test_item_value', help: 'One series per item.', labelNames: ['item'], registers: [registry] },
      (add) => {
        for (const [item, value] of items) add({ item }, value);
      },
    );
    return { registry, items };
  }

  it('shows the data as it is at each scrape, and nothing of what has gone', async () => {
    const { registry, items } = setUp();
    items.set('a', 1).set('b', 2);
    assert.match(await registry.metrics(), /^test_item_value\{item="a"\} 1\ntest_item_value\{item="b"\} 2$/m);
    items.delete('a');
    items.set('b', 5);
    const text = await registry.metrics();
    assert.doesNotMatch(text, /item="a"/);
    assert.match(text, /^test_item_value\{item="b"\} 5$/m);
  });

  it('keeps no series between scrapes', async () => {
    const { registry, items } = setUp();
    items.set('a', 1);
    await registry.metrics();
    const gauge = registry.getSingleMetric('test_item_value');
    assert.ok(gauge instanceof ScrapeTimeGauge);
    // What the gauge holds outside a scrape, read through prom-client's own view without the source.
    const held = await Gauge.prototype.get.call(gauge);
    assert.deepEqual(held.values, []);
  });

  it('gives two scrapes at once the same series', async () => {
    const { registry, items } = setUp();
    items.set('a', 1).set('b', 2);
    const [one, two] = await Promise.all([registry.metrics(), registry.metrics()]);
    assert.equal(one, two);
    assert.match(one, /item="b"\} 2/);
  });
});
