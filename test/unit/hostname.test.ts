import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { normaliseHostname, type HostnameResult } from '../../src/domains/hostname.js';

function okName(raw: string): string {
  const r = normaliseHostname(raw);
  assert.ok(r.ok, `expected ${JSON.stringify(raw)} to be accepted, got ${JSON.stringify(r)}`);
  return r.name;
}

function reason(raw: string): string {
  const r = normaliseHostname(raw);
  assert.ok(!r.ok, `expected ${JSON.stringify(raw)} to be rejected, got ${JSON.stringify(r)}`);
  return r.reason;
}

describe('normaliseHostname: accepted names', () => {
  it('keeps an ordinary name as it is', () => {
    assert.deepEqual(normaliseHostname('example.com'), { ok: true, name: 'example.com' });
    assert.equal(okName('app1.example.test'), 'app1.example.test');
    assert.equal(okName('a-b.c-d.example'), 'a-b.c-d.example');
    assert.equal(okName('123.example.com'), '123.example.com');
  });

  it('trims surrounding whitespace', () => {
    assert.equal(okName('  example.com \t\n'), 'example.com');
  });

  it('lower-cases', () => {
    assert.equal(okName('WWW.Example.COM'), 'www.example.com');
  });

  it('drops one trailing dot', () => {
    assert.equal(okName('example.com.'), 'example.com');
    assert.equal(okName('Example.Com. '), 'example.com');
  });

  it('converts an internationalised name to punycode', () => {
    assert.equal(okName('bücher.example'), 'xn--bcher-kva.example');
    assert.equal(okName('BÜCHER.Example.'), 'xn--bcher-kva.example');
    assert.equal(okName('日本語.example'), 'xn--wgv71a119e.example');
  });

  it('accepts an already converted name and an all-numeric label below the top level', () => {
    assert.equal(okName('xn--bcher-kva.example'), 'xn--bcher-kva.example');
    assert.equal(okName('1.2.3.example'), '1.2.3.example');
  });

  it('accepts the longest allowed label and name', () => {
    const label63 = 'a'.repeat(63);
    assert.equal(okName(`${label63}.example`), `${label63}.example`);
    // 4 labels of 63 + 3 dots = 255: trim to exactly 253.
    const name253 = [label63, label63, label63, 'a'.repeat(61)].join('.');
    assert.equal(name253.length, 253);
    assert.equal(okName(name253), name253);
    assert.equal(okName(`${name253}.`), name253);
  });

  it('accepts hyphens inside labels, including the reserved "--" position', () => {
    assert.equal(okName('a--b.example'), 'a--b.example');
  });
});

describe('normaliseHostname: rejected names', () => {
  it('rejects empty and blank names', () => {
    assert.match(reason(''), /empty/);
    assert.match(reason('   '), /empty/);
    assert.match(reason('.'), /empty/);
  });

  it('rejects names longer than 253 characters', () => {
    const label63 = 'a'.repeat(63);
    assert.match(reason([label63, label63, label63, 'a'.repeat(62)].join('.')), /longer than 253/);
  });

  it('rejects labels longer than 63 characters', () => {
    assert.match(reason(`${'a'.repeat(64)}.example`), /label is longer than 63/);
  });

  it('rejects empty labels', () => {
    assert.match(reason('a..example'), /empty label/);
    assert.match(reason('.example.com'), /empty label/);
    assert.match(reason('example.com..'), /empty label/);
  });

  it('rejects characters outside letters, digits and hyphens', () => {
    for (const raw of ['foo_bar.example', 'foo bar.example', 'exa$mple.com', 'example.com:443', 'a/b.example', 'a\tb.example', 'a\u0000.example']) {
      assert.match(reason(raw), /characters other than/, raw);
    }
  });

  it('rejects labels that start or end with a hyphen, in ASCII or Unicode', () => {
    assert.match(reason('-example.com'), /hyphen/);
    assert.match(reason('example-.com'), /hyphen/);
    assert.match(reason('example.-com'), /hyphen/);
    assert.match(reason('-ü.example'), /hyphen/);
    assert.match(reason('ü-.example'), /hyphen/);
    assert.match(reason('xn----eha.example'), /hyphen/);
  });

  it('rejects wildcards with the DNS-01 explanation', () => {
    assert.equal(reason('*.example.com'), 'wildcard names need DNS-01; HTTP-01 cannot validate them');
    assert.match(reason('*'), /wildcard/);
    assert.match(reason('a.*.example.com'), /wildcard/);
    assert.match(reason('*.bücher.example'), /wildcard/);
  });

  it('rejects IPv4 and IPv6 literals', () => {
    for (const raw of ['127.0.0.1', '10.1.2.3.', '::1', '[::1]', '2001:db8::1', '::ffff:192.0.2.1', '１２７.０.０.１']) {
      assert.equal(reason(raw), 'IP addresses are not supported, use a DNS name', raw);
    }
  });

  it('rejects single-label names', () => {
    assert.equal(reason('localhost'), 'not a fully qualified domain name');
    assert.equal(reason('localhost.'), 'not a fully qualified domain name');
    assert.equal(reason('ü'), 'not a fully qualified domain name');
  });

  it('rejects an all-numeric top-level label', () => {
    assert.match(reason('example.123'), /top-level label is a number/);
    assert.match(reason('127.1'), /top-level label is a number/);
    assert.match(reason('127.0.0.0x1'), /reads as an IPv4 address/, 'hex: URL parsers read it as 127.0.0.1');
    assert.match(reason('169.254.169.0xFE'), /reads as an IPv4 address/);
    assert.match(reason('a.0x'), /reads as an IPv4 address/);
    assert.equal(normaliseHostname('a.0xample').ok, true, 'a label that only starts with 0x is a name');
  });

  it('rejects internationalised names that cannot be converted', () => {
    assert.match(reason('a b.ü'), /cannot be converted/);
    assert.match(reason('\u200d.ü'), /cannot be converted/);
    assert.match(reason('\ud800.example'), /cannot be converted/);
  });

  it('rejects an "xn--" label that is not valid punycode', () => {
    assert.match(reason('xn--zz.example'), /not valid punycode/);
  });

  it('never repeats the name in the reason', () => {
    for (const raw of ['bad_name.example', 'x'.repeat(300), '*.wild.example', 'single', '10.0.0.1', 'a..b']) {
      assert.ok(!reason(raw).includes(raw), raw);
    }
  });
});

describe('normaliseHostname: properties', () => {
  const interesting = fc.string({
    unit: fc.constantFrom('a', 'Z', '0', '9', '-', '.', '_', ' ', '*', ':', 'ü', 'ß', '。', '１', 'x', 'n'),
    maxLength: 40,
  });
  const domains = fc.domain().chain((d) =>
    fc.tuple(fc.constant(d), fc.boolean(), fc.boolean()).map(([name, upper, dot]) => `${upper ? name.toUpperCase() : name}${dot ? '.' : ''}`),
  );
  const anyInput = fc.oneof(
    fc.string({ unit: 'binary' }),
    fc.string({ unit: 'grapheme' }),
    interesting,
    domains,
    fc.array(fc.stringMatching(/^[a-zA-Z0-9-]{0,70}$/), { maxLength: 6 }).map((labels) => labels.join('.')),
  );

  function checkOk(r: HostnameResult): void {
    if (!r.ok) return;
    assert.equal(r.name, r.name.toLowerCase());
    assert.ok(!r.name.endsWith('.'));
    assert.ok(r.name.length >= 1 && r.name.length <= 253);
    const labels = r.name.split('.');
    assert.ok(labels.length >= 2);
    for (const label of labels) assert.match(label, /^[a-z0-9-]{1,63}$/);
    assert.deepEqual(normaliseHostname(r.name), r, 'normalising an accepted name again must change nothing');
  }

  it('never throws, and every accepted name is canonical and idempotent', () => {
    fc.assert(
      fc.property(anyInput, (raw) => {
        const r = normaliseHostname(raw);
        if (r.ok) checkOk(r);
        else assert.ok(r.reason.length > 0);
      }),
      { numRuns: 1000 },
    );
  });

  it('accepts generated valid domain names, lower-cased and without the trailing dot', () => {
    fc.assert(
      fc.property(fc.domain(), fc.boolean(), (name, dot) => {
        const r = normaliseHostname(`${name.toUpperCase()}${dot ? '.' : ''}`);
        if (/\.[0-9]+$/.test(name)) return; // fast-check may end with a numeric label; we reject those on purpose
        assert.deepEqual(r, { ok: true, name: name.toLowerCase() });
      }),
      { numRuns: 300 },
    );
  });
});
