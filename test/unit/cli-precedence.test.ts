/** The one precedence rule for flags and variables (src/cli/precedence.ts), every combination. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveSetting, type Given } from '../../src/cli/precedence.js';

// Two options for one setting, as --multiple-domains and its alias --allow-multiple-certs.
const MAIN_FLAG: Given = { option: 'mode', from: 'flag', value: 'san', text: '--mode san' };
const MAIN_VAR: Given = { option: 'mode', from: 'variable', value: 'first', text: 'MODE=first' };
const ALIAS_FLAG: Given = { option: 'alias', from: 'flag', value: 'separate', text: '--alias', means: '--mode separate' };
const ALIAS_VAR: Given = { option: 'alias', from: 'variable', value: 'separate', text: 'ALIAS=true', means: '--mode separate' };

type Ways = readonly Given[];

describe('resolveSetting', () => {
  it('leaves the setting to its default when nothing is given', () => {
    assert.deepEqual(resolveSetting([]), { ok: true, value: undefined });
  });

  it("lets an option's flag beat its own variable", () => {
    assert.deepEqual(resolveSetting([MAIN_VAR, MAIN_FLAG]), { ok: true, value: 'san' });
    assert.deepEqual(resolveSetting([ALIAS_FLAG, { ...ALIAS_VAR, value: 'other' }]), { ok: true, value: 'separate' });
  });

  it('refuses two flags that disagree, naming both and what the alias stands for', () => {
    assert.deepEqual(resolveSetting([ALIAS_FLAG, MAIN_FLAG]), {
      ok: false,
      message: '--alias (that is, --mode separate) contradicts --mode san; give only one of them',
    });
  });

  it('lets a flag beat the variable of the other option, either way round', () => {
    // flag of the main option, variable of the alias
    assert.deepEqual(resolveSetting([ALIAS_VAR, MAIN_FLAG]), { ok: true, value: 'san' });
    // variable of the main option, flag of the alias
    assert.deepEqual(resolveSetting([MAIN_VAR, ALIAS_FLAG]), { ok: true, value: 'separate' });
  });

  it('refuses two variables that disagree, naming both', () => {
    assert.deepEqual(resolveSetting([ALIAS_VAR, MAIN_VAR]), {
      ok: false,
      message: 'ALIAS=true (that is, --mode separate) contradicts MODE=first; give only one of them',
    });
  });

  it('accepts two of a kind that agree', () => {
    const agreeing: Given = { ...MAIN_FLAG, value: 'separate', text: '--mode separate' };
    assert.deepEqual(resolveSetting([ALIAS_FLAG, agreeing]), { ok: true, value: 'separate' });
    assert.deepEqual(resolveSetting([ALIAS_VAR, { ...MAIN_VAR, value: 'separate' }]), { ok: true, value: 'separate' });
    // Lists are compared by content.
    const list = (option: string, from: Given['from']): Given => ({ option, from, value: ['a', 'b'], text: option });
    assert.deepEqual(resolveSetting([list('x', 'variable'), list('y', 'variable')]), { ok: true, value: ['a', 'b'] });
  });

  it('does not let a variable that its own flag overrides contradict anything', () => {
    // MODE=first is beaten by --mode san; ALIAS=true (separate) is beaten by the flag too.
    assert.deepEqual(resolveSetting([MAIN_VAR, ALIAS_VAR, MAIN_FLAG]), { ok: true, value: 'san' });
  });

  // Every way each of the two options can be given (nothing, its flag, its variable, both), with all
  // four values different, against the rule written out: flags first, two of the winning kind refused.
  const ways = (flag: Given, variable: Given): Record<string, Ways> => ({ nothing: [], flag: [flag], variable: [variable], both: [variable, flag] });
  for (const [mainWay, main] of Object.entries(ways(MAIN_FLAG, MAIN_VAR))) {
    for (const [aliasWay, alias] of Object.entries(ways(ALIAS_FLAG, { ...ALIAS_VAR, value: 'alias-var' }))) {
      it(`main option by ${mainWay}, alias by ${aliasWay}`, () => {
        const given = [...alias, ...main];
        const flags = given.filter((g) => g.from === 'flag');
        const result = resolveSetting(given);
        if (flags.length === 2) {
          assert.equal(result.ok, false);
        } else if (flags.length === 1) {
          assert.deepEqual(result, { ok: true, value: flags[0]?.value });
        } else if (given.length === 2) {
          if (result.ok) assert.fail('two variables that disagree');
          assert.match(result.message, /^ALIAS=true .* contradicts MODE=first; give only one of them$/);
        } else {
          assert.deepEqual(result, { ok: true, value: given[0]?.value });
        }
      });
    }
  }
});
