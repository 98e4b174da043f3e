/** The real executable, as an operator runs it: exit codes, messages, signals. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from '../support/ports.js';

const BIN = fileURLToPath(new URL('../../bin/marathon-acme', import.meta.url));

interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; until?: RegExp; then?: NodeJS.Signals; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { env: { PATH: process.env['PATH'], ...options.env }, stdio: ['ignore', 'pipe', 'pipe'], ...(options.cwd === undefined ? {} : { cwd: options.cwd }) });
    let stdout = '';
    let stderr = '';
    let signalled = false;
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (!signalled && options.until?.test(stdout) === true && options.then !== undefined) {
        signalled = true;
        child.kill(options.then);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

describe('marathon-acme executable', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ma-cli-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('prints help listing every option with its environment variable, exit 0', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Usage: marathon-acme/);
    for (const flag of ['--acme', '--email', '--marathon', '--lb', '--group', '--allow-multiple-certs', '--listen', '--marathon-timeout', '--sse-timeout', '--log-level', '--sync-interval', '--max-concurrent-orders', '--acme-timeout', '--log-format', '--version']) {
      assert.ok(r.stdout.includes(flag), flag);
    }
    assert.match(r.stdout, /MARATHON_ACME_SSE_TIMEOUT/);
    assert.match(r.stdout, /MARATHON_ACME_ACME_TIMEOUT/);
    assert.match(r.stdout, /--log-format <format>.*MARATHON_ACME_LOG_FORMAT/s);
    assert.match(r.stdout, /^  marathon-acme status \[options\] \[storage-dir\] /m, 'the commands are listed');
  });

  it('prints the help for `help` and `help <command>`, exit 0', async () => {
    const main = await runCli(['help']);
    assert.equal(main.code, 0);
    assert.match(main.stdout, /^Usage: marathon-acme \[options\] \[storage-dir\]/);
    const plan = await runCli(['help', 'plan']);
    assert.equal(plan.code, 0);
    assert.match(plan.stdout, /^Usage: marathon-acme plan \[options\] \[storage-dir\]/);
  });

  it('refuses a misspelt command with a "did you mean", exit 2, before touching any directory', async () => {
    const r = await runCli(['stauts'], { cwd: dir });
    assert.equal(r.code, 2);
    assert.equal(r.stderr, "marathon-acme: storage directory 'stauts' does not exist: did you mean 'marathon-acme status'?\nTry 'marathon-acme --help' for the list of options.\n");
  });

  it('prints the version for status and check too, exit 0', async () => {
    for (const command of ['status', 'check']) {
      const r = await runCli([command, '--version']);
      assert.equal(r.code, 0, `${command}: ${r.stderr}`);
      assert.match(r.stdout, /^\S+\n$/);
    }
  });

  it('prints the help of status, exit 0', async () => {
    const r = await runCli(['status', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Usage: marathon-acme status \[options\] \[storage-dir\]/);
    assert.match(r.stdout, /--json/);
  });

  it('prints the version, exit 0', async () => {
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const r = await runCli(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), pkg.version);
  });

  it('exits 2 on bad arguments with a one-line reason and a hint, no stack trace', async () => {
    const r = await runCli(['--sse-timeout', 'soon', dir]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--sse-timeout.*'soon'/);
    assert.match(r.stderr, /--help/);
    assert.doesNotMatch(r.stderr, /\bat .*\.js:\d+/);
  });

  it('exits 1 with a clear message when the storage directory is missing', async () => {
    const missing = join(dir, 'nope');
    const r = await runCli(['--listen', `127.0.0.1:${await freePort()}`, missing]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`${missing}.*does not exist`));
    assert.doesNotMatch(r.stderr, /\bat .*\.js:\d+/);
  });

  it('exits 1 when the port cannot be bound, after preparing the storage directory', async () => {
    const blocker = createServer();
    const port = await new Promise<number>((resolve) => blocker.listen(0, '127.0.0.1', () => { resolve((blocker.address() as { port: number }).port); }));
    try {
      const storage = await mkdtemp(join(dir, 'busy-'));
      const r = await runCli(['--listen', `127.0.0.1:${port}`, '--acme', 'http://127.0.0.1:1/dir', '-m', 'http://127.0.0.1:1', storage]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`cannot listen on 127.0.0.1:${port}`));
      assert.ok((await stat(join(storage, 'certs'))).isDirectory());
      assert.ok((await stat(join(storage, 'default.pem'))).isFile());
    } finally {
      blocker.close();
    }
  });

  it('keeps running while Marathon and the CA are unreachable, and exits 0 on SIGTERM', async () => {
    const storage = await mkdtemp(join(dir, 'term-'));
    const r = await runCli(
      ['--listen', `127.0.0.1:${await freePort()}`, '--acme', 'http://127.0.0.1:1/dir', '-m', 'http://user:hunter2@127.0.0.1:1', storage],
      // A misspelt variable, one the entrypoint reads, and an empty one (unset, so no bad e-mail).
      { env: { MARATHON_ACME_SSE_TIMOUT: '5', MARATHON_ACME_USER: 'nobody', MARATHON_ACME_EMAIL: '' }, until: /event stream from Marathon lost/, then: 'SIGTERM' },
    );
    assert.equal(r.code, 0, `signal ${String(r.signal)}; stderr: ${r.stderr}; stdout: ${r.stdout}`);
    assert.match(r.stdout, /"msg":"stopped"/);
    assert.doesNotMatch(r.stdout + r.stderr, /hunter2/, 'Marathon credentials never logged');
    const entries = r.stdout.trim().split('\n').map((line) => JSON.parse(line) as { level: string; msg: string; variable?: string; didYouMean?: string });
    const unknown = entries.filter((e) => e.variable !== undefined);
    assert.deepEqual(
      unknown.map((e) => [e.level, e.variable, e.didYouMean, e.msg]),
      [['warn', 'MARATHON_ACME_SSE_TIMOUT', 'MARATHON_ACME_SSE_TIMEOUT', 'environment variable MARATHON_ACME_SSE_TIMOUT is ignored: did you mean MARATHON_ACME_SSE_TIMEOUT?']],
      'one warning, at start, for the misspelt variable only',
    );
    const at = entries.findIndex((e) => e.variable !== undefined);
    assert.equal(entries[at - 1]?.msg, 'starting marathon-acme', 'right after the start-up line');
  });

  it('logs one readable line per entry with --log-format pretty, no JSON and no colour codes', async () => {
    const storage = await mkdtemp(join(dir, 'pretty-'));
    const r = await runCli(
      ['--log-format', 'pretty', '--listen', `127.0.0.1:${await freePort()}`, '--acme', 'http://127.0.0.1:1/dir', '-m', 'http://127.0.0.1:1', storage],
      { until: /event stream from Marathon lost/, then: 'SIGTERM' },
    );
    assert.equal(r.code, 0, `signal ${String(r.signal)}; stderr: ${r.stderr}; stdout: ${r.stdout}`);
    const lines = r.stdout.trimEnd().split('\n');
    for (const line of lines) {
      assert.throws(() => JSON.parse(line) as unknown, SyntaxError, `not JSON: ${line}`);
      assert.match(line, /^\d\d:\d\d:\d\d\.\d{3} (DEBUG|INFO |WARN |ERROR|FATAL) \S/, line);
      assert.doesNotMatch(line, /\u001b/, 'no colour codes when stdout is not a terminal');
    }
    assert.ok(lines.some((l) => /^\S+ INFO  starting marathon-acme version=\S+ config=\{.*"logFormat":"pretty"/.test(l)), r.stdout);
    assert.ok(lines.some((l) => /^\S+ WARN  event stream from Marathon lost; .* reason="[^"]+" reconnects=1 retryInMs=\d+$/.test(l)), r.stdout);
    assert.ok(lines.some((l) => /^\S+ INFO  stopped$/.test(l)), r.stdout);
  });

  it('takes the log format from MARATHON_ACME_LOG_FORMAT too', async () => {
    const storage = await mkdtemp(join(dir, 'pretty-env-'));
    const r = await runCli(['--listen', `127.0.0.1:${await freePort()}`, '--acme', 'http://127.0.0.1:1/dir', '-m', 'http://127.0.0.1:1', storage], {
      env: { MARATHON_ACME_LOG_FORMAT: 'pretty', NO_COLOR: '1' },
      until: /event stream from Marathon lost/,
      then: 'SIGTERM',
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\d\d:\d\d:\d\d\.\d{3} INFO  starting marathon-acme /);
  });
});
