/**
 * Hostile and malformed host names and app definitions: what tenants can write into Marathon labels
 * (or what a broken Marathon can send) must be normalised or refused with a reason, never crash a
 * sync and never spoil the certificates of other apps.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { domainToASCII, domainToUnicode } from 'node:url';
import fc from 'fast-check';
import { normaliseHostname, type HostnameResult } from '../../src/domains/hostname.js';
import { parseDomainLabel, selectWantedNames, type MultipleDomainsMode, type SelectionOptions, type SelectionResult, type WantedName } from '../../src/marathon/apps.js';
import { bridgeApp, hostApp, legacyBridgeApp, type AppJson, type Labels } from '../support/apps.js';
import { faultCase } from '../support/fault-report.js';

const AREA = 'Hostile input: names and labels';
const GROUP = 'external';

const WILDCARD_REASON = 'wildcard names need DNS-01; HTTP-01 cannot validate them';
const IP_REASON = 'IP addresses are not supported, use a DNS name';
const CHARACTERS_REASON = 'the name contains characters other than letters, digits, hyphens and dots';
const EMPTY_LABEL_REASON = 'the name has an empty label (a leading dot or two dots in a row)';

/** Counts of things seen during a property run, printed most frequent first for the report. */
class Tally {
  private readonly counts = new Map<string, number>();

  add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  get total(): number {
    let sum = 0;
    for (const n of this.counts.values()) sum += n;
    return sum;
  }

  toString(): string {
    return [...this.counts].sort((a, b) => b[1] - a[1]).map(([key, n]) => `${n}× ${key}`).join(', ');
  }
}

const outcome = (r: HostnameResult): string => (r.ok ? 'accepted' : `rejected: ${r.reason}`);

function rejectedWith(r: HostnameResult, reason: string, raw: string): void {
  assert.deepEqual(r, { ok: false, reason }, `input ${JSON.stringify(raw)}`);
}

const LETTER = 'abcdefghijklmnopqrstuvwxyz';
// Labels without hyphens never hit the reserved "xn--" position, so every generated name is valid.
const asciiLabel = fc.stringMatching(/^[a-z][a-z0-9]{0,11}$/);
/** A valid, already normalised ASCII name; the top-level label starts with a letter, so it is never all digits. */
const validName = fc.array(asciiLabel, { minLength: 2, maxLength: 5 }).map((labels) => labels.join('.'));

const NON_ASCII = /[\u0080-\uffff]/;

/** Upper-cases the characters where `flips` says so (cycling through it); every generated character is one code unit. */
function flipCase(name: string, flips: readonly boolean[]): string {
  if (flips.length === 0) return name;
  return Array.from(name, (c, i) => (flips[i % flips.length] === true ? c.toUpperCase() : c)).join('');
}

/**
 * Spellings of a valid name that must all normalise to it: any case, one trailing dot, surrounding
 * whitespace. Used wherever a test needs several apps to write "the same" name differently.
 */
const spelling = (name: string): fc.Arbitrary<string> =>
  fc
    .tuple(fc.array(fc.boolean(), { maxLength: 8 }), fc.boolean(), fc.constantFrom('', ' ', '\t'))
    .map(([flips, dot, pad]) => `${pad}${flipCase(name, flips)}${dot ? '.' : ''}${pad}`);

describe('Hostile input: host names', () => {
  // Letters whose upper and lower case map onto each other one to one (no "ß" → "SS", no dotted İ),
  // so swapping case must never change the result; caseless CJK for good measure.
  const caseClean = ['ü', 'é', 'ñ', 'ø', 'å', 'ç', 'ж', 'λ', 'ω'];
  // Hyphens and underscores are rare, so most names are valid and exercise the conversion itself.
  const idnLabel = fc.string({
    unit: fc.oneof(
      { weight: 30, arbitrary: fc.constantFrom(...caseClean, '日', '本', '語', 'a', 'b', 'z', '0', '7') },
      { weight: 1, arbitrary: fc.constantFrom('-', '_') },
    ),
    minLength: 1,
    maxLength: 30,
  });
  const idnName = fc
    .tuple(fc.array(idnLabel, { minLength: 1, maxLength: 4 }), fc.constantFrom('example', 'рф', 'テスト', 'com', '123'), fc.constantFrom('', '.', '。'))
    .map(([labels, tld, dot]) => `${[...labels, tld].join('.')}${dot}`);

  it('converts internationalised names to punycode or rejects them, the same way in every spelling', (t) => {
    const rec = faultCase(t, {
      area: AREA,
      fault: 'internationalised names in Unicode, punycode and mixed-case spellings',
      tried: '3000 generated names (property), each in 4 spellings: Unicode, punycode, upper-case punycode, mixed case',
    });
    const tally = new Tally();
    fc.assert(
      fc.property(idnName, fc.array(fc.boolean(), { minLength: 1, maxLength: 7 }), (unicode, flips) => {
        const r = normaliseHostname(unicode);
        tally.add(r.ok ? (r.name.split('.').some((l) => l.startsWith('xn--')) ? 'accepted as punycode' : 'accepted as plain ASCII') : outcome(r));
        if (r.ok) {
          assert.match(r.name, /^[a-z0-9.-]+$/, 'an accepted name is ASCII');
          // Every label that had a non-ASCII character becomes an "xn--" label, and decodes back.
          const lower = unicode.replaceAll('。', '.').replace(/\.$/, '').toLowerCase();
          assert.equal(domainToUnicode(r.name), lower);
          lower.split('.').forEach((label, i) => {
            if (NON_ASCII.test(label)) assert.ok(r.name.split('.')[i]?.startsWith('xn--'), `${r.name} label ${i}`);
          });
        }
        // An all-ASCII input is its own ASCII form; WHATWG's domainToASCII would even refuse some
        // (a numeric top-level label makes it parse as an IPv4 address), which says nothing about us.
        const ascii = NON_ASCII.test(unicode) ? domainToASCII(unicode) : unicode;
        if (ascii === '') {
          assert.match(outcome(r), /cannot be converted/);
        } else {
          assert.deepEqual(normaliseHostname(ascii), r, `punycode form ${ascii} of ${unicode}`);
          assert.deepEqual(normaliseHostname(ascii.toUpperCase()), r, `upper-case punycode form of ${unicode}`);
        }
        assert.deepEqual(normaliseHostname(flipCase(unicode, flips)), r, `mixed-case spelling of ${unicode}`);
      }),
      { numRuns: 3000 },
    );
    const accepted = tally.get('accepted as punycode') + tally.get('accepted as plain ASCII');
    rec.observe(`${tally.total} names: ${accepted} accepted (${tally.get('accepted as punycode')} as punycode), ${tally.total - accepted} rejected; Unicode, punycode and mixed-case spellings agreed every time`);
    rec.observe(`outcomes: ${tally.toString()}`);
    assert.ok(tally.get('accepted as punycode') > 0, 'the generator must produce convertible names');
  });

  it('rejects every wildcard with the DNS-01 reason, wherever the asterisk is', (t) => {
    const rec = faultCase(t, {
      area: AREA,
      fault: 'wildcard names (*.x.y, a.*.b, *, asterisks inside labels)',
      tried: '2000 generated names (property) + 10 fixed ones (full-width asterisks among them)',
    });
    assert.match(WILDCARD_REASON, /DNS-01/);
    // U+FF0A and U+FE61 are asterisks that IDNA maps to '*': they must get the same reason.
    for (const raw of ['*', '*.x.y', 'a.*.b', '*.bücher.example', ' *.Example.COM. ', '**.example.com', 'a*.example.com', '*.', '\uff0a.example.com', '\ufe61.example.com']) {
      rejectedWith(normaliseHostname(raw), WILDCARD_REASON, raw);
    }
    const wildcard = fc
      .tuple(fc.array(fc.oneof(asciiLabel, idnLabel), { minLength: 0, maxLength: 4 }), fc.nat(), fc.constantFrom('*', '*.', '.*', '**'), fc.boolean(), fc.boolean())
      .map(([labels, at, star, dot, pad]) => {
        const name = labels.join('.');
        const i = at % (name.length + 1);
        return `${pad ? ' ' : ''}${name.slice(0, i)}${star}${name.slice(i)}${dot ? '.' : ''}`;
      });
    fc.assert(
      fc.property(wildcard, (raw) => {
        rejectedWith(normaliseHostname(raw), WILDCARD_REASON, raw);
        // Through a label too: nothing selected, and the operator reads the same reason.
        const selection = selectWantedNames([hostApp('/wild', { HAPROXY_GROUP: GROUP, MARATHON_ACME_0_DOMAIN: raw })], { group: GROUP, multipleDomains: 'separate' });
        assert.deepEqual(selection.names, []);
        assert.equal(selection.warnings.length, 1);
        assert.ok(selection.warnings[0]?.message.endsWith(`ignored: ${WILDCARD_REASON}`), selection.warnings[0]?.message);
      }),
      { numRuns: 2000 },
    );
    rec.observe(`2010 names, all rejected with "${WILDCARD_REASON}"; the 2000 generated ones also through a label: nothing selected, 1 warning each with that reason`);
  });

  it('rejects IPv4 and IPv6 literals, bracketed or with a trailing dot', (t) => {
    const rec = faultCase(t, {
      area: AREA,
      fault: 'IP address literals (fc.ipV4, fc.ipV4Extended, fc.ipV6; bracketed, trailing dot, upper case, full-width digits)',
      tried: '1000 IPv4 + 1000 octal/hex/short IPv4 + 1000 IPv6 generated addresses (property), 3-6 spellings each',
    });
    const fullWidth = (s: string): string => s.replace(/[0-9.]/g, (c) => (c === '.' ? '．' : String.fromCharCode(0xff10 + Number(c))));
    const tally = new Tally();
    fc.assert(
      fc.property(fc.ipV4(), (ip) => {
        for (const raw of [ip, `${ip}.`, ` ${ip} `, fullWidth(ip)]) {
          rejectedWith(normaliseHostname(raw), IP_REASON, raw);
          tally.add('IPv4 rejected as an IP address');
        }
        // Brackets are IPv6-only syntax, so "[1.2.3.4]" is not a literal; it must still never pass.
        for (const raw of [`[${ip}]`, `[${ip}].`]) {
          assert.equal(normaliseHostname(raw).ok, false, raw);
          tally.add('bracketed IPv4 rejected (as bad characters)');
        }
      }),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(fc.ipV6(), (ip) => {
        for (const raw of [ip, `${ip}.`, `[${ip}]`, `[${ip}].`, ip.toUpperCase(), ` [${ip.toUpperCase()}] `]) {
          rejectedWith(normaliseHostname(raw), IP_REASON, raw);
          tally.add('IPv6 rejected as an IP address');
        }
      }),
      { numRuns: 1000 },
    );
    // Octal, hex and shortened forms (0x7f.1, 0177.0.0.1, 127.0.0.0x1): URL parsers read them as IPv4.
    fc.assert(
      fc.property(fc.ipV4Extended(), (ip) => {
        for (const raw of [ip, `${ip}.`, ip.toUpperCase()]) {
          const result = normaliseHostname(raw);
          // A one-part form ("0", "0x7f000001") is refused earlier, as a single label.
          assert.match(result.ok ? `accepted as ${result.name}` : result.reason, /IP addresses are not supported|reads as an IPv4 address|not a fully qualified/, raw);
          tally.add('extended IPv4 form rejected');
        }
      }),
      { numRuns: 1000 },
    );
    rec.observe(`${tally.total} spellings: ${tally.toString()}; 0 accepted`);
  });

  it('enforces 63 octets per label and 253 per name, accepting exactly 63 and 253', (t) => {
    const rec = faultCase(t, {
      area: AREA,
      fault: 'labels and names at and over the DNS length limits, in ASCII and punycode',
      tried: '2000 generated names (property) around the limits + punycode boundary cases',
    });
    const label63 = 'a'.repeat(63);
    const name253 = [label63, label63, label63, 'b'.repeat(61)].join('.');
    assert.deepEqual(normaliseHostname(`${label63}.example`), { ok: true, name: `${label63}.example` });
    rejectedWith(normaliseHostname(`${label63}a.example`), 'a label is longer than 63 characters', '64-octet label');
    assert.deepEqual(normaliseHostname(name253), { ok: true, name: name253 });
    assert.deepEqual(normaliseHostname(`${name253}.`), { ok: true, name: name253 });
    rejectedWith(normaliseHostname(`${name253}b`), 'the name is longer than 253 characters', '254-octet name');

    // The limits are on the punycode form: a Unicode label much shorter than 63 characters can be over.
    const idn = (n: number): string => `ü${'a'.repeat(n)}`;
    const fits = Array.from({ length: 63 }, (_, n) => n).filter((n) => domainToASCII(idn(n)).length === 63);
    assert.equal(fits.length, 1);
    const n63 = fits[0] ?? 0;
    const ok63 = normaliseHostname(`${idn(n63)}.example`);
    assert.ok(ok63.ok && ok63.name.split('.')[0]?.length === 63, JSON.stringify(ok63));
    rejectedWith(normaliseHostname(`${idn(n63 + 1)}.example`), 'a label is longer than 63 characters', `${n63 + 2}-character Unicode label`);

    /**
     * A name of exactly `total` octets in `count` labels. `moves` shifts characters between labels so
     * the long and short labels land in different places; totals and labels stay exact.
     */
    function nameOfLength(total: number, count: number, moves: ReadonlyArray<readonly [number, number, number]>, overLong: boolean): string {
      const chars = total - (count - 1);
      const lengths = Array.from({ length: count }, (_, i) => Math.floor(chars / count) + (i < chars % count ? 1 : 0));
      const cap = overLong ? 90 : 63;
      for (const [from, to, amount] of moves) {
        const a = from % count;
        const b = to % count;
        const n = Math.min(amount, (lengths[a] ?? 1) - 1, cap - (lengths[b] ?? cap));
        if (a === b || n <= 0) continue;
        lengths[a] = (lengths[a] ?? 0) - n;
        lengths[b] = (lengths[b] ?? 0) + n;
      }
      return lengths.map((n, i) => LETTER[i % LETTER.length]?.repeat(n) ?? '').join('.');
    }
    const tally = new Tally();
    const lengthCase = fc
      .record({
        total: fc.oneof(fc.constantFrom(252, 253, 254, 255), fc.integer({ min: 3, max: 300 })),
        extra: fc.integer({ min: 0, max: 3 }),
        moves: fc.array(fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 1, max: 40 })), { maxLength: 6 }),
        overLong: fc.boolean(),
      })
      .map(({ total, extra, moves, overLong }) => {
        // As few labels as fit, plus `extra`, but never more labels than characters allow.
        const count = Math.min(Math.max(2, Math.ceil((total + 1) / 64) + extra), Math.floor((total + 1) / 2));
        return nameOfLength(total, count, moves, overLong);
      });
    fc.assert(
      fc.property(lengthCase, (name) => {
        const r = normaliseHostname(name);
        const longest = Math.max(...name.split('.').map((l) => l.length));
        if (name.length > 253) rejectedWith(r, 'the name is longer than 253 characters', name);
        else if (longest > 63) rejectedWith(r, 'a label is longer than 63 characters', name);
        else assert.deepEqual(r, { ok: true, name });
        tally.add(name.length > 253 ? 'name over 253' : longest > 63 ? 'label over 63' : name.length === 253 ? 'exactly 253, accepted' : longest === 63 ? 'label of exactly 63, accepted' : 'within limits, accepted');
      }),
      { numRuns: 2000 },
    );
    rec.observe(`${tally.total} generated names: ${tally.toString()}`);
    rec.observe(`punycode: a ${n63 + 1}-character Unicode label (63 octets encoded) accepted, one more character rejected`);
    assert.ok(tally.get('exactly 253, accepted') > 0 && tally.get('name over 253') > 0 && tally.get('label over 63') > 0, tally.toString());
  });

  it('rejects underscores anywhere in a name', (t) => {
    const rec = faultCase(t, {
      area: AREA,
      fault: 'underscores (e.g. _acme-challenge labels, SRV-style names), in ASCII and Unicode names',
      tried: '2000 generated names (property) + 3 fixed ones',
    });
    for (const raw of ['_acme-challenge.example.com', 'foo_bar.example', 'ü_.example']) rejectedWith(normaliseHostname(raw), CHARACTERS_REASON, raw);
    fc.assert(
      fc.property(validName, fc.nat(), fc.constantFrom('', 'ü', '日'), (name, at, unicode) => {
        const base = `${unicode}${name}`;
        const i = at % (base.length + 1);
        const raw = `${base.slice(0, i)}_${base.slice(i)}`;
        rejectedWith(normaliseHostname(raw), CHARACTERS_REASON, raw);
      }),
      { numRuns: 2000 },
    );
    rec.observe(`2003 names with an underscore, all rejected with "${CHARACTERS_REASON}"`);
  });

  it('drops one trailing dot and only one', (t) => {
    const rec = faultCase(t, {
      area: AREA,
      fault: 'trailing dots (ASCII and IDNA full stops), doubled, leading',
      tried: '2000 generated names (property), 4 spellings each',
    });
    const dots = ['.', '。', '．', '｡'];
    fc.assert(
      fc.property(validName, fc.constantFrom(...dots), fc.constantFrom(...dots), (name, first, second) => {
        assert.deepEqual(normaliseHostname(`${name}${first}`), { ok: true, name });
        rejectedWith(normaliseHostname(`${name}${first}${second}`), EMPTY_LABEL_REASON, `${name}${first}${second}`);
        rejectedWith(normaliseHostname(`.${name}`), EMPTY_LABEL_REASON, `.${name}`);
        assert.deepEqual(normaliseHostname(`bücher.${name}${first}`), normaliseHostname(`bücher.${name}`));
      }),
      { numRuns: 2000 },
    );
    rec.observe('2000 names: 1 trailing dot dropped every time (4000 spellings), 2 trailing dots or a leading dot rejected every time (4000 spellings)');
  });

  it('lower-cases mixed-case names', (t) => {
    const rec = faultCase(t, {
      area: AREA,
      fault: 'mixed-case ASCII names, and names with characters IDNA folds to ASCII (Kelvin sign, full-width letters)',
      tried: '2000 generated names (property) + 2 fixed ones',
    });
    assert.deepEqual(normaliseHostname('\u212aelvin.example'), { ok: true, name: 'kelvin.example' });
    assert.deepEqual(normaliseHostname('ＡＢＣ.Example'), { ok: true, name: 'abc.example' });
    let changed = 0;
    fc.assert(
      fc.property(validName, fc.array(fc.boolean(), { minLength: 1, maxLength: 9 }), (name, flips) => {
        const raw = flipCase(name, flips);
        if (raw !== name) changed += 1;
        assert.deepEqual(normaliseHostname(raw), { ok: true, name });
      }),
      { numRuns: 2000 },
    );
    rec.observe(`2000 names (${changed} with upper-case letters): every one lower-cased to the generated name`);
  });

  it('is idempotent: an accepted name normalises to itself in any spelling', (t) => {
    const rec = faultCase(t, {
      area: AREA,
      fault: 'arbitrary strings: binary, graphemes, DNS-like, IDN-like, name-like pieces',
      tried: '5000 generated strings (property)',
    });
    const pieces = fc.string({
      unit: fc.constantFrom('a', 'Z', '0', '9', '-', '.', '_', ' ', '*', ':', '[', ']', 'ü', 'ß', 'İ', '。', '１', 'x', 'n', '\u200d', '\u00ad', '\u0000'),
      maxLength: 40,
    });
    const hostile = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 60 }),
      fc.string({ unit: 'grapheme', maxLength: 30 }),
      pieces,
      fc.domain(),
      idnName,
      validName.chain(spelling),
    );
    const tally = new Tally();
    fc.assert(
      fc.property(hostile, (raw) => {
        const r = normaliseHostname(raw);
        tally.add(r.ok ? 'accepted' : 'rejected');
        if (!r.ok) {
          assert.ok(r.reason.length > 0);
          return;
        }
        assert.deepEqual(normaliseHostname(r.name), r);
        assert.deepEqual(normaliseHostname(`${r.name}.`), r);
        assert.deepEqual(normaliseHostname(r.name.toUpperCase()), r);
        assert.deepEqual(normaliseHostname(domainToUnicode(r.name)), r, 'the Unicode form of an accepted name');
      }),
      { numRuns: 5000 },
    );
    rec.observe(`${tally.total} strings: ${tally.get('accepted')} accepted, each stable under re-normalising, a trailing dot, upper case and its Unicode form; ${tally.get('rejected')} rejected with a reason; 0 crashes`);
    assert.ok(tally.get('accepted') > 0 && tally.get('rejected') > 0, tally.toString());
  });
});

describe('Hostile input: domain labels and app lists', () => {
  const options = (multipleDomains: MultipleDomainsMode, extra: Partial<SelectionOptions> = {}): SelectionOptions => ({ group: GROUP, multipleDomains, ...extra });
  const separators = fc.constantFrom(',', ' ', ', ', ' ,', '\t', '\n', ',,', '  \r\n ');

  function joinLabel(pieces: readonly string[], seps: readonly string[]): string {
    return pieces.map((p, i) => `${i === 0 ? '' : (seps[i % Math.max(seps.length, 1)] ?? ',')}${p}`).join('');
  }

  it('de-duplicates names within a label, across ports and across apps, keeping the first', (t) => {
    const rec = faultCase(t, {
      area: AREA,
      fault: 'the same names repeated in one label, across ports and across apps, in different spellings',
      tried: '1000 generated app lists (property), up to 6 apps × 3 ports × 8 names, 3 modes',
    });
    const pool = fc.uniqueArray(validName, { minLength: 1, maxLength: 6 });
    const appList = pool.chain((names) =>
      fc.array(
        fc.array(fc.array(fc.constantFrom(...names).chain(spelling), { maxLength: 8 }), { minLength: 1, maxLength: 3 }),
        { minLength: 1, maxLength: 6 },
      ),
    );
    let duplicates = 0;
    let selections = 0;
    fc.assert(
      fc.property(appList, fc.array(separators, { minLength: 1, maxLength: 4 }), fc.constantFrom<MultipleDomainsMode>('first', 'separate', 'san'), (apps, seps, mode) => {
        const built = apps.map((ports, a) => {
          const labels: Labels = { HAPROXY_GROUP: GROUP };
          ports.forEach((pieces, p) => {
            labels[`MARATHON_ACME_${p}_DOMAIN`] = joinLabel(pieces, seps);
          });
          return hostApp(`/dup/${a}`, labels, ports.map((_, p) => 20_000 + p));
        });
        // The model: every spelling normalises to the pool name; the first occurrence wins.
        const expected: WantedName[] = [];
        const seen = new Set<string>();
        apps.forEach((ports, a) => {
          ports.forEach((pieces, p) => {
            const wanted = (mode === 'first' ? pieces.slice(0, 1) : pieces).map((raw) => raw.trim().toLowerCase().replace(/\.$/, ''));
            const unique = [...new Set(wanted)];
            duplicates += wanted.length - unique.length;
            if (mode === 'san') {
              const primary = unique[0];
              if (primary === undefined || seen.has(primary)) return;
              seen.add(primary);
              expected.push({ name: primary, appId: `/dup/${a}`, portIndex: p, sans: unique });
              return;
            }
            for (const name of unique) {
              if (seen.has(name)) {
                duplicates += 1;
                continue;
              }
              seen.add(name);
              expected.push({ name, appId: `/dup/${a}`, portIndex: p });
            }
          });
        });
        const result = selectWantedNames(built, options(mode));
        assert.deepEqual(result.names, expected);
        // Duplicates are not mistakes: the only warnings are first mode's "multiple domains" notes.
        for (const w of result.warnings) assert.match(w.message, /^Multiple domains found/);
        selections += result.names.length;
      }),
      { numRuns: 1000 },
    );
    rec.observe(`1000 app lists: ${duplicates} duplicate spellings dropped, ${selections} names selected, each exactly once at its first occurrence; no warnings about duplicates`);
  });

  it('survives 5,000 names in one label: the per-app cap applies with one warning', (t) => {
    const rec = faultCase(t, {
      area: AREA,
      fault: 'one label holding 5,000 names separated by commas, spaces, tabs and newlines',
      tried: '5,000 names × 3 modes with --max-names-per-app 100, and once without a cap',
    });
    const seps = [',', ' ', ', ', '\t', '\n', ',,  '];
    const bulk = Array.from({ length: 5000 }, (_, i) => `n${i}.bulk.example`);
    const label = joinLabel(bulk, seps);
    assert.deepEqual(parseDomainLabel(label), bulk);
    const apps = [hostApp('/bulk', { HAPROXY_GROUP: GROUP, MARATHON_ACME_0_DOMAIN: label }), hostApp('/after', { HAPROXY_GROUP: GROUP, MARATHON_ACME_0_DOMAIN: 'after.example' })];
    const timed = (opts: SelectionOptions): { result: SelectionResult; ms: number } => {
      const started = performance.now();
      const result = selectWantedNames(apps, opts);
      return { result, ms: performance.now() - started };
    };
    const capWarning = /^app \/bulk asks for more than 100 names \(--max-names-per-app\); the rest are ignored$/;
    const timings: string[] = [];

    const separate = timed(options('separate', { maxNamesPerApp: 100 }));
    assert.deepEqual(separate.result.names.filter((n) => n.appId === '/bulk').map((n) => n.name), bulk.slice(0, 100));
    assert.deepEqual(separate.result.warnings.map((w) => [w.appId, capWarning.test(w.message)]), [['/bulk', true]]);
    assert.ok(separate.result.names.some((n) => n.appId === '/after' && n.name === 'after.example'));
    timings.push(`separate+cap ${separate.ms.toFixed(1)} ms`);

    const san = timed(options('san', { maxNamesPerApp: 100 }));
    assert.deepEqual(san.result.names[0], { name: bulk[0], appId: '/bulk', portIndex: 0, sans: bulk.slice(0, 100) });
    assert.deepEqual(san.result.warnings.map((w) => [w.appId, capWarning.test(w.message)]), [['/bulk', true]]);
    timings.push(`san+cap ${san.ms.toFixed(1)} ms`);

    const first = timed(options('first', { maxNamesPerApp: 100 }));
    assert.deepEqual(first.result.names.map((n) => n.name), [bulk[0], 'after.example']);
    assert.deepEqual(first.result.warnings.map((w) => w.message), ['Multiple domains found for port 0 of app /bulk, only the first will be used']);
    timings.push(`first+cap ${first.ms.toFixed(1)} ms`);

    const uncapped = timed(options('separate'));
    assert.equal(uncapped.result.names.length, 5001);
    assert.deepEqual(uncapped.result.warnings, []);
    timings.push(`separate without cap ${uncapped.ms.toFixed(1)} ms`);

    rec.observe('cap 100: 100 names kept for /bulk, 1 warning naming /bulk, /after unaffected (separate and san); first mode: 1 name + 1 "multiple domains" warning; no cap: all 5,000 kept');
    rec.observe(`selection time: ${timings.join(', ')}`);
  });

  // Entries that must contribute nothing and must not change what the valid apps get. Several carry
  // the very names the valid apps ask for, so a garbage entry that leaked would steal them.
  const poolNames = ['shop.example.com', 'api.example.com', 'bücher.example', 'www.example.org', 'a.b.example'];
  const poolLabel = fc.array(fc.constantFrom(...poolNames).chain(spelling), { minLength: 1, maxLength: 4 }).map((names) => names.join(' '));
  const invalidNames = ['bad_name.example', '*.example.com', '10.0.0.1', '[::1]', 'localhost', '-a.example', 'a..example', `${'x'.repeat(64)}.example`, 'xn--zz.example', 'example.123'];
  const garbage = (i: number): fc.Arbitrary<unknown> => {
    const junkId = `/junk/${i}`;
    const wantLabels = poolLabel.map((domain): Labels => ({ HAPROXY_GROUP: GROUP, MARATHON_ACME_0_DOMAIN: domain }));
    return fc.oneof(
      fc.constantFrom(null, undefined, 0, 42, '', 'app', true, [], [null]),
      wantLabels.map((labels) => ({ labels, portDefinitions: [{ port: 1 }] })),
      fc.tuple(fc.oneof(fc.integer(), fc.constant(null), fc.array(fc.string())), wantLabels).map(([id, labels]) => ({ id, labels, portDefinitions: [{ port: 1 }] })),
      fc.oneof(poolLabel, poolLabel.map((d) => [d]), fc.integer(), fc.constant(true)).map((labels) => ({ id: junkId, labels, portDefinitions: [{ port: 1 }] })),
      fc.tuple(wantLabels, fc.oneof(fc.string(), fc.integer(), fc.constant({}), fc.constant({ length: 3 }))).map(([labels, portDefinitions]) => ({ id: junkId, labels, portDefinitions })),
      fc.tuple(wantLabels, fc.oneof(fc.constant('x'), fc.integer(), fc.constant([null]))).map(([labels, networks]) => ({ id: junkId, labels, networks })),
      wantLabels.map((labels) => ({ id: junkId, labels, networks: [{ mode: 'container/iptables' }], portDefinitions: [] })),
      wantLabels.map((labels) => ({ ...hostApp(junkId, labels), labels: { ...labels, HAPROXY_GROUP: 'internal' } })),
      poolLabel.map((domain) => hostApp(junkId, { HAPROXY_GROUP: GROUP, MARATHON_ACME_3_DOMAIN: domain })),
      fc.array(fc.constantFrom(...invalidNames), { minLength: 1, maxLength: 4 }).map((names) => hostApp(junkId, { HAPROXY_GROUP: GROUP, MARATHON_ACME_0_DOMAIN: names.join(',') })),
      fc.oneof(fc.integer(), fc.array(poolLabel), fc.constant(null)).map((domain) => ({ id: junkId, labels: { HAPROXY_GROUP: GROUP, MARATHON_ACME_0_DOMAIN: domain }, portDefinitions: [{}] })),
      fc.jsonValue({ maxDepth: 3 }),
      fc.anything({ maxDepth: 3 }),
    );
  };
  // Valid apps of every networking shape the builders know; ids never collide with garbage ids.
  const validApp = (i: number): fc.Arbitrary<AppJson> =>
    fc
      .tuple(fc.integer({ min: 1, max: 3 }), fc.array(fc.option(poolLabel, { nil: undefined }), { minLength: 3, maxLength: 3 }), fc.constantFrom('host', 'bridge', 'legacy'))
      .map(([ports, domains, shape]) => {
        const labels: Labels = { HAPROXY_GROUP: GROUP };
        domains.slice(0, ports).forEach((domain, p) => {
          if (domain !== undefined) labels[`MARATHON_ACME_${p}_DOMAIN`] = domain;
        });
        const id = `/valid/${i}`;
        const containerPorts = Array.from({ length: ports }, (_, p) => 8000 + p);
        if (shape === 'bridge') return bridgeApp(id, labels, containerPorts);
        if (shape === 'legacy') return legacyBridgeApp(id, labels, containerPorts);
        return hostApp(id, labels, containerPorts);
      });

  it('gives valid apps exactly the same selection whatever invalid apps surround them', (t) => {
    const rec = faultCase(t, {
      area: AREA,
      fault: 'garbage app entries: wrong types for labels, ports, networks and id; null entries; invalid names; random JSON',
      tried: '1000 generated app lists (property), up to 5 valid + 8 garbage entries, 3 modes, with and without a cap',
    });
    let garbageEntries = 0;
    let garbageWarnings = 0;
    let validNames = 0;
    const scenario = fc
      .tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 8 }))
      .chain(([v, g]) =>
        fc.record({
          valid: fc.tuple(...Array.from({ length: v }, (_, i) => validApp(i))),
          junk: fc.tuple(...Array.from({ length: g }, (_, i) => garbage(i))),
          positions: fc.array(fc.nat(), { minLength: g, maxLength: g }),
          mode: fc.constantFrom<MultipleDomainsMode>('first', 'separate', 'san'),
          cap: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
        }),
      );
    fc.assert(
      fc.property(scenario, ({ valid, junk, positions, mode, cap }) => {
        const mixed: unknown[] = [...valid];
        junk.forEach((entry, i) => {
          mixed.splice((positions[i] ?? 0) % (mixed.length + 1), 0, entry);
        });
        const opts = options(mode, { maxNamesPerApp: cap });
        const alone = selectWantedNames(valid, opts);
        const together = selectWantedNames(mixed, opts);
        assert.deepEqual(together.names, alone.names);
        const validIds = new Set(valid.map((a) => a.id));
        assert.deepEqual(together.warnings.filter((w) => validIds.has(w.appId)), alone.warnings);
        garbageEntries += junk.length;
        garbageWarnings += together.warnings.length - alone.warnings.length;
        validNames += alone.names.length;
      }),
      { numRuns: 1000 },
    );
    rec.observe(`1000 lists: ${garbageEntries} garbage entries (${garbageWarnings} warnings about them), ${validNames} names for the valid apps, identical to the valid apps alone every time`);
  });

  it('never throws on arbitrary JSON and JavaScript values in the app list', (t) => {
    const rec = faultCase(t, {
      area: AREA,
      fault: 'app lists of arbitrary JSON (fc.jsonValue) and JavaScript values (fc.anything: null prototypes, boxed values, Maps, sparse arrays) among valid apps',
      tried: '2000 generated lists (property), up to 8 entries, 3 modes',
    });
    const anyValue = fc.anything({
      maxDepth: 3,
      withBoxedValues: true,
      withMap: true,
      withSet: true,
      withNullPrototype: true,
      withObjectString: true,
      withSparseArray: true,
      withTypedArray: true,
      withDate: true,
      withBigInt: true,
    });
    const knownKeys = fc.record(
      {
        id: fc.oneof(fc.constantFrom('/a', '/b'), anyValue),
        labels: fc.oneof(
          fc.dictionary(fc.constantFrom('HAPROXY_GROUP', 'HAPROXY_0_GROUP', 'MARATHON_ACME_0_DOMAIN', 'MARATHON_ACME_1_DOMAIN', '__proto__', 'constructor'), fc.oneof(fc.constantFrom(GROUP, 'a.example', 'b.example c.example'), anyValue)),
          anyValue,
        ),
        portDefinitions: anyValue,
        ports: anyValue,
        networks: fc.oneof(anyValue, fc.array(fc.record({ mode: anyValue }, { requiredKeys: [] }), { maxLength: 2 })),
        container: fc.oneof(anyValue, fc.record({ portMappings: anyValue, docker: fc.oneof(anyValue, fc.record({ network: anyValue, portMappings: anyValue })) }, { requiredKeys: [] })),
        ipAddress: fc.oneof(anyValue, fc.record({ discovery: fc.record({ ports: anyValue }) })),
      },
      { requiredKeys: [] },
    );
    const entries = fc.array(fc.oneof(fc.jsonValue({ maxDepth: 4 }), anyValue, knownKeys, fc.integer({ min: 0, max: 4 }).chain(validApp)), { maxLength: 8 });
    const tally = new Tally();
    let warnings = 0;
    fc.assert(
      fc.property(entries, fc.constantFrom<MultipleDomainsMode>('first', 'separate', 'san'), (apps, mode) => {
        const result = selectWantedNames(apps, options(mode));
        const seen = new Set<string>();
        for (const wanted of result.names) {
          assert.deepEqual(normaliseHostname(wanted.name), { ok: true, name: wanted.name });
          assert.ok(!seen.has(wanted.name));
          seen.add(wanted.name);
        }
        for (const w of result.warnings) {
          assert.equal(typeof w.appId, 'string');
          // The safety net in selectWantedNames catches what validation missed; it must stay unused.
          assert.doesNotMatch(w.message, /unexpected error/);
        }
        tally.add(result.names.length > 0 ? 'lists with names selected' : 'lists with nothing selected');
        warnings += result.warnings.length;
      }),
      { numRuns: 2000 },
    );
    rec.observe(`2000 lists: 0 exceptions, 0 "unexpected error" warnings; ${tally.toString()}; ${warnings} warnings, all with a string app id`);
  });
});
