/**
 * C2SP transparency-log checkpoints (https://c2sp.org/tlog-checkpoint): a signed note whose text is
 *
 *     <origin>\n
 *     <tree size, decimal ASCII, no leading zeros ("0" for the empty tree)>\n
 *     <root hash, standard base64 of the 32-byte RFC 6962 SHA-256 root>\n
 *     [<extension line>\n]...
 *
 * In sealtrail the origin is `<deployment name>/<ledger>`, but parsing accepts any non-empty origin
 * (the spec forbids clients from assuming its shape). Tree sizes are JS numbers, so sizes above
 * 2^53 − 1 (Number.MAX_SAFE_INTEGER) are rejected rather than rounded.
 */
import { fromBase64, toBase64 } from './bytes.js';
import type { CryptoSuite } from './crypto.js';
import { fail } from './errors.js';
import { openNote, signNote, type NoteSigner, type NoteVerifier } from './note.js';

/** The tree head a checkpoint commits to. */
export type Checkpoint = {
  /** The log identity (non-empty, one line). In sealtrail, `<deployment name>/<ledger>`. */
  origin: string;
  /** The number of leaves, a safe integer in [0, 2^53 − 1]. */
  size: number;
  /** The 32-byte RFC 6962 Merkle tree root hash at `size`. */
  rootHash: Uint8Array;
  /** Opaque extension lines (each non-empty, without newline); usually empty. */
  extensions: string[];
};

const ROOT_HASH_LENGTH = 32;
const SIZE_PATTERN = /^(?:0|[1-9][0-9]*)$/;
/** ASCII control characters other than newline, or a lone surrogate (not encodable as UTF-8). */
const FORBIDDEN_CHAR = /[\u0000-\u0009\u000b-\u001f]|\p{Cs}/u;

/** Whether `line` can be one line of a checkpoint: non-empty, no newline, no other control character. */
function isValidLine(line: unknown): line is string {
  return typeof line === 'string' && line.length > 0 && !line.includes('\n') && !FORBIDDEN_CHAR.test(line);
}

/**
 * The checkpoint body (the note text to sign) for `cp`, in the exact canonical form
 * {@link parseCheckpoint} accepts, so `parseCheckpoint(formatCheckpoint(cp))` equals `cp`.
 *
 * @throws SealtrailError 'INVALID_ARGUMENT' if the origin or an extension line is empty or contains
 *   a newline, another control character or a lone surrogate, if the size is not a safe non-negative
 *   integer, or if the root hash is not 32 bytes.
 */
export function formatCheckpoint(cp: Checkpoint): string {
  if (!isValidLine(cp.origin)) {
    fail('INVALID_ARGUMENT', 'checkpoint origin must be a non-empty line without control characters', {
      path: 'origin',
    });
  }
  if (!Number.isSafeInteger(cp.size) || cp.size < 0) {
    fail('INVALID_ARGUMENT', 'checkpoint size must be an integer in [0, 2^53 - 1]', { path: 'size' });
  }
  if (!(cp.rootHash instanceof Uint8Array) || cp.rootHash.length !== ROOT_HASH_LENGTH) {
    fail('INVALID_ARGUMENT', 'checkpoint root hash must be 32 bytes', { path: 'rootHash' });
  }
  if (!Array.isArray(cp.extensions)) fail('INVALID_ARGUMENT', 'checkpoint extensions must be an array', { path: 'extensions' });
  cp.extensions.forEach((line, i) => {
    if (!isValidLine(line)) {
      fail('INVALID_ARGUMENT', `checkpoint extension line ${i} must be a non-empty line without control characters`, {
        path: `extensions/${i}`,
      });
    }
  });
  const lines = [cp.origin, String(cp.size), toBase64(cp.rootHash), ...cp.extensions];
  return lines.map((line) => `${line}\n`).join('');
}

/**
 * Parses a checkpoint body strictly and canonically: every line ends with a newline (including the
 * last), no line is empty, no control character other than newline and no lone surrogate, at least
 * the origin, size and root hash lines; the size is decimal digits with no sign and no leading zero
 * (except "0" itself) and at most 2^53 − 1; the root hash is canonical padded standard base64 of
 * exactly 32 bytes. Any further lines are returned as extensions.
 *
 * @throws SealtrailError 'MALFORMED' naming the rule broken.
 */
export function parseCheckpoint(body: string): Checkpoint {
  if (typeof body !== 'string') fail('MALFORMED', 'checkpoint: expected a string');
  const bad = FORBIDDEN_CHAR.exec(body);
  if (bad) {
    fail('MALFORMED', `checkpoint: forbidden character at offset ${bad.index} (control character or lone surrogate)`, {
      offset: bad.index,
    });
  }
  if (!body.endsWith('\n')) fail('MALFORMED', 'checkpoint: the last line does not end with a newline');
  const lines = body.slice(0, -1).split('\n');
  if (lines.length < 3) {
    fail('MALFORMED', `checkpoint: expected at least 3 lines (origin, size, root hash), got ${lines.length}`);
  }
  const empty = lines.indexOf('');
  if (empty >= 0) fail('MALFORMED', `checkpoint: line ${empty + 1} is empty`, { line: empty + 1 });
  const [origin, sizeText, hashText, ...extensions] = lines as [string, string, string, ...string[]];
  if (!SIZE_PATTERN.test(sizeText)) {
    fail('MALFORMED', `checkpoint: the tree size ${JSON.stringify(sizeText)} is not decimal digits without sign or leading zeros`);
  }
  // 2^53 - 1 has 16 digits; checking the length first keeps Number() exact for what it compares.
  const size = sizeText.length > 16 ? Number.POSITIVE_INFINITY : Number(sizeText);
  if (!Number.isSafeInteger(size)) {
    fail('MALFORMED', `checkpoint: the tree size ${sizeText} exceeds 2^53 - 1, the largest this implementation supports`);
  }
  let rootHash: Uint8Array;
  try {
    rootHash = fromBase64(hashText);
  } catch (cause) {
    fail('MALFORMED', `checkpoint: the root hash is not canonical standard base64 (${(cause as Error).message})`);
  }
  if (rootHash.length !== ROOT_HASH_LENGTH) {
    fail('MALFORMED', `checkpoint: the root hash is ${rootHash.length} bytes, not 32`);
  }
  return { origin, size, rootHash, extensions };
}

/**
 * Formats `cp` and signs it as a note (see {@link signNote}). The spec recommends that the log's key
 * name match the origin; that is left to the caller.
 *
 * @throws SealtrailError as {@link formatCheckpoint} and {@link signNote}.
 */
export function signCheckpoint(suite: CryptoSuite, cp: Checkpoint, signers: readonly NoteSigner[]): string {
  return signNote(suite, formatCheckpoint(cp), signers);
}

/**
 * Verifies a checkpoint note against trusted keys (see {@link openNote}), then parses its text. With
 * `expectedOrigin`, a checkpoint for another origin is rejected with 'BAD_SIGNATURE': the note is
 * authentic, but not a signature over a tree head of the expected log (for instance a checkpoint of
 * another ledger signed by the same key), so it must not be accepted as one.
 *
 * @throws SealtrailError 'MALFORMED' for a malformed note or checkpoint body; 'BAD_SIGNATURE' for a
 *   failing or missing known signature or, with `details.expected` and `details.actual`, an origin
 *   other than `expectedOrigin`; 'INVALID_ARGUMENT' as {@link openNote}.
 */
export function openCheckpoint(
  suite: CryptoSuite,
  note: string,
  verifiers: readonly NoteVerifier[],
  expectedOrigin?: string,
): { checkpoint: Checkpoint; verifiedBy: NoteVerifier[] } {
  const { text, verifiedBy } = openNote(suite, note, verifiers);
  const checkpoint = parseCheckpoint(text);
  if (expectedOrigin !== undefined && checkpoint.origin !== expectedOrigin) {
    fail(
      'BAD_SIGNATURE',
      `checkpoint: signed for origin ${JSON.stringify(checkpoint.origin)}, expected ${JSON.stringify(expectedOrigin)}`,
      { expected: expectedOrigin, actual: checkpoint.origin },
    );
  }
  return { checkpoint, verifiedBy };
}
