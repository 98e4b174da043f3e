/** MARATHON_ACME_* variables: empty means unset, and the unknown ones are named once at start. */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KNOWN_VARIABLES, readVariable, unknownVariables } from '../../src/cli/environment.js';
import { OPTIONS, envName } from '../../src/cli/options.js';
import { closest, editDistance } from '../../src/util/edit-distance.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('readVariable', () => {
  it('counts an empty or blank variable as unset, and keeps any other value as it is', () => {
    assert.equal(readVariable({}, 'X'), undefined);
    assert.equal(readVariable({ X: '' }, 'X'), undefined);
    assert.equal(readVariable({ X: '  \t' }, 'X'), undefined);
    assert.equal(readVariable({ X: ' a ' }, 'X'), ' a ');
  });
});

describe('unknownVariables', () => {
  it('says nothing about the options, the storage directory and the variables of the scripts', () => {
    const env = Object.fromEntries([...OPTIONS.map(envName), 'MARATHON_ACME_STORAGE_DIR', 'MARATHON_ACME_USER'].map((name) => [name, 'x']));
    assert.deepEqual(unknownVariables({ ...env, PATH: '/bin', marathon_acme_email: 'lower case is not ours' }), []);
  });

  it('names a misspelt variable with the one it probably meant', () => {
    const found = unknownVariables({ MARATHON_ACME_EMIAL: 'a@b', MARATHON_ACME_SSE_TIMOUT: '5', MARATHON_ACME_ALLOW_MULTIPLE_CERT: 'true' });
    assert.deepEqual(
      found.map((u) => [u.name, u.suggestion]),
      [
        ['MARATHON_ACME_ALLOW_MULTIPLE_CERT', 'MARATHON_ACME_ALLOW_MULTIPLE_CERTS'],
        ['MARATHON_ACME_EMIAL', 'MARATHON_ACME_EMAIL'],
        ['MARATHON_ACME_SSE_TIMOUT', 'MARATHON_ACME_SSE_TIMEOUT'],
      ],
      'sorted by name',
    );
    assert.equal(found[1]?.message, 'environment variable MARATHON_ACME_EMIAL is ignored: did you mean MARATHON_ACME_EMAIL?');
  });

  it('guesses nothing when nothing is close, and says what an app label is doing there', () => {
    const [label, far] = unknownVariables({ MARATHON_ACME_COLOUR: 'red', MARATHON_ACME_0_DOMAIN: 'a.example' });
    assert.equal(label?.name, 'MARATHON_ACME_0_DOMAIN');
    assert.match(label.message, /is ignored: it is an app label, which marathon-acme reads from the apps in Marathon/);
    assert.deepEqual(far, {
      name: 'MARATHON_ACME_COLOUR',
      suggestion: undefined,
      message: 'environment variable MARATHON_ACME_COLOUR is ignored: no option has this name',
    });
    // Short names are close to many: one mistake at most.
    assert.equal(unknownVariables({ MARATHON_ACME_LX: '1' })[0]?.suggestion, 'MARATHON_ACME_LB');
    assert.equal(unknownVariables({ MARATHON_ACME_XY: '1' })[0]?.suggestion, undefined);
  });

  it('knows every MARATHON_ACME_* variable read anywhere in the repository', async () => {
    // The code, the container scripts, the demo, the benchmarks and the tests: none may be warned about.
    const files: string[] = [];
    for (const dir of ['src', 'scripts', 'demo', 'bench', 'test', 'deploy']) {
      for (const entry of await readdir(join(ROOT, dir), { recursive: true, withFileTypes: true })) {
        if (entry.isFile() && /\.(ts|sh|json|ya?ml)$/.test(entry.name)) files.push(join(entry.parentPath, entry.name));
      }
    }
    files.push(join(ROOT, 'Dockerfile'));
    const read = new Set<string>();
    for (const file of files) {
      const text = await readFile(file, 'utf8');
      // What a program reads: $VAR / ${VAR...} in shell, process.env['VAR'] / env.VAR in TypeScript.
      for (const m of text.matchAll(/(?:\$\{?|process\.env\.|env\[['"])(MARATHON_ACME_[A-Z0-9_]+)/g)) if (m[1] !== undefined) read.add(m[1]);
    }
    assert.ok(read.has('MARATHON_ACME_USER'), 'the entrypoint reads MARATHON_ACME_USER');
    for (const name of read) assert.ok(KNOWN_VARIABLES.includes(name), `${name} is read in the repository but would be warned about`);
  });
});

describe('editDistance', () => {
  it('counts insertions, deletions and substitutions', () => {
    assert.equal(editDistance('status', 'status'), 0);
    assert.equal(editDistance('stauts', 'status'), 2);
    assert.equal(editDistance('plans', 'plan'), 1);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('kitten', 'sitting'), 3);
  });

  it('picks the nearest within the limit, the first of equals', () => {
    assert.equal(closest('chek', ['plan', 'check'], 2), 'check');
    assert.equal(closest('xxxxx', ['plan', 'check'], 2), undefined);
    assert.equal(closest('ab', ['ax', 'ay'], 1), 'ax');
  });
});
