/**
 * Writes an evidence bundle as a stream of zip bytes. Pure (no I/O, browser-capable): the caller
 * supplies the signed checkpoint, the consistency proofs and the events with their inclusion proofs,
 * and consumes the chunks as they come (an HTTP response, a file). Memory stays bounded by one events
 * part: events are consumed one at a time, each part is compressed and emitted as soon as it is full,
 * and manifest.json, which needs every digest and count, is written last (a zip's directory is at its
 * end, so file order inside the archive does not matter to readers).
 */
import { Zip, ZipDeflate } from 'fflate';
import { toBase64, toHex, utf8 } from '../bytes.js';
import { parseCheckpoint } from '../checkpoint.js';
import type { Disclosures } from '../commitments.js';
import type { CryptoSuite } from '../crypto.js';
import { fail } from '../errors.js';
import { parseNote } from '../note.js';
import { decodeLeaf } from '../leaf.js';
import { parseMicros } from '../time.js';
import {
  auditorCheckpointName,
  auditorProofName,
  BUNDLE_FORMAT,
  BUNDLE_VERSION,
  bundleReadme,
  CHECKPOINT_FILE,
  DEFAULT_EVENTS_PER_FILE,
  eventFileName,
  FORGETTING_CHECKPOINT_FILE,
  FORGETTING_RECORD_FIELDS,
  FORGETTING_RECORDS_FILE,
  isWithheld,
  isWithholdSpec,
  MANIFEST_FILE,
  normalizeWithheld,
  README_FILE,
  relationOf,
  VERIFIER_KEY_FILE,
  type BundleConsistencyProof,
  type BundleEventLine,
  type BundleManifest,
  type BundleRecordLine,
  type ManifestForgetting,
  type ManifestAuditorCheckpoint,
  type ManifestEventFile,
  type ManifestFile,
  type Redaction,
} from './format.js';

export interface BundleEventInput {
  index: number;
  leaf: Uint8Array;
  /** Every disclosure the store holds; withheld paths are dropped here, not by the caller. */
  disclosures: Disclosures;
  /** Audit path of the leaf in the bundle checkpoint's tree. */
  inclusionProof: Uint8Array[];
  /** Fields erased or purged in the store (they have no disclosure). */
  redactions?: Record<string, Redaction> | undefined;
}

/** A system-ledger forgetting record, with its inclusion proof in the forgetting checkpoint's tree. */
export interface BundleRecordInput {
  index: number;
  leaf: Uint8Array;
  disclosures: Disclosures;
  inclusionProof: Uint8Array[];
}

/**
 * Where the writer finds the forgetting records that authorise the events' redactions (the server reads
 * them from the system ledger). Records are asked for once, after the last event, by index.
 */
export interface BundleForgetting {
  /** The system-ledger index of a record authorising removal of `path` of entry `index` for `reason`. */
  recordFor(index: number, path: string, reason: Redaction, receivedAtMicros: number): Promise<number | undefined>;
  /** The system ledger's signed checkpoint, and those records with their proofs in its tree. */
  records(indexes: number[]): Promise<{ checkpoint: string; records: BundleRecordInput[] }>;
}

export interface AuditorCheckpointInput {
  /** The signed note as the requester supplied it. */
  note: string;
  /** Consistency proof between the smaller and the larger of its size and the bundle checkpoint's. */
  proof: Uint8Array[];
}

export interface WriteBundleInput {
  suite: CryptoSuite;
  ledger: string;
  query: string;
  /** `YYYY-MM-DDTHH:MM:SS.ffffffZ`. */
  exportedAt: string;
  verifierKey: string;
  /** The signed note all inclusion proofs are against. */
  checkpoint: string;
  withhold: readonly string[];
  auditorCheckpoints: readonly AuditorCheckpointInput[];
  /** The selected events in strictly increasing index order, each below the checkpoint's size. */
  events: AsyncIterable<BundleEventInput> | Iterable<BundleEventInput>;
  eventsPerFile?: number;
  /** Needed when events have redactions: without their records the bundle cannot verify. */
  forgetting?: BundleForgetting;
  /** Deflate level 0–9 (default 6). */
  level?: number;
}

/** Summary of what was written, available once the stream has ended. */
export interface WrittenBundle {
  manifest: BundleManifest;
}

const sha256Hex = (suite: CryptoSuite, bytes: Uint8Array): string => toHex(suite.sha256(bytes));

/**
 * Yields the bytes of the zip archive. `onDone` receives the manifest after the last chunk. Throws
 * INVALID_ARGUMENT for inputs that would make a bundle no verifier accepts (events out of order or
 * beyond the checkpoint, an unknown withhold path), before or while writing.
 */
export async function* writeBundle(input: WriteBundleInput, onDone?: (written: WrittenBundle) => void): AsyncGenerator<Uint8Array> {
  const { suite } = input;
  const checkpoint = parseCheckpoint(parseNote(input.checkpoint).text);
  const origin = checkpoint.origin;
  if (!origin.endsWith(`/${input.ledger}`)) fail('INVALID_ARGUMENT', `checkpoint origin ${origin} is not of ledger ${input.ledger}`);
  for (const spec of input.withhold) {
    if (!isWithholdSpec(spec)) fail('INVALID_ARGUMENT', `cannot withhold ${JSON.stringify(spec)}: not a field path or group`, { path: spec });
  }
  const withheld = normalizeWithheld(input.withhold);
  const withheldSet = new Set(withheld);
  const perFile = input.eventsPerFile ?? DEFAULT_EVENTS_PER_FILE;
  // The zip timestamps are the export time, so that the archive says when it was made and nothing else.
  const mtime = new Date(input.exportedAt.slice(0, 23) + 'Z');

  const pending: Uint8Array[] = [];
  let zipError: Error | null = null;
  const zip = new Zip((error, chunk) => {
    if (error) zipError = error;
    else pending.push(chunk);
  });
  const zipEntry = (name: string): ZipDeflate => {
    const entry = new ZipDeflate(name, { level: (input.level ?? 6) as 6 });
    entry.mtime = mtime;
    return entry;
  };
  const files: ManifestFile[] = [];
  const addFile = (name: string, bytes: Uint8Array): void => {
    files.push({ name, bytes: bytes.length, sha256: sha256Hex(suite, bytes) });
    const file = zipEntry(name);
    zip.add(file);
    file.push(bytes, true);
    if (zipError) throw zipError;
  };
  const drain = function* (): Generator<Uint8Array> {
    while (pending.length > 0) yield pending.shift() as Uint8Array;
  };

  addFile(
    README_FILE,
    utf8(bundleReadme({ ledger: input.ledger, origin, query: input.query, exportedAt: input.exportedAt, checkpointSize: checkpoint.size, withheld, verifierKey: input.verifierKey })),
  );
  addFile(VERIFIER_KEY_FILE, utf8(`${input.verifierKey}\n`));
  addFile(CHECKPOINT_FILE, utf8(input.checkpoint));
  const auditor: ManifestAuditorCheckpoint[] = [];
  input.auditorCheckpoints.forEach((supplied, k) => {
    const size = parseCheckpoint(parseNote(supplied.note).text).size;
    const proof: BundleConsistencyProof = {
      from: Math.min(size, checkpoint.size),
      to: Math.max(size, checkpoint.size),
      hashes: supplied.proof.map(toBase64),
    };
    addFile(auditorCheckpointName(k), utf8(supplied.note));
    addFile(auditorProofName(k), utf8(`${JSON.stringify(proof)}\n`));
    auditor.push({ checkpoint_file: auditorCheckpointName(k), proof_file: auditorProofName(k), size, relation: relationOf(size, checkpoint.size) });
  });
  yield* drain();

  const eventFiles: ManifestEventFile[] = [];
  let lines: string[] = [];
  let first = -1;
  let last = -1;
  let total = 0;
  let redactedFields = 0;
  const neededRecords = new Set<number>();
  const flushPart = (): void => {
    if (lines.length === 0) return;
    const name = eventFileName(eventFiles.length);
    addFile(name, utf8(lines.join('')));
    eventFiles.push({ file: name, count: lines.length, first_index: first, last_index: last });
    lines = [];
  };
  for await (const event of input.events) {
    if (!Number.isSafeInteger(event.index) || event.index < 0 || event.index >= checkpoint.size) {
      fail('INVALID_ARGUMENT', `event ${event.index} is not below the checkpoint size ${checkpoint.size}`);
    }
    if (event.index <= last) fail('INVALID_ARGUMENT', `events must come in increasing index order: ${event.index} after ${last}`);
    const disclosures: Record<string, [string, unknown]> = {};
    for (const [path, disclosure] of Object.entries(event.disclosures)) {
      if (!isWithheld(path, withheldSet)) disclosures[path] = disclosure;
    }
    const line: BundleEventLine = {
      index: event.index,
      leaf: toBase64(event.leaf),
      disclosures,
      inclusion_proof: event.inclusionProof.map(toBase64),
    };
    // A field that is both withheld and erased is recorded as erased: that is the stronger statement.
    const redactions = event.redactions && Object.keys(event.redactions).length > 0 ? event.redactions : undefined;
    if (redactions) {
      line.redactions = redactions;
      redactedFields += Object.keys(redactions).length;
      for (const [path, reason] of Object.entries(redactions)) {
        const record = await input.forgetting?.recordFor(event.index, path, reason, parseMicros(decodeLeaf(event.leaf).received_at));
        if (record !== undefined) neededRecords.add(record);
      }
    }
    if (lines.length === 0) first = event.index;
    last = event.index;
    lines.push(`${JSON.stringify(line)}\n`);
    total++;
    if (lines.length >= perFile) {
      flushPart();
      yield* drain();
    }
  }
  flushPart();
  const forgetting = neededRecords.size > 0 ? await addForgetting(input.forgetting!, [...neededRecords].sort((a, b) => a - b), addFile) : null;
  yield* drain();

  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    ledger: input.ledger,
    origin,
    query: input.query,
    exported_at: input.exportedAt,
    checkpoint: { file: CHECKPOINT_FILE, size: checkpoint.size, root_hash: toBase64(checkpoint.rootHash) },
    verifier_key_file: VERIFIER_KEY_FILE,
    withheld,
    counts: { events: total, event_files: eventFiles.length, auditor_checkpoints: auditor.length, redacted_fields: redactedFields },
    events: eventFiles,
    auditor_checkpoints: auditor,
    forgetting,
    files: [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  };
  const manifestFile = zipEntry(MANIFEST_FILE);
  zip.add(manifestFile);
  manifestFile.push(utf8(`${JSON.stringify(manifest, null, 2)}\n`), true);
  zip.end();
  if (zipError) throw zipError;
  yield* drain();
  onDone?.({ manifest });
}

/** Writes forgetting/checkpoint.txt and forgetting/records.jsonl; returns their manifest entry. */
async function addForgetting(
  source: BundleForgetting,
  indexes: number[],
  addFile: (name: string, bytes: Uint8Array) => void,
): Promise<ManifestForgetting> {
  const { checkpoint: note, records } = await source.records(indexes);
  const checkpoint = parseCheckpoint(parseNote(note).text);
  const lines = [...records]
    .sort((a, b) => a.index - b.index)
    .map((record) => {
      if (record.index >= checkpoint.size) fail('INVALID_ARGUMENT', `forgetting record ${record.index} is not below the system checkpoint size ${checkpoint.size}`);
      const disclosures = Object.fromEntries(FORGETTING_RECORD_FIELDS.filter((path) => Object.hasOwn(record.disclosures, path)).map((path) => [path, record.disclosures[path]!]));
      const line: BundleRecordLine = { index: record.index, leaf: toBase64(record.leaf), disclosures, inclusion_proof: record.inclusionProof.map(toBase64) };
      return `${JSON.stringify(line)}\n`;
    });
  addFile(FORGETTING_CHECKPOINT_FILE, utf8(note));
  addFile(FORGETTING_RECORDS_FILE, utf8(lines.join('')));
  return {
    checkpoint_file: FORGETTING_CHECKPOINT_FILE,
    records_file: FORGETTING_RECORDS_FILE,
    size: checkpoint.size,
    root_hash: toBase64(checkpoint.rootHash),
    records: lines.length,
  };
}
