import { readVariable } from './environment.js';
import { STORAGE_DIR_ENV } from './options.js';
import { newProgram, parseArgs, PROGRAM, usageError, type Exit } from './program.js';

export type StatusCommand = { kind: 'status'; storageDir: string; json: boolean };

/**
 * `status` reads only the storage directory, so it takes none of the daemon's options: the
 * MARATHON_ACME_* variables of a daemon's environment cannot make it fail.
 */
export function parseStatus(argv: readonly string[], env: NodeJS.ProcessEnv): StatusCommand | Exit {
  const command = `${PROGRAM} status`;
  const program = newProgram(
    command,
    'Print the stored certificates (certs/, unmanaged-certs/, retired-certs/) with names, expiry, days left, key type, issuer and state, most urgent first; reads the storage directory only, changes nothing and needs no running daemon',
  )
    .argument('[storage-dir]', `Path to the storage directory (env ${STORAGE_DIR_ENV})`)
    .option('--json', 'Print JSON instead of a table (ISO dates; the field names are stable)')
    .allowExcessArguments(false);
  const refused = parseArgs(program, argv, command);
  if (refused !== undefined) return refused;
  const storageDir = program.args[0] ?? readVariable(env, STORAGE_DIR_ENV);
  if (storageDir === undefined) return usageError(`missing required argument 'storage-dir' (or set ${STORAGE_DIR_ENV})`, command);
  return { kind: 'status', storageDir, json: program.opts<{ json?: boolean }>().json === true };
}

export type LbConfigCommand = { kind: 'lb-config'; storageDir: string };

/** `lb-config` reads only client.key in the storage directory, so it takes none of the daemon's options either. */
export function parseLbConfig(argv: readonly string[], env: NodeJS.ProcessEnv): LbConfigCommand | Exit {
  const command = `${PROGRAM} lb-config`;
  const program = newProgram(
    command,
    "Print the HAProxy line that answers the CA's HTTP-01 challenges in marathon-lb itself (HAProxy 2.2 or later), from the account key in the storage directory, for --challenges stateless; reads client.key only",
  )
    .argument('[storage-dir]', `Path to the storage directory (env ${STORAGE_DIR_ENV})`)
    .allowExcessArguments(false);
  const refused = parseArgs(program, argv, command);
  if (refused !== undefined) return refused;
  const storageDir = program.args[0] ?? readVariable(env, STORAGE_DIR_ENV);
  if (storageDir === undefined) return usageError(`missing required argument 'storage-dir' (or set ${STORAGE_DIR_ENV})`, command);
  return { kind: 'lb-config', storageDir };
}
