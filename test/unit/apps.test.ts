import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { normaliseHostname } from '../../src/domains/hostname.js';
import { NameSelector, parseDomainLabel, selectWantedNames, type AppWarning, type MultipleDomainsMode, type SelectionResult } from '../../src/marathon/apps.js';

/** An app with host networking and `ports` port definitions, as `GET /v2/apps` returns it. */
function app(id: string, labels: Record<string, unknown>, ports = 1): Record<string, unknown> {
  return {
    id,
    cmd: 'sleep 3600',
    instances: 1,
    container: null,
    ipAddress: null,
    labels,
    portDefinitions: Array.from({ length: ports }, (_, i) => ({ port: 9000 + i, protocol: 'tcp', name: `p${i}`, labels: {} })),
  };
}

function select(apps: readonly unknown[], multipleDomains: MultipleDomainsMode = 'first', group = 'external'): SelectionResult {
  return selectWantedNames(apps, { group, multipleDomains });
}

const names = (result: SelectionResult): string[] => result.names.map((n) => n.name);

function warningAt(result: SelectionResult, index: number): AppWarning {
  const warning = result.warnings[index];
  assert.ok(warning, `expected a warning at index ${index}, got ${JSON.stringify(result.warnings)}`);
  return warning;
}

/** The standard app of the original's service tests. */
const standard = (domain = 'example.com'): Record<string, unknown> =>
  app('/my-app_1', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: domain });

describe('parseDomainLabel', () => {
  it('splits on commas and whitespace and drops empty pieces', () => {
    assert.deepEqual(parseDomainLabel('example.com'), ['example.com']);
    assert.deepEqual(parseDomainLabel(' , ,   '), []);
    assert.deepEqual(parseDomainLabel(''), []);
    assert.deepEqual(parseDomainLabel('example.com,example2.com'), ['example.com', 'example2.com']);
    assert.deepEqual(parseDomainLabel('example.com example2.com'), ['example.com', 'example2.com']);
    assert.deepEqual(parseDomainLabel(' example.com, example2.com '), ['example.com', 'example2.com']);
    assert.deepEqual(parseDomainLabel('a.example\t\nb.example,,c.example'), ['a.example', 'b.example', 'c.example']);
  });
});

describe('selectWantedNames: domain label parsing (original catalogue)', () => {
  it('single domain', () => {
    const result = select([standard('example.com')]);
    assert.deepEqual(result, { names: [{ name: 'example.com', appId: '/my-app_1', portIndex: 0 }], warnings: [] });
  });

  it('separators only → nothing', () => {
    assert.deepEqual(select([standard(' , ,   ')]), { names: [], warnings: [] });
  });

  for (const [what, label] of [
    ['comma', 'example.com,example2.com'],
    ['whitespace', 'example.com example2.com'],
    ['mixed, with surrounding space', ' example.com, example2.com '],
  ] as const) {
    it(`${what}-separated list gives both names in separate mode`, () => {
      assert.deepEqual(names(select([standard(label)], 'separate')), ['example.com', 'example2.com']);
    });
  }
});

describe('selectWantedNames: sync cases (original catalogue)', () => {
  it('one app', () => {
    assert.deepEqual(names(select([standard()])), ['example.com']);
  });

  it('two ports of one app', () => {
    const result = select([app('/my-app_1', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'example.com', MARATHON_ACME_1_DOMAIN: 'example2.com' }, 2)]);
    assert.deepEqual(result.names, [
      { name: 'example.com', appId: '/my-app_1', portIndex: 0 },
      { name: 'example2.com', appId: '/my-app_1', portIndex: 1 },
    ]);
  });

  it('two apps', () => {
    const result = select([standard(), app('/my-app_2', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'example2.com' })]);
    assert.deepEqual(result.names, [
      { name: 'example.com', appId: '/my-app_1', portIndex: 0 },
      { name: 'example2.com', appId: '/my-app_2', portIndex: 0 },
    ]);
  });

  it('shared domains appear once, from their first occurrence', () => {
    const result = select([
      app('/my-app_1', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'example.com', MARATHON_ACME_1_DOMAIN: 'example.com' }, 2),
      app('/my-app_2', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'example.com' }),
    ]);
    assert.deepEqual(result, { names: [{ name: 'example.com', appId: '/my-app_1', portIndex: 0 }], warnings: [] });
  });

  it('multiple domains without separate mode: the first only, with the original warning', () => {
    const result = select([standard('example.com,example2.com')]);
    assert.deepEqual(names(result), ['example.com']);
    assert.deepEqual(result.warnings, [
      {
        appId: '/my-app_1',
        portIndex: 0,
        label: 'MARATHON_ACME_0_DOMAIN',
        reason: 'multiple domains',
        message: 'Multiple domains found for port 0 of app /my-app_1, only the first will be used',
      },
    ]);
  });

  it('multiple domains in separate mode: all of them, no warning', () => {
    const result = select([standard('example.com,example2.com')], 'separate');
    assert.deepEqual(result.names, [
      { name: 'example.com', appId: '/my-app_1', portIndex: 0 },
      { name: 'example2.com', appId: '/my-app_1', portIndex: 0 },
    ]);
    assert.deepEqual(result.warnings, []);
  });

  it('no apps', () => {
    assert.deepEqual(select([]), { names: [], warnings: [] });
  });

  it('an app with only HAPROXY_0_VHOST wants nothing', () => {
    assert.deepEqual(select([app('/my-app_1', { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'example.com' })]), { names: [], warnings: [] });
  });

  it('an empty domain label wants nothing', () => {
    assert.deepEqual(select([standard('')]), { names: [], warnings: [] });
  });

  it('another group wants nothing', () => {
    assert.deepEqual(select([app('/my-app_1', { HAPROXY_GROUP: 'internal', MARATHON_ACME_0_DOMAIN: 'example.com' })]), { names: [], warnings: [] });
  });

  it('the per-port group overrides the app group', () => {
    const labels = { HAPROXY_GROUP: 'external', HAPROXY_0_GROUP: 'internal', MARATHON_ACME_0_DOMAIN: 'example.com' };
    assert.deepEqual(select([app('/my-app_1', labels)]), { names: [], warnings: [] });
  });
});

describe('selectWantedNames: groups and ports', () => {
  it('the per-port group can select a port of an app outside the group', () => {
    const labels = { HAPROXY_GROUP: 'internal', HAPROXY_1_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'a.example', MARATHON_ACME_1_DOMAIN: 'b.example' };
    assert.deepEqual(names(select([app('/x', labels, 2)])), ['b.example']);
  });

  it('an empty per-port group still wins over the app group', () => {
    const labels = { HAPROXY_GROUP: 'external', HAPROXY_0_GROUP: '', MARATHON_ACME_0_DOMAIN: 'a.example' };
    assert.deepEqual(select([app('/x', labels)]), { names: [], warnings: [] });
  });

  it('matches the group exactly: no case folding, lists or wildcards', () => {
    for (const group of ['External', 'external,internal', '*', ' external']) {
      assert.deepEqual(names(select([app('/x', { HAPROXY_GROUP: group, MARATHON_ACME_0_DOMAIN: 'a.example' })])), [], group);
    }
  });

  it('an app without any group wants nothing', () => {
    assert.deepEqual(select([app('/x', { MARATHON_ACME_0_DOMAIN: 'a.example' })]), { names: [], warnings: [] });
  });

  it('warns about a domain label for a port the app does not have', () => {
    const result = select([app('/x', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'a.example', MARATHON_ACME_2_DOMAIN: 'c.example' }, 2)]);
    assert.deepEqual(names(result), ['a.example']);
    assert.equal(result.warnings.length, 1);
    assert.equal(warningAt(result, 0).portIndex, 2);
    assert.equal(warningAt(result, 0).label, 'MARATHON_ACME_2_DOMAIN');
    assert.match(warningAt(result, 0).message, /port 2, but the app has 2 ports/);
  });

  it('an app with no ports wants nothing (and says why)', () => {
    const result = select([app('/x', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'a.example' }, 0)]);
    assert.deepEqual(result.names, []);
    assert.match(warningAt(result, 0).message, /has 0 ports/);
  });

  it('ignores labels written with leading zeros, as marathon-lb does', () => {
    assert.deepEqual(select([app('/x', { HAPROXY_GROUP: 'external', MARATHON_ACME_00_DOMAIN: 'a.example' })]), { names: [], warnings: [] });
  });

  it('orders names by app, then by port index (not by label order)', () => {
    const labels = { MARATHON_ACME_10_DOMAIN: 'k.example', MARATHON_ACME_2_DOMAIN: 'c.example', HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'a.example' };
    const result = select([app('/x', labels, 11), standard('z.example')]);
    assert.deepEqual(result.names.map((n) => [n.name, n.portIndex]), [
      ['a.example', 0],
      ['c.example', 2],
      ['k.example', 10],
      ['z.example', 0],
    ]);
  });

  it('counts ports of non-host apps the way marathon-lb does', () => {
    const bridge = {
      id: '/bridge',
      labels: { HAPROXY_GROUP: 'external', MARATHON_ACME_1_DOMAIN: 'b.example' },
      networks: [{ mode: 'container/bridge' }],
      container: { type: 'DOCKER', docker: { image: 'nginx' }, portMappings: [{ containerPort: 80 }, { containerPort: 443 }] },
    };
    assert.deepEqual(names(select([bridge])), ['b.example']);
  });
});

describe('selectWantedNames: normalisation and invalid names', () => {
  it('normalises case and a trailing dot, and de-duplicates after normalising', () => {
    const result = select([standard('Example.COM.'), app('/two', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'example.com' })]);
    assert.deepEqual(result, { names: [{ name: 'example.com', appId: '/my-app_1', portIndex: 0 }], warnings: [] });
  });

  it('converts internationalised names to punycode', () => {
    assert.deepEqual(names(select([standard('bücher.example')])), ['xn--bcher-kva.example']);
  });

  it('skips an invalid name with a warning naming app, port, label, name and reason', () => {
    const result = select([standard('bad_name.example')]);
    assert.deepEqual(result.names, []);
    assert.equal(result.warnings.length, 1);
    const w = warningAt(result, 0);
    assert.equal(w.appId, '/my-app_1');
    assert.equal(w.portIndex, 0);
    assert.equal(w.label, 'MARATHON_ACME_0_DOMAIN');
    const message = w.message;
    for (const part of ['/my-app_1', 'port 0', 'MARATHON_ACME_0_DOMAIN', "'bad_name.example'", 'characters other than']) {
      assert.ok(message.includes(part), `${JSON.stringify(message)} should mention ${part}`);
    }
  });

  it('in first mode, an invalid first name takes nothing for the port (never the second name)', () => {
    const result = select([standard('*.example.com, example.com')]);
    assert.deepEqual(result.names, []);
    assert.deepEqual(result.warnings.map((w) => w.message.startsWith('Multiple domains') ? 'multiple' : 'invalid'), ['multiple', 'invalid']);
    assert.match(warningAt(result, 1).message, /wildcard/);
  });

  it('in separate mode, skips only the invalid names', () => {
    const result = select([standard('a.example, 10.0.0.1, localhost, b.example')], 'separate');
    assert.deepEqual(names(result), ['a.example', 'b.example']);
    assert.equal(result.warnings.length, 2);
    assert.match(warningAt(result, 0).message, /IP addresses/);
    assert.match(warningAt(result, 1).message, /fully qualified/);
  });

  it('an invalid name on one port does not affect the other ports', () => {
    const labels = { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'nope', MARATHON_ACME_1_DOMAIN: 'b.example' };
    assert.deepEqual(names(select([app('/x', labels, 2)])), ['b.example']);
  });
});

describe('selectWantedNames: malformed apps never spoil the others', () => {
  it('an unknown networking mode skips only that app', () => {
    const odd = { ...app('/odd', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'odd.example' }), networks: [{ mode: 'container/iptables' }] };
    const result = select([odd, standard()]);
    assert.deepEqual(names(result), ['example.com']);
    assert.equal(result.warnings.length, 1);
    assert.equal(warningAt(result, 0).appId, '/odd');
    assert.match(warningAt(result, 0).message, /Unknown Marathon networking mode 'container\/iptables'/);
  });

  it('an app without a port list is skipped with a warning', () => {
    const noPorts: Record<string, unknown> = { id: '/none', labels: { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'n.example' } };
    const result = select([noPorts, standard()]);
    assert.deepEqual(names(result), ['example.com']);
    assert.match(warningAt(result, 0).message, /cannot tell how many ports app \/none has/);
  });

  it('does not count the ports of apps that want nothing, so they raise no warning', () => {
    const unrelated = { id: '/other', labels: { HAPROXY_GROUP: 'external' }, networks: [{ mode: 'weird' }] };
    assert.deepEqual(select([unrelated, standard()]), { names: [{ name: 'example.com', appId: '/my-app_1', portIndex: 0 }], warnings: [] });
  });

  it('skips entries that are not objects or have no string id', () => {
    const result = select([null, 'app', 42, [], { labels: {} }, { id: 7, labels: {} }, standard()]);
    assert.deepEqual(names(result), ['example.com']);
    assert.equal(result.warnings.length, 6);
    assert.deepEqual(result.warnings.map((w) => w.appId), [0, 1, 2, 3, 4, 5].map((i) => `(entry ${i} of the app list)`));
  });

  it('treats missing or null labels as no labels, and warns about labels that are not an object', () => {
    const noLabels = standard();
    Reflect.deleteProperty(noLabels, 'labels');
    const result = select([noLabels, { ...standard(), id: '/null', labels: null }, { ...standard(), id: '/list', labels: ['x'] }, { ...standard(), id: '/str', labels: 'x' }]);
    assert.deepEqual(result.names, []);
    assert.deepEqual(result.warnings.map((w) => w.appId), ['/list', '/str']);
  });

  it('ignores non-string values of the labels it reads, with a warning', () => {
    const labels = { HAPROXY_GROUP: 'external', HAPROXY_0_GROUP: 5, MARATHON_ACME_0_DOMAIN: 'a.example', MARATHON_ACME_1_DOMAIN: ['b.example'], OTHER: 1 };
    const result = select([app('/x', labels, 2)]);
    // HAPROXY_0_GROUP is ignored, so the app group applies to port 0.
    assert.deepEqual(names(result), ['a.example']);
    assert.deepEqual(result.warnings.map((w) => w.label), ['HAPROXY_0_GROUP', 'MARATHON_ACME_1_DOMAIN']);
  });

  it('does not read labels inherited from the prototype', () => {
    const labels = Object.create({ HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'proto.example' }) as Record<string, unknown>;
    assert.deepEqual(select([app('/x', labels)]), { names: [], warnings: [] });
  });
});

describe('selectWantedNames: properties', () => {
  const groupValue = fc.oneof(
    { weight: 4, arbitrary: fc.constant('external') },
    { weight: 1, arbitrary: fc.constantFrom('internal', '', 'External') },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
  );
  const domainValue = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom('a.example', 'B.Example.', 'a.example,b.example', ' c.example  a.example', 'bücher.example') },
    { weight: 2, arbitrary: fc.constantFrom('', ' , ', 'bad_name', '*.x.example', '1.2.3.4', 'localhost') },
    { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
  );
  const knownLabels = fc.record(
    {
      HAPROXY_GROUP: groupValue,
      HAPROXY_0_GROUP: groupValue,
      HAPROXY_1_GROUP: groupValue,
      MARATHON_ACME_0_DOMAIN: domainValue,
      MARATHON_ACME_1_DOMAIN: domainValue,
      MARATHON_ACME_2_DOMAIN: domainValue,
    },
    { requiredKeys: [] },
  );
  const otherLabels = fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 })), { maxKeys: 3 });
  const anyField = fc.oneof(fc.constant(undefined), fc.jsonValue({ maxDepth: 2 }));
  const portList = fc.oneof({ weight: 3, arbitrary: fc.array(fc.constant({}), { maxLength: 3 }) }, { weight: 1, arbitrary: anyField });
  const appLike = fc.record(
    {
      id: fc.oneof({ weight: 5, arbitrary: fc.constantFrom('/a', '/b', '/c') }, { weight: 1, arbitrary: anyField }),
      labels: fc.oneof(
        { weight: 5, arbitrary: fc.tuple(otherLabels, knownLabels).map(([other, known]) => ({ ...other, ...known })) },
        { weight: 1, arbitrary: anyField },
      ),
      portDefinitions: portList,
      ports: portList,
      networks: fc.oneof(fc.constant(undefined), anyField, fc.array(fc.record({ mode: fc.oneof(fc.constantFrom('host', 'container', 'container/bridge', 'odd'), anyField) }, { requiredKeys: [] }), { maxLength: 2 })),
      container: fc.oneof(anyField, fc.record({ portMappings: portList, docker: fc.oneof(anyField, fc.record({ network: fc.constantFrom('HOST', 'BRIDGE', 'USER'), portMappings: portList })) }, { requiredKeys: [] })),
      ipAddress: fc.oneof(anyField, fc.record({ discovery: fc.record({ ports: portList }) })),
    },
    { requiredKeys: [] },
  );
  const appList = fc.array(fc.oneof({ weight: 4, arbitrary: appLike }, { weight: 1, arbitrary: fc.anything({ maxDepth: 2 }) }), { maxLength: 5 });

  it('never throws, and returns unique, normalised names with string app ids', () => {
    fc.assert(
      fc.property(appList, fc.constantFrom<MultipleDomainsMode>('first', 'separate'), fc.constantFrom('external', ''), (apps, mode, group) => {
        const result = selectWantedNames(apps, { group, multipleDomains: mode });
        const seen = new Set<string>();
        for (const wanted of result.names) {
          assert.deepEqual(normaliseHostname(wanted.name), { ok: true, name: wanted.name });
          assert.ok(!seen.has(wanted.name));
          seen.add(wanted.name);
          assert.equal(typeof wanted.appId, 'string');
          assert.ok(Number.isInteger(wanted.portIndex) && wanted.portIndex >= 0);
        }
        for (const warning of result.warnings) {
          assert.equal(typeof warning.appId, 'string');
          assert.ok(warning.message.length > 0);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('separate mode selects a superset of first mode', () => {
    fc.assert(
      fc.property(appList, (apps) => {
        const first = new Set(names(selectWantedNames(apps, { group: 'external', multipleDomains: 'first' })));
        const all = new Set(names(selectWantedNames(apps, { group: 'external', multipleDomains: 'separate' })));
        for (const name of first) assert.ok(all.has(name));
      }),
      { numRuns: 200 },
    );
  });
});

describe('NameSelector: apps added one at a time', () => {
  const options = { group: 'external', multipleDomains: 'first' as const };

  it('counts entries itself, for the list positions in warnings and for the app count', () => {
    const selector = new NameSelector(options);
    for (const entry of [standard('a.example'), null, standard('b.example'), 'app']) selector.add(entry);
    assert.equal(selector.appCount, 4);
    const result = selector.result();
    assert.deepEqual(names(result), ['a.example', 'b.example']);
    assert.deepEqual(result.warnings.map((w) => w.appId), ['(entry 1 of the app list)', '(entry 3 of the app list)']);
  });

  it('gives the selection so far, which later apps do not change', () => {
    const selector = new NameSelector(options);
    selector.add(standard('a.example'));
    const early = selector.result();
    selector.add(app('/b', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'b.example a.example' }));
    assert.deepEqual(names(early), ['a.example']);
    assert.deepEqual(early.warnings, []);
    assert.deepEqual(names(selector.result()), ['a.example', 'b.example']);
    assert.equal(selector.result().warnings.length, 1);
  });

  it('dedups across apps like the whole-list selection, from any iterable', () => {
    function* apps(): Generator {
      yield app('/one', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'x.example' });
      yield app('/two', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'x.example', MARATHON_ACME_1_DOMAIN: 'y.example' }, 2);
    }
    assert.deepEqual(selectWantedNames(apps(), options).names, [
      { name: 'x.example', appId: '/one', portIndex: 0 },
      { name: 'y.example', appId: '/two', portIndex: 1 },
    ]);
  });
});

describe('selectWantedNames: --allowed-domains and --max-names-per-app', () => {
  const tenant = (id: string, label: string) => app(id, { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: label });

  it('refuses names outside the allowed suffixes with a warning naming the app, and keeps the rest', () => {
    const result = selectWantedNames(
      [tenant('/ok', 'shop.example.com'), tenant('/apex', 'example.com'), tenant('/evil', 'bank.example.net'), tenant('/lookalike', 'notexample.com')],
      { group: 'external', multipleDomains: 'first', allowedDomains: ['example.com'] },
    );
    assert.deepEqual(names(result), ['shop.example.com', 'example.com']);
    assert.deepEqual(result.warnings.map((w) => [w.appId, /outside --allowed-domains/.test(w.message)]), [['/evil', true], ['/lookalike', true]]);
  });

  it('leaves only allowed names in a SAN certificate', () => {
    const result = selectWantedNames([tenant('/san', 'a.example.com other.example.org b.example.com')], {
      group: 'external', multipleDomains: 'san', allowedDomains: ['example.com'],
    });
    assert.deepEqual(result.names.map((n) => n.sans), [['a.example.com', 'b.example.com']]);
  });

  it('caps the names one app may ask for, across its ports', () => {
    const many = app('/greedy', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'a.example a.example b.example c.example', MARATHON_ACME_1_DOMAIN: 'd.example' }, 2);
    const result = selectWantedNames([many, tenant('/other', 'z.example')], { group: 'external', multipleDomains: 'separate', maxNamesPerApp: 2 });
    assert.deepEqual(names(result), ['a.example', 'b.example', 'z.example']);
    assert.equal(result.warnings.filter((w) => w.appId === '/greedy' && /more than 2 names/.test(w.message)).length, 1, 'one warning per app');
  });

  it('never selects a name outside the allowed domains (property)', () => {
    const label = fc.array(fc.constantFrom('a.example.com', 'x.example.org', 'example.com', 'EXAMPLE.COM.', 'b.a.example.com', 'examplexcom', '*.example.com'), { maxLength: 6 });
    fc.assert(
      fc.property(fc.array(label, { maxLength: 5 }), fc.constantFrom<MultipleDomainsMode>('first', 'separate', 'san'), (labels, mode) => {
        const apps = labels.map((l, i) => tenant(`/p${i}`, l.join(' ')));
        const result = selectWantedNames(apps, { group: 'external', multipleDomains: mode, allowedDomains: ['example.com'] });
        return result.names.every((w) => [w.name, ...(w.sans ?? [])].every((n) => n === 'example.com' || n.endsWith('.example.com')));
      }),
      { numRuns: 200 },
    );
  });
});

describe('selection findings as data', () => {
  it('says where (app, port, label) and why (a closed set of reasons) for each kind of problem', () => {
    const result = selectWantedNames(
      [
        null,
        { labels: {} },
        { id: '/labels', labels: 'x' },
        app('/typed', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 7 }),
        { id: '/ports', labels: { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'a.example' }, networks: [{ mode: 'weird' }] },
        app('/range', { HAPROXY_GROUP: 'external', MARATHON_ACME_3_DOMAIN: 'b.example' }),
        app('/multi', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'c.example d.example' }),
        app('/bad', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'bad_name' }),
        app('/outside', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'e.other' }),
      ],
      { group: 'external', multipleDomains: 'first', allowedDomains: ['example'] },
    );
    const rows = result.warnings.map((w) => [w.appId, w.portIndex, w.label, w.reason]);
    assert.deepEqual(rows, [
      ['(entry 0 of the app list)', undefined, undefined, 'not an object'],
      ['(entry 1 of the app list)', undefined, undefined, 'no id'],
      ['/labels', undefined, undefined, 'labels not an object'],
      ['/typed', undefined, 'MARATHON_ACME_0_DOMAIN', 'label not a string'],
      ['/ports', undefined, undefined, 'ports unknown'],
      ['/range', 3, 'MARATHON_ACME_3_DOMAIN', 'port out of range'],
      ['/multi', 0, 'MARATHON_ACME_0_DOMAIN', 'multiple domains'],
      ['/bad', 0, 'MARATHON_ACME_0_DOMAIN', 'invalid domain'],
      ['/outside', 0, 'MARATHON_ACME_0_DOMAIN', 'outside allowed domains'],
    ]);
  });

  it('tells the two caps apart', () => {
    const greedy = app('/greedy', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'a.example b.example c.example' });
    assert.deepEqual(selectWantedNames([greedy], { group: 'external', multipleDomains: 'separate', maxNamesPerApp: 2 }).warnings.map((w) => w.reason), ['too many names']);
    const huge = app('/huge', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: Array.from({ length: 101 }, (_, i) => `n${i}.example`).join(' ') });
    assert.deepEqual(selectWantedNames([huge], { group: 'external', multipleDomains: 'san' }).warnings.map((w) => w.reason), ['too many names for one certificate']);
  });
});
