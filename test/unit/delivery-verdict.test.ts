import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { ProbeResult, ServedLeaf } from '../../src/delivery/probe.js';
import { deliveryVerdict, type StoredLeaf } from '../../src/delivery/verdict.js';

const hex64 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
const label = fc.stringMatching(/^[a-z0-9]{1,10}$/);
const hostname = fc.tuple(label, label).map(([a, b]) => `${a}.${b}.test`);
const time = fc.integer({ min: 0, max: 4_000_000_000_000 });

/** Node's colon form, upper case: how a stored leaf's fingerprint may come in. */
const colonForm = (hex: string): string => hex.toUpperCase().match(/../g)?.join(':') ?? '';

const served = (fingerprint256: string, names: string[], notBefore: number): ProbeResult => ({
  ok: true,
  leaf: { fingerprint256, serialHex: '01', names, issuer: 'CN=test', notBefore, notAfter: notBefore + 1 } satisfies ServedLeaf,
});

const stored = fc.record({ fingerprint256: hex64, notBefore: time, names: fc.array(hostname, { minLength: 1, maxLength: 4 }) });

describe('deliveryVerdict', () => {
  it('is served for the stored fingerprint whatever else the leaf says, in either fingerprint form', () => {
    fc.assert(
      fc.property(stored, fc.array(hostname), time, fc.option(hex64, { nil: undefined }), fc.boolean(), (s, names, notBefore, dflt, colons) => {
        const leaf: StoredLeaf = { ...s, fingerprint256: colons ? colonForm(s.fingerprint256) : s.fingerprint256 };
        assert.deepEqual(deliveryVerdict(leaf, served(s.fingerprint256, names, notBefore), dflt), { status: 'served', detail: undefined });
      }),
    );
  });

  it('is unreachable with the probe error as the detail when the probe failed', () => {
    fc.assert(
      fc.property(stored, fc.string(), (s, error) => {
        assert.deepEqual(deliveryVerdict(s, { ok: false, error }), { status: 'unreachable', detail: error });
      }),
    );
  });

  it('is other when default.pem is served, even if it is older and names the host', () => {
    fc.assert(
      fc.property(stored, hex64, (s, dflt) => {
        fc.pre(dflt !== s.fingerprint256);
        const verdict = deliveryVerdict(s, served(dflt, [...s.names], s.notBefore - 1), colonForm(dflt));
        assert.equal(verdict.status, 'other');
        assert.match(verdict.detail ?? '', /default\.pem/);
      }),
    );
  });

  it('is stale exactly for an older, different certificate that names one of the stored names', () => {
    fc.assert(
      fc.property(stored, hex64, fc.array(hostname, { maxLength: 3 }), fc.boolean(), time, (s, fp, extra, overlap, notBefore) => {
        fc.pre(fp !== s.fingerprint256);
        const names = overlap ? [...extra, s.names[0] ?? 'x.test'] : extra.filter((n) => !s.names.includes(n));
        const verdict = deliveryVerdict(s, served(fp, names.map((n) => n.toUpperCase()), notBefore));
        const expected = overlap && notBefore < s.notBefore ? 'stale' : 'other';
        assert.equal(verdict.status, expected);
        assert.ok(verdict.detail !== undefined && verdict.detail.length > 0);
      }),
    );
  });

  it('never answers unchecked, and gives a detail exactly when not served', () => {
    const probe: fc.Arbitrary<ProbeResult> = fc.oneof(
      fc.string().map((error) => ({ ok: false as const, error })),
      fc.tuple(hex64, fc.array(hostname), time).map(([fp, names, nb]) => served(fp, names, nb)),
    );
    fc.assert(
      fc.property(stored, probe, fc.option(hex64, { nil: undefined }), (s, p, dflt) => {
        const verdict = deliveryVerdict(s, p, dflt);
        assert.notEqual(verdict.status, 'unchecked');
        assert.equal(verdict.detail === undefined, verdict.status === 'served');
      }),
    );
  });

  it('does not treat a wildcard covering the name as ours', () => {
    const s: StoredLeaf = { fingerprint256: 'aa'.repeat(32), notBefore: 2_000, names: ['www.example.test'] };
    assert.equal(deliveryVerdict(s, served('bb'.repeat(32), ['*.example.test'], 1_000)).status, 'other');
  });
});
