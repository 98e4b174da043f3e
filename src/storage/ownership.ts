import { stat } from 'node:fs/promises';

/**
 * Why a command run as root must not write into `dir`, or undefined when it may: root writing into
 * a directory that belongs to the daemon's user would leave keys and certificates (mode 0600) and
 * state that the daemon cannot read afterwards.
 */
export async function ownershipRefusal(dir: string): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const info = await stat(dir).catch(() => undefined);
  if (info === undefined || info.uid === 0) return undefined;
  return (
    `the storage directory ${dir} belongs to uid ${info.uid}, and this runs as root: the files written would be root's (mode 0600) ` +
    `and unreadable for the daemon. Run it as that user (docker exec --user ${info.uid}:${info.gid} ...)`
  );
}
