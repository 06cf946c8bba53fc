/**
 * The two crypto suites must give identical results (src/core/crypto.ts): node:crypto on the server, the
 * pure-JS @noble libraries in browsers. Both are checked against node:crypto's createHash.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { portableSuite } from '../../src/core/crypto.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';

// Around the SHA-256 block (64 bytes) and padding (55/56) boundaries, and a few larger inputs.
const LENGTHS = [0, 1, 31, 32, 33, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 400, 1100, 65_536, 1_000_003];

it('sha256: both suites agree with createHash, on fresh 32-byte arrays', () => {
  for (const length of LENGTHS) {
    for (let round = 0; round < 3; round++) {
      const data = randomBytes(length);
      const expected = createHash('sha256').update(data).digest();
      for (const suite of [nodeSuite, portableSuite]) {
        const digest = suite.sha256(data);
        assert.ok(digest instanceof Uint8Array);
        assert.equal(digest.length, 32);
        assert.deepEqual(Buffer.from(digest), expected, `length ${length}`);
      }
      // A view into a larger buffer hashes only its own bytes.
      const padded = Buffer.concat([randomBytes(7), data, randomBytes(9)]);
      assert.deepEqual(Buffer.from(nodeSuite.sha256(padded.subarray(7, 7 + length))), expected);
    }
  }
  // Each call returns its own array: changing one digest leaves the next one alone.
  const data = randomBytes(64);
  const first = nodeSuite.sha256(data);
  first.fill(0);
  assert.deepEqual(Buffer.from(nodeSuite.sha256(data)), createHash('sha256').update(data).digest());
});

it('sha256Base64Url is base64url of sha256, and every byte value survives', () => {
  for (const length of LENGTHS.slice(0, 12)) {
    const data = randomBytes(length);
    assert.equal(nodeSuite.sha256Base64Url!(data), createHash('sha256').update(data).digest('base64url'));
    assert.equal(nodeSuite.sha256Base64Url!(data), Buffer.from(portableSuite.sha256(data)).toString('base64url'));
  }
  // Digests over many inputs cover every byte value 0-255 in every position of the copy.
  const seen = Array.from({ length: 32 }, () => new Set<number>());
  for (let i = 0; i < 4000; i++) {
    const data = randomBytes(i % 100);
    const digest = nodeSuite.sha256(data);
    assert.deepEqual(Buffer.from(digest), createHash('sha256').update(data).digest());
    digest.forEach((byte, k) => seen[k]!.add(byte));
  }
  assert.ok(seen.every((values) => values.size > 200));
});
