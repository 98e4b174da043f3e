import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DeliveryFileWriter, parseDelivery, readDeliveryFile, serializeDelivery } from '../../src/delivery/delivery-file.js';
import { DELIVERY_STATUSES, type DeliveryRecord } from '../../src/delivery/types.js';
import { silentLogger } from '../../src/log.js';
import { ManualClock } from '../support/manual-clock.js';

const time = fc.option(fc.integer({ min: 0, max: 8_000_000_000_000 }), { nil: undefined });
const record: fc.Arbitrary<DeliveryRecord> = fc.record({
  lb: fc.string({ minLength: 1 }),
  name: fc.string({ minLength: 1 }),
  status: fc.constantFrom(...DELIVERY_STATUSES),
  failing: fc.boolean(),
  checkedAt: time,
  lastServedAt: time,
  detail: fc.option(fc.string(), { nil: undefined }),
}, { noNullPrototype: true });

const sample: DeliveryRecord = { lb: 'http://lb1:9090', name: 'a.test', status: 'stale', failing: true, checkedAt: 1_000, lastServedAt: undefined, detail: 'an older certificate is served' };

describe('delivery.json', () => {
  it('reads back exactly what was written (property)', () => {
    fc.assert(
      fc.property(fc.array(record, { maxLength: 20 }), fc.integer({ min: 0, max: 65_535 }), (records, port) => {
        assert.deepEqual(parseDelivery(serializeDelivery(records, port)), { checkPort: port, records, problems: [] });
      }),
    );
  });

  it('has the documented shape, one record a line', () => {
    const text = serializeDelivery([sample], 443);
    assert.deepEqual(JSON.parse(text), {
      version: 1,
      checkPort: 443,
      records: [{ lb: 'http://lb1:9090', name: 'a.test', status: 'stale', failing: true, checkedAt: '1970-01-01T00:00:01.000Z', lastServedAt: null, detail: 'an older certificate is served' }],
    });
    assert.equal(text.split('\n').length, 4);
  });

  it('never throws on garbage: it returns what it could read and says what it could not (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((v) => JSON.stringify({ version: 1, checkPort: 443, records: [v, sample] }))), (text) => {
        const parsed = parseDelivery(text);
        assert.ok(Array.isArray(parsed.records));
        assert.ok(Number.isInteger(parsed.checkPort));
        assert.ok(parsed.records.length > 0 || parsed.problems.length > 0 || /"records":\[\]/.test(text.replace(/\s/g, '')));
      }),
    );
  });

  it('keeps the good records of a damaged file and names the bad ones', () => {
    const text = JSON.stringify({ version: 1, checkPort: 'x', records: [{ lb: 'l', name: 'n', status: 'weird', failing: false, checkedAt: null, lastServedAt: null, detail: null }, (JSON.parse(serializeDelivery([sample], 443)) as { records: unknown[] }).records[0]] });
    const parsed = parseDelivery(text);
    assert.deepEqual(parsed.records, [sample]);
    assert.equal(parsed.checkPort, 0);
    assert.equal(parsed.problems.length, 2);
    assert.match(parsed.problems.join('\n'), /record 0: unknown status "weird"/);
  });

  it('readDeliveryFile: undefined without a file, the records with one', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'ma-delivery-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    assert.equal(await readDeliveryFile(dir), undefined);
    await writeFile(join(dir, 'delivery.json'), serializeDelivery([sample], 8443));
    assert.deepEqual(await readDeliveryFile(dir), { checkPort: 8443, records: [sample], problems: [] });
    await writeFile(join(dir, 'delivery.json'), '{"version":');
    const damaged = await readDeliveryFile(dir);
    assert.deepEqual(damaged?.records, []);
    assert.equal(damaged.problems.length, 1);
  });

  it('the writer writes at most once per interval, the newest records, and flushes on demand', async () => {
    const clock = new ManualClock(0);
    const writes: Array<{ at: number; text: string }> = [];
    const store = {
      writeFileAtomic: (path: string, text: string) => {
        assert.equal(path, 'delivery.json');
        writes.push({ at: clock.now(), text });
        return Promise.resolve();
      },
    };
    const writer = new DeliveryFileWriter({ store, checkPort: 443, clock, logger: silentLogger(), minIntervalMs: 10_000 });
    const tick = async (): Promise<void> => {
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    };
    writer.update([sample]);
    await tick();
    for (let i = 0; i < 100; i++) writer.update([{ ...sample, checkedAt: i }]);
    await clock.advance(5_000);
    assert.equal(writes.length, 1, 'the first update is written at once, the rest wait');
    await clock.advance(5_000);
    await tick();
    assert.equal(writes.length, 2);
    assert.equal(parseDelivery(writes[1]?.text ?? '').records[0]?.checkedAt, 99, 'only the newest set is written');
    writer.update([{ ...sample, checkedAt: 99 }]);
    await tick();
    writer.update([{ ...sample, detail: 'changed' }]);
    await writer.flush();
    assert.equal(writes.length, 3, 'an unchanged text is not rewritten; flush writes what waits');
    assert.equal(writes[2]?.at, 10_000);
  });
});
