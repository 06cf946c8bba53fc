/**
 * Offline verification of an evidence bundle against a pinned verifier key. Pure: no I/O, no trust in
 * anything the bundle says about itself. Trust flows only from the pinned key: it must have signed
 * checkpoint.txt (for this ledger's origin) and every auditor checkpoint; every event must be proven in
 * checkpoint.txt's tree and every disclosure must open its commitment. The manifest is unsigned: it is
 * checked for consistency with what the files prove (digests, counts, sizes, ledger, withheld fields),
 * so that a changed or swapped file is reported where it is, but its query and export time remain the
 * exporter's statements.
 *
 * Every problem found is reported, not only the first, each naming the file, the line, the event index,
 * the field or the proof concerned. Files are read one at a time through BundleFiles, so memory stays
 * bounded by the largest file.
 */
import { bytesEqual, fromBase64, fromUtf8, toBase64, toHex } from '../bytes.js';
import { openCheckpoint, parseCheckpoint, type Checkpoint } from '../checkpoint.js';
import { eventFromDisclosures, type Disclosures } from '../commitments.js';
import { portableSuite, type CryptoSuite } from '../crypto.js';
import { SealtrailError } from '../errors.js';
import { decodeLeaf, LEDGER_NAME, verifyDisclosures, type LeafEnvelope } from '../leaf.js';
import { formatVerifierKey, parseNote, parseVerifierKey, type NoteVerifier } from '../note.js';
import { parseMicros } from '../time.js';
import { emptyRoot, hashLeaf, verifyConsistency, verifyInclusion } from '../tree.js';
import {
  auditorCheckpointName,
  auditorProofName,
  BUNDLE_FORMAT,
  CHECKPOINT_FILE,
  eventFileName,
  FORGETTING_CHECKPOINT_FILE,
  FORGETTING_RECORD_FIELDS,
  FORGETTING_RECORDS_FILE,
  SUPPORTED_BUNDLE_VERSIONS,
  isWithheld,
  isWithholdSpec,
  MANIFEST_FILE,
  MAX_AUDITOR_CHECKPOINTS,
  normalizeWithheld,
  README_FILE,
  readmeStatements,
  relationOf,
  VERIFIER_KEY_FILE,
  type BundleManifest,
  type CheckpointRelation,
  type Redaction,
} from './format.js';
import { ExpectationCheck, type BundleExpectations } from './expect.js';
import { ForgetAuthorisations, grantOf, SYSTEM_LEDGER } from '../forgetting.js';
import { DEFAULT_ZIP_LIMITS, filesFromMap, openZip, type BundleFiles, type ZipLimits } from './zip.js';

export type BundleProblemKind =
  | 'archive'
  | 'manifest'
  | 'missing file'
  | 'unexpected file'
  | 'digest'
  | 'verifier key'
  | 'checkpoint'
  | 'auditor checkpoint'
  | 'consistency proof'
  | 'event'
  | 'leaf'
  | 'inclusion proof'
  | 'disclosure'
  | 'withheld'
  | 'order'
  | 'duplicate'
  | 'count'
  | 'expectation'
  | 'forgetting record'
  | 'redaction';

/** One thing wrong with a bundle, located as precisely as the check allows. */
export interface BundleProblem {
  kind: BundleProblemKind;
  /** The full sentence, starting with the location. */
  message: string;
  file?: string;
  /** 1-based line in an events part. */
  line?: number;
  /** Leaf index of the event concerned. */
  index?: number;
  /** Field path concerned. */
  field?: string;
  /** Auditor checkpoint number (K of auditor/checkpoint-K.txt). */
  auditor?: number;
}

export interface VerifiedBundleEvent {
  index: number;
  receivedAt: string;
  writer: string;
  /** The event as far as disclosed. */
  event: Record<string, unknown>;
  /** Committed paths without a disclosure because the exporter withheld them. */
  withheld: string[];
  redactions: Record<string, Redaction>;
}

export interface BundleReport {
  ok: boolean;
  /** At most `maxProblems`; `omittedProblems` counts the rest. */
  problems: BundleProblem[];
  omittedProblems: number;
  /** The manifest as parsed (present if it could be parsed at all, even if it is wrong). */
  manifest?: BundleManifest;
  /** The bundle checkpoint, if its signature verified. */
  checkpoint?: Checkpoint;
  /** Events whose leaf, proof and disclosures all verified. */
  verifiedEvents: number;
  /** Auditor checkpoints whose signature and consistency proof verified: size and relation. */
  consistentWith: Array<{ size: number; relation: CheckpointRelation }>;
  verifierKey: string;
}

export interface VerifyBundleInput {
  /** The archive's files: a zip archive's bytes, a map of name → bytes, or a reader. */
  files: Uint8Array | BundleFiles | ReadonlyMap<string, Uint8Array> | Readonly<Record<string, Uint8Array>>;
  /** The pinned verifier key (a string `name+keyid+base64`, or parsed). */
  verifierKey: string | NoteVerifier;
  /**
   * Checkpoint notes the auditor holds and requires the bundle to be consistent with: each must be
   * among the bundle's auditor checkpoints (same size and root) or be the bundle checkpoint itself.
   */
  requiredCheckpoints?: readonly string[];
  suite?: CryptoSuite;
  maxProblems?: number;
  /** Called for every event that verified, in order (for display; nothing is kept otherwise). */
  onEvent?: (event: VerifiedBundleEvent) => void;
  /** What the auditor expects the bundle to hold (expect.ts); a bundle that differs is invalid. */
  expect?: BundleExpectations;
  /** How much of a hostile archive is read (defaults: DEFAULT_BUNDLE_LIMITS). */
  limits?: Partial<BundleLimits>;
}

/** Bounds on what verifying reads, so that a small hostile archive cannot exhaust memory or time. */
export interface BundleLimits extends ZipLimits {
  /** Characters of one event line; a line of an event at the 16 KiB event limit is well under 100 KiB. */
  maxLineChars: number;
  /** Lines of one events part; sealtrail writes 1,000. */
  maxLinesPerPart: number;
}

export const DEFAULT_BUNDLE_LIMITS: Readonly<BundleLimits> = { ...DEFAULT_ZIP_LIMITS, maxLineChars: 1024 * 1024, maxLinesPerPart: 100_000 };

function moreLinesThan(text: string, max: number): boolean {
  let newlines = 0;
  for (let at = text.indexOf('\n'); at !== -1 && at < text.length - 1; at = text.indexOf('\n', at + 1)) {
    if (++newlines >= max) return true;
  }
  return false;
}

/** The lines of an events part, as `split` would give them after dropping one final newline, without building the array. */
function* linesOf(text: string): Generator<string> {
  if (text.length === 0) return;
  const end = text.endsWith('\n') ? text.length - 1 : text.length;
  let start = 0;
  for (;;) {
    const newline = text.indexOf('\n', start);
    if (newline === -1 || newline >= end) {
      yield text.slice(start, end);
      return;
    }
    yield text.slice(start, newline);
    start = newline + 1;
  }
}

class Problems {
  readonly list: BundleProblem[] = [];
  omitted = 0;
  constructor(private readonly max: number) {}
  add(problem: BundleProblem): void {
    if (this.list.length < this.max) this.list.push(problem);
    else this.omitted++;
  }
  get count(): number {
    return this.list.length + this.omitted;
  }
}

const reasonOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause));
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

function sameMembers(value: Record<string, unknown>, required: string[], optional: string[] = []): string | undefined {
  const allowed = new Set([...required, ...optional]);
  const missing = required.filter((key) => !Object.hasOwn(value, key));
  if (missing.length > 0) return `missing ${missing.join(', ')}`;
  const extra = Object.keys(value).filter((key) => !allowed.has(key));
  if (extra.length > 0) return `unexpected ${extra.join(', ')}`;
  return undefined;
}

/** Strict structural check of the manifest; returns the first rule broken. */
function checkManifestShape(m: unknown): string | undefined {
  if (!isObject(m)) return 'not a JSON object';
  if (!SUPPORTED_BUNDLE_VERSIONS.includes(m.version as number)) return `version ${JSON.stringify(m.version)} is not supported (only ${SUPPORTED_BUNDLE_VERSIONS.join(', ')})`;
  const v1 = ['format', 'version', 'ledger', 'origin', 'query', 'exported_at', 'checkpoint', 'verifier_key_file', 'withheld', 'counts', 'events', 'auditor_checkpoints', 'files'];
  const members = sameMembers(m, m.version === 1 ? v1 : [...v1, 'forgetting']);
  if (members) return members;
  if (m.format !== BUNDLE_FORMAT) return `format is ${JSON.stringify(m.format)}, not ${BUNDLE_FORMAT}`;
  const f = m.forgetting;
  if (
    f !== undefined &&
    f !== null &&
    (!isObject(f) ||
      sameMembers(f, ['checkpoint_file', 'records_file', 'size', 'root_hash', 'records']) ||
      f.checkpoint_file !== FORGETTING_CHECKPOINT_FILE ||
      f.records_file !== FORGETTING_RECORDS_FILE ||
      !isCount(f.size) ||
      typeof f.root_hash !== 'string' ||
      !isCount(f.records))
  ) {
    return `forgetting must be null or {"checkpoint_file":"${FORGETTING_CHECKPOINT_FILE}","records_file":"${FORGETTING_RECORDS_FILE}","size","root_hash","records"}`;
  }
  if (typeof m.ledger !== 'string' || !LEDGER_NAME.test(m.ledger)) return 'ledger is not a ledger name';
  if (typeof m.origin !== 'string') return 'origin is not a string';
  if (typeof m.query !== 'string') return 'query is not a string';
  if (typeof m.exported_at !== 'string') return 'exported_at is not a string';
  try {
    parseMicros(m.exported_at);
  } catch {
    return `exported_at ${JSON.stringify(m.exported_at)} is not a timestamp`;
  }
  const cp = m.checkpoint;
  if (!isObject(cp) || sameMembers(cp, ['file', 'size', 'root_hash']) || cp.file !== CHECKPOINT_FILE || !isCount(cp.size) || typeof cp.root_hash !== 'string') {
    return `checkpoint must be {"file":"${CHECKPOINT_FILE}","size","root_hash"}`;
  }
  if (m.verifier_key_file !== VERIFIER_KEY_FILE) return `verifier_key_file must be ${VERIFIER_KEY_FILE}`;
  if (!Array.isArray(m.withheld) || !m.withheld.every((w) => typeof w === 'string')) return 'withheld is not a list of strings';
  const counts = m.counts;
  if (!isObject(counts) || sameMembers(counts, ['events', 'event_files', 'auditor_checkpoints', 'redacted_fields']) || !Object.values(counts).every(isCount)) {
    return 'counts must be {"events","event_files","auditor_checkpoints","redacted_fields"} of whole numbers';
  }
  if (!Array.isArray(m.events) || !m.events.every((e) => isObject(e) && !sameMembers(e, ['file', 'count', 'first_index', 'last_index']) && typeof e.file === 'string' && isCount(e.count) && isCount(e.first_index) && isCount(e.last_index))) {
    return 'events must be a list of {"file","count","first_index","last_index"}';
  }
  if (
    !Array.isArray(m.auditor_checkpoints) ||
    !m.auditor_checkpoints.every((a) => isObject(a) && !sameMembers(a, ['checkpoint_file', 'proof_file', 'size', 'relation']) && typeof a.checkpoint_file === 'string' && typeof a.proof_file === 'string' && isCount(a.size) && ['older', 'same', 'newer'].includes(a.relation as string))
  ) {
    return 'auditor_checkpoints must be a list of {"checkpoint_file","proof_file","size","relation"}';
  }
  if (m.auditor_checkpoints.length > MAX_AUDITOR_CHECKPOINTS) return `more than ${MAX_AUDITOR_CHECKPOINTS} auditor checkpoints`;
  if (!Array.isArray(m.files) || !m.files.every((f) => isObject(f) && !sameMembers(f, ['name', 'bytes', 'sha256']) && typeof f.name === 'string' && isCount(f.bytes) && typeof f.sha256 === 'string' && /^[0-9a-f]{64}$/.test(f.sha256))) {
    return 'files must be a list of {"name","bytes","sha256" (64 lowercase hex digits)}';
  }
  return undefined;
}

function toFiles(files: VerifyBundleInput['files'], limits: ZipLimits): BundleFiles {
  // Tag checks rather than instanceof: bytes or maps made in another realm (a worker, an iframe) count too.
  if (Object.prototype.toString.call(files) === '[object Uint8Array]') return openZip(files as Uint8Array, limits);
  if (typeof (files as BundleFiles).read === 'function' && typeof (files as BundleFiles).names === 'function') return files as BundleFiles;
  return filesFromMap(files as ReadonlyMap<string, Uint8Array>);
}

/** Verifies a whole bundle. Never throws for a bad bundle: everything wrong is in the report. */
export function verifyBundle(input: VerifyBundleInput): BundleReport {
  const suite = input.suite ?? portableSuite;
  const problems = new Problems(input.maxProblems ?? 100);
  const limits: BundleLimits = { ...DEFAULT_BUNDLE_LIMITS, ...input.limits };
  // Before anything is read: a mistaken expectation is the caller's error (thrown), not the bundle's.
  const expectations = input.expect ? new ExpectationCheck(input.expect, (problem) => problems.add(problem)) : undefined;
  const verifier = typeof input.verifierKey === 'string' ? parseVerifierKey(suite, input.verifierKey) : input.verifierKey;
  const verifierKey = formatVerifierKey(suite, verifier.name, verifier.publicKey);
  const report = (extra: Partial<BundleReport> = {}): BundleReport => ({
    ok: problems.count === 0,
    problems: problems.list,
    omittedProblems: problems.omitted,
    verifiedEvents: 0,
    consistentWith: [],
    verifierKey,
    ...extra,
  });

  let files: BundleFiles;
  let names: string[];
  try {
    files = toFiles(input.files, limits);
    names = files.names();
  } catch (cause) {
    problems.add({ kind: 'archive', message: `archive: ${reasonOf(cause)}` });
    return report();
  }

  // --- manifest -------------------------------------------------------------------------------
  if (!names.includes(MANIFEST_FILE)) {
    problems.add({ kind: 'missing file', file: MANIFEST_FILE, message: `${MANIFEST_FILE}: missing; nothing else can be checked without it` });
    return report();
  }
  let manifest: BundleManifest;
  try {
    const parsed: unknown = JSON.parse(fromUtf8(files.read(MANIFEST_FILE)));
    const broken = checkManifestShape(parsed);
    if (broken) {
      problems.add({ kind: 'manifest', file: MANIFEST_FILE, message: `${MANIFEST_FILE}: ${broken}` });
      return report();
    }
    manifest = parsed as BundleManifest;
  } catch (cause) {
    problems.add({ kind: 'manifest', file: MANIFEST_FILE, message: `${MANIFEST_FILE}: not UTF-8 JSON (${reasonOf(cause)})` });
    return report();
  }
  const manifestProblem = (message: string): void => problems.add({ kind: 'manifest', file: MANIFEST_FILE, message: `${MANIFEST_FILE}: ${message}` });

  // --- the file list: exactly the expected files, each with its digest ------------------------------
  const expected = new Set<string>([README_FILE, VERIFIER_KEY_FILE, CHECKPOINT_FILE]);
  manifest.events.forEach((part, n) => {
    if (part.file !== eventFileName(n)) manifestProblem(`events[${n}] is ${JSON.stringify(part.file)}, expected ${eventFileName(n)}`);
    expected.add(eventFileName(n));
  });
  manifest.auditor_checkpoints.forEach((a, k) => {
    if (a.checkpoint_file !== auditorCheckpointName(k) || a.proof_file !== auditorProofName(k)) {
      manifestProblem(`auditor_checkpoints[${k}] must name ${auditorCheckpointName(k)} and ${auditorProofName(k)}`);
    }
    expected.add(auditorCheckpointName(k));
    expected.add(auditorProofName(k));
  });
  if (manifest.forgetting) {
    expected.add(FORGETTING_CHECKPOINT_FILE);
    expected.add(FORGETTING_RECORDS_FILE);
  }
  const digests = new Map<string, { bytes: number; sha256: string }>();
  for (const entry of manifest.files) {
    if (digests.has(entry.name)) manifestProblem(`files lists ${entry.name} twice`);
    digests.set(entry.name, entry);
    if (!expected.has(entry.name)) {
      problems.add({ kind: 'unexpected file', file: entry.name, message: `${MANIFEST_FILE}: files lists ${entry.name}, which is not part of a bundle of this shape` });
    }
  }
  const present = new Set(names);
  for (const name of names) {
    if (name !== MANIFEST_FILE && !expected.has(name)) {
      problems.add({ kind: 'unexpected file', file: name, message: `${name}: unexpected file in the archive (not part of the bundle's layout)` });
    }
  }
  for (const name of expected) {
    if (!present.has(name)) problems.add({ kind: 'missing file', file: name, message: `${name}: missing from the archive` });
    else if (!digests.has(name)) manifestProblem(`files has no digest for ${name}`);
  }
  /** A file's bytes after checking its digest, or undefined (with a problem recorded) if unusable. */
  const readChecked = (name: string): Uint8Array | undefined => {
    if (!present.has(name)) return undefined;
    let bytes: Uint8Array;
    try {
      bytes = files.read(name);
    } catch (cause) {
      problems.add({ kind: 'archive', file: name, message: `${name}: ${reasonOf(cause)}` });
      return undefined;
    }
    const listed = digests.get(name);
    if (listed) {
      const actual = toHex(suite.sha256(bytes));
      if (actual !== listed.sha256 || bytes.length !== listed.bytes) {
        problems.add({
          kind: 'digest',
          file: name,
          message: `${name}: SHA-256 ${actual} (${bytes.length} bytes) differs from the manifest's ${listed.sha256} (${listed.bytes} bytes)`,
        });
      }
    }
    return bytes;
  };
  const readText = (name: string): string | undefined => {
    const bytes = readChecked(name);
    if (bytes === undefined) return undefined;
    try {
      return fromUtf8(bytes);
    } catch {
      problems.add({ kind: 'archive', file: name, message: `${name}: not valid UTF-8` });
      return undefined;
    }
  };

  // The README states what was exported; it must agree with the manifest (see readmeStatements).
  const readme = readText(README_FILE);
  if (readme !== undefined) {
    const stated = readmeStatements(readme);
    if (typeof stated === 'string') {
      problems.add({ kind: 'manifest', file: README_FILE, message: `${README_FILE}: ${stated}` });
    } else {
      const differ = (label: string, said: unknown, listed: unknown) => {
        if (JSON.stringify(said) !== JSON.stringify(listed)) {
          problems.add({ kind: 'manifest', file: MANIFEST_FILE, message: `${MANIFEST_FILE}: ${label} is ${JSON.stringify(listed)}, but ${README_FILE} states ${JSON.stringify(said)}` });
        }
      };
      differ('ledger', stated.ledger, manifest.ledger);
      differ('origin', stated.origin, manifest.origin);
      differ('query', stated.query, manifest.query);
      differ('exported_at', stated.exportedAt, manifest.exported_at);
      differ('checkpoint.size', stated.checkpointSize, manifest.checkpoint.size);
      differ('withheld', stated.withheld, manifest.withheld);
    }
  }

  // --- the verifier key written in the bundle must be the pinned one ------------------------------
  const keyText = readText(VERIFIER_KEY_FILE);
  if (keyText !== undefined && keyText !== `${verifierKey}\n`) {
    problems.add({
      kind: 'verifier key',
      file: VERIFIER_KEY_FILE,
      message: `${VERIFIER_KEY_FILE}: the bundle names the key ${JSON.stringify(keyText.trim())}, but the pinned key is ${verifierKey}`,
    });
  }

  // --- the bundle checkpoint -----------------------------------------------------------------------
  const origin = `${verifier.name}/${manifest.ledger}`;
  if (manifest.origin !== origin) manifestProblem(`origin is ${JSON.stringify(manifest.origin)}, but ledger ${manifest.ledger} under the pinned key is ${origin}`);
  let checkpoint: Checkpoint | undefined;
  const checkpointNote = readText(CHECKPOINT_FILE);
  if (checkpointNote !== undefined) {
    try {
      checkpoint = openCheckpoint(suite, checkpointNote, [verifier], origin).checkpoint;
    } catch (cause) {
      problems.add({ kind: 'checkpoint', file: CHECKPOINT_FILE, message: `${CHECKPOINT_FILE}: ${reasonOf(cause)}` });
    }
  }
  if (checkpoint) {
    if (manifest.checkpoint.size !== checkpoint.size) manifestProblem(`checkpoint.size is ${manifest.checkpoint.size}, the signed checkpoint's is ${checkpoint.size}`);
    if (manifest.checkpoint.root_hash !== toBase64(checkpoint.rootHash)) manifestProblem(`checkpoint.root_hash differs from the signed checkpoint's root`);
  }

  // --- auditor checkpoints and their consistency proofs ---------------------------------------------
  const consistentWith: BundleReport['consistentWith'] = [];
  const auditorHeads: Checkpoint[] = [];
  manifest.auditor_checkpoints.forEach((claimed, k) => {
    const name = auditorCheckpointName(k);
    const proofName = auditorProofName(k);
    const note = readText(name);
    const proofText = readText(proofName);
    if (note === undefined || proofText === undefined) return;
    let head: Checkpoint;
    try {
      head = openCheckpoint(suite, note, [verifier], origin).checkpoint;
    } catch (cause) {
      problems.add({ kind: 'auditor checkpoint', file: name, auditor: k, message: `${name}: ${reasonOf(cause)}` });
      return;
    }
    auditorHeads.push(head);
    if (claimed.size !== head.size) manifestProblem(`auditor_checkpoints[${k}].size is ${claimed.size}, ${name} has size ${head.size}`);
    if (!checkpoint) return;
    const relation = relationOf(head.size, checkpoint.size);
    if (claimed.relation !== relation) manifestProblem(`auditor_checkpoints[${k}].relation is ${claimed.relation}, but sizes ${head.size} and ${checkpoint.size} make it ${relation}`);
    const at = `${proofName} (size ${head.size} ${relation === 'newer' ? '←' : '→'} ${checkpoint.size})`;
    try {
      const proof: unknown = JSON.parse(proofText);
      if (!isObject(proof) || sameMembers(proof, ['from', 'to', 'hashes']) || !Array.isArray(proof.hashes) || !proof.hashes.every((h) => typeof h === 'string')) {
        throw new SealtrailError('MALFORMED', 'expected {"from","to","hashes":[base64…]}');
      }
      const [older, newer] = head.size <= checkpoint.size ? [head, checkpoint] : [checkpoint, head];
      if (proof.from !== older.size || proof.to !== newer.size) {
        throw new SealtrailError('MALFORMED', `the proof is from ${String(proof.from)} to ${String(proof.to)}, expected ${older.size} to ${newer.size}`);
      }
      const hashes = (proof.hashes as string[]).map((h) => fromBase64(h));
      if (older.size === 0) {
        // Every tree extends the empty one; what remains to check is that the old head really is empty.
        if (hashes.length !== 0) throw new SealtrailError('INVALID_PROOF', 'a proof from the empty tree must be empty');
        if (!bytesEqual(older.rootHash, emptyRoot(suite))) throw new SealtrailError('INVALID_PROOF', 'a checkpoint of size 0 must have the empty root');
      } else {
        verifyConsistency(suite, older.size, newer.size, hashes, older.rootHash, newer.rootHash);
      }
      consistentWith.push({ size: head.size, relation });
    } catch (cause) {
      problems.add({ kind: 'consistency proof', file: proofName, auditor: k, message: `${at}: ${reasonOf(cause)}` });
    }
  });

  for (const [i, note] of (input.requiredCheckpoints ?? []).entries()) {
    let required: Checkpoint;
    try {
      required = openCheckpoint(suite, note, [verifier], origin).checkpoint;
    } catch (cause) {
      problems.add({ kind: 'auditor checkpoint', message: `required checkpoint ${i + 1}: ${reasonOf(cause)}` });
      continue;
    }
    const same = (c: Checkpoint) => c.size === required.size && bytesEqual(c.rootHash, required.rootHash);
    if (!(checkpoint && same(checkpoint)) && !auditorHeads.some(same)) {
      problems.add({ kind: 'auditor checkpoint', message: `required checkpoint ${i + 1} (size ${required.size}): the bundle proves nothing about it (it is not among its auditor checkpoints)` });
    }
  }

  // --- withheld fields -------------------------------------------------------------------------------
  for (const spec of manifest.withheld) {
    if (!isWithholdSpec(spec)) manifestProblem(`withheld lists ${JSON.stringify(spec)}, which is not a field path or group`);
  }
  if (normalizeWithheld(manifest.withheld).join('\n') !== manifest.withheld.join('\n')) manifestProblem('withheld must be sorted and without duplicates');
  const withheld = new Set(manifest.withheld);

  // --- forgetting records: the authority for each redaction ---------------------------------------------
  const authorisations = verifyForgettingRecords(suite, verifier, manifest, readText, problems, limits);

  // --- events --------------------------------------------------------------------------------------
  let verifiedEvents = 0;
  let totalEvents = 0;
  let redactedFields = 0;
  let previous = -1;
  manifest.events.forEach((part, n) => {
    const name = eventFileName(n);
    const text = readText(name);
    if (text === undefined) return;
    if (text.length > 0 && !text.endsWith('\n')) {
      problems.add({ kind: 'event', file: name, message: `${name}: the last line does not end with a newline (truncated?)` });
    }
    let first: number | undefined;
    let last: number | undefined;
    // Bounded before parsing: a part of millions of empty lines, or one line of megabytes, is refused here.
    if (moreLinesThan(text, limits.maxLinesPerPart)) {
      problems.add({ kind: 'event', file: name, message: `${name}: more than ${limits.maxLinesPerPart} lines; the file was not read` });
      return;
    }
    let line = 0;
    for (const lineText of linesOf(text)) {
      line++;
      totalEvents++;
      if (lineText.length > limits.maxLineChars) {
        problems.add({ kind: 'event', file: name, line, message: `${name} line ${line}: ${lineText.length} characters, more than the ${limits.maxLineChars} an event line may have` });
        continue;
      }
      const outcome = verifyEventLine(suite, lineText, {
        file: name,
        line,
        ledger: manifest.ledger,
        checkpoint,
        withheld,
        problems,
        previous,
        authorisations,
        version: manifest.version,
      });
      if (outcome.index !== undefined) {
        first ??= outcome.index;
        last = outcome.index;
        if (outcome.index > previous) previous = outcome.index;
      }
      redactedFields += outcome.redacted;
      if (outcome.verified) {
        verifiedEvents++;
        expectations?.see(outcome.verified);
        input.onEvent?.(outcome.verified);
      }
    }
    if (line !== part.count) {
      problems.add({ kind: 'count', file: name, message: `${name}: ${line} events, the manifest says ${part.count}` });
    }
    if (first !== undefined && (first !== part.first_index || last !== part.last_index)) {
      problems.add({ kind: 'count', file: name, message: `${name}: events ${first}…${String(last)}, the manifest says ${part.first_index}…${part.last_index}` });
    }
  });
  const counts = manifest.counts;
  if (counts.events !== totalEvents) problems.add({ kind: 'count', file: MANIFEST_FILE, message: `${MANIFEST_FILE}: counts.events is ${counts.events}, the bundle holds ${totalEvents} events` });
  if (counts.event_files !== manifest.events.length) manifestProblem(`counts.event_files is ${counts.event_files}, events lists ${manifest.events.length}`);
  if (counts.auditor_checkpoints !== manifest.auditor_checkpoints.length) manifestProblem(`counts.auditor_checkpoints is ${counts.auditor_checkpoints}, auditor_checkpoints lists ${manifest.auditor_checkpoints.length}`);
  if (counts.redacted_fields !== redactedFields) manifestProblem(`counts.redacted_fields is ${counts.redacted_fields}, the events record ${redactedFields}`);

  expectations?.finish(manifest.withheld);

  return report({ manifest, ...(checkpoint ? { checkpoint } : {}), verifiedEvents, consistentWith });
}

interface LineContext {
  file: string;
  line: number;
  ledger: string;
  checkpoint: Checkpoint | undefined;
  withheld: ReadonlySet<string>;
  problems: Problems;
  /** Index of the previous event (−1 before the first). */
  previous: number;
  /** The forgetting records that verified; every redaction must be named by one. */
  authorisations: ForgetAuthorisations;
  version: number;
}

/**
 * Checks forgetting/checkpoint.txt (signed by the pinned key, for the system ledger) and each record in
 * forgetting/records.jsonl (leaf, proof, disclosed grant); returns the grants of those that verified.
 */
function verifyForgettingRecords(
  suite: CryptoSuite,
  verifier: NoteVerifier,
  manifest: BundleManifest,
  readText: (name: string) => string | undefined,
  problems: Problems,
  limits: BundleLimits,
): ForgetAuthorisations {
  const authorisations = new ForgetAuthorisations();
  const listed = manifest.forgetting;
  if (!listed) return authorisations;
  const note = readText(FORGETTING_CHECKPOINT_FILE);
  const text = readText(FORGETTING_RECORDS_FILE);
  if (note === undefined || text === undefined) return authorisations;
  let checkpoint: Checkpoint;
  try {
    checkpoint = openCheckpoint(suite, note, [verifier], `${verifier.name}/${SYSTEM_LEDGER}`).checkpoint;
  } catch (cause) {
    problems.add({ kind: 'checkpoint', file: FORGETTING_CHECKPOINT_FILE, message: `${FORGETTING_CHECKPOINT_FILE}: ${reasonOf(cause)}` });
    return authorisations;
  }
  const manifestProblem = (message: string) => problems.add({ kind: 'manifest', file: MANIFEST_FILE, message: `${MANIFEST_FILE}: ${message}` });
  if (listed.size !== checkpoint.size || listed.root_hash !== toBase64(checkpoint.rootHash)) manifestProblem('forgetting.size and root_hash differ from the signed system checkpoint');
  // The same bounds as an events part: the file is as hostile as the rest of the archive.
  if (moreLinesThan(text, limits.maxLinesPerPart)) {
    problems.add({ kind: 'forgetting record', file: FORGETTING_RECORDS_FILE, message: `${FORGETTING_RECORDS_FILE}: more than ${limits.maxLinesPerPart} lines; the file was not read` });
    return authorisations;
  }
  let line = 0;
  let previous = -1;
  for (const lineText of linesOf(text)) {
    line++;
    const where = `${FORGETTING_RECORDS_FILE} line ${line}`;
    if (lineText.length > limits.maxLineChars) {
      problems.add({ kind: 'forgetting record', file: FORGETTING_RECORDS_FILE, line, message: `${where}: ${lineText.length} characters, more than the ${limits.maxLineChars} a line may have` });
      continue;
    }
    const add = (message: string, index?: number) =>
      problems.add({ kind: 'forgetting record', file: FORGETTING_RECORDS_FILE, line, ...(index !== undefined ? { index } : {}), message: `${where}${index !== undefined ? ` (record ${index})` : ''}: ${message}` });
    try {
      const value: unknown = JSON.parse(lineText);
      if (!isObject(value) || sameMembers(value, ['index', 'leaf', 'disclosures', 'inclusion_proof'])) throw new SealtrailError('MALFORMED', 'not a record line {"index","leaf","disclosures","inclusion_proof"}');
      const { index, leaf, disclosures, inclusion_proof: proof } = value;
      if (!isCount(index) || typeof leaf !== 'string' || !isObject(disclosures) || !Array.isArray(proof) || !proof.every((h) => typeof h === 'string')) {
        throw new SealtrailError('MALFORMED', 'index, leaf, disclosures or inclusion_proof has the wrong type');
      }
      try {
        const leafBytes = fromBase64(leaf);
        const envelope = decodeLeaf(leafBytes);
        if (envelope.ledger !== SYSTEM_LEDGER || envelope.index !== index) throw new SealtrailError('MALFORMED', `the leaf is entry ${envelope.index} of ${envelope.ledger}`);
        verifyInclusion(suite, index, checkpoint.size, hashLeaf(suite, leafBytes), proof.map((h: string) => fromBase64(h)), checkpoint.rootHash);
        for (const path of Object.keys(disclosures)) {
          if (!FORGETTING_RECORD_FIELDS.includes(path)) throw new SealtrailError('MALFORMED', `discloses ${path}, which a record line does not carry`);
        }
        verifyDisclosures(suite, envelope, disclosures as Disclosures);
        const grant = grantOf(envelope.writer, envelope.commitments, disclosures as Disclosures);
        if (!grant) throw new SealtrailError('MALFORMED', 'not a forgetting record written by the server');
        if (index <= previous) throw new SealtrailError('MALFORMED', `records must come in increasing index order (${index} after ${previous})`);
        previous = index;
        authorisations.add(grant, { record: index, legacy: grant.legacy === true, sealedAtMicros: parseMicros(envelope.received_at) });
      } catch (cause) {
        add(reasonOf(cause), index);
      }
    } catch (cause) {
      add(reasonOf(cause));
    }
  }
  if (line !== listed.records) problems.add({ kind: 'count', file: FORGETTING_RECORDS_FILE, message: `${FORGETTING_RECORDS_FILE}: ${line} records, the manifest says ${listed.records}` });
  return authorisations;
}

/** Checks one line; records its problems; returns what later lines need. */
function verifyEventLine(
  suite: CryptoSuite,
  text: string,
  ctx: LineContext,
): { index?: number; verified?: VerifiedBundleEvent; redacted: number } {
  const before = ctx.problems.count;
  let where = `${ctx.file} line ${ctx.line}`;
  const add = (kind: BundleProblemKind, message: string, extra: Partial<BundleProblem> = {}) =>
    ctx.problems.add({ kind, file: ctx.file, line: ctx.line, message: `${where}${extra.field ? `, field ${extra.field}` : ''}: ${message}`, ...extra });

  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    add('event', `not JSON (${reasonOf(cause)})`);
    return { redacted: 0 };
  }
  const members = isObject(value) ? sameMembers(value, ['index', 'leaf', 'disclosures', 'inclusion_proof'], ['redactions']) : 'not an object';
  if (members || !isObject(value)) {
    add('event', `not an event line (${members})`);
    return { redacted: 0 };
  }
  const { index, leaf, disclosures, inclusion_proof: proof, redactions = {} } = value;
  if (!isCount(index)) {
    add('event', 'index is not a whole number');
    return { redacted: 0 };
  }
  where = `${ctx.file} line ${ctx.line} (event ${index})`;
  const at = { index };
  if (index === ctx.previous) add('duplicate', `event ${index} appears twice in a row`, at);
  else if (index < ctx.previous) add('order', `event ${index} comes after event ${ctx.previous}: events must be in increasing index order (reordered or repeated)`, at);

  if (typeof leaf !== 'string' || !isObject(disclosures) || !Array.isArray(proof) || !proof.every((h) => typeof h === 'string') || !isObject(redactions)) {
    add('event', 'leaf must be a base64 string, disclosures an object, inclusion_proof a list of base64 strings, redactions an object', at);
    return { index, redacted: 0 };
  }
  let leafBytes: Uint8Array;
  let envelope: LeafEnvelope;
  try {
    leafBytes = fromBase64(leaf);
    envelope = decodeLeaf(leafBytes);
  } catch (cause) {
    add('leaf', reasonOf(cause), at);
    return { index, redacted: 0 };
  }
  if (envelope.index !== index) add('leaf', `the leaf is entry ${envelope.index}, not ${index}`, at);
  if (envelope.ledger !== ctx.ledger) add('leaf', `the leaf belongs to ledger ${envelope.ledger}, not ${ctx.ledger}`, at);

  if (ctx.checkpoint) {
    try {
      verifyInclusion(suite, index, ctx.checkpoint.size, hashLeaf(suite, leafBytes), proof.map((h: string) => fromBase64(h)), ctx.checkpoint.rootHash);
    } catch (cause) {
      add('inclusion proof', `inclusion proof in the tree of size ${ctx.checkpoint.size}: ${reasonOf(cause)}`, at);
    }
  }

  // Each disclosure on its own, so that every bad field is named, not only the first.
  const opened: Disclosures = {};
  for (const [path, disclosure] of Object.entries(disclosures)) {
    try {
      verifyDisclosures(suite, envelope, { [path]: disclosure as [string, unknown] });
      opened[path] = disclosure as [string, unknown];
    } catch (cause) {
      add('disclosure', reasonOf(cause).replace(`${path}: `, ''), { ...at, field: path });
    }
    if (isWithheld(path, ctx.withheld)) add('withheld', 'disclosed, but the manifest lists it as withheld', { ...at, field: path });
  }
  const redacted: Record<string, Redaction> = {};
  for (const [path, why] of Object.entries(redactions)) {
    if (why !== 'erased' && why !== 'purged') add('event', `redaction must be "erased" or "purged", not ${JSON.stringify(why)}`, { ...at, field: path });
    else if (!Object.hasOwn(envelope.commitments, path)) add('event', 'listed as redacted, but the leaf has no commitment for it', { ...at, field: path });
    else if (Object.hasOwn(disclosures, path)) add('event', 'listed as redacted, but disclosed', { ...at, field: path });
    else {
      redacted[path] = why;
      if (ctx.authorisations.find(ctx.ledger, index, path, why, parseMicros(envelope.received_at))) continue;
      add(
        'redaction',
        ctx.version === 1
          ? `recorded as ${why}, but a version 1 bundle carries no forgetting records: nothing shows the removal was authorised (export it again)`
          : `recorded as ${why}, but no forgetting record in the bundle authorises it (an unexplained removal)`,
        { ...at, field: path },
      );
    }
  }
  const withheldPaths: string[] = [];
  for (const path of Object.keys(envelope.commitments)) {
    if (Object.hasOwn(disclosures, path) || Object.hasOwn(redacted, path)) continue;
    if (isWithheld(path, ctx.withheld)) withheldPaths.push(path);
    else add('withheld', 'committed in the leaf but not disclosed, although neither withheld nor redacted', { ...at, field: path });
  }
  const redactedCount = Object.keys(redactions).length;
  // Without a verified checkpoint nothing proves the event is in the ledger (that failure is reported once).
  if (ctx.problems.count !== before || !ctx.checkpoint) return { index, redacted: redactedCount };
  return {
    index,
    redacted: redactedCount,
    verified: {
      index,
      receivedAt: envelope.received_at,
      writer: envelope.writer,
      event: eventFromDisclosures(opened),
      withheld: withheldPaths,
      redactions: redacted,
    },
  };
}

/** Parses a checkpoint note's size without verifying it (for messages and the CLI's summary). */
export function checkpointSizeOf(note: string): number {
  return parseCheckpoint(parseNote(note).text).size;
}
