/** The writer of an export row from the leaf's last bytes (rows.ts writerFromTail), against writerFromLeaf. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SaltSource } from '../../src/core/commitments.js';
import { writerFromLeaf } from '../../src/core/export/record.js';
import { sealEvent } from '../../src/core/leaf.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { LEAF_TAIL_BYTES, writerFromTail } from '../../src/store/rows.js';
import { sampleEvent } from '../helpers/events.js';

const salts = new SaltSource(nodeSuite);
/** What SQLite's CAST(substr(leaf, -N) AS TEXT) gives: the last N bytes, decoded as UTF-8. */
const tailOf = (leaf: Uint8Array, bytes = LEAF_TAIL_BYTES) => Buffer.from(leaf.subarray(Math.max(0, leaf.length - bytes))).toString('utf8');

describe('export rows: the writer from the end of the leaf', () => {
  it('reads every valid writer id from the tail as writerFromLeaf reads it from the whole leaf', () => {
    for (const writer of ['a', 'admin', 'bench-writer', 'k1a2b3c4d', 'svc:billing@eu-1.prod', `w${'x'.repeat(127)}`]) {
      const { leaf } = sealEvent(nodeSuite, { ledger: 'payments', index: 3, receivedAtMicros: 1_795_679_511_123_456, writer, event: sampleEvent(3) }, salts);
      assert.equal(writerFromTail(tailOf(leaf)), writerFromLeaf(leaf));
      assert.equal(writerFromTail(tailOf(leaf)), writer);
    }
  });

  it('answers undefined, for the caller to read the whole leaf, when the tail cannot say', () => {
    const { leaf } = sealEvent(nodeSuite, { ledger: 'payments', index: 3, receivedAtMicros: 1_795_679_511_123_456, writer: `w${'x'.repeat(127)}`, event: sampleEvent(3) }, salts);
    assert.equal(writerFromTail(tailOf(leaf, 100)), undefined, 'the member is cut');
    assert.equal(writerFromTail('{"x":1}'), undefined, 'no writer member');
    assert.equal(writerFromTail('…,"v":1,"writer":"ké"}'), undefined, 'not ASCII: writerFromLeaf reads bytes');
    assert.equal(writerFromTail('…,"v":1,"writer":"k"} '), undefined, 'not the end of a leaf');
    assert.equal(writerFromTail('…,"v":1,"author":"k"}'), undefined, 'another member');
  });
});
