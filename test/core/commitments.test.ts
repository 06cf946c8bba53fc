/**
 * Field commitments are written as bytes in place (src/core/commitments.ts), with a fast path for plain
 * JSON data. These tests hold that path to the reference: the commitment input as docs/FORMAT.md §2
 * defines it, JCS([salt, path, value]) by the `canonicalize` package (RFC 8785), UTF-8 encoded and hashed
 * by node:crypto on its own. A single byte of difference fails them.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import canonicalizeModule from 'canonicalize';
import fc from 'fast-check';
import { toBase64Url } from '../../src/core/bytes.js';
import { canonicalJson, checkSalt, commit, commitmentInput, eventFields, SaltSource, SALT_BYTES } from '../../src/core/commitments.js';
import { portableSuite, type CryptoSuite } from '../../src/core/crypto.js';
import type { AuditEvent } from '../../src/core/event.js';
import { commitEvent } from '../../src/core/leaf.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { sampleEvent } from '../helpers/events.js';

const canonicalize = canonicalizeModule as unknown as (value: unknown) => string | undefined;

/** The reference commitment: FORMAT.md §2 computed without any of the code under test. */
function referenceCommit(salt: string, path: string, value: unknown): string {
  return createHash('sha256').update(Buffer.from(canonicalize([salt, path, value])!, 'utf8')).digest('base64url');
}

/** A suite that records every input it hashes (a copy), so that bytes can be compared, not only digests. */
function recording(base: CryptoSuite): { suite: CryptoSuite; inputs: Uint8Array[] } {
  const inputs: Uint8Array[] = [];
  const suite: CryptoSuite = {
    ...base,
    sha256: (data) => (inputs.push(data.slice()), base.sha256(data)),
    ...(base.sha256Base64Url ? { sha256Base64Url: (data: Uint8Array) => (inputs.push(data.slice()), base.sha256Base64Url!(data)) } : {}),
  };
  return { suite, inputs };
}

/** Bytes 0, 1, 2, … from "randomBytes", as in docs/FORMAT.md's worked example. */
function countingSuite(base: CryptoSuite): CryptoSuite {
  let next = 0;
  return { ...base, randomBytes: (length) => Uint8Array.from({ length }, () => next++ & 0xff) };
}

const SALT = 'AAECAwQFBgcICQoLDA0ODxAR';

/** Values whose RFC 8785 form has a catch: escapes, non-ASCII, lone surrogates, number formatting, key order. */
const EDGE_VALUES: unknown[] = [
  '',
  'plain ascii',
  'quote " and backslash \\',
  'controls \u0000 \u0001 \b \t \n \f \r \u001f',
  'delete \u007f and latin-1 \u00e9 \u00ff',
  'line separators \u2028 \u2029',
  'astral \u{1F600} \u{10FFFF}',
  'lone high \ud800 and lone low \udfff',
  '\udbff\udfff\ud800',
  '</script>',
  0,
  -0,
  1,
  -1,
  0.1 + 0.2,
  1e21,
  1e20,
  123456789012345680000,
  1e-7,
  1e-6,
  5e-324,
  Number.MAX_SAFE_INTEGER,
  Number.MAX_VALUE,
  -Number.MIN_VALUE,
  2 ** 31,
  2 ** 31 - 1,
  -(2 ** 31),
  true,
  false,
  null,
  [],
  {},
  [1, 'a', null, true, [[]], {}],
  { b: 1, a: 2, A: 3, _: 4, '': 5, 'é': 6, '\u{1F600}': 7, '\uffff': 8, '\u0080': 9, '10': 10, '9': 11 },
  { '\n': 'key escapes', '"': 1, '\\': 2, '\ud800': 'lone surrogate key' },
  { nested: { z: [{ y: 1, x: [2, { w: 'é' }] }], a: null }, list: [{ b: 1, a: 2 }] },
  { skipped: undefined, kept: 1 },
  Object.assign(Object.create(null) as object, { b: 1, a: 'null prototype' }),
];

/** Values the fast path must hand to the general canonicalizer (and so commit exactly as before). */
const FALLBACK_VALUES: unknown[] = [
  new Date(0),
  new Number(1),
  new String('s'),
  new Array(2),
  [1, undefined, 3],
  [1, , 3], // eslint-disable-line no-sparse-arrays
  { toJSON: () => 'from toJSON' },
  { nested: { toJSON: () => ({ b: 1, a: 2 }) } },
  new Map([['a', 1]]),
  Object.assign(Object.create({ inherited: 1 }) as object, { own: 2 }),
  { f: () => 1 },
  { s: Symbol('s') },
  [Symbol('s')],
  (() => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 200; i++) deep = i % 2 === 0 ? [deep] : { k: deep };
    return deep;
  })(),
];

/** Values canonicalJson refuses: commit must throw exactly as before. */
const REFUSED_VALUES: unknown[] = [undefined, NaN, Infinity, -Infinity, [NaN], { a: Infinity }, 10n, Symbol('s'), () => 1];

function outcome(run: () => unknown): { value?: unknown; error?: string } {
  try {
    return { value: run() };
  } catch (error) {
    return { error: `${(error as Error).constructor.name}: ${(error as Error).message}` };
  }
}

describe('commit: the byte writer against the reference', () => {
  for (const suite of [nodeSuite, portableSuite]) {
    const name = suite === nodeSuite ? 'node' : 'portable';

    it(`${name}: edge values commit to the bytes of JCS([salt, path, value])`, () => {
      for (const [i, value] of EDGE_VALUES.entries()) {
        const { suite: rec, inputs } = recording(suite);
        const digest = commit(rec, SALT, 'metadata.k', value);
        const expected = Buffer.from(canonicalize([SALT, 'metadata.k', value])!, 'utf8');
        assert.deepEqual(Buffer.from(inputs[0]!), expected, `edge value ${i}`);
        assert.equal(digest, referenceCommit(SALT, 'metadata.k', value));
      }
    });

    it(`${name}: values outside plain JSON commit as canonicalJson writes them`, () => {
      for (const value of FALLBACK_VALUES) {
        const { suite: rec, inputs } = recording(suite);
        commit(rec, SALT, 'metadata.k', value);
        assert.deepEqual(Buffer.from(inputs[0]!), Buffer.from(commitmentInput(SALT, 'metadata.k', value), 'utf8'));
      }
    });

    it(`${name}: refused values throw as canonicalJson throws`, () => {
      for (const value of REFUSED_VALUES) {
        const got = outcome(() => commit(suite, SALT, 'metadata.k', value));
        const before = outcome(() => commitmentInput(SALT, 'metadata.k', value));
        assert.ok(got.error !== undefined, `${typeof value} was committed`);
        assert.equal(got.error, before.error);
      }
    });

    it(`${name}: salts and paths of any text are escaped like values`, () => {
      for (const text of ['', 'a"b', 'é', '\u{1F600}', '\ud800', 'tab\t']) {
        assert.equal(commit(suite, text, 'actor.id', 'v'), referenceCommit(text, 'actor.id', 'v'));
        assert.equal(commit(suite, SALT, text, 'v'), referenceCommit(SALT, text, 'v'));
      }
    });
  }

  it('arbitrary JSON values, strings of any code units and nested objects', () => {
    const text = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 24 }),
      fc.string({ unit: fc.constantFrom('a', '"', '\\', '\n', '\u0000', '\u001f', '\u007f', 'é', '\u2028', '\ud800', '\udc00', '\u{1F600}'), maxLength: 12 }),
    );
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        text,
        fc.double(),
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('node'), { maxLength: 5 }),
        fc.dictionary(text, tie('node'), { maxKeys: 5 }),
      ),
    })).node;
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), value, (path, v) => {
        const got = outcome(() => commit(nodeSuite, SALT, path, v));
        const before = outcome(() => toBase64Url(nodeSuite.sha256(Buffer.from(commitmentInput(SALT, path, v), 'utf8'))));
        assert.deepEqual(got, before);
        if (got.error === undefined) assert.equal(got.value, referenceCommit(SALT, path, v));
      }),
      { numRuns: 2000 },
    );
  });

  it('a toJSON that commits something itself does not disturb the input it is part of', () => {
    const value = { toJSON: () => (commit(nodeSuite, 'other salt', 'other.path', 'x'.repeat(5000)), { b: 1, a: 'é' }) };
    assert.equal(commit(nodeSuite, SALT, 'metadata.k', value), referenceCommit(SALT, 'metadata.k', { a: 'é', b: 1 }));
    const suite = countingSuite(nodeSuite);
    const event = { ...sampleEvent(1), metadata: { first: value, second: 'after' } } as unknown as AuditEvent;
    const { commitments, disclosures } = commitEvent(suite, event, new SaltSource(suite));
    for (const [path, [salt, v]] of Object.entries(disclosures)) assert.equal(commitments[path], referenceCommit(salt, path, v), path);
  });

  it('values far larger than the reused buffer', () => {
    const big = { text: 'x'.repeat(100_000), list: Array.from({ length: 5000 }, (_, i) => ({ i, s: `é${i}` })) };
    assert.equal(commit(nodeSuite, SALT, 'metadata.big', big), referenceCommit(SALT, 'metadata.big', big));
    // And the next, small one is not polluted by what the big one left in the buffer.
    assert.equal(commit(nodeSuite, SALT, 'actor.id', 'u'), referenceCommit(SALT, 'actor.id', 'u'));
  });

  it('canonicalJson is unchanged: RFC 8785 by the canonicalize package', () => {
    for (const value of [...EDGE_VALUES, ...FALLBACK_VALUES]) {
      if (typeof value === 'object' && value !== null) assert.equal(canonicalJson(value), canonicalize(value));
    }
  });
});

describe('salts', () => {
  it('are the base64url of the generator output, 24 characters each, in order, through both methods', () => {
    const suite = countingSuite(nodeSuite);
    const salts = new SaltSource(suite, 3);
    const event = sampleEvent(2);
    const got: string[] = [];
    for (let i = 0; i < 4; i++) got.push(salts.next());
    // commitEvent draws through the same source (it writes them into the commitment input directly).
    for (const [salt] of Object.values(commitEvent(suite, event, salts).disclosures)) got.push(salt);
    got.push(salts.next());
    const count = got.length;
    const stream = Uint8Array.from({ length: Math.ceil(count / 3) * 3 * SALT_BYTES }, (_, i) => i & 0xff);
    const expected = Array.from({ length: count }, (_, i) => toBase64Url(stream.subarray(i * SALT_BYTES, (i + 1) * SALT_BYTES)));
    assert.deepEqual(got, expected);
  });

  it('are checked as base64url of at least 16 bytes, whatever their length (checkSalt)', () => {
    const accepted = (salt: unknown) => {
      try {
        checkSalt(salt, 'action');
        return true;
      } catch (error) {
        assert.match((error as Error).message, /action: salt must be base64url of at least 16 bytes/);
        return false;
      }
    };
    for (const bytes of [16, 17, 18, 24, 32]) assert.ok(accepted(toBase64Url(Uint8Array.from({ length: bytes }, (_, i) => 255 - i))), `${bytes} bytes`);
    assert.ok(accepted('-_'.repeat(12)), 'every 24-character base64url string is 18 whole bytes');
    for (const bad of ['', 'A'.repeat(20), `${'A'.repeat(23)}+`, `${'A'.repeat(23)}/`, `${'A'.repeat(22)}==`, `${'A'.repeat(23)} `, 'Ä'.repeat(24), 42, null, ['A'.repeat(24)]]) {
      assert.equal(accepted(bad), false, JSON.stringify(bad));
    }
  });
});

describe('commitEvent against the reference', () => {
  /** The sealing loop as it was written before it wrote bytes in place: eventFields, then commit by string. */
  function referenceCommitEvent(event: AuditEvent, salts: SaltSource): { commitments: Record<string, string>; disclosures: Record<string, unknown> } {
    const commitments: Record<string, string> = {};
    const disclosures: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(event)) {
      const fields: Array<[string, unknown]> = [];
      if (value === undefined) continue;
      if (key === 'actor' || key === 'origin' || key === 'metadata') {
        for (const [member, memberValue] of Object.entries(value as Record<string, unknown>)) {
          if (memberValue !== undefined) fields.push([`${key}.${member}`, memberValue]);
        }
      } else if (key === 'targets') {
        (value as unknown[]).forEach((target, i) => fields.push([`targets.${i}`, target]));
      } else {
        fields.push([key, value]);
      }
      for (const [path, fieldValue] of fields) {
        const salt = salts.next();
        commitments[path] = referenceCommit(salt, path, fieldValue);
        disclosures[path] = [salt, fieldValue];
      }
    }
    return { commitments, disclosures };
  }

  const metadataValue = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 12 }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.boolean(), fc.constant(null), fc.json().map((j) => JSON.parse(j) as unknown));
  const event = fc.record(
    {
      id: fc.string({ minLength: 1, maxLength: 20 }),
      actor: fc.record({ type: fc.constantFrom('user', 'service'), id: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 }), name: fc.string({ unit: 'grapheme', maxLength: 10 }) }, { requiredKeys: ['type', 'id'] }),
      action: fc.stringMatching(/^[a-z]{1,8}\.[a-z]{1,8}$/),
      category: fc.constantFrom('read', 'update'),
      outcome: fc.constantFrom('success', 'failure'),
      outcome_reason: fc.string({ unit: 'binary', maxLength: 16 }),
      origin: fc.record({ ip: fc.ipV4(), user_agent: fc.string({ maxLength: 30 }) }, { requiredKeys: [] }),
      targets: fc.array(fc.record({ type: fc.string({ maxLength: 5 }), id: fc.string({ maxLength: 5 }), name: fc.string({ unit: 'grapheme', maxLength: 5 }) }), { maxLength: 3 }),
      tenant: fc.string({ maxLength: 10 }),
      metadata: fc.dictionary(fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,20}$/), metadataValue, { maxKeys: 6 }),
    },
    { requiredKeys: ['actor', 'action', 'category', 'outcome'] },
  ) as unknown as fc.Arbitrary<AuditEvent>;

  it('gives the same commitments, salts, disclosures and path order for random events', () => {
    fc.assert(
      fc.property(event, (e) => {
        const suite = countingSuite(nodeSuite);
        const reference = countingSuite(nodeSuite);
        const got = commitEvent(suite, e, new SaltSource(suite, 4));
        const expected = referenceCommitEvent(e, new SaltSource(reference, 4));
        assert.deepEqual(got.commitments, expected.commitments);
        assert.deepEqual(got.disclosures, expected.disclosures);
        assert.deepEqual(Object.keys(got.commitments), Object.keys(expected.commitments));
        assert.deepEqual(Object.keys(got.disclosures), Object.keys(expected.disclosures));
        assert.equal(JSON.stringify(got.disclosures), JSON.stringify(expected.disclosures));
        assert.deepEqual(eventFields(e).map(([path]) => path), Object.keys(expected.commitments));
      }),
      { numRuns: 300 },
    );
  });

  it('and with the portable suite, which has no base64url shortcut', () => {
    for (let n = 0; n < 30; n++) {
      const e = sampleEvent(n);
      const node = commitEvent(countingSuite(nodeSuite), e, new SaltSource(countingSuite(nodeSuite)));
      const portableSalts = countingSuite(portableSuite);
      const portable = commitEvent(portableSalts, e, new SaltSource(portableSalts));
      assert.deepEqual(portable, node);
    }
  });
});
