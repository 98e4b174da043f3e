/**
 * The Node.js the project runs on: the npm scripts run on the release package.json pins (the `node`
 * dev dependency, scripts/ensure-node.sh), the launcher refuses what engines excludes, every
 * installed package supports the oldest release engines allows, and the executable the tests spawn
 * runs on the Node.js the tests run on.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const root = new URL('../../', import.meta.url);
const read = (path: string): Promise<string> => readFile(new URL(path, root), 'utf8');

interface Package {
  engines: { node: string };
  scripts: Record<string, string>;
  devDependencies: Record<string, string>;
  allowScripts?: Record<string, boolean>;
}
interface Lock {
  packages: Record<string, { version?: string; dev?: boolean; engines?: { node?: string } }>;
}

const pkg = JSON.parse(await read('package.json')) as Package;
const lock = JSON.parse(await read('package-lock.json')) as Lock;
/** The oldest release engines allows: `>=x.y.z` is the only form the launcher's check and this test read. */
const oldest = /^>=(\d+)\.(\d+)\.(\d+)$/.exec(pkg.engines.node);

describe('Node.js runtime', () => {
  it('pins the npm scripts\' Node.js exactly, approves its install script, and checks it before every script that runs the daemon', () => {
    const pinned = pkg.devDependencies['node'];
    assert.match(pinned ?? '', /^\d+\.\d+\.\d+$/, 'devDependencies.node is an exact version');
    const locked = lock.packages['node_modules/node'];
    assert.equal(locked?.version, pinned, 'package-lock.json holds the same version');
    assert.equal(locked?.dev, true, 'a dev dependency: never installed with --omit=dev, so never in the image');
    // Its preinstall script fetches the binary; without it node_modules/.bin/node does not exist.
    assert.ok(pkg.allowScripts?.['node'] === true || pkg.allowScripts?.[`node@${pinned ?? ''}`] === true, 'allowScripts approves the `node` package');
    for (const name of ['pretest', 'bench', 'reliability', 'demo']) {
      assert.match(pkg.scripts[name] ?? '', /^sh scripts\/ensure-deps\.sh && sh scripts\/ensure-node\.sh && /, `npm run ${name} installs, then checks the Node.js it runs on`);
    }
  });

  it('supports from an exact release on, and the launcher refuses the majors before it', async () => {
    assert.ok(oldest !== null, `engines.node is ">=x.y.z", not ${pkg.engines.node}`);
    const launcherMajor = /^const OLDEST_NODE_MAJOR = (\d+);$/m.exec(await read('bin/marathon-acme'))?.[1];
    assert.equal(launcherMajor, oldest[1], 'bin/marathon-acme refuses Node.js majors older than engines allows');
    assert.equal(lock.packages['']?.engines?.node, pkg.engines.node, 'package-lock.json has the same engines (npm install updates it)');
    assert.ok(Number(pkg.devDependencies['node']?.split('.')[0]) >= Number(oldest[1]), 'the pinned release is one engines allows');
  });

  it('installs no package that needs a newer Node.js than the oldest engines allows', async () => {
    assert.ok(oldest !== null);
    const version = oldest.slice(1).join('.');
    // npm checks engines against the Node.js running npm, which for the first install of a checkout is
    // often older than the project's (scripts/ensure-deps.sh); this checks them against engines.
    const { stdout } = await execFileAsync('npm', ['query', `:attr(engines, [node]):not(:semver(${version}, :attr(engines, [node]), satisfies))`], {
      cwd: fileURLToPath(root),
      maxBuffer: 64 * 2 ** 20,
    });
    const refusing = (JSON.parse(stdout) as Array<{ name: string; version: string; engines: { node: string } }>).map((p) => `${p.name}@${p.version} (node ${p.engines.node})`);
    assert.deepEqual(refusing, [], `packages whose engines exclude Node.js ${version}`);
  });

  it('runs node with the launcher\'s memory settings: its V8 flag and the glibc malloc variables', async () => {
    const line = /^#!\/usr\/bin\/env -S (.*)$/m.exec(await read('bin/marathon-acme'))?.[1];
    assert.ok(line !== undefined, 'bin/marathon-acme starts with `#!/usr/bin/env -S ...`');
    // The same `env -S` string, with a script that reports what node was started with in place of the
    // launcher (execArgv ends with that `-e <script>`); a MALLOC_ARENA_MAX set outside is overridden.
    const report = 'console.log(JSON.stringify([process.execArgv.slice(0, -2), process.env.MALLOC_ARENA_MAX, process.env.MALLOC_MMAP_THRESHOLD_]))';
    const { stdout } = await execFileAsync('/usr/bin/env', ['-S', `${line} -e '${report}'`], { env: { ...process.env, MALLOC_ARENA_MAX: '8' } });
    assert.deepEqual(JSON.parse(stdout), [['--optimize-for-size'], '2', '65536']);
  });

  it('spawns bin/marathon-acme on the Node.js the tests run on', async () => {
    // The tests start the launcher through its `#!/usr/bin/env node` line, i.e. the first `node` on the
    // PATH; npm puts the project's Node.js there, and so must anyone running the tests without npm.
    const { stdout } = await execFileAsync('node', ['-p', 'process.version']);
    assert.equal(stdout.trim(), process.version, `\`node\` on the PATH is not the test runner's Node.js (${process.execPath}); run the tests through npm, or put ${dirname(process.execPath)} first on the PATH`);
  });
});
