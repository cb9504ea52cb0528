import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ERROR_CODES } from '../services/common/errors.ts';

// docs/errors.md documents every error code as a table row: | `ES_X` | status | meaning |
const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
const documented = new Map<string, string>();
for (const match of doc.matchAll(/^\|\s*`(ES_[A-Z_]+)`\s*\|\s*([^|]+?)\s*\|/gm)) {
  documented.set(match[1]!, match[2]!);
}

test('every error code in the registry is documented with its HTTP status', () => {
  for (const [code, status] of Object.entries(ERROR_CODES)) {
    assert.ok(documented.has(code), `${code} missing from docs/errors.md`);
    const expected = status === 0 ? '-' : String(status);
    assert.equal(
      documented.get(code),
      expected,
      `${code}: docs say ${documented.get(code)}, code says ${expected}`,
    );
  }
});

test('docs/errors.md documents no code the registry lacks', () => {
  for (const code of documented.keys()) {
    assert.ok(
      code in ERROR_CODES,
      `docs/errors.md lists ${code}, which the registry does not define`,
    );
  }
});
