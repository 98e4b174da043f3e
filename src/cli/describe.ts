import { redactUrlText, type Config } from '../config.js';
import { webhookDisplay } from '../notify/target.js';

/** The start-up log line's view of the configuration: every setting, no secret. */
export function describeConfig(config: Config): Record<string, unknown> {
  return {
    storageDir: config.storageDir,
    cas: config.cas.map((ca) => ({
      directory: redactUrlText(ca.directoryUrl),
      caFile: ca.caFile ?? null,
      keyType: ca.keyType,
      eabKid: ca.eab?.kid ?? null,
      eabHmacKey: ca.eab === undefined ? null : '***',
      profile: ca.profile ?? null,
      preferredChain: ca.preferredChain ?? null,
      rateLimits: ca.rateLimits.source,
    })),
    fallbackAfterSeconds: config.fallbackAfterMs / 1000,
    email: config.email ?? null,
    marathon: config.marathonUrls.map(redactUrlText),
    lb: config.lbUrls.map(redactUrlText),
    lbRuntime: config.lbRuntime.map((target) => target?.display ?? 'none'),
    group: config.group,
    multipleDomains: config.multipleDomains,
    listen: `${config.listen.host}:${config.listen.port}`,
    challenges: config.challenges,
    marathonTimeoutSeconds: config.marathonTimeoutMs / 1000,
    sseTimeoutSeconds: config.sseTimeoutMs / 1000,
    marathonCaFile: config.marathonCaFile ?? null,
    syncIntervalSeconds: config.syncIntervalMs / 1000,
    renewalIntervalSeconds: config.renewalIntervalMs / 1000,
    maxConcurrentOrders: config.maxConcurrentOrders,
    retireAfterSeconds: config.retireAfterMs / 1000,
    allowedDomains: config.allowedDomains ?? null,
    maxNamesPerApp: config.maxNamesPerApp,
    preflight: config.preflight,
    preflightPort: config.preflightPort,
    acmeTimeoutSeconds: config.acmeTimeoutMs / 1000,
    deliveryCheckPort: config.deliveryCheckPort,
    deliveryCheckIntervalSeconds: config.deliveryCheckIntervalMs / 1000,
    notifyUrls: config.notifyUrls.map(webhookDisplay),
    notifyAfterFailures: config.notifyAfterFailures,
    zk: config.zk?.display ?? null,
    zkSessionTimeoutSeconds: config.zkSessionTimeoutMs / 1000,
    zkOrderWindowSeconds: config.zkOrderWindowMs / 1000,
    logLevel: config.logLevel,
  };
}
