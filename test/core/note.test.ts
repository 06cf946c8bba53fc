import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { concatBytes, fromBase64, toBase64, toHex, utf8 } from '../../src/core/bytes.js';
import { portableSigner, portableSuite, type CryptoSuite } from '../../src/core/crypto.js';
import { SealtrailError, type ErrorCode } from '../../src/core/errors.js';
import {
  MAX_NOTE_SIGNATURES,
  ed25519KeyId,
  formatVerifierKey,
  isValidKeyName,
  openNote,
  parseNote,
  parseVerifierKey,
  signNote,
  type NoteVerifier,
} from '../../src/core/note.js';
import { nodeSigner, nodeSuite, privateKeyFromSeed } from '../../src/platform/node-crypto.js';

const suites: Array<[string, CryptoSuite]> = [
  ['portable', portableSuite],
  ['node', nodeSuite],
];

function rejects(fn: () => unknown, code: ErrorCode, message?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof SealtrailError, `expected a SealtrailError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (message) assert.match(error.message, message);
    return true;
  });
}

// Published vectors (data only). The signed-note spec example:
const SPEC_VKEY = 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k';
const SPEC_TEXT = 'This is an example message.\n';
const SPEC_LINE =
  '— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n';
const SPEC_NOTE = `${SPEC_TEXT}\n${SPEC_LINE}`;

// The golang.org/x/mod/sumdb/note documentation and tests: a signer key (with its seed), two verifier
// keys, and their signatures over one text.
const GO_SKEY_DATA = 'AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz'; // 0x01 || Ed25519 seed of PeterNeumann
const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const ENOCH_VKEY = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';
const GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_LINE =
  '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
const ENOCH_LINE =
  '— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';

const peterSeed = fromBase64(GO_SKEY_DATA).slice(1);
const seedA = new Uint8Array(32).fill(7);
const seedB = new Uint8Array(32).map((_, i) => i);

/** A signature line by a fresh key that no verifier knows. */
function unknownLine(name: string, text: string): string {
  const note = signNote(portableSuite, text, [{ name, signer: portableSigner(new Uint8Array(32).fill(99)) }]);
  return note.slice(text.length + 1);
}

/** Flips one bit of the decoded signature of a one-line signature block, at byte `index`. */
function flipSignatureBit(line: string, index: number): string {
  const [, name, encoded] = /^— (\S+) (\S+)\n$/.exec(line) ?? [];
  const bytes = fromBase64(encoded ?? '');
  bytes[index] = (bytes[index] ?? 0) ^ 1;
  return `— ${name} ${toBase64(bytes)}\n`;
}

describe('the published signed-note example', () => {
  for (const [suiteName, suite] of suites) {
    test(`parses the verifier key and verifies the note (${suiteName})`, () => {
      const verifier = parseVerifierKey(suite, SPEC_VKEY);
      assert.equal(verifier.name, 'example.com/foo');
      assert.equal(verifier.keyId, 0x530d903a);
      assert.equal(verifier.publicKey.length, 32);
      assert.equal(ed25519KeyId(suite, verifier.name, verifier.publicKey), 0x530d903a);
      assert.equal(formatVerifierKey(suite, verifier.name, verifier.publicKey), SPEC_VKEY);
      const opened = openNote(suite, SPEC_NOTE, [verifier]);
      assert.equal(opened.text, SPEC_TEXT);
      assert.deepEqual(opened.verifiedBy, [verifier]);
    });
  }

  test('parseNote gives the structure', () => {
    const { text, signatures } = parseNote(SPEC_NOTE);
    assert.equal(text, SPEC_TEXT);
    assert.equal(signatures.length, 1);
    assert.equal(signatures[0]?.name, 'example.com/foo');
    assert.equal(signatures[0]?.keyId, 0x530d903a);
    assert.equal(signatures[0]?.signature.length, 64);
  });

  test('a flipped bit in the signature, the key ID, the text or the key name fails', () => {
    const verifier = parseVerifierKey(portableSuite, SPEC_VKEY);
    for (const index of [4, 30, 67]) {
      rejects(
        () => openNote(portableSuite, `${SPEC_TEXT}\n${flipSignatureBit(SPEC_LINE, index)}`, [verifier]),
        'BAD_SIGNATURE',
        /example\.com\/foo\+530d903a does not verify/,
      );
    }
    // A different key ID makes it a signature by an unknown key: then no known key signed.
    rejects(
      () => openNote(portableSuite, `${SPEC_TEXT}\n${flipSignatureBit(SPEC_LINE, 3)}`, [verifier]),
      'BAD_SIGNATURE',
      /no known key signed it \(it is signed by example\.com\/foo\+530d903b\)/,
    );
    rejects(
      () => openNote(portableSuite, `This is an example messagf.\n\n${SPEC_LINE}`, [verifier]),
      'BAD_SIGNATURE',
      /does not verify/,
    );
    rejects(
      () => openNote(portableSuite, `${SPEC_TEXT}\n${SPEC_LINE.replace('example.com/foo', 'example.com/fon')}`, [verifier]),
      'BAD_SIGNATURE',
      /no known key signed it \(it is signed by example\.com\/fon\+530d903a\)/,
    );
  });

  test('a signature by an unknown key is ignored, before or after', () => {
    const verifier = parseVerifierKey(portableSuite, SPEC_VKEY);
    const other = unknownLine('other.example/key', SPEC_TEXT);
    // Same name, other key ID: also unknown.
    const sameName = unknownLine('example.com/foo', SPEC_TEXT);
    for (const block of [SPEC_LINE + other, other + SPEC_LINE, sameName + SPEC_LINE + other]) {
      const opened = openNote(portableSuite, `${SPEC_TEXT}\n${block}`, [verifier]);
      assert.equal(opened.text, SPEC_TEXT);
      assert.deepEqual(opened.verifiedBy, [verifier]);
    }
  });

  test('a note signed only by unknown keys is rejected, naming them', () => {
    const verifier = parseVerifierKey(portableSuite, PETER_VKEY);
    rejects(() => openNote(portableSuite, SPEC_NOTE, [verifier]), 'BAD_SIGNATURE', /example\.com\/foo\+530d903a/);
    rejects(() => openNote(portableSuite, SPEC_NOTE, []), 'BAD_SIGNATURE', /no known key signed it/);
    try {
      openNote(portableSuite, `${SPEC_TEXT}\n${SPEC_LINE}${unknownLine('x.example', SPEC_TEXT)}`, [verifier]);
      assert.fail('expected a rejection');
    } catch (error) {
      assert.ok(error instanceof SealtrailError);
      assert.equal((error.details.signedBy as string[]).length, 2);
      assert.match(error.message, /example\.com\/foo\+530d903a, x\.example\+[0-9a-f]{8}/);
    }
  });
});

describe('the golang.org/x/mod/sumdb/note vectors', () => {
  test('signing with the published key reproduces the published note exactly', () => {
    const expected = `${GO_TEXT}\n${PETER_LINE}`;
    for (const signer of [portableSigner(peterSeed), nodeSigner(privateKeyFromSeed(peterSeed))]) {
      assert.equal(formatVerifierKey(portableSuite, 'PeterNeumann', signer.publicKey), PETER_VKEY);
      assert.equal(signNote(portableSuite, GO_TEXT, [{ name: 'PeterNeumann', signer }]), expected);
      assert.equal(signNote(nodeSuite, GO_TEXT, [{ name: 'PeterNeumann', signer }]), expected);
    }
  });

  test('several signatures with two known keys: both are reported, in order', () => {
    const peter = parseVerifierKey(portableSuite, PETER_VKEY);
    const enoch = parseVerifierKey(portableSuite, ENOCH_VKEY);
    const unknown = unknownLine('third.example', GO_TEXT);
    const note = `${GO_TEXT}\n${PETER_LINE}${unknown}${ENOCH_LINE}`;
    for (const [, suite] of suites) {
      assert.deepEqual(openNote(suite, note, [enoch, peter]).verifiedBy, [peter, enoch]);
      assert.deepEqual(openNote(suite, note, [peter]).verifiedBy, [peter]);
      assert.deepEqual(openNote(suite, note, [enoch]).verifiedBy, [enoch]);
    }
    // Repeated signatures by one key are all checked, and the key is reported once.
    assert.deepEqual(openNote(portableSuite, `${GO_TEXT}\n${PETER_LINE}${PETER_LINE}`, [peter]).verifiedBy, [peter]);
  });

  test('a failing signature by a known key rejects the note even if another known key verifies', () => {
    const peter = parseVerifierKey(portableSuite, PETER_VKEY);
    const enoch = parseVerifierKey(portableSuite, ENOCH_VKEY);
    const note = `${GO_TEXT}\n${PETER_LINE}${flipSignatureBit(ENOCH_LINE, 40)}`;
    rejects(() => openNote(portableSuite, note, [peter, enoch]), 'BAD_SIGNATURE', /EnochRoot\+af0cfe78/);
    // Without Enoch's key, its bad signature is just an unknown one.
    assert.deepEqual(openNote(portableSuite, note, [peter]).verifiedBy, [peter]);
    // Also a repeat of a valid signature that was tampered with.
    rejects(
      () => openNote(portableSuite, `${GO_TEXT}\n${PETER_LINE}${flipSignatureBit(PETER_LINE, 10)}`, [peter]),
      'BAD_SIGNATURE',
    );
  });

  test('a signature of the wrong length by a known key is a bad signature', () => {
    const peter = parseVerifierKey(portableSuite, PETER_VKEY);
    const bytes = fromBase64(PETER_LINE.slice('— PeterNeumann '.length, -1));
    const short = `— PeterNeumann ${toBase64(bytes.slice(0, 67))}\n`;
    rejects(() => openNote(portableSuite, `${GO_TEXT}\n${short}`, [peter]), 'BAD_SIGNATURE', /does not verify/);
  });
});

describe('signing', () => {
  test('portableSigner and nodeSigner with the same seed give identical notes that both suites verify', () => {
    const text = 'sealtrail.example/ledger\n42\nline with ünïcödé and emoji 🎉\n\nafter a blank line\n';
    const portable = [
      { name: 'a.example/log', signer: portableSigner(seedA) },
      { name: 'b.example/witness', signer: portableSigner(seedB) },
    ];
    const node = [
      { name: 'a.example/log', signer: nodeSigner(privateKeyFromSeed(seedA)) },
      { name: 'b.example/witness', signer: nodeSigner(privateKeyFromSeed(seedB)) },
    ];
    const fromPortable = signNote(portableSuite, text, portable);
    const fromNode = signNote(nodeSuite, text, node);
    assert.equal(fromPortable, fromNode);
    const verifiers = portable.map(({ name, signer }) =>
      parseVerifierKey(portableSuite, formatVerifierKey(portableSuite, name, signer.publicKey)),
    );
    for (const [, suite] of suites) {
      const opened = openNote(suite, fromNode, verifiers);
      assert.equal(opened.text, text);
      assert.deepEqual(opened.verifiedBy, verifiers);
      const parsed = parseNote(fromNode);
      assert.equal(parsed.text, text);
      assert.deepEqual(
        parsed.signatures.map((s) => [s.name, s.keyId]),
        verifiers.map((v) => [v.name, v.keyId]),
      );
    }
  });

  test('round trip for arbitrary texts (property)', () => {
    const signer = portableSigner(seedA);
    const verifier: NoteVerifier = {
      name: 'prop.example',
      keyId: ed25519KeyId(portableSuite, 'prop.example', signer.publicKey),
      publicKey: signer.publicKey,
    };
    const line = fc
      .string({ unit: 'binary', maxLength: 20 })
      .map((s) => s.replace(/[\u0000-\u001f]/g, ''));
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 6 }), (lines) => {
        const text = lines.map((l) => `${l}\n`).join('');
        const note = signNote(portableSuite, text, [{ name: verifier.name, signer }]);
        const opened = openNote(portableSuite, note, [verifier]);
        assert.equal(opened.text, text);
        assert.equal(parseNote(note).text, text);
      }),
      { numRuns: 200 },
    );
  });

  test('rejects bad texts, names and signer lists', () => {
    const signer = portableSigner(seedA);
    const ok = [{ name: 'k.example', signer }];
    rejects(() => signNote(portableSuite, '', ok), 'MALFORMED', /empty/);
    rejects(() => signNote(portableSuite, 'no final newline', ok), 'MALFORMED', /newline/);
    rejects(() => signNote(portableSuite, 'tab\there\n', ok), 'MALFORMED', /U\+0009/);
    rejects(() => signNote(portableSuite, 'crlf\r\n', ok), 'MALFORMED', /U\+000D/);
    rejects(() => signNote(portableSuite, 'lone \ud800 surrogate\n', ok), 'MALFORMED', /surrogate/);
    for (const name of ['', 'a b', 'a+b', 'a\u00a0b', 'a\u2003b', 'a\u0085b', 'a\u0001b']) {
      rejects(() => signNote(portableSuite, 'text\n', [{ name, signer }]), 'MALFORMED', /key name/);
    }
    rejects(() => signNote(portableSuite, 'text\n', []), 'INVALID_ARGUMENT');
    rejects(() => signNote(portableSuite, 'text\n', [ok[0]!, ok[0]!]), 'INVALID_ARGUMENT', /twice/);
    const liar = { publicKey: portableSigner(seedB).publicKey, sign: signer.sign };
    rejects(() => signNote(portableSuite, 'text\n', [{ name: 'k', signer: liar }]), 'INVALID_ARGUMENT', /does not verify/);
    const tooMany = Array.from({ length: MAX_NOTE_SIGNATURES + 1 }, (_, i) => ({ name: `k${i}`, signer }));
    rejects(() => signNote(portableSuite, 'text\n', tooMany), 'INVALID_ARGUMENT');
  });

  test('a text consisting of blank lines round-trips', () => {
    const signer = portableSigner(seedA);
    const verifier = parseVerifierKey(portableSuite, formatVerifierKey(portableSuite, 'k', signer.publicKey));
    for (const text of ['\n', '\n\n', 'a\n\n', '\na\n']) {
      const note = signNote(portableSuite, text, [{ name: 'k', signer }]);
      assert.equal(openNote(portableSuite, note, [verifier]).text, text);
    }
  });
});

describe('malformed notes', () => {
  const peterSig = PETER_LINE;
  const cases: Array<[string, string, RegExp]> = [
    ['no blank line', `${GO_TEXT}${peterSig}`, /no blank line/],
    ['only a text', GO_TEXT, /no blank line/],
    ['nothing after the blank line', `${GO_TEXT}\n`, /no signature lines/],
    ['missing final newline', `${GO_TEXT}\n${peterSig.slice(0, -1)}`, /does not end with a newline/],
    ['signature line without em dash', `${GO_TEXT}\n${peterSig.replace('—', '-')}`, /em dash/],
    ['en dash instead of em dash', `${GO_TEXT}\n${peterSig.replace('—', '–')}`, /em dash/],
    ['no space after the em dash', `${GO_TEXT}\n${peterSig.replace('— ', '—')}`, /em dash/],
    ['no space before the signature', `${GO_TEXT}\n— PeterNeumann\n`, /no space/],
    ['empty key name', `${GO_TEXT}\n—  x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`, /key name/],
    ['key name with a no-break space', `${GO_TEXT}\n${peterSig.replace('Peter', 'Pe\u00a0ter')}`, /key name/],
    ['key name with a plus', `${GO_TEXT}\n${peterSig.replace('Peter', 'Pe+ter')}`, /key name/],
    ['two spaces (Bad Name)', `${GO_TEXT}\n${peterSig.replace('PeterNeumann', 'Bad Name')}`, /base64/],
    ['bad base64 character', `${GO_TEXT}\n${peterSig.replace('x08go/', 'x08go!')}`, /base64/],
    ['base64 without padding', `${GO_TEXT}\n${peterSig.replace('AM=', 'AM')}`, /base64/],
    ['base64 with a trailing space', `${GO_TEXT}\n${peterSig.replace('=\n', '= \n')}`, /base64/],
    ['empty signature', `${GO_TEXT}\n— PeterNeumann \n`, /0 bytes/],
    ['short signature (key ID only)', `${GO_TEXT}\n— PeterNeumann x08gow==\n`, /4 bytes/],
    ['text with a control character', `\u0001${GO_TEXT}\n${peterSig}`, /U\+0001/],
    ['text with a tab', `If\tyou\n\n${peterSig}`, /U\+0009/],
    ['text with a lone surrogate', `\udc00${GO_TEXT}\n${peterSig}`, /surrogate/],
    ['CRLF line endings', `${GO_TEXT.replaceAll('\n', '\r\n')}\r\n${peterSig.replace('\n', '\r\n')}`, /U\+000D/],
    ['a line after the signatures', `${GO_TEXT}\n${peterSig}Unexpected line.\n`, /em dash/],
    ['empty text (no blank line)', `\n${peterSig}`, /no blank line/],
    ['empty note', '', /no blank line/],
    ['more than 100 signatures', `${GO_TEXT}\n${peterSig.repeat(101)}`, /more than 100/],
  ];
  for (const [name, note, message] of cases) {
    test(name, () => {
      rejects(() => parseNote(note), 'MALFORMED', message);
      rejects(() => openNote(portableSuite, note, [parseVerifierKey(portableSuite, PETER_VKEY)]), 'MALFORMED', message);
    });
  }

  test('exactly 100 signatures are accepted', () => {
    const peter = parseVerifierKey(portableSuite, PETER_VKEY);
    const note = `${GO_TEXT}\n${PETER_LINE.repeat(MAX_NOTE_SIGNATURES)}`;
    assert.equal(parseNote(note).signatures.length, 100);
    assert.deepEqual(openNote(portableSuite, note, [peter]).verifiedBy, [peter]);
  });

  test('a DEL or C1 control character is allowed (the spec forbids only those below U+0020)', () => {
    const signer = portableSigner(seedA);
    const verifier = parseVerifierKey(portableSuite, formatVerifierKey(portableSuite, 'k', signer.publicKey));
    const text = 'del \u007f and c1 \u0085\n';
    assert.equal(openNote(portableSuite, signNote(portableSuite, text, [{ name: 'k', signer }]), [verifier]).text, text);
  });
});

describe('verifier keys', () => {
  test('format and parse round trip', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z0-9./_-]{1,40}$/),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (name, seed) => {
          const { publicKey } = portableSigner(seed);
          const text = formatVerifierKey(portableSuite, name, publicKey);
          const parsed = parseVerifierKey(nodeSuite, text);
          assert.equal(parsed.name, name);
          assert.deepEqual(parsed.publicKey, publicKey);
          assert.equal(parsed.keyId, ed25519KeyId(nodeSuite, name, publicKey));
          assert.match(text, /^[^+]+\+[0-9a-f]{8}\+/);
        },
      ),
      { numRuns: 50 },
    );
  });

  test('strict parsing, with precise messages', () => {
    const peterKey = fromBase64('ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW');
    const withId = (name: string, bytes: Uint8Array): string => {
      // The key ID computed over whatever bytes follow, so only the rule under test is broken.
      const id = portableSuite.sha256(concatBytes(utf8(name), new Uint8Array([0x0a]), bytes));
      return `${name}+${toHex(id.slice(0, 4))}+${toBase64(bytes)}`;
    };
    const cases: Array<[string, RegExp]> = [
      ['', /expected <name>\+<key ID>\+<base64 key>/],
      ['PeterNeumann', /expected/],
      ['PeterNeumann+c74f20a3', /expected/],
      ['+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW', /key name/],
      ['Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW', /key name/],
      ['PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW', /8 lowercase hex/],
      ['PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW', /8 lowercase hex/],
      ['PeterNeumann+c74f20a30+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW', /8 lowercase hex/],
      ['PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW', /does not match the key \(expected c74f20a3\)/],
      ['PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T', /base64/],
      ['PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW ', /base64/],
      ['PeterNeumann+c74f20a3+', /empty/],
      [withId('PeterNeumann', new Uint8Array([2, ...peterKey.slice(1)])), /unsupported signature type 0x02/],
      [withId('PeterNeumann', new Uint8Array([4, ...peterKey.slice(1)])), /unsupported signature type 0x04/],
      [withId('PeterNeumann', peterKey.slice(0, 32)), /32 bytes, this one is 31/],
      [withId('PeterNeumann', new Uint8Array([...peterKey, 0])), /32 bytes, this one is 33/],
    ];
    for (const [text, message] of cases) rejects(() => parseVerifierKey(portableSuite, text), 'MALFORMED', message);
  });

  test('every substring and every one-character mangling is rejected (as in the Go tests)', () => {
    const bytes = [...PETER_VKEY];
    for (let i = 0; i <= bytes.length; i++) {
      for (let j = i + 1; j <= bytes.length; j++) {
        if (i === 0 && j === bytes.length) continue;
        rejects(() => parseVerifierKey(portableSuite, bytes.slice(i, j).join('')), 'MALFORMED');
      }
    }
    for (let i = 0; i < bytes.length; i++) {
      const mangled = [...bytes];
      mangled[i] = String.fromCharCode(PETER_VKEY.charCodeAt(i) + 1);
      rejects(() => parseVerifierKey(portableSuite, mangled.join('')), 'MALFORMED');
    }
  });

  test('key names', () => {
    assert.ok(isValidKeyName('example.com/foo'));
    assert.ok(isValidKeyName('ünïcödé/ключ'));
    for (const bad of ['', 'a b', 'a+b', 'a\tb', 'a\u3000b', 'a\u2028b', 'a\u0000b', 'a\ud800']) {
      assert.equal(isValidKeyName(bad), false, JSON.stringify(bad));
    }
    rejects(() => ed25519KeyId(portableSuite, 'k', new Uint8Array(31)), 'INVALID_ARGUMENT');
    rejects(() => formatVerifierKey(portableSuite, 'a b', new Uint8Array(32)), 'MALFORMED');
  });

  test('openNote rejects inconsistent verifiers and tolerates identical duplicates', () => {
    const peter = parseVerifierKey(portableSuite, PETER_VKEY);
    rejects(() => openNote(portableSuite, SPEC_NOTE, [{ ...peter, keyId: peter.keyId ^ 1 }]), 'INVALID_ARGUMENT');
    rejects(() => openNote(portableSuite, SPEC_NOTE, [{ ...peter, publicKey: new Uint8Array(31) }]), 'INVALID_ARGUMENT');
    // Identical duplicates are harmless.
    assert.deepEqual(openNote(portableSuite, `${GO_TEXT}\n${PETER_LINE}`, [peter, { ...peter }]).verifiedBy, [peter]);
  });
});
