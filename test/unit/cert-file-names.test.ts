import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { servedName, splitDuplicates, type NamedFile } from '../../src/certs/file-names.js';

describe('the name a file in certs/ serves', () => {
  it('is the file name in ASCII lower case, and only ASCII letters change', () => {
    assert.equal(servedName('Mixed.Example.TEST'), 'mixed.example.test');
    assert.equal(servedName('already.lower-case1'), 'already.lower-case1');
    assert.equal(servedName('xn--bcher-kva.Example'), 'xn--bcher-kva.example');
    assert.equal(servedName('İSTANBUL.example'), 'İstanbul.example', 'no made-up names from non-ASCII letters');
  });
});

describe('files serving one name', () => {
  const f = (file: string, notAfter: number): NamedFile => ({ name: servedName(file), file, notAfter });

  it('keeps the one expiring last, then the one named in lower case, then the first by name; order kept', () => {
    const files = [f('a.test', 5), f('A.test', 9), f('b.test', 1), f('B.test', 1), f('C.test', 3), f('c.TEST', 3), f('solo.test', 2)];
    const { kept, shadowed } = splitDuplicates(files, (x) => x);
    assert.deepEqual(kept.map((x) => x.file), ['A.test', 'b.test', 'C.test', 'solo.test']);
    assert.deepEqual(
      shadowed.map((s) => [s.item.file, s.keptFile]),
      [['a.test', 'A.test'], ['B.test', 'b.test'], ['c.TEST', 'C.test']],
    );
  });

  it('leaves files with names of their own alone', () => {
    const files = [f('a.test', 1), f('b.test', 1)];
    assert.deepEqual(splitDuplicates(files, (x) => x), { kept: files, shadowed: [] });
  });
});
