import { Option } from 'commander';
import { ConfigError, parseSeconds } from '../config.js';
import type { CheckRequest } from '../check/command.js';
import { parseLbHttp } from '../check/routing.js';
import { readVariable } from './environment.js';
import { envName, findOption, longFlag, STORAGE_DIR_ENV } from './options.js';
import { addSpecOption, newProgram, parseArgs, PROGRAM, usageError, type Exit, type FlagValue } from './program.js';
import { resolveSettings } from './settings.js';

export type CheckCommand = { kind: 'check'; request: CheckRequest };

/** The daemon's options the routing check reads, with --all or for the label check. */
const ROUTING_SHARED = ['marathon', 'group', 'marathonTimeout', 'marathonCaFile'];
/** The daemon's options `--served` reads. */
const SERVED_SHARED = ['lb', 'deliveryCheckPort'];

/**
 * `check` takes names, or `--all` with the daemon's Marathon and group options (same flags, variables
 * and defaults), so it can run with the daemon's environment; with Marathon given (or `--all`) it also
 * checks marathon-lb's labels. `--served` takes the daemon's `--lb` and `--delivery-check-port` and
 * the storage directory instead.
 */
export function parseCheck(argv: readonly string[], env: NodeJS.ProcessEnv): CheckCommand | Exit {
  const command = `${PROGRAM} check`;
  const program = newProgram(
    command,
    "Fetch http://<name>/.well-known/acme-challenge/ping the way the CA fetches a challenge (DNS, redirects, ports) and report per name what DNS answered, where redirects led, whether marathon-acme answered, and what to fix; with Marathon given (--marathon, its variable, or --all) also find marathon-lb labels whose rules take the challenge path before marathon-acme's. With --served, instead compare the certificate each marathon-lb serves for each name with the stored one. Exit 1 if any check fails",
  )
    .argument('[name...]', 'Domain names to check (with --served: default every certificate in certs/)')
    .option('--all', "Also check every name in the MARATHON_ACME_{n}_DOMAIN labels of Marathon's apps in --group")
    .option('--lb-http <url>', 'Send the checks to this marathon-lb (http://host[:port]) instead of where DNS points')
    .option('--acme-app <id>', "marathon-acme's app id, for the label check (default: the app whose HAPROXY_{n}_PATH is /.well-known/acme-challenge/)")
    .option('--served', "Connect to each --lb host's TLS port with SNI set to each name and compare the certificate served with the stored one: served, stale, other or unreachable")
    .option('--stateless', "For --challenges stateless: marathon-lb answers the challenge itself, so each name gets a random token that must come back as <token>.<thumbprint of the storage directory's client.key> (needs --storage-dir)")
    .option('--storage-dir <dir>', `The storage directory, with --served or --stateless (env ${STORAGE_DIR_ENV})`)
    .addOption(new Option('--timeout <seconds>', 'Seconds each name may take, DNS and redirects included (with --served: each TLS handshake)').default('10', '10'))
    .option('--json', 'Print JSON instead of text');
  const flags = new Map<string, FlagValue>();
  for (const [keys, use] of [[ROUTING_SHARED, 'with --all, and for the label check'], [SERVED_SHARED, 'with --served']] as const) {
    for (const key of keys) addSpecOption(program, findOption(key), flags, use);
  }
  const refused = parseArgs(program, argv, command);
  if (refused !== undefined) return refused;
  const opts = program.opts<{ all?: boolean; served?: boolean; stateless?: boolean; json?: boolean; timeout: string; lbHttp?: string; acmeApp?: string; storageDir?: string }>();
  const shared = (keys: readonly string[]): Map<string, unknown> => {
    const settings = resolveSettings(keys.map(findOption), flags, env);
    if (!settings.ok) throw new ConfigError(settings.message);
    return settings.values;
  };
  // The flags given of each kind, in the help's order, to name one that does not fit.
  const givenFlags = (own: readonly string[], sharedKeys: readonly string[]): string[] => [
    ...own.filter((key) => program.getOptionValueSource(key) === 'cli').map((key) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`),
    ...sharedKeys.filter((key) => flags.has(key)).map((key) => longFlag(findOption(key))),
  ];
  try {
    const timeoutMs = parseSeconds(opts.timeout);
    if (timeoutMs < 1000) throw new ConfigError(`'${opts.timeout}' is too short for --timeout; give at least 1 second`);
    const names = program.args;
    const json = opts.json === true;
    if (opts.served === true) {
      const [wrong] = givenFlags(['all', 'lbHttp', 'acmeApp', 'stateless'], ROUTING_SHARED);
      if (wrong !== undefined) return usageError(`${wrong} belongs to the routing check and does not go with --served`, command);
      const storageDir = (opts.storageDir?.trim() === '' ? undefined : opts.storageDir) ?? readVariable(env, STORAGE_DIR_ENV);
      if (storageDir === undefined) return usageError(`--served needs the storage directory: give --storage-dir (or set ${STORAGE_DIR_ENV})`, command);
      const values = shared(SERVED_SHARED);
      const port = values.get('deliveryCheckPort') as number;
      if (port === 0) return usageError("--served needs marathon-lb's TLS port; --delivery-check-port 0 only turns the daemon's own check off", command);
      return {
        kind: 'check',
        request: { names, all: false, marathon: undefined, lbHttp: undefined, timeoutMs, json, served: { storageDir, lbUrls: values.get('lb') as string[], port, timeoutMs } },
      };
    }
    const [misplaced] = givenFlags(opts.stateless === true ? [] : ['storageDir'], SERVED_SHARED);
    if (misplaced !== undefined) return usageError(`${misplaced} goes with --served`, command);
    const statelessDir = opts.stateless === true ? (opts.storageDir?.trim() === '' ? undefined : opts.storageDir) ?? readVariable(env, STORAGE_DIR_ENV) : undefined;
    if (opts.stateless === true && statelessDir === undefined) return usageError(`--stateless needs the storage directory: give --storage-dir (or set ${STORAGE_DIR_ENV})`, command);
    if (opts.lbHttp !== undefined) parseLbHttp(opts.lbHttp);
    if (names.length === 0 && opts.all !== true) return usageError('give the names to check, or --all', command);
    const acmeAppId = opts.acmeApp;
    // Marathon is read when the operator points at it (or the daemon's environment does): not by default,
    // so that checking a name from a laptop does not wait on marathon.mesos.
    const withMarathon = opts.all === true || acmeAppId !== undefined || flags.has('marathon') || readVariable(env, envName(findOption('marathon'))) !== undefined;
    const values = withMarathon ? shared(ROUTING_SHARED) : undefined;
    return {
      kind: 'check',
      request: {
        names,
        all: opts.all === true,
        marathon:
          values === undefined
            ? undefined
            : {
                urls: values.get('marathon') as string[],
                group: values.get('group') as string,
                timeoutMs: values.get('marathonTimeout') as number,
                caFile: values.get('marathonCaFile') as string | undefined,
                acmeAppId,
              },
        lbHttp: opts.lbHttp,
        timeoutMs,
        json,
        served: undefined,
        stateless: statelessDir === undefined ? undefined : { storageDir: statelessDir },
      },
    };
  } catch (err) {
    if (err instanceof Error) return usageError(err.message, command);
    throw err;
  }
}
