import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { commit, commitmentInput, eventFields, eventFromFields, SaltSource, type Disclosures } from '../../src/core/commitments.js';
import { portableSuite } from '../../src/core/crypto.js';
import { SealtrailError } from '../../src/core/errors.js';
import { decodeLeaf, encodeLeaf, sealEvent, verifyDisclosures } from '../../src/core/leaf.js';
import { fromUtf8, utf8 } from '../../src/core/bytes.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { sampleEvent } from '../helpers/events.js';

const suite = nodeSuite;
const seal = (n = 1) =>
  sealEvent(suite, { ledger: 'audit', index: n, receivedAtMicros: 1_764_143_511_123_456, writer: 'key_w1', event: sampleEvent(n) }, new SaltSource(suite));

function code(error: unknown): string | undefined {
  return error instanceof SealtrailError ? error.code : undefined;
}

describe('field commitments', () => {
  it('matches an independent computation of the documented formula', () => {
    const salt = 'AAECAwQFBgcICQoLDA0ODw'; // bytes 00..0f
    const input = commitmentInput(salt, 'origin.ip', '203.0.113.7');
    assert.equal(input, '["AAECAwQFBgcICQoLDA0ODw","origin.ip","203.0.113.7"]');
    const expected = createHash('sha256').update(input, 'utf8').digest('base64url');
    assert.equal(commit(suite, salt, 'origin.ip', '203.0.113.7'), expected);
    assert.equal(commit(portableSuite, salt, 'origin.ip', '203.0.113.7'), expected);
    // Object values are canonicalized (RFC 8785): member order does not change the commitment.
    assert.equal(commit(suite, salt, 'targets.0', { type: 'f', id: '1' }), commit(suite, salt, 'targets.0', { id: '1', type: 'f' }));
  });

  it('gives every field its own fresh 128-bit salt', () => {
    const { disclosures } = seal();
    const salts = Object.values(disclosures).map(([salt]) => salt);
    assert.equal(new Set(salts).size, salts.length);
    for (const salt of salts) assert.equal(Buffer.from(salt, 'base64url').length, 18);
    const again = seal();
    assert.notDeepEqual(Object.values(again.disclosures)[0]![0], salts[0]);
  });

  it('round-trips the event through its field paths', () => {
    const event = sampleEvent(7);
    assert.deepEqual(eventFromFields(eventFields(event)), JSON.parse(JSON.stringify(event)));
  });
});

describe('leaf envelope', () => {
  it('is canonical JSON with no field value in it', () => {
    const { leaf, disclosures } = seal(3);
    const text = fromUtf8(leaf);
    const envelope = decodeLeaf(leaf);
    assert.deepEqual(Object.keys(envelope.commitments).sort(), Object.keys(disclosures).sort());
    assert.equal(envelope.index, 3);
    assert.equal(envelope.received_at, '2025-11-26T07:51:51.123456Z');
    for (const [, value] of Object.values(disclosures)) {
      // As JSON (strings quoted), so that a value like "user" is not confused with the path "origin.user_agent".
      // Short numbers could occur inside a base64 digest by chance; every string and object value is checked.
      const needle = JSON.stringify(value);
      if (typeof value !== 'number') assert.ok(!text.includes(needle), `leaf reveals ${needle}`);
      if (typeof value === 'string' && value.length >= 8) assert.ok(!text.includes(value), `leaf reveals ${value}`);
    }
    assert.ok(!/\s/.test(text), 'no whitespace');
  });

  it('rejects non-canonical or malformed leaves', () => {
    const { leaf } = seal();
    const envelope = JSON.parse(fromUtf8(leaf));
    const variants = [
      JSON.stringify(envelope, null, 1),
      JSON.stringify({ v: envelope.v, ...envelope }),
      JSON.stringify({ ...envelope, index: -1 }),
      JSON.stringify({ ...envelope, v: 2 }),
      JSON.stringify({ ...envelope, extra: 1 }),
      JSON.stringify({ ...envelope, commitments: { 'actor.secret': envelope.commitments['actor.id'] } }),
      JSON.stringify({ ...envelope, commitments: { 'actor.id': 'short' } }),
      JSON.stringify({ ...envelope, received_at: '2025-11-26T07:51:51Z' }),
      '[]',
      '{',
    ];
    for (const text of variants) {
      assert.throws(() => decodeLeaf(utf8(text)), (e) => code(e) === 'MALFORMED', text.slice(0, 60));
    }
    assert.throws(() => decodeLeaf(new Uint8Array([0x7b, 0xff, 0x7d])), (e) => code(e) === 'MALFORMED');
    assert.deepEqual(encodeLeaf(decodeLeaf(leaf)), leaf);
  });

  it('verifies with any subset of fields withheld', () => {
    const { leaf, disclosures } = seal(5);
    const envelope = decodeLeaf(leaf);
    const paths = Object.keys(disclosures);
    fc.assert(
      fc.property(fc.subarray(paths), (kept) => {
        const partial: Disclosures = Object.fromEntries(kept.map((p) => [p, disclosures[p]!]));
        verifyDisclosures(suite, envelope, partial);
      }),
      { numRuns: 200 },
    );
  });

  it('detects a changed value, path or salt, naming the field', () => {
    const { leaf, disclosures } = seal(5);
    const envelope = decodeLeaf(leaf);
    const cases: Array<[string, Disclosures]> = [
      ['actor.id', { 'actor.id': [disclosures['actor.id']![0], 'u-999'] }],
      ['origin.ip', { 'origin.ip': [disclosures['actor.id']![0], disclosures['origin.ip']![1]] }],
      ['actor.name', { 'actor.name': disclosures['actor.id']! }],
      ['metadata.bytes', { 'metadata.bytes': [disclosures['metadata.bytes']![0], '50'] }],
      ['metadata.tags', { 'metadata.tags': [disclosures['metadata.tags']![0], ['b', 'a']] }],
    ];
    for (const [path, partial] of cases) {
      assert.throws(
        () => verifyDisclosures(suite, envelope, partial),
        (e) => code(e) === 'COMMITMENT_MISMATCH' && (e as SealtrailError).details.path === path,
        path,
      );
    }
    assert.throws(() => verifyDisclosures(suite, envelope, { 'actor.type': ['short', 'user'] }), (e) => code(e) === 'MALFORMED');
    const extra = { ...envelope, commitments: { ...envelope.commitments } };
    delete extra.commitments['tenant'];
    assert.throws(
      () => verifyDisclosures(suite, extra, { tenant: disclosures['tenant']! }),
      (e) => code(e) === 'COMMITMENT_MISMATCH' && /no commitment/.test((e as Error).message),
    );
  });
});
