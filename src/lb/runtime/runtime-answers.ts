/**
 * Reading HAProxy's runtime API answers (HAProxy ≥ 2.2, doc/management.txt): which answer means
 * success, what `show ssl cert <file>` says of one certificate store, and which crt directory of the
 * running configuration is the storage directory's certs/. Pure.
 */

/** What each command answers when it worked; anything else is the error, in HAProxy's words. */
const SUCCESS: Readonly<Record<string, RegExp>> = {
  new: /^New empty certificate store /m,
  set: /^Transaction (created|updated) for certificate /m,
  commit: /^Success!/m,
  add: /^Success!/m,
  abort: /^Transaction aborted for certificate /m,
  delList: /^Entry '.*' deleted in crtlist /m,
  delCert: /^Certificate '.*' deleted!/m,
};

export type RuntimeStep = keyof typeof SUCCESS;

/** The error in the answer, or undefined when the step worked. */
export function answerError(step: RuntimeStep, answer: string): string | undefined {
  const pattern = SUCCESS[step];
  if (pattern?.test(answer) === true) return undefined;
  const text = answer.trim().replace(/\s*\n\s*/g, ' ');
  return text === '' ? 'an empty answer' : text;
}

/** A certificate store as `show ssl cert <file>` describes it. */
export interface StoreInfo {
  /** `Used`: some bind line serves it; `Unused`: created but not attached to a crt-list yet. */
  used: boolean;
  /** Upper-case hex without leading zeros; undefined for a store that holds no certificate yet. */
  serial: string | undefined;
}

/** undefined when HAProxy has no store of that name. */
export function parseStoreInfo(answer: string): StoreInfo | undefined {
  if (/^Can't display the certificate: Not found/m.test(answer)) return undefined;
  const field = (name: string): string | undefined => new RegExp(`^${name}: *(.*)$`, 'm').exec(answer)?.[1]?.trim();
  const status = field('Status');
  if (status === undefined) throw new Error(`unexpected answer to show ssl cert: ${answer.trim().slice(0, 200)}`);
  const serial = field('Serial');
  return { used: status === 'Used', serial: serial === undefined || serial === '' ? undefined : normaliseSerial(serial) };
}

export function normaliseSerial(hex: string): string {
  return hex.replace(/[^0-9a-f]/gi, '').toUpperCase().replace(/^0+(?=.)/, '');
}

/** The names an answer lists, one per line, without the `#` comment lines. */
export function listedNames(answer: string): string[] {
  return answer
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/**
 * The crt directory serving our certs/: among the crt-lists (`show ssl crt-list`; a `crt <dir>` is one
 * since HAProxy 2.2), the one named `.../certs` next to a loaded `.../default.pem` (`show ssl cert`),
 * else the only one named `.../certs`. HAProxy sees the storage directory where marathon-lb mounts
 * it, which need not be where the daemon does, so the path is read from HAProxy, not assumed.
 */
export function findCertsDirectory(crtLists: readonly string[], certFiles: readonly string[]): { dir: string } | { error: string } {
  const named = crtLists.filter((l) => l.replace(/\/+$/, '').endsWith('/certs'));
  const files = new Set(certFiles);
  const beside = named.filter((l) => files.has(`${l.replace(/\/+$/, '').slice(0, -'/certs'.length)}/default.pem`));
  const pick = beside.length === 1 ? beside[0] : named.length === 1 ? named[0] : undefined;
  if (pick !== undefined) return { dir: pick.replace(/\/+$/, '') };
  const seen = crtLists.length === 0 ? 'none' : crtLists.join(', ');
  return { error: `cannot tell which crt directory of this HAProxy is the storage directory's certs/ (crt-lists: ${seen}); marathon-lb's --ssl-certs must name <storage>/certs` };
}

/**
 * Why this HAProxy cannot take certificates at runtime, from `show info`: `new ssl cert` and `add ssl
 * crt-list` came with 2.2. undefined when it can (or the answer names no version to judge by).
 */
export function versionRefusal(showInfo: string): string | undefined {
  const version = /^Version: *(\d+)\.(\d+)/m.exec(showInfo);
  if (version === null) return undefined;
  const [major, minor] = [Number(version[1]), Number(version[2])];
  if (major > 2 || (major === 2 && minor >= 2)) return undefined;
  return `HAProxy ${major}.${minor} cannot load certificates without a reload (that needs 2.2 or later); give none for this LB in --lb-runtime`;
}
