import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AppPortsError, countAppPorts } from '../../src/marathon/ports.js';
import type { MarathonApp } from '../../src/marathon/types.js';

/** A host-networking app as Marathon 1.4 returns it from `GET /v2/apps`. */
function marathon14App(overrides: Record<string, unknown> = {}, remove: readonly string[] = []): MarathonApp {
  const app: Record<string, unknown> = {
    id: '/foovu1',
    cmd: 'python -m http.server 8080',
    args: null,
    user: null,
    env: {},
    instances: 1,
    cpus: 0.1,
    mem: 32,
    disk: 0,
    gpus: 0,
    executor: '',
    constraints: [],
    uris: [],
    fetch: [],
    storeUrls: [],
    backoffSeconds: 1,
    backoffFactor: 1.15,
    maxLaunchDelaySeconds: 3600,
    container: null,
    healthChecks: [],
    readinessChecks: [],
    dependencies: [],
    upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 1 },
    labels: {},
    ipAddress: null,
    version: '2017-05-22T08:53:15.476Z',
    residency: null,
    secrets: {},
    taskKillGracePeriodSeconds: null,
    unreachableStrategy: { inactiveAfterSeconds: 300, expungeAfterSeconds: 600 },
    killSelection: 'YOUNGEST_FIRST',
    versionInfo: { lastScalingAt: '2017-05-22T08:53:15.476Z', lastConfigChangeAt: '2017-05-22T08:53:15.476Z' },
    portDefinitions: [{ port: 10008, protocol: 'tcp', name: 'default', labels: {} }],
    requirePorts: false,
    ...overrides,
  };
  for (const key of remove) Reflect.deleteProperty(app, key);
  return app;
}

const mapping = (containerPort: number): Record<string, unknown> => ({
  containerPort,
  hostPort: 0,
  servicePort: 10000 + containerPort,
  protocol: 'tcp',
  name: `port${containerPort}`,
  labels: {},
});
const dockerContainer = (docker: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  type: 'DOCKER',
  volumes: [],
  docker: { image: 'praekeltfoundation/marathon-lb:1.6.0', privileged: false, parameters: [], forcePullImage: false, ...docker },
  ...extra,
});
const ipAddress = (ports: readonly unknown[]): Record<string, unknown> => ({
  groups: [],
  labels: {},
  discovery: { ports },
  networkName: 'dcos',
});
const discoveryPort = (number: number): Record<string, unknown> => ({ number, name: `p${number}`, protocol: 'tcp' });

function throwsPortsError(app: MarathonApp, message: RegExp): void {
  assert.throws(() => countAppPorts(app), (err: unknown) => err instanceof AppPortsError && message.test(err.message));
}

describe('countAppPorts: the decision examples of the original', () => {
  it('Docker HOST networking with one port definition → 1', () => {
    assert.equal(countAppPorts(marathon14App({ container: dockerContainer({ network: 'HOST', portMappings: null }) })), 1);
  });

  it('Docker USER networking, IP-per-task with no discovery ports, one Docker port mapping → 1', () => {
    const app = marathon14App(
      { container: dockerContainer({ network: 'USER', portMappings: [mapping(8080)] }), ipAddress: ipAddress([]) },
      ['portDefinitions'],
    );
    assert.equal(countAppPorts(app), 1);
  });

  it('no container, IP-per-task with two discovery ports → 2', () => {
    assert.equal(countAppPorts(marathon14App({ ipAddress: ipAddress([discoveryPort(80), discoveryPort(81)]) }, ['portDefinitions'])), 2);
  });

  it('MESOS container, IP-per-task with two discovery ports → 2', () => {
    const app = marathon14App(
      { container: { type: 'MESOS', volumes: [] }, ipAddress: ipAddress([discoveryPort(80), discoveryPort(81)]) },
      ['portDefinitions'],
    );
    assert.equal(countAppPorts(app), 2);
  });

  it('Docker BRIDGE networking with one port definition → 1', () => {
    assert.equal(countAppPorts(marathon14App({ container: dockerContainer({ network: 'BRIDGE', portMappings: [mapping(80)] }) })), 1);
  });

  it("Docker BRIDGE networking without port definitions but legacy 'ports' [10008, 10009] → 2", () => {
    const app = marathon14App(
      { container: dockerContainer({ network: 'BRIDGE', portMappings: [mapping(80)] }), ports: [10008, 10009] },
      ['portDefinitions'],
    );
    assert.equal(countAppPorts(app), 2);
  });

  it('networks [host], MESOS container, one port definition → 1', () => {
    assert.equal(countAppPorts(marathon14App({ networks: [{ mode: 'host' }], container: { type: 'MESOS', volumes: [] } })), 1);
  });

  it('networks [container/bridge], Docker container with one container-level port mapping → 1', () => {
    const app = marathon14App(
      { networks: [{ mode: 'container/bridge' }], container: dockerContainer({}, { portMappings: [mapping(80)] }) },
      ['portDefinitions'],
    );
    assert.equal(countAppPorts(app), 1);
  });

  it('networks [container/bridge], MESOS container with three port mappings → 3', () => {
    const app = marathon14App(
      { networks: [{ mode: 'container/bridge' }], container: { type: 'MESOS', volumes: [], portMappings: [mapping(80), mapping(81), mapping(82)] } },
      ['portDefinitions'],
    );
    assert.equal(countAppPorts(app), 3);
  });

  it('networks [container], Docker container with one port mapping → 1', () => {
    const app = marathon14App(
      { networks: [{ mode: 'container', name: 'dcos' }], container: dockerContainer({}, { portMappings: [mapping(80)] }) },
      ['portDefinitions'],
    );
    assert.equal(countAppPorts(app), 1);
  });

  it('networks [container/iptables] → unknown networking mode', () => {
    assert.throws(
      () => countAppPorts(marathon14App({ networks: [{ mode: 'container/iptables' }] })),
      (err: unknown) => err instanceof AppPortsError && err.message === "Unknown Marathon networking mode 'container/iptables'",
    );
  });
});

describe('countAppPorts: further rules', () => {
  it('counts a host app with no ports as 0', () => {
    assert.equal(countAppPorts(marathon14App({ portDefinitions: [] })), 0);
  });

  it("prefers 'portDefinitions' over legacy 'ports', even when empty", () => {
    assert.equal(countAppPorts(marathon14App({ portDefinitions: [], ports: [1, 2] })), 0);
  });

  it("falls back to legacy 'ports' on a pre-1.0 Marathon", () => {
    assert.equal(countAppPorts(marathon14App({ ports: [10000, 10001, 10002] }, ['portDefinitions'])), 3);
  });

  it('uses the last network entry and defaults a missing mode to container', () => {
    const app = marathon14App(
      { networks: [{ name: 'a' }, { name: 'b' }], container: dockerContainer({}, { portMappings: [mapping(80), mapping(81)] }) },
      ['portDefinitions'],
    );
    assert.equal(countAppPorts(app), 2);
  });

  it('treats an empty networks list as absent', () => {
    assert.equal(countAppPorts(marathon14App({ networks: [] })), 1);
  });

  it('prefers container.portMappings over container.docker.portMappings', () => {
    const app = marathon14App(
      { networks: [{ mode: 'container/bridge' }], container: dockerContainer({ portMappings: [mapping(1)] }, { portMappings: [mapping(1), mapping(2)] }) },
      ['portDefinitions'],
    );
    assert.equal(countAppPorts(app), 2);
  });

  it("falls back to the container's mappings when a bridge app's portDefinitions is null", () => {
    const app = marathon14App({ networks: [{ mode: 'container/bridge' }], portDefinitions: null, container: dockerContainer({}, { portMappings: [mapping(1)] }) });
    assert.equal(countAppPorts(app), 1);
  });

  it('ignores Docker HOST and NONE networking and a null docker object when picking the mode', () => {
    assert.equal(countAppPorts(marathon14App({ container: dockerContainer({ network: 'NONE' }) })), 1);
    assert.equal(countAppPorts(marathon14App({ container: { type: 'MESOS', docker: null } })), 1);
  });

  it('reports a missing port list in host mode', () => {
    throwsPortsError(marathon14App({}, ['portDefinitions']), /neither 'portDefinitions' nor 'ports'/);
  });

  it('reports a container-mode app without any port mappings', () => {
    throwsPortsError(marathon14App({ networks: [{ mode: 'container' }] }, ['portDefinitions']), /no 'container'/);
    throwsPortsError(
      marathon14App({ networks: [{ mode: 'container' }], container: { type: 'MESOS', volumes: [] } }, ['portDefinitions']),
      /no 'portMappings'/,
    );
  });

  it('reports other unknown modes, quoting strings and naming other values', () => {
    throwsPortsError(marathon14App({ networks: [{ mode: 'HOST' }] }), /^Unknown Marathon networking mode 'HOST'$/);
    throwsPortsError(marathon14App({ networks: [{ mode: null }] }), /^Unknown Marathon networking mode null$/);
    throwsPortsError(marathon14App({ networks: [{ mode: 7 }] }), /^Unknown Marathon networking mode 7$/);
    throwsPortsError(marathon14App({ networks: [{ mode: { x: 1 } }] }), /^Unknown Marathon networking mode an object$/);
  });
});

describe('countAppPorts: malformed input', () => {
  it('rejects port lists that are not lists', () => {
    throwsPortsError(marathon14App({ portDefinitions: 'nope' }), /'portDefinitions' is 'nope', not a list/);
    throwsPortsError(marathon14App({ portDefinitions: null }), /'portDefinitions' is null, not a list/);
    throwsPortsError(marathon14App({ portDefinitions: { length: 3 } }), /'portDefinitions' is an object, not a list/);
    throwsPortsError(marathon14App({ ports: 3 }, ['portDefinitions']), /'ports' is 3, not a list/);
    throwsPortsError(
      marathon14App({ networks: [{ mode: 'container' }], container: { portMappings: 'x' } }, ['portDefinitions']),
      /'container.portMappings' is 'x'/,
    );
    throwsPortsError(marathon14App({ ipAddress: { discovery: { ports: {} } } }), /'ipAddress.discovery.ports' is an object/);
  });

  it('rejects networks that is not a list, or whose last entry is not an object', () => {
    throwsPortsError(marathon14App({ networks: { mode: 'host' } }), /'networks' is an object, not a list/);
    throwsPortsError(marathon14App({ networks: 'host' }), /'networks' is 'host', not a list/);
    throwsPortsError(marathon14App({ networks: ['host'] }), /not an object/);
    throwsPortsError(marathon14App({ networks: [null] }), /null/);
  });

  it('rejects container, docker and ipAddress values that are not objects', () => {
    throwsPortsError(marathon14App({ container: 'DOCKER' }), /'container' is 'DOCKER', not an object/);
    throwsPortsError(marathon14App({ container: { docker: [] } }), /'container.docker' is a list, not an object/);
    throwsPortsError(marathon14App({ ipAddress: 5 }, ['portDefinitions']), /'ipAddress' is 5, not an object/);
  });

  it('does not care about labels', () => {
    assert.equal(countAppPorts(marathon14App({}, ['labels'])), 1);
    assert.equal(countAppPorts(marathon14App({ labels: 'garbage' })), 1);
  });

  it('throws nothing but AppPortsError on random input', () => {
    const field = fc.oneof(
      fc.constant(undefined),
      fc.constant(null),
      fc.jsonValue({ maxDepth: 2 }),
      fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
    );
    const container = fc.oneof(
      field,
      fc.record(
        { type: fc.constantFrom('DOCKER', 'MESOS'), docker: fc.oneof(field, fc.record({ network: fc.oneof(field, fc.constantFrom('HOST', 'BRIDGE', 'USER')), portMappings: field }, { requiredKeys: [] })), portMappings: field },
        { requiredKeys: [] },
      ),
    );
    const networks = fc.oneof(field, fc.array(fc.oneof(field, fc.record({ mode: fc.oneof(field, fc.constantFrom('host', 'container', 'container/bridge')) }, { requiredKeys: [] })), { maxLength: 3 }));
    const ipAddr = fc.oneof(field, fc.record({ discovery: fc.oneof(field, fc.record({ ports: field }, { requiredKeys: [] })) }, { requiredKeys: [] }));
    const app = fc.record({ portDefinitions: field, ports: field, container, networks, ipAddress: ipAddr }, { requiredKeys: [] });
    fc.assert(
      fc.property(app, (a) => {
        try {
          const n = countAppPorts(a);
          assert.ok(Number.isInteger(n) && n >= 0);
        } catch (err) {
          assert.ok(err instanceof AppPortsError, String(err));
        }
      }),
      { numRuns: 500 },
    );
  });
});
