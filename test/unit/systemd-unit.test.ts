/**
 * deploy/marathon-acme.service, the systemd unit for running without Docker: systemd accepts it
 * (`systemd-analyze verify`, where the machine has it), the daemon accepts its command line and
 * variables, it stops and restarts the way the daemon expects, and the README shows it as it is.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseCli, unknownVariables } from '../../src/cli.js';

const execFileAsync = promisify(execFile);
const root = new URL('../../', import.meta.url);
const UNIT = 'deploy/marathon-acme.service';
const text = await readFile(new URL(UNIT, root), 'utf8');

/** Section → key → values in order (systemd keys such as Environment= repeat). */
type Unit = Map<string, Map<string, string[]>>;

/** The unit file syntax this unit uses: sections, `Key=value`, `#` comments; no continuation lines. */
function parseUnit(source: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  for (const [index, raw] of source.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    assert.ok(!line.endsWith('\\'), `line ${index + 1}: continuation lines are not read by this test`);
    const header = /^\[(.+)\]$/.exec(line)?.[1];
    if (header !== undefined) {
      section = new Map();
      unit.set(header, section);
      continue;
    }
    const [, key, value] = /^([A-Za-z]+)=(.*)$/.exec(line) ?? [];
    assert.ok(section !== undefined && key !== undefined && value !== undefined, `line ${index + 1} is not Key=value in a section: ${line}`);
    section.set(key, [...(section.get(key) ?? []), value]);
  }
  return unit;
}

const unit = parseUnit(text);
const service = unit.get('Service') ?? new Map<string, string[]>();
const one = (key: string): string | undefined => {
  const values = service.get(key) ?? [];
  assert.ok(values.length <= 1, `${key}= is set ${values.length} times`);
  return values[0];
};
const [program = '', ...args] = (one('ExecStart') ?? '').split(/\s+/);
/** Environment=NAME=value lines (unquoted, one variable each, as this unit writes them). */
const env = Object.fromEntries(
  (service.get('Environment') ?? []).map((assignment) => {
    const [, name, value] = /^([A-Z0-9_]+)=(\S*)$/.exec(assignment) ?? [];
    assert.ok(name !== undefined && value !== undefined, `Environment=${assignment}: one NAME=value without quotes or spaces`);
    return [name, value];
  }),
);

/** `systemd-analyze verify` on a copy of `source`, with the installed path replaced by this checkout's launcher. */
async function verify(source: string): Promise<{ code: number; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'ma-unit-'));
  try {
    // verify checks that the program exists; /opt/marathon-acme is where the README installs it, not here.
    const launcher = fileURLToPath(new URL('bin/marathon-acme', root));
    const local = source.replace(/^ExecStart=\S+/m, `ExecStart=${launcher}`);
    const path = join(dir, 'marathon-acme.service');
    await writeFile(path, local);
    try {
      const { stdout, stderr } = await execFileAsync('systemd-analyze', ['verify', path]);
      return { code: 0, output: `${stdout}${stderr}`.trim() };
    } catch (err) {
      // A non-zero exit is a verdict on the unit; anything else (not found, killed) is the test's problem.
      const { code, stdout = '', stderr = '' } = err as { code?: unknown; stdout?: string; stderr?: string };
      if (typeof code !== 'number') throw err;
      return { code, output: `${stdout}${stderr}`.trim() };
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const hasSystemdAnalyze = await execFileAsync('systemd-analyze', ['--version']).then(() => true, () => false);
const skipVerify = hasSystemdAnalyze ? false : 'systemd-analyze is not installed on this machine (Debian package systemd)';

describe('deploy/marathon-acme.service', () => {
  it('passes systemd-analyze verify without a warning', { skip: skipVerify }, async () => {
    assert.deepEqual(await verify(text), { code: 0, output: '' });
  });

  it('would fail systemd-analyze verify with a misspelt directive, so the check above means something', { skip: skipVerify }, async () => {
    const result = await verify(text.replace('Restart=on-failure', 'Restart=on-failure\nRestartt=always'));
    assert.match(result.output, /Unknown key/);
  });

  it('starts the launcher with arguments and variables the daemon accepts, on the storage directory it mounts and may write', () => {
    assert.match(program, /^\/.*\/bin\/marathon-acme$/, 'an absolute path to the launcher');
    assert.deepEqual(unknownVariables(env), [], 'every Environment= variable is one marathon-acme reads');
    const parsed = parseCli(args, env);
    assert.ok(parsed.kind === 'run', JSON.stringify(parsed));
    const storage = parsed.config.storageDir;
    assert.deepEqual(unit.get('Unit')?.get('RequiresMountsFor'), [storage], 'starts only once the storage directory is mounted');
    assert.deepEqual(service.get('ReadWritePaths'), [storage], 'ProtectSystem=strict leaves only the storage directory writable');
  });

  it('runs unprivileged and hardened', () => {
    const user = one('User');
    assert.ok(user !== undefined && !['root', '0'].includes(user), `User=${String(user)}`);
    assert.equal(one('NoNewPrivileges'), 'yes');
    assert.equal(one('ProtectSystem'), 'strict');
    assert.equal(one('ProtectHome'), 'yes');
  });

  it('stops with SIGTERM, giving the daemon its 10 s of grace, and restarts on failure but not on a usage error', () => {
    assert.equal(one('KillSignal'), 'SIGTERM');
    assert.ok(Number(one('TimeoutStopSec')) > 10, 'more than the daemon\'s own 10 s grace for work in flight');
    assert.equal(one('Restart'), 'on-failure');
    assert.equal(one('RestartPreventExitStatus'), '2', 'exit 2 is a bad option or variable');
    assert.deepEqual(unit.get('Install')?.get('WantedBy'), ['multi-user.target']);
  });

  it("is what README's section on running without Docker shows, so the README cannot drift from the file", async () => {
    const readme = await readFile(new URL('README.md', root), 'utf8');
    const start = readme.indexOf('## Running without Docker');
    assert.ok(start >= 0, 'README has a "## Running without Docker" section');
    const block = /```ini\n([\s\S]*?)```/.exec(readme.slice(start))?.[1];
    assert.equal(block, text);
  });
});
