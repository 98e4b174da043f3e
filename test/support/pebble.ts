/**
 * Runs Debian's pebble (Let's Encrypt's RFC 8555 test CA, /usr/bin/pebble) for a test.
 *
 * - Pebble's own HTTPS listeners need a certificate the Debian package does not ship: a throwaway CA
 *   and a `localhost`/127.0.0.1 leaf are made with openssl once per process and shared by every
 *   pebble started in it, because the code under test installs its trusted CA process-wide.
 * - HTTP-01 validation resolves names through a DNS stub (A 127.0.0.1, no AAAA) and dials
 *   `httpPort`, so the challenge server under test must listen on 127.0.0.1:`httpPort`.
 * - `PEBBLE_VA_NOSLEEP=1` removes the random pre-validation sleep; `PEBBLE_AUTHZREUSE=0` makes every
 *   order need a fresh challenge. `PEBBLE_WFE_NONCEREJECT` keeps pebble's default (5 % of nonces
 *   rejected) so clients exercise their badNonce retry; override through `env`.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { startDnsStub, type DnsStub } from './dns-stub.js';
import { freePort } from './ports.js';

const execFileAsync = promisify(execFile);

const PEBBLE_BINARY = '/usr/bin/pebble';
/** Pebble starts in about 0.3 s; the limit only turns a hang into a readable error. */
const STARTUP_LIMIT_MS = 15_000;
/** Keep the tail of pebble's output for error messages without growing without bound. */
const OUTPUT_LIMIT = 256 * 1024;

export interface PebbleOptions {
  /** Port pebble's validator dials for HTTP-01 (for every name). */
  httpPort: number;
  /** `certificateValidityPeriod` in seconds; pebble's default is 5 years. */
  validitySeconds?: number;
  /** Extra environment for pebble (e.g. `PEBBLE_WFE_NONCEREJECT: '0'`). */
  env?: Record<string, string>;
  /** Extra keys for the `"pebble"` config object (e.g. `externalAccountBindingRequired`). */
  extraConfig?: Record<string, unknown>;
}

export interface Pebble {
  /** ACME directory, e.g. https://127.0.0.1:PORT/dir. */
  directoryUrl: string;
  /** PEM file of the CA that signed pebble's HTTPS listener certificate (not the issuing root). */
  caFile: string;
  /** HTTPS base URL of the management listener (`/roots/0`, `/intermediates/0`, ...). */
  managementUrl: string;
  /** Process id, to check that stop() left nothing running. */
  pid: number;
  /** Port of the DNS stub pebble resolves through, and the questions it received. */
  dns: { port: number; queries: string[] };
  /** The issuing root of this run (random per start). */
  rootPem(): Promise<string>;
  /** The intermediate that signs leaf certificates in this run. */
  intermediatePem(): Promise<string>;
  /** Pebble's stdout and stderr so far. */
  output(): string;
  stop(): Promise<void>;
}

export interface TlsMaterial {
  dir: string;
  caFile: string;
  caPem: string;
  certFile: string;
  keyFile: string;
}

let sharedTls: Promise<TlsMaterial> | undefined;

/**
 * The process-wide throwaway CA and `localhost` leaf for pebble's HTTPS listeners, generated on
 * first use and removed when the process exits.
 */
export function pebbleTls(): Promise<TlsMaterial> {
  sharedTls ??= generateTls();
  return sharedTls;
}

async function generateTls(): Promise<TlsMaterial> {
  const dir = await mkdtemp(join(tmpdir(), 'marathon-acme-test-tls-'));
  process.once('exit', () => {
    rmSync(dir, { recursive: true, force: true });
  });
  const caKey = join(dir, 'ca.key');
  const caFile = join(dir, 'ca.pem');
  const keyFile = join(dir, 'localhost.key');
  const csrFile = join(dir, 'localhost.csr');
  const certFile = join(dir, 'localhost.pem');
  const extFile = join(dir, 'localhost.ext');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await execFileAsync('openssl', [
    'req', '-x509', ...ec, '-keyout', caKey, '-out', caFile, '-days', '30',
    '-subj', '/CN=marathon-acme test TLS CA',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await execFileAsync('openssl', ['req', ...ec, '-keyout', keyFile, '-out', csrFile, '-subj', '/CN=localhost']);
  await writeFile(
    extFile,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '',
    ].join('\n'),
  );
  await execFileAsync('openssl', [
    'x509', '-req', '-in', csrFile, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial',
    '-out', certFile, '-days', '30', '-extfile', extFile,
  ]);
  return { dir, caFile, caPem: await readFile(caFile, 'utf8'), certFile, keyFile };
}

class OutputBuffer {
  #text = '';
  append(chunk: Buffer): void {
    this.#text += chunk.toString('utf8');
    if (this.#text.length > OUTPUT_LIMIT) this.#text = this.#text.slice(-OUTPUT_LIMIT);
  }
  get text(): string {
    return this.#text;
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

async function killAndWait(child: ChildProcess): Promise<void> {
  if (exited(child)) return;
  const exit = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
  try {
    await exit;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A process-exit hook cannot run when this process is killed (the test runner's timeout sends
 * SIGTERM; a CI job may SIGKILL). A watchdog shell holds the read end of a pipe from us: when we die
 * the pipe closes, its `read` returns and it kills pebble. stop() kills the watchdog first.
 */
function startWatchdog(pid: number): ChildProcess {
  const dog = spawn('/bin/sh', ['-c', 'read -r _ignored; kill -KILL "$1" 2>/dev/null', 'pebble-watchdog', String(pid)], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  dog.on('error', () => undefined);
  // Neither the watchdog nor its pipe may keep the test process alive.
  dog.unref();
  if (dog.stdin instanceof Socket) dog.stdin.unref();
  return dog;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

interface Attempt {
  child: ChildProcess;
  watchdog: ChildProcess;
  output: OutputBuffer;
  directoryUrl: string;
  managementUrl: string;
}

/** Starts pebble once; throws with its output if it exits or does not serve its directory in time. */
async function attempt(options: PebbleOptions, dir: string, tls: TlsMaterial, dns: DnsStub, agent: Agent): Promise<Attempt> {
  const [listenPort, managementPort, tlsPort] = [await freePort(), await freePort(), await freePort()];
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${listenPort}`,
      managementListenAddress: `127.0.0.1:${managementPort}`,
      certificate: tls.certFile,
      privateKey: tls.keyFile,
      httpPort: options.httpPort,
      tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
      ...(options.validitySeconds !== undefined ? { certificateValidityPeriod: options.validitySeconds } : {}),
      ...options.extraConfig,
    },
  };
  const configFile = join(dir, 'pebble-config.json');
  await writeFile(configFile, `${JSON.stringify(config, null, 2)}\n`);

  const output = new OutputBuffer();
  const child = spawn(PEBBLE_BINARY, ['-config', configFile, '-dnsserver', `127.0.0.1:${dns.port}`, '-strict=false'], {
    cwd: dir,
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_AUTHZREUSE: '0', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (chunk: Buffer) => {
    output.append(chunk);
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output.append(chunk);
  });
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });
  const watchdog = child.pid === undefined ? undefined : startWatchdog(child.pid);
  const fail = async (message: string): Promise<never> => {
    watchdog?.kill('SIGKILL');
    await killAndWait(child);
    throw new Error(message);
  };

  const directoryUrl = `https://127.0.0.1:${listenPort}/dir`;
  const managementUrl = `https://127.0.0.1:${managementPort}`;
  const deadline = Date.now() + STARTUP_LIMIT_MS;
  let lastError: unknown;
  for (;;) {
    if (spawnError !== undefined) return fail(`could not run ${PEBBLE_BINARY}: ${spawnError.message}`);
    if (exited(child)) {
      return fail(`pebble exited during start-up (code ${String(child.exitCode)}, signal ${String(child.signalCode)}):\n${output.text}`);
    }
    try {
      const response = await request(directoryUrl, { dispatcher: agent, headersTimeout: 2_000, bodyTimeout: 2_000 });
      await response.body.text();
      if (response.statusCode === 200 && watchdog !== undefined) return { child, watchdog, output, directoryUrl, managementUrl };
      lastError = new Error(`status ${response.statusCode}`);
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const reason = lastError instanceof Error ? lastError.message : String(lastError);
      return fail(`pebble did not serve ${directoryUrl} within ${STARTUP_LIMIT_MS} ms (last error: ${reason}):\n${output.text}`);
    }
    await sleep(50);
  }
}

export async function startPebble(options: PebbleOptions): Promise<Pebble> {
  const tls = await pebbleTls();
  const dir = await mkdtemp(join(tmpdir(), 'marathon-acme-pebble-'));
  const dns = await startDnsStub();
  const agent = new Agent({ connect: { ca: tls.caPem } });
  const cleanUp = async (): Promise<void> => {
    await dns.stop();
    await agent.close();
    await rm(dir, { recursive: true, force: true });
  };

  let started: Attempt | undefined;
  for (let tries = 1; started === undefined; tries++) {
    try {
      started = await attempt(options, dir, tls, dns, agent);
    } catch (error) {
      // freePort() cannot reserve a port; if another process took one meanwhile, try new ports.
      const message = error instanceof Error ? error.message : String(error);
      if (tries < 3 && message.includes('address already in use')) continue;
      await cleanUp();
      throw error;
    }
  }
  const { child, watchdog, output, directoryUrl, managementUrl } = started;

  // A test that crashes before stop() must not leave pebble running after the process ends.
  const killOnExit = (): void => {
    if (!exited(child)) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const fetchPem = async (path: string): Promise<string> => {
    const response = await request(`${managementUrl}${path}`, { dispatcher: agent });
    const text = await response.body.text();
    if (response.statusCode !== 200) throw new Error(`pebble management ${path} answered ${response.statusCode}: ${text}`);
    return text;
  };

  let stopped: Promise<void> | undefined;
  return {
    directoryUrl,
    caFile: tls.caFile,
    managementUrl,
    pid: child.pid ?? -1,
    dns: { port: dns.port, queries: dns.queries },
    rootPem: () => fetchPem('/roots/0'),
    intermediatePem: () => fetchPem('/intermediates/0'),
    output: () => output.text,
    stop(): Promise<void> {
      stopped ??= (async () => {
        watchdog.kill('SIGKILL');
        await killAndWait(child);
        process.off('exit', killOnExit);
        await cleanUp();
      })();
      return stopped;
    },
  };
}
