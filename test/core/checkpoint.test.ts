import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fromBase64, toBase64 } from '../../src/core/bytes.js';
import { portableSigner, portableSuite } from '../../src/core/crypto.js';
import { SealtrailError, type ErrorCode } from '../../src/core/errors.js';
import {
  formatCheckpoint,
  openCheckpoint,
  parseCheckpoint,
  signCheckpoint,
  type Checkpoint,
} from '../../src/core/checkpoint.js';
import { formatVerifierKey, parseVerifierKey, signNote } from '../../src/core/note.js';
import { nodeSigner, nodeSuite, privateKeyFromSeed } from '../../src/platform/node-crypto.js';

function rejects(fn: () => unknown, code: ErrorCode, message?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof SealtrailError, `expected a SealtrailError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (message) assert.match(error.message, message);
    return true;
  });
}

// The body of the tlog-checkpoint spec example.
const SPEC_BODY = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
const HASH_B64 = 'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=';
const hash = fromBase64(HASH_B64);

const line = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 30 })
  .map((s) => s.replace(/[\u0000-\u001f]/g, ''))
  .filter((s) => s.length > 0);
const checkpointArb: fc.Arbitrary<Checkpoint> = fc.record({
  origin: line,
  size: fc.oneof(fc.constantFrom(0, 1, Number.MAX_SAFE_INTEGER), fc.maxSafeNat()),
  rootHash: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  extensions: fc.array(line, { maxLength: 3 }),
}).map((record) => ({ ...record })); // fc.record builds null-prototype objects; deepEqual compares prototypes

describe('checkpoint bodies', () => {
  test('the spec example parses and formats back byte for byte', () => {
    const cp = parseCheckpoint(SPEC_BODY);
    assert.deepEqual(cp, { origin: 'example.com/behind-the-sofa', size: 20852163, rootHash: hash, extensions: [] });
    assert.equal(formatCheckpoint(cp), SPEC_BODY);
  });

  test('empty tree, extensions and the largest size', () => {
    const cp: Checkpoint = {
      origin: 'sealtrail.example/audit',
      size: 0,
      rootHash: new Uint8Array(32),
      extensions: ['ext one', '— not a signature'],
    };
    const body = formatCheckpoint(cp);
    assert.equal(body, `sealtrail.example/audit\n0\n${toBase64(new Uint8Array(32))}\next one\n— not a signature\n`);
    assert.deepEqual(parseCheckpoint(body), cp);
    const big = { ...cp, size: Number.MAX_SAFE_INTEGER, extensions: [] };
    assert.equal(formatCheckpoint(big).split('\n')[1], '9007199254740991');
    assert.deepEqual(parseCheckpoint(formatCheckpoint(big)), big);
  });

  test('parse(format(cp)) = cp and format(parse(body)) = body (property)', () => {
    fc.assert(
      fc.property(checkpointArb, (cp) => {
        const body = formatCheckpoint(cp);
        const parsed = parseCheckpoint(body);
        assert.deepEqual(parsed, cp);
        assert.equal(formatCheckpoint(parsed), body);
      }),
      { numRuns: 300 },
    );
  });

  test('a decimal size parses back to itself (property)', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (size) => {
        assert.equal(parseCheckpoint(`o\n${size}\n${HASH_B64}\n`).size, size);
      }),
    );
  });

  const bodies: Array<[string, string, RegExp]> = [
    ['a leading zero', `o\n020852163\n${HASH_B64}\n`, /leading zeros/],
    ['a zero with a leading zero', `o\n00\n${HASH_B64}\n`, /leading zeros/],
    ['a plus sign', `o\n+5\n${HASH_B64}\n`, /sign/],
    ['a minus sign', `o\n-1\n${HASH_B64}\n`, /sign/],
    ['a space before the size', `o\n 5\n${HASH_B64}\n`, /decimal/],
    ['a space after the size', `o\n5 \n${HASH_B64}\n`, /decimal/],
    ['an exponent', `o\n1e3\n${HASH_B64}\n`, /decimal/],
    ['hexadecimal', `o\n0x10\n${HASH_B64}\n`, /decimal/],
    ['a fraction', `o\n1.0\n${HASH_B64}\n`, /decimal/],
    ['non-ASCII digits', `o\n\u0661\n${HASH_B64}\n`, /decimal/],
    ['a size of 2^53', `o\n9007199254740992\n${HASH_B64}\n`, /exceeds 2\^53 - 1/],
    ['a size of 2^53 + 1 (rounds to 2^53)', `o\n9007199254740993\n${HASH_B64}\n`, /exceeds/],
    ['a size of 2^64', `o\n18446744073709551616\n${HASH_B64}\n`, /exceeds/],
    ['a huge size', `o\n${'9'.repeat(400)}\n${HASH_B64}\n`, /exceeds/],
    ['bad base64', `o\n1\n${HASH_B64.replace('/', '_')}\n`, /base64/],
    ['base64 without padding', `o\n1\n${HASH_B64.slice(0, -1)}\n`, /base64/],
    ['non-canonical base64 (trailing bits)', `o\n1\n${HASH_B64.slice(0, -2)}J=\n`, /base64/],
    ['base64 with a space', `o\n1\n ${HASH_B64}\n`, /base64/],
    ['a 31-byte hash', `o\n1\n${toBase64(new Uint8Array(31))}\n`, /31 bytes/],
    ['a 33-byte hash', `o\n1\n${toBase64(new Uint8Array(33))}\n`, /33 bytes/],
    ['a 64-byte hash', `o\n1\n${toBase64(new Uint8Array(64))}\n`, /64 bytes/],
    ['an empty hash line', `o\n1\n\n`, /line 3 is empty/],
    ['an empty origin', `\n1\n${HASH_B64}\n`, /line 1 is empty/],
    ['an empty size line', `o\n\n${HASH_B64}\n`, /line 2 is empty/],
    ['an empty extension line', `o\n1\n${HASH_B64}\n\next\n`, /line 4 is empty/],
    ['a trailing blank line', `o\n1\n${HASH_B64}\n\n`, /line 4 is empty/],
    ['a missing final newline', `o\n1\n${HASH_B64}`, /newline/],
    ['a missing final newline after an extension', `o\n1\n${HASH_B64}\next`, /newline/],
    ['only two lines', `o\n1\n`, /at least 3 lines/],
    ['an empty body', '', /newline/],
    ['CRLF line endings', `o\r\n1\r\n${HASH_B64}\r\n`, /forbidden character/],
    ['a control character in the origin', `o\u0000\n1\n${HASH_B64}\n`, /forbidden character/],
    ['a tab in an extension', `o\n1\n${HASH_B64}\na\tb\n`, /forbidden character/],
    ['a lone surrogate', `o\ud800\n1\n${HASH_B64}\n`, /forbidden character/],
  ];
  for (const [name, body, message] of bodies) {
    test(`rejects ${name}`, () => rejects(() => parseCheckpoint(body), 'MALFORMED', message));
  }

  test('formatCheckpoint rejects what it could not write canonically', () => {
    const ok: Checkpoint = { origin: 'o', size: 1, rootHash: hash, extensions: [] };
    const bad: Array<Partial<Checkpoint>> = [
      { origin: '' },
      { origin: 'a\nb' },
      { origin: 'a\rb' },
      { size: -1 },
      { size: 1.5 },
      { size: Number.MAX_SAFE_INTEGER + 1 },
      { size: Number.NaN },
      { size: Number.POSITIVE_INFINITY },
      { rootHash: new Uint8Array(31) },
      { rootHash: new Uint8Array(33) },
      { extensions: [''] },
      { extensions: ['a\nb'] },
    ];
    for (const change of bad) rejects(() => formatCheckpoint({ ...ok, ...change }), 'INVALID_ARGUMENT');
  });
});

describe('signed checkpoints', () => {
  const seed = new Uint8Array(32).fill(3);
  const origin = 'sealtrail.example/audit';
  const cp: Checkpoint = { origin, size: 12345, rootHash: hash, extensions: [] };

  test('sign and open with both signers and both suites', () => {
    const fromPortable = signCheckpoint(portableSuite, cp, [{ name: origin, signer: portableSigner(seed) }]);
    const fromNode = signCheckpoint(nodeSuite, cp, [{ name: origin, signer: nodeSigner(privateKeyFromSeed(seed)) }]);
    assert.equal(fromPortable, fromNode);
    assert.ok(fromNode.startsWith(`${formatCheckpoint(cp)}\n— ${origin} `));
    const verifier = parseVerifierKey(portableSuite, formatVerifierKey(portableSuite, origin, portableSigner(seed).publicKey));
    for (const suite of [portableSuite, nodeSuite]) {
      const opened = openCheckpoint(suite, fromNode, [verifier], origin);
      assert.deepEqual(opened.checkpoint, cp);
      assert.deepEqual(opened.verifiedBy, [verifier]);
      assert.deepEqual(openCheckpoint(suite, fromNode, [verifier]).checkpoint, cp);
    }
  });

  test('an origin other than the expected one is rejected as BAD_SIGNATURE', () => {
    const signer = portableSigner(seed);
    const verifier = parseVerifierKey(portableSuite, formatVerifierKey(portableSuite, origin, signer.publicKey));
    const note = signCheckpoint(portableSuite, { ...cp, origin: 'sealtrail.example/other' }, [{ name: origin, signer }]);
    try {
      openCheckpoint(portableSuite, note, [verifier], origin);
      assert.fail('expected a rejection');
    } catch (error) {
      assert.ok(error instanceof SealtrailError);
      assert.equal(error.code, 'BAD_SIGNATURE');
      assert.deepEqual(error.details, { expected: origin, actual: 'sealtrail.example/other' });
    }
  });

  test('a tampered checkpoint or an unknown key fails, a signed non-checkpoint is MALFORMED', () => {
    const signer = portableSigner(seed);
    const verifier = parseVerifierKey(portableSuite, formatVerifierKey(portableSuite, origin, signer.publicKey));
    const note = signCheckpoint(portableSuite, cp, [{ name: origin, signer }]);
    rejects(() => openCheckpoint(portableSuite, note.replace('\n12345\n', '\n12346\n'), [verifier]), 'BAD_SIGNATURE');
    const stranger = parseVerifierKey(
      portableSuite,
      formatVerifierKey(portableSuite, origin, portableSigner(new Uint8Array(32).fill(4)).publicKey),
    );
    rejects(() => openCheckpoint(portableSuite, note, [stranger]), 'BAD_SIGNATURE', /no known key/);
    const notACheckpoint = signNote(portableSuite, `${origin}\n012\n${HASH_B64}\n`, [{ name: origin, signer }]);
    rejects(() => openCheckpoint(portableSuite, notACheckpoint, [verifier]), 'MALFORMED', /leading zeros/);
  });
});
