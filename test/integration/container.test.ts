/**
 * The container image, proven without a Docker engine (CI machines have none): the Dockerfile is
 * replayed on this machine. The build context is the repository's files (tracked and not ignored,
 * minus .dockerignore); each stage gets its own directory standing for its filesystem; COPY copies
 * what it names, RUN runs the scripts in scripts/ it names, and the image is started from its
 * ENTRYPOINT and CMD. This Debian machine, with the `node` on its PATH, stands in for the official
 * Node.js Debian base image: under npm that is the project's Node.js, the release the image is built
 * on (test/unit/deploy.test.ts checks the Dockerfile names it, and a test below the major this replay
 * runs on), so a file the Dockerfile forgets to copy, an install that fails, or an entrypoint that does
 * not start fails here as it would in `docker build`.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, cp, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, join, posix } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { eventually } from '../support/eventually.js';
import { MarathonEmulator } from '../support/marathon-emulator.js';
import { freePort } from '../support/ports.js';
import { dockerignore, parseDockerfile } from '../../scripts/dockerfile.js';

const execFileAsync = promisify(execFile);
const REPO = fileURLToPath(new URL('../..', import.meta.url));
/** Nothing listens on port 1: the CA is unreachable, as in a cluster whose egress is down. */
const UNREACHABLE_CA = 'http://127.0.0.1:1/directory';

/** The build context: what `docker build .` would send from a checkout of the working tree. */
async function buildContext(dir: string): Promise<void> {
  const { stdout } = await execFileAsync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO, maxBuffer: 16 * 2 ** 20 });
  const ignored = dockerignore(await readFile(join(REPO, '.dockerignore'), 'utf8'));
  for (const file of stdout.split('\0')) {
    if (file === '' || ignored(file)) continue;
    try {
      await cp(join(REPO, file), join(dir, file));
    } catch (err) {
      // Tracked but deleted in the working tree: not part of what would be built.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

interface Stage { name: string | undefined; root: string; workdir: string }

interface Image {
  /** The directory standing for the image's filesystem. */
  root: string;
  workdir: string;
  entrypoint: string[];
  cmd: string[];
  /** Seconds each RUN took, by script. */
  runSeconds: Map<string, number>;
}

/** A path inside a stage (absolute, or relative to its WORKDIR) as a path on this machine. */
function inStage(stage: Stage, path: string): string {
  return join(stage.root, posix.resolve(stage.workdir, path));
}

/**
 * Replays the Dockerfile into `dir`. Only what it uses is implemented, and anything else is refused
 * by name: an instruction the replay skipped would make the test prove less than it claims.
 */
async function replayDockerfile(dir: string): Promise<Image> {
  const context = join(dir, 'context');
  await buildContext(context);
  const stages: Stage[] = [];
  const runSeconds = new Map<string, number>();
  let entrypoint: string[] = [];
  let cmd: string[] = [];
  for (const { keyword, args } of parseDockerfile(await readFile(join(context, 'Dockerfile'), 'utf8'))) {
    const stage = stages.at(-1);
    if (keyword === 'FROM') {
      // The base image is this machine (Debian, and the `node` on the PATH); only the stage's name matters here.
      const root = join(dir, `stage-${stages.length}`);
      await mkdir(root);
      stages.push({ name: /\sAS\s+(\S+)$/i.exec(args)?.[1], root, workdir: '/' });
      continue;
    }
    if (stage === undefined) {
      assert.equal(keyword, 'ARG', `only ARG may come before the first FROM, not ${keyword}`);
      continue;
    }
    switch (keyword) {
      case 'WORKDIR':
        stage.workdir = posix.resolve(stage.workdir, args);
        await mkdir(inStage(stage, '.'), { recursive: true });
        break;
      case 'COPY': {
        const words = args.split(/\s+/);
        let from: Stage | undefined;
        while (words[0]?.startsWith('--') === true) {
          const flag = words.shift() ?? '';
          const name = /^--from=(\S+)$/.exec(flag)?.[1];
          assert.ok(name !== undefined, `COPY ${flag} is not implemented by the container test`);
          from = stages.find((s) => s.name === name);
          assert.ok(from !== undefined, `COPY --from=${name}: no earlier stage has that name`);
        }
        const destination = words.pop() ?? '';
        assert.ok(words.length > 0, `COPY ${args}: no source`);
        const intoDirectory = destination.endsWith('/') || words.length > 1;
        const target = inStage(stage, destination);
        for (const source of words) {
          assert.ok(!/[*?[]/.test(source), `COPY ${source}: wildcards are not implemented by the container test`);
          const path = from === undefined ? join(context, source) : inStage(from, source);
          // A source missing from the context fails here, as `docker build` would.
          if ((await stat(path)).isDirectory()) {
            await cp(path, target, { recursive: true });
          } else {
            await cp(path, intoDirectory ? join(target, basename(source)) : target);
          }
        }
        break;
      }
      case 'RUN': {
        // A cache mount only keeps npm's cache out of the layer; it changes no result.
        const command = args.replace(/^(--mount=\S+\s+)+/, '');
        const script = /^sh (scripts\/container-[a-z-]+\.sh)$/.exec(command)?.[1];
        // Anything else would run on this machine rather than in a container, so it is refused.
        assert.ok(script !== undefined, `RUN ${command}: the container test only runs scripts/container-*.sh`);
        const started = performance.now();
        // A clean environment as in `docker build`: npm's variables from an enclosing `npm test` would
        // otherwise reach the inner npm ci.
        const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
        await execFileAsync('sh', [script], { cwd: inStage(stage, '.'), env, maxBuffer: 64 * 2 ** 20 }).catch((err: unknown) => {
          const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
          throw new Error(`RUN sh ${script} failed:\n${stdout}\n${stderr}`, { cause: err });
        });
        runSeconds.set(script, (performance.now() - started) / 1000);
        break;
      }
      case 'VOLUME':
        for (const path of args.split(/\s+/)) await mkdir(inStage(stage, path), { recursive: true });
        break;
      case 'ENTRYPOINT':
      case 'CMD': {
        const list = JSON.parse(args) as unknown;
        assert.ok(Array.isArray(list) && list.every((a) => typeof a === 'string'), `${keyword} must be in exec form (a JSON array of strings)`);
        if (keyword === 'ENTRYPOINT') entrypoint = list;
        else cmd = list;
        break;
      }
      case 'ARG':
      case 'EXPOSE':
        // ARG only selects the base image; EXPOSE is metadata (checked by test/unit/deploy.test.ts).
        break;
      default:
        assert.fail(`${keyword} is not implemented by the container test; extend replayDockerfile`);
    }
  }
  const image = stages.at(-1);
  assert.ok(image !== undefined, 'the Dockerfile has no FROM');
  return { root: image.root, workdir: image.workdir, entrypoint, cmd, runSeconds };
}

/**
 * Starts the image as `docker run` would: ENTRYPOINT plus the given arguments (or CMD). Paths the
 * image itself provides are mapped into its directory; the rest (/bin/sh) are the base image's.
 */
async function run(image: Image, args: readonly string[] | undefined, env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; exited: Promise<number | null>; output: () => string }> {
  const mapped: string[] = [];
  for (const word of [...image.entrypoint, ...(args ?? image.cmd)]) {
    const inImage = join(image.root, word);
    mapped.push(word.startsWith('/') && (await stat(inImage).then(() => true, () => false)) ? inImage : word);
  }
  const [command = '', ...rest] = mapped;
  const child = spawn(command, rest, { cwd: join(image.root, image.workdir), env: { PATH: process.env['PATH'], ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { resolve(code); }));
  return { child, exited, output: () => output };
}

function getJson(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // No keep-alive agent: the daemon is stopped right after, and no socket should outlive the test.
    get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body }); });
    }).on('error', reject);
  });
}

type Started = Awaited<ReturnType<typeof run>>;

/** Waits for the challenge server's ping (which needs no CA and no Marathon); fails at once if it exits. */
async function waitForPing(started: Started, port: number): Promise<void> {
  await eventually(`GET /.well-known/acme-challenge/ping on port ${port}`, async () => {
    const code = started.child.exitCode;
    if (code !== null) assert.fail(`the container exited with status ${code} before answering:\n${started.output()}`);
    const answer = await getJson(`http://127.0.0.1:${port}/.well-known/acme-challenge/ping`).catch(() => undefined);
    return answer?.status === 200 && (JSON.parse(answer.body) as { message?: unknown }).message === 'pong';
  }, 20_000);
}

/** Runs the checks against a running container, then stops it as `docker stop` does: SIGTERM, exit 0. */
async function checkThenStop(started: Started, checks: () => Promise<void>): Promise<void> {
  try {
    await checks();
  } catch (err) {
    started.child.kill('SIGKILL');
    await started.exited;
    throw err;
  }
  started.child.kill('SIGTERM');
  assert.equal(await started.exited, 0, `exit status after SIGTERM; output:\n${started.output()}`);
}

const isRoot = process.getuid?.() === 0;

describe('container image: the Dockerfile replayed without a Docker engine', () => {
  let dir = '';
  let marathon: MarathonEmulator;
  let image: Image;
  /** The storage directory as the container sees it (CMD's argument), and where it is on this machine. */
  let volumePath = '';
  let volume = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ma-container-'));
    // mkdtemp makes the directory private; the image must be readable by an unprivileged user.
    await chmod(dir, 0o755);
    marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    image = await replayDockerfile(dir);
    volumePath = image.cmd[0] ?? '';
    assert.ok(volumePath.startsWith('/'), 'CMD names the storage directory');
    volume = join(image.root, volumePath);
  });

  after(async () => {
    await marathon.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('replays on the Node.js major of the base image', async () => {
    const arg = parseDockerfile(await readFile(join(REPO, 'Dockerfile'), 'utf8')).find((i) => i.keyword === 'ARG')?.args ?? '';
    const major = /^NODE_IMAGE=node:(\d+)[.-]/.exec(arg)?.[1];
    assert.ok(major !== undefined, `ARG ${arg}: the base is an official node image with a version tag`);
    // The RUN scripts and the entrypoint find `node` on this PATH, as they would in the image.
    const { stdout } = await execFileAsync('node', ['--version']);
    assert.equal(stdout.trim().split('.')[0], `v${major}`, "the `node` on the PATH stands in for the base image's: run this through npm (npm test), which puts the project's Node.js first");
  });

  it('builds dist/ in the build stage and ships production dependencies only', async (t) => {
    for (const [script, seconds] of image.runSeconds) t.diagnostic(`RUN sh ${script}: ${seconds.toFixed(1)} s`);
    assert.ok((await stat(join(image.root, 'opt/marathon-acme/dist/main.js'))).isFile(), 'dist/main.js copied from the build stage');
    const modules = join(image.root, 'opt/marathon-acme/node_modules');
    assert.ok((await stat(join(modules, 'pino'))).isDirectory(), 'a production dependency is installed');
    // `node` is the npm scripts' Node.js binary (~150 MB); the image has its own.
    for (const dev of ['typescript', 'tsx', 'eslint', '@types/node', 'node']) {
      await assert.rejects(stat(join(modules, dev)), { code: 'ENOENT' }, `dev dependency ${dev} in the runtime image`);
    }
    await assert.rejects(stat(join(image.root, 'opt/marathon-acme/src')), { code: 'ENOENT' }, 'sources are not in the runtime image');
  });

  it('starts from ENTRYPOINT and CMD with settings from the environment, prepares the volume, answers ping, exits 0 on SIGTERM', async () => {
    // As `docker run -e MARATHON_ACME_LISTEN=... image`: no arguments, so CMD's storage directory.
    const port = await freePort();
    const started = await run(image, undefined, {
      MARATHON_ACME_LISTEN: `127.0.0.1:${port}`,
      MARATHON_ACME_MARATHON: marathon.url,
      MARATHON_ACME_ACME: UNREACHABLE_CA,
    });
    await checkThenStop(started, async () => {
      await waitForPing(started, port);
      for (const d of ['certs', 'unmanaged-certs']) assert.ok((await stat(join(volume, d))).isDirectory(), `${d}/ in the volume`);
      for (const f of ['client.key', 'default.pem']) assert.equal((await stat(join(volume, f))).mode & 0o777, 0o600, `${f} is private`);
      await eventually('a request for the app list from the Marathon emulator', () => marathon.appsRequests > 0);
    });
  });

  for (const user of ['nobody', '65534:65534']) {
    it(`MARATHON_ACME_USER=${user} runs the daemon as that user, with its files owned by it`, { skip: isRoot ? false : 'needs root, as the image runs by default' }, async () => {
      // A fresh volume owned by the user, as the README asks for.
      await rm(volume, { recursive: true, force: true });
      await mkdir(volume);
      await chown(volume, 65534, 65534);
      const port = await freePort();
      // As a Marathon app runs it: arguments replace CMD and end with the storage directory.
      const started = await run(image, ['--listen', `127.0.0.1:${port}`, '--marathon', marathon.url, '--acme', UNREACHABLE_CA, volumePath], {
        MARATHON_ACME_USER: user,
      });
      await checkThenStop(started, async () => {
        await waitForPing(started, port);
        const status = await readFile(`/proc/${String(started.child.pid)}/status`, 'utf8');
        // Real, effective, saved and filesystem ids all dropped, and no supplementary groups kept.
        assert.match(status, /^Uid:\s+65534\s+65534\s+65534\s+65534$/m);
        assert.match(status, /^Gid:\s+65534\s+65534\s+65534\s+65534$/m);
        assert.match(status, /^Groups:[ \t]*$/m);
        const key = await stat(join(volume, 'client.key'));
        assert.deepEqual([key.uid, key.gid, key.mode & 0o777], [65534, 65534, 0o600]);
      });
    });
  }
});
