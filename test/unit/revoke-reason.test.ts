import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRevocationReason, REVOCATION_REASONS } from '../../src/revoke/reason.js';

describe('revocation reasons', () => {
  it('are the RFC 5280 CRLReason codes a subscriber may give', () => {
    assert.deepEqual(REVOCATION_REASONS, { keyCompromise: 1, superseded: 4, cessationOfOperation: 5 });
  });

  it('are read by name, in any letter case, with or without separators', () => {
    for (const [text, name, code] of [
      ['keyCompromise', 'keyCompromise', 1],
      ['KEYCOMPROMISE', 'keyCompromise', 1],
      ['key_compromise', 'keyCompromise', 1],
      [' superseded ', 'superseded', 4],
      ['cessation-of-operation', 'cessationOfOperation', 5],
    ] as const) {
      assert.deepEqual(parseRevocationReason(text), { ok: true, name, code }, text);
    }
  });

  it('refuse anything else, suggesting the nearest name only when one is near', () => {
    const misspelt = parseRevocationReason('supersede');
    assert.ok(!misspelt.ok);
    assert.match(misspelt.message, /^'supersede' is not a revocation reason \(keyCompromise, superseded, cessationOfOperation; none given: unspecified\)\. Did you mean 'superseded'\?$/);
    for (const text of ['unspecified', 'affiliationChanged', '1', '']) {
      const result = parseRevocationReason(text);
      assert.ok(!result.ok, text);
      assert.doesNotMatch(result.message, /Did you mean/, text);
    }
  });
});
