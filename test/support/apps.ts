/**
 * Builders for app definitions as Marathon's `GET /v2/apps` returns them (no `embed`, so no tasks).
 * The field shapes follow Marathon's REST API and networking documentation: 1.5+ output uses
 * `networks` and container-level `portMappings` (and omits `portDefinitions` off host networking);
 * 1.4 output carries Docker networking inside `container.docker` and a null `ipAddress`.
 * The daemon only reads `id`, `labels` and the port fields, but tests feed it whole, realistic apps
 * so that nothing depends on a trimmed-down shape.
 */

export type Labels = Record<string, string>;

/** An app object as the emulator stores and serves it. */
export type AppJson = Record<string, unknown> & { id: string; labels: Labels };

/**
 * Marathon allocates service ports from `--local_port_min` (10000) upwards; a process-wide counter
 * keeps the ports of different builders distinct like Marathon's allocator does.
 */
let nextServicePort = 10_000;
function servicePort(): number {
  return nextServicePort++;
}

/** Fields every Marathon 1.5+ app carries, with the defaults Marathon fills in at creation. */
function commonFields(id: string, labels: Labels): AppJson {
  const version = new Date().toISOString();
  return {
    id,
    cmd: 'python3 -m http.server $PORT0',
    args: null,
    user: null,
    env: {},
    instances: 1,
    cpus: 0.1,
    mem: 128,
    disk: 0,
    gpus: 0,
    executor: '',
    constraints: [],
    fetch: [],
    storeUrls: [],
    backoffSeconds: 1,
    backoffFactor: 1.15,
    maxLaunchDelaySeconds: 3600,
    healthChecks: [],
    readinessChecks: [],
    dependencies: [],
    upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 1 },
    labels: { ...labels },
    acceptedResourceRoles: ['*'],
    version,
    versionInfo: { lastScalingAt: version, lastConfigChangeAt: version },
    killSelection: 'YOUNGEST_FIRST',
    unreachableStrategy: { inactiveAfterSeconds: 0, expungeAfterSeconds: 0 },
    secrets: {},
    tasksStaged: 0,
    tasksRunning: 1,
    tasksHealthy: 0,
    tasksUnhealthy: 0,
    deployments: [],
  };
}

export interface HostAppOptions {
  /** `none` (default): `container: null`; `mesos`: a Mesos (UCR) container running a Docker image. */
  container?: 'none' | 'mesos';
}

/**
 * A Marathon 1.5+ app on host networking. `ports` are the service ports of its port definitions;
 * the default is one allocated port, as Marathon gives an app created without any port fields.
 */
export function hostApp(id: string, labels: Labels, ports?: readonly number[], options: HostAppOptions = {}): AppJson {
  const servicePorts = ports ?? [servicePort()];
  return {
    ...commonFields(id, labels),
    container:
      options.container === 'mesos'
        ? { type: 'MESOS', volumes: [], docker: { image: 'python:3-alpine', forcePullImage: false } }
        : null,
    networks: [{ mode: 'host' }],
    portDefinitions: servicePorts.map((port, i) => ({
      port,
      protocol: 'tcp',
      // Marathon names the single port it adds by default "default"; explicit ones are unnamed here.
      ...(ports === undefined && i === 0 ? { name: 'default' } : {}),
      labels: {},
    })),
    requirePorts: false,
  };
}

export interface BridgeAppOptions {
  /** `docker` (default) or `mesos`: Marathon 1.5+ allows container-level port mappings for both. */
  container?: 'docker' | 'mesos';
}

/**
 * A Marathon 1.5+ app on the bridge network: `networks: [{mode: 'container/bridge'}]`, one
 * container-level port mapping per container port, and no `portDefinitions` key at all
 * (Marathon 1.5+ omits it off host networking).
 */
export function bridgeApp(id: string, labels: Labels, containerPorts: readonly number[], options: BridgeAppOptions = {}): AppJson {
  const portMappings = containerPorts.map((containerPort) => ({
    containerPort,
    hostPort: 0,
    servicePort: servicePort(),
    protocol: 'tcp',
    labels: {},
  }));
  const container =
    options.container === 'mesos'
      ? { type: 'MESOS', volumes: [], docker: { image: 'nginx:1.25-alpine', forcePullImage: false }, portMappings }
      : {
          type: 'DOCKER',
          volumes: [],
          docker: { image: 'nginx:1.25-alpine', forcePullImage: false, privileged: false, parameters: [] },
          portMappings,
        };
  return {
    ...commonFields(id, labels),
    cmd: null,
    container,
    networks: [{ mode: 'container/bridge' }],
    requirePorts: false,
  };
}

export interface LegacyBridgeAppOptions {
  /**
   * Marathon 1.4 reports port definitions mirroring the service ports of a bridged Docker app
   * (default true). Set false to model an app whose output carries only the Docker mappings.
   */
  portDefinitions?: boolean;
}

/**
 * A Marathon 1.4-style Docker app on the BRIDGE network: networking lives in
 * `container.docker.network` and `container.docker.portMappings`, there is no `networks` key, and
 * `ipAddress` is null (no IP-per-task).
 */
export function legacyBridgeApp(
  id: string,
  labels: Labels,
  containerPorts: readonly number[],
  options: LegacyBridgeAppOptions = {},
): AppJson {
  const portMappings = containerPorts.map((containerPort) => ({
    containerPort,
    hostPort: 0,
    servicePort: servicePort(),
    protocol: 'tcp',
    labels: {},
  }));
  const app: AppJson = {
    ...commonFields(id, labels),
    cmd: null,
    uris: [],
    ipAddress: null,
    residency: null,
    taskKillGracePeriodSeconds: null,
    container: {
      type: 'DOCKER',
      volumes: [],
      docker: {
        image: 'nginx:1.25-alpine',
        network: 'BRIDGE',
        portMappings,
        privileged: false,
        parameters: [],
        forcePullImage: false,
      },
    },
    requirePorts: false,
  };
  if (options.portDefinitions !== false) {
    app['portDefinitions'] = portMappings.map((m) => ({ port: m.servicePort, protocol: 'tcp', labels: {} }));
  }
  return app;
}
