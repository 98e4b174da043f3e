/**
 * The parts of a Marathon app definition (`GET /v2/apps`) that marathon-acme reads.
 *
 * Apps arrive as JSON over the network from whichever Marathon version the cluster runs, so nothing
 * here is a promise: every field may be missing, `null`, or of an unexpected type. Fields are `unknown`
 * on purpose, so code has to check a value before relying on it; the comments give the shape Marathon
 * documents. These interfaces name the shapes for readers and test fixtures.
 */
export interface MarathonApp {
  /** App id, a string such as `/group/my-app`. */
  readonly id?: unknown;
  /** Object of string → string; always present (possibly `{}`) in real responses. */
  readonly labels?: unknown;
  /** Host ports: array of {@link MarathonPortDefinition}. Omitted by Marathon 1.5+ for non-host networks. */
  readonly portDefinitions?: unknown;
  /** Marathon < 1.0 host ports: array of port numbers. */
  readonly ports?: unknown;
  /** {@link MarathonContainer} or `null`. */
  readonly container?: unknown;
  /** Marathon < 1.5 IP-per-task: {@link MarathonIpAddress} or `null`. */
  readonly ipAddress?: unknown;
  /** Marathon 1.5+: array of {@link MarathonNetwork}; modes cannot be mixed within one app. */
  readonly networks?: unknown;
  /** Everything else Marathon sends (cmd, cpus, env, ...); not read here. */
  readonly [field: string]: unknown;
}

export interface MarathonPortDefinition {
  /** Number, e.g. 10008 (0 = let Marathon choose). */
  readonly port?: unknown;
  readonly protocol?: unknown;
  readonly name?: unknown;
  readonly labels?: unknown;
}

export interface MarathonContainer {
  /** `DOCKER` or `MESOS`. */
  readonly type?: unknown;
  /** {@link MarathonDocker} or `null`; a MESOS container may carry one for its image. */
  readonly docker?: unknown;
  /** Marathon 1.5+: array of {@link MarathonPortMapping} (DOCKER and MESOS containers). */
  readonly portMappings?: unknown;
}

export interface MarathonDocker {
  readonly image?: unknown;
  /** Marathon < 1.5: `HOST`, `BRIDGE`, `USER` (or `NONE`). */
  readonly network?: unknown;
  /** Marathon < 1.5: array of {@link MarathonPortMapping}. */
  readonly portMappings?: unknown;
}

export interface MarathonPortMapping {
  readonly containerPort?: unknown;
  readonly hostPort?: unknown;
  readonly servicePort?: unknown;
  readonly protocol?: unknown;
  readonly name?: unknown;
  readonly labels?: unknown;
}

export interface MarathonIpAddress {
  /** {@link MarathonDiscovery}. */
  readonly discovery?: unknown;
  readonly groups?: unknown;
  readonly labels?: unknown;
  readonly networkName?: unknown;
}

export interface MarathonDiscovery {
  /** Array of `{ number, name, protocol }`. */
  readonly ports?: unknown;
}

export interface MarathonNetwork {
  /** `host`, `container/bridge` or `container`; absent means `container`. */
  readonly mode?: unknown;
  /** Name of a `container` network. */
  readonly name?: unknown;
}
