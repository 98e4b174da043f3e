/**
 * Crash safety: the real executable is killed with SIGKILL at random moments while it issues 30
 * certificates, round after round, and restarted. After every round the storage directory must be
 * one that HAProxy loads and that the next run can use; by the end all 30 certificates exist.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { parseBundle } from '../../src/certs/bundle.js';
import { parseState } from '../../src/state/state.js';
import { hostApp } from '../support/apps.js';
import { eventually } from '../support/eventually.js';
import { faultCase } from '../support/fault-report.js';
import { haproxyCheck } from '../support/haproxy.js';
import { startLbReceiver } from '../support/lb-receiver.js';
import { startPeers } from '../support/peers.js';

const BIN = fileURLToPath(new URL('../../bin/marathon-acme', import.meta.url));
const CERTS = 30;
const ROUNDS = 20;

/** A seeded generator, so a failing round can be replayed (the seed is in the failure message). */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function checkInvariants(storage: string, round: string): Promise<number> {
  const files = await readdir(join(storage, 'certs'));
  for (const file of files) {
    assert.match(file, /^[a-z0-9.-]+\.pem$/, `${round}: only finished bundles in certs/, found ${file}`);
    const parsed = parseBundle(await readFile(join(storage, 'certs', file), 'utf8'));
    assert.ok(parsed.ok, `${round}: ${file} is a complete bundle whose key matches its leaf (${parsed.ok ? '' : parsed.reason})`);
  }
  const check = await haproxyCheck(storage);
  assert.ok(check.ok, `${round}: haproxy accepts the directory: ${check.output}`);
  createPrivateKey(await readFile(join(storage, 'client.key'), 'utf8'));
  const stateText = await readFile(join(storage, 'state.json'), 'utf8').catch(() => undefined);
  if (stateText !== undefined) assert.deepEqual(parseState(stateText).problems, [], `${round}: state.json is intact`);
  return files.length;
}

describe('crash safety under SIGKILL', () => {
  it(`keeps the storage directory valid through ${ROUNDS} kills while issuing ${CERTS} certificates`, async (t) => {
    const seed = Number(process.env['CRASH_SEED'] ?? Date.now() % 100_000);
    const rec = faultCase(t, {
      area: 'Storage and crashes',
      fault: 'SIGKILL at random moments while issuing',
      tried: `${ROUNDS} kills of the real executable during ${CERTS} issuances (seed ${seed}; CRASH_SEED=${seed} replays it), then a clean run`,
    });
    const random = mulberry32(seed);
    const { httpPort, pebble, marathon } = await startPeers((cleanup) => { t.after(cleanup); });
    // Each name under a registered domain of its own, as a run against Let's Encrypt would need: there
    // an order killed in flight keeps its budget slot (the CA may have issued), and 20 kills under one
    // registered domain could spend its 45 certificates a week.
    for (let i = 0; i < CERTS; i++) {
      marathon.addApp(hostApp(`/crash/app${i}`, { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: `crash.example${i}.test` }));
    }
    const lb = await startLbReceiver();
    t.after(() => lb.stop());
    const storage = await mkdtemp(join(tmpdir(), 'ma-crash-'));
    t.after(() => rm(storage, { recursive: true, force: true }));
    const args = [
      '--acme', pebble.directoryUrl, '--acme-ca-file', pebble.caFile, '--marathon', marathon.url, '--lb', lb.url,
      '--listen', `127.0.0.1:${httpPort}`, '--no-preflight', storage,
    ];
    const run = () => spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });

    let killedWith = 0;
    const progress: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const child = run();
      const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve(); }));
      // Aim at the work: wait until orders are under way (or a few seconds when nothing is left to
      // order), then kill anywhere in the next 1.5 s: key creation, orders, writes, state updates.
      const working = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 3_000);
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          if (chunk.includes('requesting a certificate')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      await working;
      await new Promise((r) => setTimeout(r, random() * 1_500));
      child.kill('SIGKILL');
      await exited;
      killedWith = await checkInvariants(storage, `seed ${seed}, round ${round}`);
      progress.push(killedWith);
    }
    const last = run();
    let stderr = '';
    last.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<string>((resolve) => last.once('exit', (code, signal) => { resolve(`code ${String(code)} signal ${String(signal)}`); }));
    t.after(() => { last.kill('SIGKILL'); });
    await eventually('all certificates after the last restart', async () => (await readdir(join(storage, 'certs'))).length === CERTS, 90_000).catch(async (err: unknown) => {
      // What held the missing names back (a backoff, the budget) is in state.json.
      const failures = [...parseState(await readFile(join(storage, 'state.json'), 'utf8')).state.certificates]
        .flatMap(([name, cert]) => (cert.failure === undefined ? [] : [`${name}: ${cert.failure.lastError.detail}`]));
      throw new Error(`${err instanceof Error ? err.message : String(err)}; failures in state.json: ${failures.join('; ') || 'none'}`, { cause: err });
    });
    // The last kills may have left nothing to do; make sure this run is up before asking it to stop.
    await eventually('the final run answers', () =>
      request(`http://127.0.0.1:${httpPort}/health`).then((res) => res.body.dump().then(() => true), () => false),
    );
    last.kill('SIGTERM');
    assert.equal(await exited, 'code 0 signal null', stderr);
    assert.equal(await checkInvariants(storage, `seed ${seed}, final`), CERTS);
    rec.observe(`after every round: only complete bundles with matching keys in certs/, no temporary file, haproxy -c OK, client.key and state.json intact`);
    rec.observe(`certificates after each round: ${progress.join(' ')}; ${killedWith} of ${CERTS} before the final run, ${CERTS} of ${CERTS} after it; SIGTERM → exit 0`);
  });
});
