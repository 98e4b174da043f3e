/**
 * `marathon-acme check --served`: what each marathon-lb presents over TLS for each name, against the
 * certificate in the storage directory: served, stale (an older one of ours: the reload did not
 * happen), other (default.pem or a certificate that is not ours) or unreachable. The same verdicts
 * as the daemon's delivery check, from the command line and without a running daemon.
 */
import { stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { parseBundle } from '../certs/bundle.js';
import { CertStore, type StoredCert } from '../certs/store.js';
import { probeServedLeaf } from '../delivery/probe.js';
import type { DeliveryStatus } from '../delivery/types.js';
import { deliveryVerdict } from '../delivery/verdict.js';
import { normaliseHostname } from '../domains/hostname.js';
import type { Logger } from '../log.js';
import { parseEndpoint } from '../util/endpoint.js';
import { Limiter } from '../util/limiter.js';

export interface ServedRequest {
  storageDir: string;
  /** The daemon's `--lb` URLs; the TLS check dials each one's host. */
  lbUrls: readonly string[];
  /** `--delivery-check-port`: marathon-lb's TLS port. */
  port: number;
  /** For each handshake, connect included. */
  timeoutMs: number;
}

export interface ServedCheck {
  name: string;
  /** The `--lb` URL as it may be shown (credentials masked); absent when nothing is stored for the name. */
  lb?: string;
  /** host:port the handshake went to. */
  address?: string;
  ok: boolean;
  /** `not-stored`: no usable certificate in certs/ covers the name, so there is nothing to compare. */
  status: DeliveryStatus | 'not-stored';
  /** What was served instead, or why nothing was seen. */
  detail?: string;
  /** The file in certs/ compared with. */
  file?: string;
}

/** Handshakes in flight at once: thousands of names on a few LBs take seconds, not minutes. */
const CONCURRENCY = 32;

export async function runServedCheck(
  request: ServedRequest,
  names: readonly string[],
  json: boolean,
  logger: Logger,
): Promise<{ checks: ServedCheck[]; text: string }> {
  const certsDir = join(request.storageDir, 'certs');
  if (!(await isDirectory(certsDir))) {
    const why = (await isDirectory(request.storageDir)) ? 'the daemon has not run on this storage directory yet' : 'the storage directory does not exist';
    throw new Error(`${certsDir} is not there (${why}), so there is nothing to compare with`);
  }
  const store = new CertStore(request.storageDir);
  const { certs, corrupt } = await store.list();
  for (const bad of corrupt) logger.warn({ file: bad.path, reason: bad.reason }, 'unusable certificate file in certs/; not checked');
  const defaultFingerprint = await readDefaultFingerprint(store, logger);
  const targets = names.length === 0 ? certs.map((cert) => ({ name: cert.name, cert })) : names.map((name) => findStored(name, certs, corrupt));
  const lbs = request.lbUrls.map((url) => {
    const endpoint = parseEndpoint(url);
    const host = new URL(endpoint.base).hostname.replace(/^\[(.*)\]$/, '$1');
    return { display: endpoint.display, host, address: `${isIP(host) === 6 ? `[${host}]` : host}:${request.port}` };
  });

  const limiter = new Limiter(CONCURRENCY);
  const checks = await Promise.all(
    targets.flatMap((target): Array<Promise<ServedCheck>> => {
      if ('missing' in target) return [Promise.resolve({ name: target.name, ok: false, status: 'not-stored', detail: target.missing })];
      const { bundle, path } = target.cert;
      const stored = { fingerprint256: bundle.leaf.fingerprint256, notBefore: bundle.leaf.notBefore.getTime(), names: bundle.leaf.names };
      return lbs.map((lb) =>
        limiter.run(async () => {
          const probe = await probeServedLeaf({ host: lb.host, port: request.port, servername: target.name, timeoutMs: request.timeoutMs });
          const verdict = deliveryVerdict(stored, probe, defaultFingerprint);
          return {
            name: target.name,
            lb: lb.display,
            address: lb.address,
            ok: verdict.status === 'served',
            status: verdict.status,
            ...(verdict.detail === undefined ? {} : { detail: verdict.detail }),
            file: path,
          };
        }),
      );
    }),
  );
  return { checks, text: json ? `${JSON.stringify(checks, null, 2)}\n` : formatServedChecks(checks) };
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (info) => info.isDirectory(),
    () => false,
  );
}

type Target = { name: string; cert: StoredCert } | { name: string; missing: string };

/** The file named after the name, else any stored certificate whose names include it. */
function findStored(raw: string, certs: readonly StoredCert[], corrupt: ReadonlyArray<{ name: string; file: string; reason: string }>): Target {
  const normalised = normaliseHostname(raw);
  if (!normalised.ok) return { name: raw, missing: `not a host name: ${normalised.reason}` };
  const name = normalised.name;
  const cert = certs.find((c) => c.name === name) ?? certs.find((c) => c.bundle.leaf.names.includes(name));
  if (cert !== undefined) return { name, cert };
  const bad = corrupt.find((c) => c.name === name);
  return { name, missing: bad === undefined ? 'no certificate in certs/ covers this name' : `certs/${bad.file}.pem is unusable (${bad.reason})` };
}

/** So that default.pem is named as such when an LB falls back to it. */
async function readDefaultFingerprint(store: CertStore, logger: Logger): Promise<string | undefined> {
  const text = await store.readText('default.pem');
  if (text === undefined) return undefined;
  const parsed = parseBundle(text);
  if (!parsed.ok) {
    logger.warn({ file: 'default.pem', reason: parsed.reason }, 'default.pem is not a usable bundle; an LB serving it is reported as serving another certificate');
    return undefined;
  }
  return parsed.bundle.leaf.fingerprint256;
}

export function formatServedChecks(checks: readonly ServedCheck[]): string {
  if (checks.length === 0) return 'no certificates stored, nothing to check\n';
  const nameWidth = Math.max(...checks.map((c) => c.name.length));
  const whereWidth = Math.max(...checks.map((c) => (c.address ?? '-').length));
  const lines = checks.map((c) => {
    const head = `${c.ok ? 'ok  ' : 'FAIL'}  ${c.name.padEnd(nameWidth)}  ${(c.address ?? '-').padEnd(whereWidth)}  ${c.status}`;
    return c.detail === undefined ? head : `${head}: ${c.detail}`;
  });
  const failed = checks.filter((c) => !c.ok).length;
  lines.push('', failed === 0 ? `all ${checks.length} checks: the stored certificate is served` : `${failed} of ${checks.length} checks: the stored certificate is not served`);
  return `${lines.join('\n')}\n`;
}
