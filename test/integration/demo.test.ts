/** The README's first command: `npm run demo` must keep working as the code changes, and stop cleanly however it is stopped. */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { eventually } from '../support/eventually.js';

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEMO = ['--import', 'tsx', 'demo/demo.ts'];

/** A TMPDIR of its own, so that what the demo leaves behind in it is known to be the demo's. */
async function privateTmp(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ma-demo-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** What the demo made there: tsx (which runs it) keeps its compile cache in TMPDIR too. */
async function demoDirs(tmp: string): Promise<string[]> {
  return (await readdir(tmp)).filter((entry) => !entry.startsWith('tsx-'));
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => { resolve(false); });
    server.listen(port, '127.0.0.1', () => server.close(() => { resolve(true); }));
  });
}

describe('demo', () => {
  it('obtains a certificate for each of the four external sample domains, checks them with haproxy and stops cleanly', async (t) => {
    const tmp = await privateTmp(t);
    const { stdout } = await exec(process.execPath, DEMO, { cwd: ROOT, timeout: 110_000, env: { ...process.env, TMPDIR: tmp } });
    const obtained = stdout.split('\n').filter((line) => line.startsWith('[demo]   certs/'));
    assert.deepEqual(
      obtained.map((line) => /certs\/(\S+)\.pem/.exec(line)?.[1]),
      ['admin.example.test', 'api.example.test', 'blog.example.test', 'shop.example.test'],
    );
    assert.match(stdout, /haproxy -c accepts the storage directory: certs\/ \(4 files\) and default\.pem/);
    assert.match(stdout, /daemon stopped \(exit code 0\)/);
    assert.deepEqual(await demoDirs(tmp), [], 'no temporary directory left');
  });

  it('stops the daemon and its peers and removes its directories on SIGTERM while kept running', async (t) => {
    const tmp = await privateTmp(t);
    const demo = spawn(process.execPath, [...DEMO, '--keep-running'], { cwd: ROOT, env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<string>((resolve) => demo.once('exit', (code, signal) => { resolve(`code ${String(code)} signal ${String(signal)}`); }));
    t.after(async () => {
      demo.kill('SIGKILL');
      await exited;
    });
    let output = '';
    demo.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    demo.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    await eventually('the demo kept running', () => output.includes('daemon still running'), 110_000);
    const port = Number(/--listen 127\.0\.0\.1:(\d+)/.exec(output)?.[1]);
    assert.ok(port > 0, output);
    assert.equal(await portIsFree(port), false, 'the daemon listens while the demo runs');
    assert.notDeepEqual(await demoDirs(tmp), [], 'the demo made its directories in the given TMPDIR');

    demo.kill('SIGTERM');
    assert.equal(await exited, 'code 0 signal null', output);
    assert.match(output, /SIGTERM: stopping/);
    assert.match(output, /daemon stopped \(exit code 0\)/);
    assert.equal(await portIsFree(port), true, "the daemon's port is free");
    assert.deepEqual(await demoDirs(tmp), [], 'no temporary directory left');
  });
});
