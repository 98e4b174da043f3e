import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import fc from 'fast-check';
import { Agent } from 'undici';
import { AppListError, AppListScanner } from '../../src/marathon/app-list.js';
import { MarathonClient } from '../../src/marathon/client.js';
import { hostApp } from '../support/apps.js';
import { cleanupStack } from '../support/cleanup.js';
import { MarathonEmulator } from '../support/marathon-emulator.js';
import { memoryLogger } from '../support/memory-logger.js';

type Outcome = { apps: unknown[] } | { error: string };

/** Feeds `body` to a scanner in chunks of the given sizes (cycling through them). */
function scan(body: Buffer | string, sizes: readonly number[] = [body.length || 1]): Outcome {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const apps: unknown[] = [];
  const scanner = new AppListScanner((app) => apps.push(app));
  try {
    for (let at = 0, n = 0; at < bytes.length; n++) {
      const size = sizes[n % sizes.length] ?? 1;
      scanner.write(bytes.subarray(at, at + size));
      at += size;
    }
    scanner.end();
  } catch (err) {
    if (!(err instanceof AppListError)) throw err;
    return { error: err.message };
  }
  return { apps };
}

/** What the client did before streaming: the whole body through JSON.parse. */
function parseWhole(body: Buffer): Outcome {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return { error: 'not JSON' };
  }
  const apps = typeof parsed === 'object' && parsed !== null ? (parsed as { apps?: unknown }).apps : undefined;
  return Array.isArray(apps) ? { apps: apps as unknown[] } : { error: 'no apps' };
}

function rejection(outcome: Outcome): string {
  assert.ok('error' in outcome, `expected a rejection, got ${JSON.stringify(outcome)}`);
  return outcome.error;
}

describe('AppListScanner: messages', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['an empty body', '', /^answered with a body that is not JSON \(it is empty\)$/],
    ['an HTML page', '<!DOCTYPE html><html></html>', /^answered with a body that is not JSON \(unexpected '<' at byte 0\)$/],
    ['a UTF-8 byte order mark', '\uFEFF{"apps":[]}', /not JSON \(unexpected byte 0xef at byte 0\)/],
    ['truncated JSON', '{"apps":[{"id":"/a"},{"id":"/b', /^answered with a body that is not JSON \(it ends unfinished after 30 bytes\)$/],
    ['a list without its closing brace', '{"apps":[]', /not JSON \(it ends unfinished after 10 bytes\)/],
    ['trailing junk', '{"apps":[]}\n<html>', /not JSON \(unexpected '<' at byte 12\)/],
    ['junk between apps', '{"apps":[{"id":"/a"} x {"id":"/b"}]}', /not JSON \(unexpected 'x' at byte 21\)/],
    ['a missing comma', '{"apps":[1 2]}', /not JSON \(unexpected '2' at byte 11\)/],
    ['a trailing comma', '{"apps":[1,]}', /not JSON \(unexpected '\]' at byte 11\)/],
    ['a leading comma', '{"apps":[,1]}', /not JSON \(unexpected ',' at byte 9\)/],
    ['an invalid app', '{"apps":[{"id":"/a"},{"id":/b}]}', /^answered with a body that is not JSON \(entry 1 of the app list at byte 21 is not valid JSON\)$/],
    ['mismatched brackets in an app', '{"apps":[{"id":"/a"]]}', /not JSON \(entry 0 of the app list at byte 9 is not valid JSON\)/],
    ['an invalid scalar app', '{"apps":[tru]}', /entry 0 of the app list at byte 9 is not valid JSON/],
    ['an invalid other member', '{"version":[1,,2],"apps":[]}', /not JSON \(the value at byte 11 is not valid JSON\)/],
    ['an invalid key', '{"a\\x":1,"apps":[]}', /not JSON \(the key at byte 1 is not valid JSON\)/],
    ['a key without a colon', '{"apps" []}', /not JSON \(unexpected '\[' at byte 8\)/],
    ['an unquoted key', '{apps:[]}', /not JSON \(unexpected 'a' at byte 1\)/],
    ['no apps key', '{"app":[],"items":[]}', /^answered without an "apps" list$/],
    ['an empty object', ' {} ', /^answered without an "apps" list$/],
    ['a top-level array', '[{"id":"/a"}]', /^answered without an "apps" list \(the body is not a JSON object\)$/],
    ['a top-level string', '"apps"', /^answered without an "apps" list \(the body is not a JSON object\)$/],
    ['apps that are not an array', '{"apps":{"id":"/a"}}', /^answered without an "apps" list \(its "apps" is not an array\)$/],
    ['apps that are null', '{"apps":null}', /its "apps" is not an array/],
    ['two apps lists', '{"apps":[],"apps":[{"id":"/a"}]}', /^answered with two "apps" lists; refusing to guess which one is meant$/],
    ['two apps lists, one spelt with an escape', '{"apps":[],"\\u0061pps":[]}', /two "apps" lists/],
  ];
  for (const [what, body, message] of cases) {
    it(`refuses ${what}, whole or byte by byte`, () => {
      assert.match(rejection(scan(body)), message);
      assert.match(rejection(scan(body, [1])), message);
    });
  }

  it('counts positions in bytes across chunks, after multi-byte characters', () => {
    assert.match(rejection(scan('{"x":"€€","apps":[]}!', [3, 5])), /unexpected '!' at byte 24/);
  });

  it('refuses as soon as the body cannot be the app list, without waiting for the rest', () => {
    const scanner = new AppListScanner(() => undefined);
    assert.throws(() => {
      scanner.write(Buffer.from('<html>'));
    }, /not JSON/);
  });
});

describe('AppListScanner: reading', () => {
  it('hands over each app as soon as its last byte has arrived', () => {
    const seen: unknown[] = [];
    const scanner = new AppListScanner((app) => seen.push(app));
    scanner.write(Buffer.from('{"apps":[{"id":"/a"},{"id":'));
    assert.deepEqual(seen, [{ id: '/a' }]);
    scanner.write(Buffer.from('"/b"}'));
    assert.deepEqual(seen, [{ id: '/a' }, { id: '/b' }]);
    scanner.write(Buffer.from(']}'));
    scanner.end();
  });

  it('reads an escaped key as the key it spells, like JSON.parse', () => {
    assert.deepEqual(scan('{"\\u0061pps":[1]}'), { apps: [1] });
  });

  it('skips other top-level members of any shape, before and after the list', () => {
    const body = '{"meta":{"apps":[9],"s":"]}\\""},"apps":[{"id":"/a"}],"n":-1.5e3,"t":true,"l":[[],{}]}';
    assert.deepEqual(scan(body), { apps: [{ id: '/a' }] });
    assert.deepEqual(scan(body, [1]), { apps: [{ id: '/a' }] });
  });

  it('finds string ends by their backslashes, wherever the chunks split them', () => {
    const strings = ['\\', '\\\\', '"', '\\"', 'a\\\\"b', '\\\\\\\\', '}]', '\\u0022', 'é\\"😀'];
    const body = Buffer.from(JSON.stringify({ apps: strings.map((s) => ({ s, [s]: [s] })) }));
    const expected = parseWhole(body);
    for (let cut = 0; cut <= body.length; cut++) {
      const apps: unknown[] = [];
      const scanner = new AppListScanner((app) => apps.push(app));
      scanner.write(body.subarray(0, cut));
      scanner.write(body.subarray(cut));
      scanner.end();
      assert.deepEqual({ apps }, expected, `split at byte ${cut}`);
    }
  });

  it('decodes characters split across chunks', () => {
    const body = Buffer.from('{"apps":["ü€😀",{"k😀":"€"}]}');
    for (let cut = 0; cut <= body.length; cut++) {
      assert.deepEqual(scan(body, [cut || 1, body.length]), { apps: ['ü€😀', { 'k😀': '€' }] }, `split at byte ${cut}`);
    }
  });

  it('ignores empty chunks', () => {
    const apps: unknown[] = [];
    const scanner = new AppListScanner((app) => apps.push(app));
    for (const piece of ['{"apps":["a', '', '\\', '', '"b"', '', ']}', '']) scanner.write(Buffer.from(piece));
    scanner.end();
    assert.deepEqual(apps, ['a"b']);
  });
});

describe('AppListScanner: properties', () => {
  // Strings heavy in what a scanner can get wrong: quotes, backslashes, brackets, multi-byte and
  // astral characters, control characters and lone surrogates (JSON.stringify escapes those).
  const tricky = fc.constantFrom('"', '\\', '\\\\', '\\"', '/', '{', '}', '[', ']', ',', ':', ' ', '\n', '\u0000', '\u001f', 'é', '€', '😀', '\u2028', '\ud800', '\udfff', 'a');
  const unit = fc.oneof(tricky, fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }));
  const value = fc.jsonValue({ maxDepth: 4, stringUnit: unit });
  const whitespace = fc.stringMatching(/^[ \t\r\n]{0,3}$/);
  const gap = fc.constantFrom(undefined, ' ', '  ', '\t', '\r\n');
  // Other top-level keys start with "x-", so that no single corruption can turn one into "apps":
  // a second "apps" key is refused on purpose, where JSON.parse would keep the last.
  const members = fc.dictionary(unit.map((k) => `x-${k}`), value, { maxKeys: 2 });
  const appList = fc.record({
    apps: fc.array(value, { maxLength: 6 }),
    before: members,
    after: members,
    ws: whitespace,
    gap,
  });

  function render(list: { apps: unknown[]; before: Record<string, unknown>; after: Record<string, unknown>; ws: string; gap: string | undefined }): Buffer {
    const { ws, gap: indent } = list;
    const member = ([key, v]: [string, unknown]): string => `${JSON.stringify(key)}${ws}:${ws}${JSON.stringify(v, null, indent)}`;
    const apps = `"apps"${ws}:${ws}[${ws}${list.apps.map((app) => JSON.stringify(app, null, indent)).join(`${ws},${ws}`)}${ws}]`;
    const all = [...Object.entries(list.before).map(member), apps, ...Object.entries(list.after).map(member)];
    return Buffer.from(`${ws}{${ws}${all.join(`${ws},${ws}`)}${ws}}${ws}`);
  }

  const chunkSizes = fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 });

  it('yields exactly the apps JSON.parse finds, however the body is chunked', () => {
    fc.assert(
      fc.property(appList, chunkSizes, (list, sizes) => {
        const body = render(list);
        const expected = parseWhole(body);
        assert.ok('apps' in expected, 'the generated body is an app list');
        assert.deepStrictEqual(scan(body, sizes), expected);
      }),
      { numRuns: 1500 },
    );
  });

  type Corruption = { kind: 'truncate' | 'delete' | 'insert'; at: number; nearStructure: boolean; byte: number };
  const corruption: fc.Arbitrary<Corruption> = fc.record({
    kind: fc.constantFrom('truncate', 'delete', 'insert'),
    at: fc.nat(),
    nearStructure: fc.boolean(),
    byte: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...Buffer.from('"\\{}[],: \t\n-0.e1tfnu')) },
      { weight: 2, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
    ),
  });

  const STRUCTURE = new Set(Buffer.from('{}[],: \t\r\n'));

  /** Anywhere, or just before or after a bracket, comma, colon or whitespace, where a scanner decides most. */
  function position(body: Buffer, { at, nearStructure }: Corruption): number {
    const near = nearStructure ? [...body.keys()].filter((i) => STRUCTURE.has(body[i] ?? 0)) : [];
    const index = near[at % (near.length || 1)];
    return index === undefined ? at % (body.length + 1) : index + (at % 2);
  }

  function corrupt(body: Buffer, change: Corruption): Buffer {
    const at = position(body, change);
    switch (change.kind) {
      case 'truncate':
        return body.subarray(0, Math.min(at, body.length - 1));
      case 'delete':
        return Buffer.concat([body.subarray(0, at), body.subarray(at + 1)]);
      case 'insert':
        return Buffer.concat([body.subarray(0, at), Buffer.from([change.byte]), body.subarray(at)]);
    }
  }

  it('agrees with JSON.parse on every byte inserted or replaced, and every byte deleted, anywhere in a small body', () => {
    const body = Buffer.from(' {"x":[1,{"y":"\\""}],"apps":[{"a":[1,"b\\\\"]},-2.5e1, "é",true,[]],"z":null}\n');
    const variants: Buffer[] = [];
    for (let at = 0; at <= body.length; at++) {
      variants.push(Buffer.concat([body.subarray(0, at), body.subarray(at + 1)]));
      for (let byte = 0; byte < 256; byte++) {
        variants.push(Buffer.concat([body.subarray(0, at), Buffer.from([byte]), body.subarray(at)]));
        variants.push(Buffer.concat([body.subarray(0, at), Buffer.from([byte]), body.subarray(at + 1)]));
      }
    }
    for (const variant of variants) {
      const expected = parseWhole(variant);
      const outcome = scan(variant, [7]);
      if ('error' in expected) rejection(outcome);
      else assert.deepStrictEqual(outcome, expected, variant.toString('latin1'));
    }
  });

  it('refuses a corrupted body exactly when JSON.parse finds no app list in it', () => {
    let refused = 0;
    let runs = 0;
    fc.assert(
      fc.property(appList, corruption, chunkSizes, (list, change, sizes) => {
        const body = corrupt(render(list), change);
        const expected = parseWhole(body);
        const outcome = scan(body, sizes);
        runs++;
        if ('error' in expected) {
          rejection(outcome);
          refused++;
        } else {
          assert.deepStrictEqual(outcome, expected);
        }
      }),
      { numRuns: 3000 },
    );
    // The corruptions must mostly break the body, or the property proves little.
    assert.ok(refused > runs / 2, `${refused} of ${runs} corrupted bodies refused`);
  });
});

describe('MarathonClient.readApps', () => {
  function client(t: TestContext, emulators: MarathonEmulator[]): MarathonClient {
    const defer = cleanupStack(t);
    const dispatcher = new Agent();
    defer(() => dispatcher.close());
    for (const emulator of emulators) defer(() => emulator.stop());
    const { logger } = memoryLogger();
    return new MarathonClient({ urls: emulators.map((e) => e.url), timeoutMs: 2_000, dispatcher, logger });
  }

  const apps = Array.from({ length: 300 }, (_, i) => hostApp(`/app${i}`, { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: `app${i}.example` }));

  it('starts a fresh sink for the next instance when one breaks off half-way through its list', async (t) => {
    const broken = await MarathonEmulator.start({ heartbeatMs: 0 });
    const healthy = await MarathonEmulator.start({ heartbeatMs: 0 });
    for (const emulator of [broken, healthy]) emulator.replaceAppsSilently(apps);
    await broken.setMode('truncated-json');
    const marathon = client(t, [broken, healthy]);
    const sinks: Array<{ ids: unknown[] }> = [];
    const result = await marathon.readApps(() => {
      const sink = { ids: [] as unknown[], add: (app: unknown) => sink.ids.push((app as { id: unknown }).id) };
      sinks.push(sink);
      return sink;
    });
    assert.equal(sinks.length, 2);
    assert.ok((sinks[0]?.ids.length ?? 0) > 0, 'the broken answer was read until it broke off');
    assert.equal(result, sinks[1]);
    assert.deepEqual(result.ids, apps.map((a) => a.id));
  });

  it('refuses a wrong Content-Type or an error status before starting a sink', async (t) => {
    const html = await MarathonEmulator.start({ heartbeatMs: 0 });
    const failing = await MarathonEmulator.start({ heartbeatMs: 0 });
    await html.setMode('html');
    await failing.setMode('error500');
    const marathon = client(t, [html, failing]);
    let started = 0;
    await assert.rejects(
      marathon.readApps(() => {
        started++;
        return { add: () => undefined };
      }),
      /Content-Type 'text\/html', expected application\/json.*500 Server Error/,
    );
    assert.equal(started, 0);
  });

  it('keeps getApps for callers that want the list in memory', async (t) => {
    const emulator = await MarathonEmulator.start({ heartbeatMs: 0 });
    emulator.replaceAppsSilently(apps.slice(0, 3));
    const marathon = client(t, [emulator]);
    assert.deepEqual(await marathon.getApps(), emulator.apps);
  });
});
