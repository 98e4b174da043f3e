/**
 * `npm run demo`: the whole flow on one machine, with nothing to configure. It starts Debian's pebble
 * (a real RFC 8555 CA) behind a DNS stub that points every name at this machine, a Marathon emulator
 * holding a few labelled sample apps, and a marathon-lb signal receiver; then runs the real
 * `bin/marathon-acme` against them and prints the certificates it obtained.
 *
 *   npm run demo                  stops once every sample app has its certificate
 *   npm run demo -- --keep-running  keeps the daemon running until Ctrl-C (try `curl` on it)
 */
import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
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

async function main(): Promise<number> {
  const httpPort = await freePort();
  say('starting pebble (Debian package) as the ACME CA...');
  const pebble = await startPebble({ httpPort });
  const marathon = await MarathonEmulator.start();
  for (const app of SAMPLE_APPS) marathon.addApp(app);
  const lb = await startLbReceiver();
  const storage = await mkdtemp(join(tmpdir(), 'marathon-acme-demo-'));
  say(`Marathon emulator at ${marathon.url} with ${SAMPLE_APPS.length} apps (one in group "internal", which is not ours)`);
  say(`storage directory ${storage}`);

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
  createInterface({ input: daemon.stdout }).on('line', (line) => {
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string; domain?: string };
      process.stdout.write(`  daemon ${entry.level ?? ''}: ${entry.msg ?? ''}${entry.domain === undefined ? '' : ` (${entry.domain})`}\n`);
    } catch {
      process.stdout.write(`  daemon: ${line}\n`);
    }
  });

  let code = 0;
  try {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const files = (await readdir(join(storage, 'certs')).catch(() => [])).sort();
      if (EXPECTED.every((name) => files.includes(`${name}.pem`))) break;
      if (daemon.exitCode !== null) throw new Error(`the daemon exited early with code ${daemon.exitCode}`);
      if (Date.now() > deadline) throw new Error(`only ${files.length} of ${EXPECTED.length} certificates after 2 minutes`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await new Promise((r) => setTimeout(r, 500)); // let the LB signal land before reporting it
    say('certificates obtained:');
    for (const file of (await readdir(join(storage, 'certs'))).sort()) {
      const parsed = parseBundle(await readFile(join(storage, 'certs', file), 'utf8'));
      if (!parsed.ok) throw new Error(`${file}: ${parsed.reason}`);
      const leaf = new X509Certificate(parsed.bundle.leafPem);
      say(`  certs/${file}  names=${parsed.bundle.leaf.names.join(',')}  expires=${parsed.bundle.leaf.notAfter.toISOString()}  issuer="${leaf.issuer.replace(/\n/g, ', ')}"  chain=${parsed.bundle.chainPems.length}`);
    }
    say(`marathon-lb was told to reload ${lb.usr1} time(s)`);
    const check = await haproxyCheck(storage).catch((err: unknown) => ({ ok: false, output: String(err) }));
    say(check.ok ? 'haproxy -c accepts the storage directory' : `haproxy check skipped or failed: ${check.output.trim().split('\n')[0] ?? ''}`);
    if (keepRunning) {
      say(`daemon still running; try: curl http://127.0.0.1:${httpPort}/health  (Ctrl-C to stop)`);
      await new Promise<void>((resolve) => process.once('SIGINT', () => { resolve(); }));
    }
  } catch (err) {
    say(`FAILED: ${err instanceof Error ? err.message : String(err)}`);
    code = 1;
  } finally {
    daemon.kill('SIGTERM');
    const exitCode = await exited;
    say(`daemon stopped (exit code ${exitCode ?? 'signal'})`);
    await lb.stop();
    await marathon.stop();
    await pebble.stop();
    await rm(storage, { recursive: true, force: true });
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
