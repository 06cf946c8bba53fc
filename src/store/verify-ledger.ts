/**
 * Full verification of a stored ledger, trusting nothing in the store: every leaf is re-derived from its
 * row and disclosures, the whole tree is rebuilt, every stored tree hash and checkpoint is compared with
 * the rebuilt tree, and every checkpoint signature is checked against the verifier key the caller
 * trusts. Checkpoints the caller saved earlier (outside the server) additionally catch a rollback or a
 * cut-off tail, which a store cannot reveal about itself.
 */
import { bytesEqual, toBase64 } from '../core/bytes.js';
import { openCheckpoint, type Checkpoint } from '../core/checkpoint.js';
import type { CryptoSuite } from '../core/crypto.js';
import { SealtrailError } from '../core/errors.js';
import { decodeLeaf, verifyDisclosures, type LeafEnvelope } from '../core/leaf.js';
import { checkRedactionsAuthorised, ForgetAuthorisations, grantOf, SYSTEM_LEDGER } from '../core/forgetting.js';
import type { NoteVerifier } from '../core/note.js';
import { parseMicros } from '../core/time.js';
import { Frontier, hashLeaf, type StoredHash, type TileNodes } from '../core/tree.js';
import type { Store, StoredCheckpoint, StoredEntry } from './store.js';

export interface LedgerVerification {
  ledger: string;
  entries: number;
  checkpoints: number;
  externalCheckpoints: number;
  rootHash: string;
  /** Fields recorded as erased or purged, each authorised by a sealed forgetting record. */
  redactedFields: number;
  /** Of those, fields whose authority is the one-time attestation made when the store was upgraded. */
  legacyRedactedFields: number;
}

export interface VerifyLedgerOptions {
  suite: CryptoSuite;
  verifiers: NoteVerifier[];
  /** Signed checkpoints kept outside the store; those whose origin is this ledger's are checked. */
  external?: string[];
  onProgress?: (done: number, total: number) => void;
  /**
   * The forgetting records accepted so far. Verifying the system ledger adds its records; every other
   * ledger's redactions are checked against them, so verify the system ledger first and pass the same
   * object on. Absent: a fresh, empty set (only the system ledger's own records can then authorise).
   */
  forgetting?: ForgetAuthorisations;
}

function broken(ledger: string, message: string, details: Record<string, unknown> = {}): never {
  throw new SealtrailError('VERIFICATION_FAILED', `${ledger}: ${message}`, { ledger, ...details });
}

export async function verifyStoredLedger(store: Store, ledger: string, options: VerifyLedgerOptions): Promise<LedgerVerification> {
  const { suite } = options;
  const expectedOrigins = new Set(options.verifiers.map((v) => `${v.name}/${ledger}`));
  const stored = await store.checkpoints(ledger);
  const checkpoints = stored.map((row) => {
    let checkpoint: Checkpoint;
    try {
      checkpoint = openCheckpoint(suite, row.note, options.verifiers).checkpoint;
    } catch (cause) {
      broken(ledger, `checkpoint of size ${row.size}: ${(cause as Error).message}`, { checkpoint: row.size });
    }
    if (!expectedOrigins.has(checkpoint.origin)) {
      broken(ledger, `checkpoint of size ${row.size} is for origin ${checkpoint.origin}`, { checkpoint: row.size });
    }
    if (checkpoint.size !== row.size || !bytesEqual(checkpoint.rootHash, row.rootHash)) {
      broken(ledger, `checkpoint row of size ${row.size} does not match its signed note`, { checkpoint: row.size });
    }
    return checkpoint;
  });
  const external = openExternal(ledger, options, expectedOrigins);
  const targets = new Map<number, Array<{ checkpoint: Checkpoint; label: string }>>();
  const expect = (checkpoint: Checkpoint, label: string) => {
    const list = targets.get(checkpoint.size) ?? [];
    list.push({ checkpoint, label });
    targets.set(checkpoint.size, list);
  };
  for (const checkpoint of checkpoints) expect(checkpoint, `stored checkpoint of size ${checkpoint.size}`);
  for (const checkpoint of external) expect(checkpoint, `saved checkpoint of size ${checkpoint.size}`);

  const latest = checkpoints.at(-1)?.size ?? 0;
  const rows = new Map(stored.map((row) => [row.size, row]));
  const frontier = new Frontier();
  const treeHashes: StoredHash[] = [];
  const tiles: TileNodes[] = [];
  let lastReceivedAt = 0;
  const forgetting = options.forgetting ?? new ForgetAuthorisations();
  const redactions = new RedactionCheck(ledger, forgetting);
  checkRoots(ledger, suite, frontier, targets);
  // From the lowest possible index, so that rows planted below 0 are caught as well.
  for await (const entry of store.entries(ledger, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)) {
    const index = frontier.size;
    if (entry.index !== index) broken(ledger, `entry ${index} is missing (next stored entry is ${entry.index})`, { index });
    let envelope;
    try {
      envelope = decodeLeaf(entry.leaf);
      if (envelope.index !== index) throw new SealtrailError('MALFORMED', `its leaf says index ${envelope.index}`);
      if (envelope.ledger !== ledger) throw new SealtrailError('MALFORMED', `its leaf says ledger ${envelope.ledger}`);
      if (parseMicros(envelope.received_at) !== entry.receivedAtMicros) throw new SealtrailError('MALFORMED', 'received_at differs from its leaf');
      if (entry.receivedAtMicros < lastReceivedAt) throw new SealtrailError('MALFORMED', 'received_at goes backwards');
      verifyDisclosures(suite, envelope, entry.disclosures);
      checkAccounted(envelope.commitments, entry);
      redactions.entry(envelope, entry);
    } catch (cause) {
      const field = cause instanceof SealtrailError ? cause.details.path : undefined;
      broken(ledger, `entry ${index}${field ? `, field ${String(field)}` : ''}: ${(cause as Error).message}`, { index, field });
    }
    const leafHash = hashLeaf(suite, entry.leaf);
    if (!bytesEqual(leafHash, entry.leafHash)) broken(ledger, `entry ${index}: stored leaf hash is not the hash of its leaf`, { index });
    // The entries of one batch share their received_at and every batch ends with a checkpoint, so where
    // the time changes a checkpoint must be stored (two batches sealed in the same microsecond excepted).
    if (index > 0 && entry.receivedAtMicros !== lastReceivedAt && !rows.has(index)) {
      broken(ledger, `no checkpoint is stored at size ${index}, where a batch ended (received_at changes): a checkpoint was deleted`, { checkpoint: index });
    }
    lastReceivedAt = entry.receivedAtMicros;
    treeHashes.push(...frontier.append(suite, leafHash, tiles));
    if (tiles.length >= TILES_PER_COMPARISON) await compareTileNodes(store, ledger, tiles.splice(0));
    checkRoots(ledger, suite, frontier, targets);
    const row = rows.get(frontier.size);
    if (row) checkUnsignedColumns(ledger, row, frontier, lastReceivedAt);
    if (options.onProgress && frontier.size % 10_000 === 0) options.onProgress(frontier.size, latest);
  }
  const count = frontier.size;
  if (count < latest) broken(ledger, `the latest checkpoint covers ${latest} entries but only ${count} are stored (tail cut off)`, { index: count });
  if (count > latest) broken(ledger, `${count - latest} entries after index ${latest - 1} are not covered by any checkpoint`, { index: latest });
  for (const [size, list] of targets) {
    if (size > count) {
      broken(ledger, `${list[0]!.label} is ahead of the stored ledger (${count} entries): the store was rolled back or cut`, { checkpoint: size });
    }
  }
  await compareTreeHashes(store, ledger, treeHashes);
  await compareTileNodes(store, ledger, tiles);
  redactions.finish();
  options.onProgress?.(count, latest);
  return {
    ledger,
    entries: count,
    checkpoints: checkpoints.length,
    externalCheckpoints: external.length,
    rootHash: toBase64(frontier.root(suite)),
    redactedFields: redactions.fields,
    legacyRedactedFields: redactions.legacyFields,
  };
}

/**
 * Every redaction must be named by a sealed forgetting record (src/core/forgetting.ts). The system
 * ledger's verified entries supply the records; its own redactions may be authorised by records later
 * in it, so they are checked once the whole ledger is read. Other ledgers' are checked as they come.
 */
class RedactionCheck {
  fields = 0;
  legacyFields = 0;
  private readonly deferred: StoredEntry[] = [];

  constructor(
    private readonly ledger: string,
    private readonly forgetting: ForgetAuthorisations,
  ) {}

  /** Called for an entry whose leaf, disclosures and accounting have verified. */
  entry(envelope: LeafEnvelope, entry: StoredEntry): void {
    if (this.ledger === SYSTEM_LEDGER) {
      const grant = grantOf(envelope.writer, envelope.commitments, entry.disclosures);
      if (grant) this.forgetting.add(grant, { record: entry.index, legacy: grant.legacy === true, sealedAtMicros: entry.receivedAtMicros });
    }
    if (!entry.redactions) return;
    if (this.ledger === SYSTEM_LEDGER) this.deferred.push(entry);
    else this.check(entry);
  }

  finish(): void {
    for (const entry of this.deferred) {
      try {
        this.check(entry);
      } catch (cause) {
        const field = cause instanceof SealtrailError ? cause.details.path : undefined;
        broken(this.ledger, `entry ${entry.index}${field ? `, field ${String(field)}` : ''}: ${(cause as Error).message}`, { index: entry.index, field });
      }
    }
  }

  private check(entry: StoredEntry): void {
    this.legacyFields += checkRedactionsAuthorised(this.forgetting, this.ledger, entry);
    this.fields += Object.keys(entry.redactions ?? {}).length;
  }
}

/**
 * Verifies the system ledger first, when the store has one, so that its forgetting records can
 * authorise `ledger`'s redactions; then `ledger`. Returns `ledger`'s result.
 */
export async function verifyWithSystemLedger(store: Store, ledger: string, options: VerifyLedgerOptions): Promise<LedgerVerification> {
  const forgetting = options.forgetting ?? new ForgetAuthorisations();
  if (ledger !== SYSTEM_LEDGER && (await store.getLedger(SYSTEM_LEDGER))) {
    const { onProgress: _unused, ...rest } = options;
    await verifyStoredLedger(store, SYSTEM_LEDGER, { ...rest, forgetting });
  }
  return verifyStoredLedger(store, ledger, { ...options, forgetting });
}

/**
 * The parts of a checkpoint row that its signature does not cover but the server relies on: the
 * frontier it resumes appending from and the time that keeps received_at from going backwards.
 */
function checkUnsignedColumns(ledger: string, row: StoredCheckpoint, frontier: Frontier, lastReceivedAt: number): void {
  if (!bytesEqual(row.frontier, frontier.toBytes())) {
    broken(ledger, `checkpoint row of size ${row.size} holds a frontier that does not match the entries`, { checkpoint: row.size });
  }
  if (row.createdAtMicros !== lastReceivedAt) {
    broken(ledger, `checkpoint row of size ${row.size} is dated differently from the last entry it covers`, { checkpoint: row.size });
  }
}

function openExternal(ledger: string, options: VerifyLedgerOptions, origins: Set<string>): Checkpoint[] {
  const result: Checkpoint[] = [];
  for (const note of options.external ?? []) {
    let checkpoint: Checkpoint;
    try {
      checkpoint = openCheckpoint(options.suite, note, options.verifiers).checkpoint;
    } catch (cause) {
      broken(ledger, `a saved checkpoint does not verify: ${(cause as Error).message}`);
    }
    if (origins.has(checkpoint.origin)) result.push(checkpoint);
  }
  return result;
}

function checkRoots(ledger: string, suite: CryptoSuite, frontier: Frontier, targets: Map<number, Array<{ checkpoint: Checkpoint; label: string }>>) {
  const list = targets.get(frontier.size);
  if (!list) return;
  const root = frontier.root(suite);
  for (const { checkpoint, label } of list) {
    if (!bytesEqual(root, checkpoint.rootHash)) {
      broken(ledger, `${label} does not match the entries before it: history differs from what was signed`, { checkpoint: checkpoint.size });
    }
  }
  targets.delete(frontier.size);
}

/** Tile levels a tree of up to 2^53 leaves can have (8 bits a level). */
const MAX_TILE_LEVEL = 7;

async function compareTreeHashes(store: Store, ledger: string, expected: StoredHash[]): Promise<void> {
  const byLevel = new Map<number, StoredHash[]>();
  for (let level = 1; level <= MAX_TILE_LEVEL; level++) byLevel.set(level, []);
  for (const h of expected) byLevel.get(h.level)!.push(h);
  for (const [level, hashes] of byLevel) {
    // Read every index, below 0 and past the expected end too, so that planted rows are caught.
    const [stored] = await store.readHashes(ledger, [{ level, start: Number.MIN_SAFE_INTEGER, end: Number.MAX_SAFE_INTEGER }]);
    hashes.forEach((h, i) => {
      if (!stored?.[i] || !bytesEqual(stored[i]!, h.hash)) {
        broken(ledger, `stored tree hash at level ${level}, index ${h.index} does not match the entries`, { level, treeIndex: h.index });
      }
    });
    if ((stored?.length ?? 0) !== hashes.length) broken(ledger, `level ${level} has extra stored tree hashes`, { level });
  }
}

/** Tiles compared per read: their nodes are held until then (8 KiB each). */
const TILES_PER_COMPARISON = 64;

/**
 * Stored interior nodes of full tiles must be those the entries give. A tile not stored is no damage
 * (proofs compute and store it); a wrong one would make every proof through it fail to verify.
 */
async function compareTileNodes(store: Store, ledger: string, expected: readonly TileNodes[]): Promise<void> {
  if (expected.length === 0) return;
  const stored = await store.readTileNodes(ledger, expected);
  expected.forEach(({ level, tile, nodes }, i) => {
    const found = stored[i];
    if (found !== undefined && !bytesEqual(found, nodes)) {
      broken(ledger, `stored interior nodes of tile ${tile} at level ${level} do not match the entries`, { level, tile });
    }
  });
}

/**
 * Every committed field is either still disclosed or recorded as forgotten (erased or purged), and a
 * recorded field is really gone: a value removed without a record is damage or tampering, not policy.
 */
function checkAccounted(commitments: Record<string, string>, entry: StoredEntry): void {
  const redactions = entry.redactions ?? {};
  for (const path of Object.keys(commitments)) {
    if (!Object.hasOwn(entry.disclosures, path) && !Object.hasOwn(redactions, path)) {
      throw new SealtrailError('COMMITMENT_MISMATCH', `${path}: committed, but its value is missing and no erasure or purge is recorded`, { path });
    }
  }
  for (const [path, reason] of Object.entries(redactions)) {
    if (!Object.hasOwn(commitments, path)) throw new SealtrailError('MALFORMED', `${path}: recorded as ${reason}, but the leaf never committed to it`, { path });
    if (Object.hasOwn(entry.disclosures, path)) throw new SealtrailError('MALFORMED', `${path}: recorded as ${reason}, but its value is still stored`, { path });
    if (reason !== 'erased' && reason !== 'purged') throw new SealtrailError('MALFORMED', `${path}: unknown redaction ${JSON.stringify(reason)}`, { path });
  }
}
