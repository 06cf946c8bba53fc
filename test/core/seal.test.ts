/**
 * Sealing must not change by a byte (docs/FORMAT.md §2-3). Known vectors, computed before sealing wrote
 * its inputs as bytes in place (salts drawn from a generator that counts 0, 1, 2, …), pin the leaf, the
 * leaf hash and the disclosures of a few events; and leaves of random commitments are checked against
 * the RFC 8785 form of their envelope by the `canonicalize` package, and leaf hashes against hashLeaf.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import canonicalizeModule from 'canonicalize';
import fc from 'fast-check';
import { SaltSource } from '../../src/core/commitments.js';
import { portableSuite, type CryptoSuite } from '../../src/core/crypto.js';
import { SealtrailError } from '../../src/core/errors.js';
import type { AuditEvent } from '../../src/core/event.js';
import { buildLeaf, decodeLeaf, encodeLeaf, LEAF_VERSION, sealEvent, verifyDisclosures, type LeafEnvelope } from '../../src/core/leaf.js';
import { formatMicros } from '../../src/core/time.js';
import { hashLeaf } from '../../src/core/tree.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { sampleEvent } from '../helpers/events.js';

const canonicalize = canonicalizeModule as unknown as (value: unknown) => string | undefined;

function countingSuite(base: CryptoSuite): CryptoSuite {
  let next = 0;
  return { ...base, randomBytes: (length) => Uint8Array.from({ length }, () => next++ & 0xff) };
}

const sha256Hex = (data: Uint8Array | string): string => createHash('sha256').update(data).digest('hex');

const VECTOR_EVENTS: AuditEvent[] = [
  sampleEvent(0),
  sampleEvent(7),
  { actor: { type: 'user', id: 'alice' }, action: 'file.download', category: 'read', origin: { ip: '203.0.113.7' }, outcome: 'success', tenant: 'acme' },
  {
    actor: { type: 'service', id: 'b\u00e9la \u{1F600}', name: 'quote " backslash \\ tab \t nl \n' },
    action: 'a.b',
    category: 'update',
    outcome: 'failure',
    outcome_reason: '\u2028\u2029\u007f\u0000\u001f',
    targets: [
      { type: 'doc', id: 'x', name: '\u00f1' },
      { id: '2', type: 't' },
    ],
    metadata: {
      n0: -0,
      big: 1e21,
      small: 1e-7,
      frac: 0.1 + 0.2,
      neg: -12345678901234,
      t: true,
      f: false,
      z: null,
      nested: { b: [1, { d: 'x', c: ['\u00e9', { '\uffff': 1, '\u{1F600}': 2, a: [] }] }], a: {} },
      'k.dotted:x-y': 'v',
    },
  } as unknown as AuditEvent,
];

/** [leaf hash, SHA-256 of JSON.stringify(disclosures)] of VECTOR_EVENTS[i] sealed at index i (hex). */
const VECTORS: Array<[leafHash: string, disclosures: string]> = [
  ['6b8c98956a67dcbee686b0b226cc8b08b95ec4720641822169d0241877362c25', '2beccb86d951ff72df2c71cda36bd2f4ca84c58dde32df7123d7a11b557c2d8e'],
  ['0d98847ebf6d9a2c71d6c5b32976a2169cd80bf962d2ef3b180123c8cd68744c', 'd5e70cb9521a76f41e747673af6e52a2b0dbeae23652d2de56ed34394efec221'],
  ['86b5a5692326ec75303f4e62c9b2b5bf128296de4550f6310612bbf9dbe3d71b', 'b0e1c34cc2530fd9294564049e630e60a3cf5c12d64c7edbef4d6f7863144b52'],
  ['1a1b68873f853f7aeb142d60ba831a4f48b9a69f8fac804a3a2ec1eb07b447b5', 'd1ed64e6c753a619cf8278da574ed23bd789d5d26057f442644935bbe5ed3093'],
];

const RECEIVED_AT = 1_795_680_000_123_456;

describe('sealing: known vectors', () => {
  for (const suite of [nodeSuite, portableSuite]) {
    it(`${suite === nodeSuite ? 'node' : 'portable'} suite seals each vector event to the same bytes`, () => {
      VECTOR_EVENTS.forEach((event, index) => {
        const counting = countingSuite(suite);
        const sealed = sealEvent(counting, { ledger: 'payments', index, receivedAtMicros: RECEIVED_AT, writer: 'k1a2b3c4d', event }, new SaltSource(counting));
        const [leafHash, disclosures] = VECTORS[index]!;
        assert.equal(Buffer.from(sealed.leafHash).toString('hex'), leafHash, `leaf hash of vector ${index}`);
        assert.equal(sha256Hex(JSON.stringify(sealed.disclosures)), disclosures, `disclosures of vector ${index}`);
        assert.deepEqual(Buffer.from(sealed.leafHash), Buffer.from(hashLeaf(suite, sealed.leaf)));
        verifyDisclosures(suite, decodeLeaf(sealed.leaf), sealed.disclosures);
      });
    });
  }
});

describe('leaf bytes against the reference', () => {
  const path = fc.oneof(
    fc.constantFrom('id', 'action', 'category', 'occurred_at', 'outcome', 'outcome_reason', 'tenant', 'actor.type', 'actor.id', 'actor.name', 'actor.email', 'actor.session_id', 'origin.ip', 'origin.user_agent', 'origin.device_id'),
    fc.integer({ min: 0, max: 99 }).map((n) => `targets.${n}`),
    fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$/).filter((k) => !['__proto__', 'constructor', 'prototype'].includes(k)).map((k) => `metadata.${k}`),
  );
  const digest = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => Buffer.from(bytes).toString('base64url'));
  const envelope = fc.record({
    ledger: fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,63}$/),
    index: fc.maxSafeNat(),
    micros: fc.integer({ min: 0, max: 4_102_444_800_000_000 }), // to 2100
    writer: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/),
    commitments: fc.dictionary(path, digest, { maxKeys: 80 }),
  });

  it('buildLeaf and encodeLeaf write the JCS of the envelope; the leaf hash is hashLeaf of it', () => {
    fc.assert(
      fc.property(envelope, ({ ledger, index, micros, writer, commitments }) => {
        const expected: LeafEnvelope = { v: LEAF_VERSION, ledger, index, received_at: formatMicros(micros), writer, commitments };
        const reference = Buffer.from(canonicalize(expected)!, 'utf8');
        const built = buildLeaf(nodeSuite, { ledger, index, receivedAtMicros: micros, writer }, commitments);
        assert.deepEqual(Buffer.from(built.leaf), reference);
        assert.deepEqual(Buffer.from(encodeLeaf(expected)), reference);
        assert.equal(Buffer.from(built.leafHash).toString('hex'), sha256Hex(Buffer.concat([Buffer.of(0), reference])));
        assert.deepEqual(Buffer.from(built.leafHash), Buffer.from(hashLeaf(portableSuite, reference)));
        assert.deepEqual(decodeLeaf(built.leaf), JSON.parse(reference.toString('utf8')));
      }),
      { numRuns: 500 },
    );
  });

  it('leaves are copies: a later leaf does not change an earlier one', () => {
    const first = buildLeaf(nodeSuite, { ledger: 'a', index: 0, receivedAtMicros: RECEIVED_AT, writer: 'w' }, { id: 'x'.repeat(43) });
    const copy = Buffer.from(first.leaf);
    buildLeaf(nodeSuite, { ledger: 'b', index: 1, receivedAtMicros: RECEIVED_AT, writer: 'w' }, { id: 'y'.repeat(43), action: 'z'.repeat(43) });
    assert.deepEqual(Buffer.from(first.leaf), copy);
  });

  it('a bad ledger or writer is refused, also right after a good one was accepted', () => {
    const commitments = { id: 'x'.repeat(43) };
    const code = (error: unknown) => error instanceof SealtrailError && error.code === 'INVALID_ARGUMENT';
    for (let round = 0; round < 2; round++) {
      buildLeaf(nodeSuite, { ledger: 'good', index: 0, receivedAtMicros: RECEIVED_AT, writer: 'w1' }, commitments);
      assert.throws(() => buildLeaf(nodeSuite, { ledger: 'Bad', index: 0, receivedAtMicros: RECEIVED_AT, writer: 'w1' }, commitments), code);
      assert.throws(() => buildLeaf(nodeSuite, { ledger: 'good', index: 0, receivedAtMicros: RECEIVED_AT, writer: 'bad writer' }, commitments), code);
    }
  });
});
