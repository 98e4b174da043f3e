/**
 * `npm run demo`: the whole flow on one machine, with nothing to configure. It starts Debian's pebble
 * (a real RFC 8555 CA) behind a DNS stub that points every name at this machine, a Marathon emulator
 * holding a few labelled sample apps, and a marathon-lb signal receiver; then runs the real
 * `bin/marathon-acme` against them and prints the certificates it obtained.
 *
 *   npm run demo                  stops once every sample app has its certificate
 *   npm run demo -- --keep-running  keeps the daemon running until Ctrl-C (try `curl` on it)
 *
 * Ctrl-C, SIGTERM and SIGHUP (a closed terminal) all stop it the same way, at any point: the daemon,
 * pebble and the other peers are stopped and the temporary directories removed. A second signal
 * ends it at once.
 */
import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseBundle } from '../src/certs/bundle.js';
import { hostApp } from '../test/support/apps.js';
import { haproxyCheck } from '../test/support/haproxy.js';
import { startLbReceiver } from '../test/support/lb-receiver.js';
import { MarathonEmulator } from '../test/support/marathon-emulator.js';
import { startPebble } from '../test/support/pebble.js';
import { freePort } from '../test/support/ports.js';

const keepRunning = process.argv.includes('--keep-running');
const root = fileURLToPath(new URL('..', import.meta.url));

const SAMPLE_APPS = [
  hostApp('/shop/web', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'shop.example.test' }),
  hostApp('/blog', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'blog.example.test' }),
  hostApp('/api', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'api.example.test', MARATHON_ACME_1_DOMAIN: 'admin.example.test' }, [10001, 10002]),
  hostApp('/intranet', { HAPROXY_GROUP: 'internal', MARATHON_ACME_0_DOMAIN: 'intranet.example.test' }),
];
const EXPECTED = ['admin.example.test', 'api.example.test', 'blog.example.test', 'shop.example.test'];

function say(text: string): void {
  process.stdout.write(`[demo] ${text}\n`);
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let stopSignal: NodeJS.Signals | undefined;
/**
 * Without handlers, SIGTERM or SIGHUP would end this process at once and leave the daemon (holding
 * its port), pebble and the temporary directories behind. Installed before anything starts.
 */
const stopRequested = new Promise<NodeJS.Signals>((resolve) => {
  const onSignal = (signal: NodeJS.Signals): void => {
    for (const s of STOP_SIGNALS) process.off(s, onSignal);
    // After a SIGHUP the terminal may be gone: a failed write must not cut the cleanup short.
    for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
    stopSignal = signal;
    say(`${signal}: stopping`);
    resolve(signal);
  };
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
});

class Interrupted extends Error {}

function checkStop(): void {
  if (stopSignal !== undefined) throw new Interrupted(stopSignal);
}

/** Run last-first once the demo ends, however it ends. */
type Cleanup = () => Promise<unknown>;

async function run(cleanups: Cleanup[]): Promise<void> {
  const httpPort = await freePort();
  say('starting pebble (Debian package) as the ACME CA...');
  const pebble = await startPebble({ httpPort });
  cleanups.push(() => pebble.stop());
  checkStop();
  const marathon = await MarathonEmulator.start();
  cleanups.push(() => marathon.stop());
  for (const app of SAMPLE_APPS) marathon.addApp(app);
  const lb = await startLbReceiver();
  cleanups.push(() => lb.stop());
  const storage = await mkdtemp(join(tmpdir(), 'marathon-acme-demo-'));
  cleanups.push(() => rm(storage, { recursive: true, force: true }));
  say(`Marathon emulator at ${marathon.url} with ${SAMPLE_APPS.length} apps (one in group "internal", which is not ours)`);
  say(`storage directory ${storage}`);
  checkStop();

  const args = [
    '--acme', pebble.directoryUrl,
    '--acme-ca-file', pebble.caFile,
    '--marathon', marathon.url,
    '--lb', lb.url,
    '--listen', `127.0.0.1:${httpPort}`,
    // The sample names resolve only through pebble's DNS stub, not for this machine's own resolver,
    // so the reachability check that runs before each order (on by default) is turned off here.
    '--no-preflight',
    storage,
  ];
  say(`running: bin/marathon-acme ${args.join(' ')}`);
  const daemon = spawn(join(root, 'bin', 'marathon-acme'), args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => daemon.once('exit', (code) => { resolve(code); }));
  cleanups.push(async () => {
    daemon.kill('SIGTERM');
    const exitCode = await exited;
    say(`daemon stopped (exit code ${exitCode ?? 'signal'})`);
  });
  createInterface({ input: daemon.stdout }).on('line', (line) => {
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string; domain?: string };
      process.stdout.write(`  daemon ${entry.level ?? ''}: ${entry.msg ?? ''}${entry.domain === undefined ? '' : ` (${entry.domain})`}\n`);
    } catch {
      process.stdout.write(`  daemon: ${line}\n`);
    }
  });

  const deadline = Date.now() + 120_000;
  for (;;) {
    checkStop();
    const files = (await readdir(join(storage, 'certs')).catch(() => [])).sort();
    if (EXPECTED.every((name) => files.includes(`${name}.pem`))) break;
    if (daemon.exitCode !== null) throw new Error(`the daemon exited early with code ${daemon.exitCode}`);
    if (Date.now() > deadline) throw new Error(`only ${files.length} of ${EXPECTED.length} certificates after 2 minutes`);
    await new Promise((r) => setTimeout(r, 200));
  }
  await new Promise((r) => setTimeout(r, 500)); // let the LB signal land before reporting it
  say('certificates obtained:');
  const files = (await readdir(join(storage, 'certs'))).sort();
  for (const file of files) {
    const parsed = parseBundle(await readFile(join(storage, 'certs', file), 'utf8'));
    if (!parsed.ok) throw new Error(`${file}: ${parsed.reason}`);
    const leaf = new X509Certificate(parsed.bundle.leafPem);
    say(`  certs/${file}  names=${parsed.bundle.leaf.names.join(',')}  expires=${parsed.bundle.leaf.notAfter.toISOString()}  issuer="${leaf.issuer.replace(/\n/g, ', ')}"  chain=${parsed.bundle.chainPems.length}`);
  }
  say(`marathon-lb was told to reload ${lb.usr1} time(s)`);
  await checkWithHaproxy(storage, files.length);
  checkStop();
  if (keepRunning) {
    say(`daemon still running: open http://127.0.0.1:${httpPort}/status or try curl http://127.0.0.1:${httpPort}/ready  (Ctrl-C, SIGTERM or SIGHUP stops it)`);
    await stopRequested;
  }
}

/**
 * What marathon-lb's HAProxy would do with the directory: `haproxy -c` loads certs/ and default.pem
 * as `--ssl-certs` binds them. `npm run demo` installs haproxy; run otherwise without it, the check
 * is skipped, and says so.
 */
async function checkWithHaproxy(storage: string, certificates: number): Promise<void> {
  const what = `certs/ (${certificates} files) and default.pem, bound the way marathon-lb binds them`;
  let check: { ok: boolean; output: string };
  try {
    check = await haproxyCheck(storage);
  } catch (err) {
    say(`haproxy -c check SKIPPED: ${err instanceof Error ? err.message : String(err)}`);
    return;
  }
  if (!check.ok) throw new Error(`haproxy -c refuses the storage directory (${what}):\n${check.output.trim()}`);
  say(`haproxy -c accepts the storage directory: ${what}`);
}

async function main(): Promise<number> {
  const cleanups: Cleanup[] = [];
  let code = 0;
  try {
    await run(cleanups);
  } catch (err) {
    if (err instanceof Interrupted && stopSignal !== undefined) {
      say(`stopped by ${stopSignal} before the demo was done`);
      code = 128 + constants.signals[stopSignal];
    } else {
      say(`FAILED: ${err instanceof Error ? err.message : String(err)}`);
      code = 1;
    }
  } finally {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((err: unknown) => {
        say(`while stopping: ${err instanceof Error ? err.message : String(err)}`);
      });
    }
  }
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[demo] ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
