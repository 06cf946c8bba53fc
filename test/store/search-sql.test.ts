import { it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { prefixUpperBound } from '../../src/store/search-sql.js';

const codePointOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

it('bounds every string with a prefix, and nothing else, in code point order', () => {
  assert.equal(prefixUpperBound('file.'), 'file/');
  assert.equal(prefixUpperBound('a\u{10FFFF}'), 'b');
  assert.equal(prefixUpperBound('\u{10FFFF}'), undefined);
  assert.equal(prefixUpperBound('x\uD7FF'), 'x\uE000');
  assert.equal(prefixUpperBound('😀'), '😁');
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 4 }), fc.string({ unit: 'grapheme', maxLength: 6 }), (prefix, other) => {
      const upper = prefixUpperBound(prefix);
      const extended = prefix + other;
      // Everything with the prefix lies in [prefix, upper)...
      assert.ok(codePointOrder(extended, prefix) >= 0);
      if (upper !== undefined) assert.ok(codePointOrder(extended, upper) < 0);
      // ...and everything in [prefix, upper) has the prefix.
      const inRange = codePointOrder(other, prefix) >= 0 && (upper === undefined || codePointOrder(other, upper) < 0);
      assert.equal(inRange, other.startsWith(prefix));
    }),
    { numRuns: 2000 },
  );
});
