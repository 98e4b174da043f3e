import type { MarathonApp, MarathonContainer, MarathonDiscovery, MarathonDocker, MarathonIpAddress, MarathonNetwork } from './types.js';

/**
 * The number of ports of an app can't be determined: an unknown networking mode, no port list at all,
 * or a field that is not the type Marathon documents. Only this app is affected; callers skip it.
 */
export class AppPortsError extends Error {
  override readonly name = 'AppPortsError';
}

type JsonObject = Readonly<Record<string, unknown>>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `null` and absent are the same to Marathon clients; anything else must be an object. */
function optionalObject(value: unknown, field: string): JsonObject | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw new AppPortsError(`'${field}' is ${describe(value)}, not an object`);
  return value;
}

function requireList(value: unknown, field: string): readonly unknown[] {
  if (!Array.isArray(value)) throw new AppPortsError(`'${field}' is ${describe(value)}, not a list`);
  return value;
}

/** For messages: short, and safe for any value (never throws, never prints a whole object). */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  switch (typeof value) {
    case 'string':
      return `'${value.length > 60 ? `${value.slice(0, 60)}…` : value}'`;
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}

/**
 * How many ports the app has, following marathon-lb's reading of the app definition (which is what
 * decides which `HAPROXY_{n}_*` labels take effect), so `MARATHON_ACME_{n}_DOMAIN` lines up with the
 * port marathon-lb serves. Throws {@link AppPortsError}, never anything else, whatever the input.
 */
export function countAppPorts(app: MarathonApp): number {
  const mode = networkingMode(app);
  switch (mode) {
    case 'host': {
      const host = hostPortList(app);
      if (host === undefined) throw new AppPortsError("no port list: the app has neither 'portDefinitions' nor 'ports'");
      return requireList(host.value, host.field).length;
    }
    case 'container/bridge': {
      // Marathon 1.5+ omits portDefinitions for bridge apps; the mappings are the ports then.
      const host = hostPortList(app);
      if (host !== undefined && host.value !== null) return requireList(host.value, host.field).length;
      return containerPortMappings(app).length;
    }
    case 'container': {
      const ipAddress: MarathonIpAddress | undefined = optionalObject(app.ipAddress, 'ipAddress');
      if (ipAddress !== undefined) {
        const discovery: MarathonDiscovery | undefined = optionalObject(ipAddress.discovery, 'ipAddress.discovery');
        const ports = discovery?.ports;
        // Marathon < 1.5 may give an empty discovery list while the Docker mappings hold the ports.
        if (ports !== undefined && ports !== null) {
          const list = requireList(ports, 'ipAddress.discovery.ports');
          if (list.length > 0) return list.length;
        }
      }
      return containerPortMappings(app).length;
    }
    default:
      throw new AppPortsError(`Unknown Marathon networking mode ${describe(mode)}`);
  }
}

/** The mode as a string when it is one; any other value is reported as an unknown mode. */
function networkingMode(app: MarathonApp): unknown {
  const networks = app.networks;
  if (networks !== undefined && networks !== null) {
    const list = requireList(networks, 'networks');
    if (list.length > 0) {
      // Modes cannot be mixed within one app, so the last entry speaks for all.
      const last: MarathonNetwork | undefined = optionalObject(list[list.length - 1], 'networks[-1]');
      if (last === undefined) throw new AppPortsError("the last entry of 'networks' is null");
      return Object.hasOwn(last, 'mode') ? last.mode : 'container';
    }
  }
  const container: MarathonContainer | undefined = optionalObject(app.container, 'container');
  const docker: MarathonDocker | undefined = optionalObject(container?.docker, 'container.docker');
  if (docker?.network === 'USER') return 'container';
  if (docker?.network === 'BRIDGE') return 'container/bridge';
  return app.ipAddress !== undefined && app.ipAddress !== null ? 'container' : 'host';
}

/** The host port list as Marathon gave it: present means present, even `null` or `[]`. */
function hostPortList(app: MarathonApp): { field: string; value: unknown } | undefined {
  if (Object.hasOwn(app, 'portDefinitions')) return { field: 'portDefinitions', value: app.portDefinitions };
  if (Object.hasOwn(app, 'ports')) return { field: 'ports', value: app.ports };
  return undefined;
}

function containerPortMappings(app: MarathonApp): readonly unknown[] {
  const container: MarathonContainer | undefined = optionalObject(app.container, 'container');
  if (container === undefined) throw new AppPortsError("no port list: the app has no 'container' with port mappings");
  if (container.portMappings !== undefined && container.portMappings !== null) {
    return requireList(container.portMappings, 'container.portMappings');
  }
  const docker: MarathonDocker | undefined = optionalObject(container.docker, 'container.docker');
  if (docker?.portMappings !== undefined && docker.portMappings !== null) {
    return requireList(docker.portMappings, 'container.docker.portMappings');
  }
  throw new AppPortsError("no port list: the app's container has no 'portMappings'");
}
