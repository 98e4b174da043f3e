/**
 * Release hygiene: one version in package.json and package-lock.json, a changelog entry for it under
 * an Unreleased section, the licence the package declares, and release steps that name only
 * commands and files this repository has (RELEASING.md).
 */
import assert from 'node:assert/strict';
import { access, readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';

const root = new URL('../../', import.meta.url);
const read = (path: string): Promise<string> => readFile(new URL(path, root), 'utf8');

interface Package {
  version: string;
  license: string;
  scripts: Record<string, string>;
}
interface Lock {
  version: string;
  packages: Record<string, { version?: string }>;
}

const pkg = JSON.parse(await read('package.json')) as Package;
const lock = JSON.parse(await read('package-lock.json')) as Lock;
const changelog = await read('CHANGELOG.md');

/** The `## ` headings of a Keep a Changelog file: `[Unreleased]`, or `[x.y.z] - YYYY-MM-DD`. */
function releases(text: string): Array<{ heading: string; version: string | undefined; date: string | undefined }> {
  return [...text.matchAll(/^## (.*)$/gm)].map(([, heading = '']) => {
    const [, version, date] = /^\[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})$/.exec(heading) ?? [];
    return { heading, version, date };
  });
}

describe('release', () => {
  it('has a release version, the same in package.json and both root entries of package-lock.json', () => {
    assert.match(pkg.version, /^\d+\.\d+\.\d+$/, 'a release version, not a pre-release such as 1.0.0-dev');
    assert.equal(lock.version, pkg.version);
    assert.equal(lock.packages['']?.version, pkg.version);
  });

  it('keeps a changelog: Unreleased first, then one dated entry per release, newest first, the current version included', () => {
    const [first, ...rest] = releases(changelog);
    assert.equal(first?.heading, '[Unreleased]');
    for (const r of rest) {
      assert.ok(r.version !== undefined && r.date !== undefined, `"## ${r.heading}" is not "## [x.y.z] - YYYY-MM-DD"`);
      assert.ok(!Number.isNaN(Date.parse(r.date)), `${r.date} is not a date`);
    }
    assert.ok(rest.some((r) => r.version === pkg.version), `no "## [${pkg.version}] - <date>" entry in CHANGELOG.md`);
    const order = (v: string | undefined): number[] => (v ?? '').split('.').map(Number);
    const newestFirst = [...rest].sort((a, b) => {
      const [x, y] = [order(a.version), order(b.version)];
      return (y[0] ?? 0) - (x[0] ?? 0) || (y[1] ?? 0) - (x[1] ?? 0) || (y[2] ?? 0) - (x[2] ?? 0);
    });
    assert.deepEqual(rest.map((r) => r.version), newestFirst.map((r) => r.version));
  });

  it('ships the MIT licence the package declares', async () => {
    assert.equal(pkg.license, 'MIT');
    const license = await read('LICENSE');
    assert.match(license, /^MIT License\n\nCopyright \(c\) \d{4}(-\d{4})? marathon-acme contributors\n/);
    assert.match(license, /THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND/);
  });

  it('documents release steps that use only npm scripts and files this repository has', async () => {
    const steps = await read('RELEASING.md');
    const scripts = [...steps.matchAll(/`npm run ([a-z:-]+)/g)].map(([, name = '']) => name);
    assert.ok(scripts.includes('bench'), 'the release runs the benchmarks');
    for (const name of scripts) assert.ok(name in pkg.scripts, `RELEASING.md runs npm run ${name}, which package.json does not define`);
    const files = [...steps.matchAll(/`((?:\.ci|test|scripts|deploy)\/[^`\s]+|\.ci\/run|Dockerfile)`/g)].map(([, path = '']) => path);
    assert.ok(files.includes('.ci/run'), 'the release runs CI');
    for (const path of files) await access(new URL(path, root));
  });
});
