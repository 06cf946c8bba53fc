/**
 * Integrity of the running server (docs/SECURITY.md, "Integrity of the running server").
 *
 * IntegrityGuard sits in the sequencer's signing path: it refuses to seal on a ledger marked broken, and
 * it compares the head the store offers with the signed-heads journal kept beside the signing key, so
 * that a store rolled back (or rolled back and refilled) is caught before the server signs a second tree
 * of a size it signed before.
 *
 * IntegrityMonitor verifies the stored ledgers while the server runs: at start, everything appended since
 * the stored watermark (so start stays fast); then, in the background, new batches as they come and a
 * slow sweep over everything already verified, since tampering edits old rows too. Work is done in
 * slices that end at a checkpoint and yield to the event loop every few milliseconds. A ledger that
 * fails is marked broken in the database, where every process sharing it sees it.
 *
 * The watermark (size and root verified up to) sits in the database, which an attacker may edit; it is
 * bound by a MAC under a key derived from the signing key, and its root must be the signed root of the
 * stored checkpoint of that size. Someone with the database but not the key can reset it (costing a full
 * verification at the next start) but cannot move it past rows they changed.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { bytesEqual, toBase64, utf8 } from '../core/bytes.js';
import { openCheckpoint } from '../core/checkpoint.js';
import type { CryptoSuite, Ed25519Signer } from '../core/crypto.js';
import { SealtrailError } from '../core/errors.js';
import { decodeLeaf, verifyDisclosures } from '../core/leaf.js';
import { ed25519KeyId, type NoteVerifier } from '../core/note.js';
import { formatMicros, parseMicros } from '../core/time.js';
import { Frontier, hashLeaf, type StoredHash } from '../core/tree.js';
import { SYSTEM_LEDGER } from '../core/forgetting.js';
import { SealedGrants } from './forget.js';
import type { SigningGuard } from './sequencer.js';
import type { SignedHeadsJournal } from './signed-heads.js';
import { LoopBudget } from '../platform/event-loop.js';
import { StoreError, type Store, type StoredCheckpoint, type StoredEntry } from './store.js';

/** What a store keeps of the running server's verification, per ledger (SQLite 9, PostgreSQL 10). */
export interface IntegrityRecord {
  ledger: string;
  verifiedSize: number;
  verifiedRoot: Uint8Array | null;
  verifiedMac: Uint8Array | null;
  brokenReason: string | null;
  brokenAtMicros: number | null;
}

export interface IntegrityStateStore {
  /** One record per ledger that has one. */
  integrityRecords(): Promise<IntegrityRecord[]>;
  /** Moves the ledger's watermark forward (never back) to this size, root and MAC. */
  saveIntegrityWatermark(ledger: string, size: number, root: Uint8Array, mac: Uint8Array): Promise<void>;
  /** Marks the ledger broken; the first reason recorded is kept. */
  markIntegrityBroken(ledger: string, reason: string, atMicros: number): Promise<void>;
  /**
   * Takes or renews the ledger's verification lease for `holder` until `untilMicros`. False while
   * another holder's lease runs: one process at a time verifies a ledger in the background, and another
   * takes over once a holder stops renewing (it died).
   */
  claimIntegrityLease(ledger: string, holder: string, nowMicros: number, untilMicros: number): Promise<boolean>;
}

export function hasIntegrityState(store: Store): store is Store & IntegrityStateStore {
  return typeof (store as Partial<IntegrityStateStore>).integrityRecords === 'function';
}

/** A verification failure: the ledger contradicts what was signed. Anything else is transient. */
export class IntegrityFailure extends Error {
  override name = 'IntegrityFailure';
  constructor(
    readonly ledger: string,
    readonly reason: string,
  ) {
    super(`${ledger}: ${reason}`);
  }
}

function integrityRefusal(ledger: string, reason: string): StoreError {
  return new StoreError('LEDGER_INTEGRITY', `ledger ${ledger} failed integrity verification and takes no appends: ${reason}`, { ledger, reason });
}

/** The MAC key of watermarks: derived from a deterministic Ed25519 signature, so only the key holder has it. */
export function watermarkKey(suite: CryptoSuite, signer: Ed25519Signer): Uint8Array {
  // Not a signed note (no newline, no note structure): the signature is hashed and never leaves memory.
  return suite.sha256(signer.sign(utf8('sealtrail integrity watermark MAC key v1')));
}

function watermarkMac(key: Uint8Array, ledger: string, size: number, root: Uint8Array): Uint8Array {
  return createHmac('sha256', key).update(`${ledger}\n${size}\n${toBase64(root)}`).digest();
}

function macMatches(expected: Uint8Array, actual: Uint8Array | null): boolean {
  return actual !== null && actual.length === expected.length && timingSafeEqual(expected, actual);
}

export type BrokenListener = (ledger: string, reason: string) => void;

export class IntegrityGuard implements SigningGuard {
  private readonly broken = new Map<string, { reason: string; atMicros: number }>();
  private readonly listeners: BrokenListener[] = [];

  constructor(readonly journal?: SignedHeadsJournal) {}

  onBroken(listener: BrokenListener): void {
    this.listeners.push(listener);
  }

  /** Marks the ledger broken in this process (and tells the listeners, which persist and log it). */
  markBroken(ledger: string, reason: string, atMicros = Date.now() * 1000): void {
    if (this.broken.has(ledger)) return;
    this.broken.set(ledger, { reason, atMicros });
    for (const listener of this.listeners) listener(ledger, reason);
  }

  brokenReason(ledger: string): string | undefined {
    return this.broken.get(ledger)?.reason;
  }

  brokenLedgers(): Map<string, { reason: string; atMicros: number }> {
    return new Map(this.broken);
  }

  /**
   * Why a store head contradicts the journal, if it does: a head smaller than a size signed before is a
   * rollback; the same size with another root is a fork.
   */
  contradiction(ledger: string, size: number, root: Uint8Array): string | undefined {
    const signed = this.journal?.latestOf(ledger);
    if (!signed) return undefined;
    if (size < signed.size) {
      return `the store ends at size ${size}, but size ${signed.size} was signed (signed-heads journal): the store was rolled back`;
    }
    if (size === signed.size && !bytesEqual(root, signed.root)) {
      return `the stored tree of size ${size} is not the one signed (signed-heads journal): the store was rolled back and refilled`;
    }
    return undefined;
  }

  beforeSeal(ledger: string, size: number, root: Uint8Array): void {
    const known = this.broken.get(ledger);
    if (known) throw integrityRefusal(ledger, known.reason);
    const why = this.contradiction(ledger, size, root);
    if (why) {
      this.markBroken(ledger, why);
      throw integrityRefusal(ledger, why);
    }
  }

  async signed(ledger: string, size: number, root: Uint8Array): Promise<void> {
    await this.journal?.record(ledger, size, root);
  }
}

/** The verified state of a tree at a checkpoint: where the next slice starts. */
export interface TreeState {
  size: number;
  frontier: Frontier;
  lastReceivedAtMicros: number;
}

/**
 * Slices verified somewhere other than the event loop: on a store's own thread, against the same
 * stored ledger (SqliteStore.offloadedSlices). Answers what SliceVerifier.verifySlice would, and how
 * many entries it checked; an IntegrityFailure is thrown as one.
 */
export interface OffloadedSlices {
  verifySlice(ledger: string, start: TreeState, headSize: number, maxEntries: number): Promise<{ state: TreeState; checked: number }>;
  close(): Promise<void>;
}

/** A store that can verify slices off the event loop (undefined when it cannot: an in-memory database). */
export interface SliceOffloadingStore {
  offloadedSlices(keyName: string, publicKey: Uint8Array): OffloadedSlices | undefined;
}

function offloadsSlices(store: Store): store is Store & SliceOffloadingStore {
  return typeof (store as Partial<SliceOffloadingStore>).offloadedSlices === 'function';
}

export interface SliceVerifierOptions {
  suite: CryptoSuite;
  /** This deployment's own verifier: only its signatures count for the running server. */
  verifier: NoteVerifier;
  keyName: string;
  /** Longest the verifier holds the event loop before it yields (ms); BACKGROUND_SLICE_MS by default. */
  yieldEveryMs?: number;
  /** Where verifySlice runs instead of here, if anywhere. */
  offloaded?: OffloadedSlices;
}

const TILE_LEVELS = 7;
/** Entries read from the store at a time while verifying. */
const READ_PIECE = 200;

/**
 * Verifies a stored ledger one slice at a time, each slice running from a verified checkpoint to a later
 * one: every entry re-derived from its row and disclosures, every checkpoint's signature and root, the
 * unsigned columns the server resumes from, the tree hashes the slice completed, and that a checkpoint
 * ends every batch (entries of one batch share their received_at, so where it changes a checkpoint must
 * be stored: a deleted checkpoint is caught unless two batches had the same time).
 */
export class SliceVerifier {
  /** Every redaction must be named by a sealed forgetting record (docs/FORMAT.md §11). */
  private readonly grants: SealedGrants;

  constructor(
    private readonly store: Store,
    private readonly options: SliceVerifierOptions,
  ) {
    this.grants = new SealedGrants(store, options.suite, [options.verifier]);
  }

  /** Entries checked since this verifier was made (tests use it to see that start verified only what was new). */
  entriesChecked = 0;

  /** The tree state at a stored checkpoint, taken only once its signature and frontier check out. */
  async stateAt(ledger: string, size: number, expectedRoot?: Uint8Array): Promise<TreeState> {
    if (size === 0) return { size: 0, frontier: new Frontier(), lastReceivedAtMicros: 0 };
    const [row] = await this.store.checkpoints(ledger, size, size);
    if (!row || row.size !== size) throw new IntegrityFailure(ledger, `the checkpoint of size ${size}, verified before, is no longer stored`);
    const root = this.openRow(ledger, row);
    if (expectedRoot && !bytesEqual(root, expectedRoot)) {
      throw new IntegrityFailure(ledger, `the checkpoint of size ${size} is not the one verified before: history was replaced`);
    }
    let frontier: Frontier;
    try {
      frontier = Frontier.fromBytes(size, row.frontier);
    } catch {
      throw new IntegrityFailure(ledger, `the checkpoint row of size ${size} holds a malformed frontier`);
    }
    if (!bytesEqual(frontier.root(this.options.suite), root)) throw new IntegrityFailure(ledger, `the checkpoint row of size ${size} holds a frontier that does not hash to its signed root`);
    return { size, frontier, lastReceivedAtMicros: row.createdAtMicros };
  }

  /** Opens a checkpoint row with this deployment's key; returns its signed root. */
  private openRow(ledger: string, row: StoredCheckpoint): Uint8Array {
    if (!Number.isSafeInteger(row.size) || row.size < 1) throw new IntegrityFailure(ledger, `a checkpoint row holds size ${row.size}, which no tree has`);
    try {
      const { checkpoint } = openCheckpoint(this.options.suite, row.note, [this.options.verifier], `${this.options.keyName}/${ledger}`);
      if (checkpoint.size !== row.size) throw new Error(`it is signed for size ${checkpoint.size}`);
      if (!bytesEqual(checkpoint.rootHash, row.rootHash)) throw new Error('its root column differs from the signed root');
      return checkpoint.rootHash;
    } catch (cause) {
      throw new IntegrityFailure(ledger, `the checkpoint of size ${row.size} does not verify: ${(cause as Error).message}`);
    }
  }

  /**
   * Verifies from `start` to the last checkpoint within `maxEntries` of it (or the first beyond, when a
   * batch is larger), never past `headSize`. Returns the state at the slice's end (`start` when the
   * ledger has nothing beyond it).
   */
  async verifySlice(ledger: string, start: TreeState, headSize: number, maxEntries: number): Promise<TreeState> {
    const { suite, offloaded } = this.options;
    if (offloaded) {
      const { state, checked } = await offloaded.verifySlice(ledger, start, headSize, maxEntries);
      this.entriesChecked += checked;
      return state;
    }
    if (start.size > headSize) {
      throw new IntegrityFailure(ledger, `size ${start.size} was verified before, but the store now ends at ${headSize}: the store was rolled back`);
    }
    if (start.size === headSize) return start;
    let window = Math.max(1, maxEntries);
    let rows: StoredCheckpoint[] = [];
    for (;;) {
      const to = Math.min(headSize, start.size + window);
      // From start.size itself, not start.size + 1: a row between the two (SQLite keeps 4.5 in an INTEGER
      // column) would otherwise be in no slice at all, and so never checked.
      rows = (await this.store.checkpoints(ledger, start.size, to)).filter((row) => row.size !== start.size);
      if (rows.length > 0 || to === headSize) break;
      window *= 4;
    }
    if (rows.length === 0) throw new IntegrityFailure(ledger, `no checkpoint is stored between sizes ${start.size} and ${headSize}`);
    // A batch larger than the slice: end at its checkpoint, the first found, not at the wider window's last.
    if (window > maxEntries) rows = rows.slice(0, 1);
    // Each row's signature is checked when the entries reach it, inside the loop's time budget: a slice
    // of single-event batches holds 2,000 checkpoints, ~120 ms of Ed25519 if opened all at once.
    const checkpointsAt = new Map(rows.map((row) => [row.size, row]));
    const reached = new Set<StoredCheckpoint>();
    const end = rows.at(-1)!.size;

    const frontier = start.frontier.clone();
    let last = start.lastReceivedAtMicros;
    const completed: StoredHash[] = [];
    const budget = new LoopBudget(this.options.yieldEveryMs);
    for await (const entry of this.entriesInPieces(ledger, start.size, end)) {
      const index = frontier.size;
      if (entry.index !== index) throw new IntegrityFailure(ledger, `entry ${index} is missing (next stored entry is ${entry.index})`);
      if (index > start.size && entry.receivedAtMicros !== last && !checkpointsAt.has(index)) {
        throw new IntegrityFailure(ledger, `no checkpoint is stored at size ${index}, where a batch ended (received_at changes): a checkpoint was deleted`);
      }
      checkEntry(suite, ledger, entry, last);
      if (entry.redactions) await this.checkRedactionsNamed(ledger, entry);
      const leafHash = hashLeaf(suite, entry.leaf);
      if (!bytesEqual(leafHash, entry.leafHash)) throw new IntegrityFailure(ledger, `entry ${index}: the stored leaf hash is not the hash of its leaf`);
      last = entry.receivedAtMicros;
      for (const h of frontier.append(suite, leafHash)) completed.push(h);
      const row = checkpointsAt.get(frontier.size);
      if (row) {
        reached.add(row);
        if (!bytesEqual(frontier.root(suite), this.openRow(ledger, row))) {
          throw new IntegrityFailure(ledger, `the checkpoint of size ${frontier.size} does not match the entries before it: history differs from what was signed`);
        }
        if (!bytesEqual(row.frontier, frontier.toBytes())) throw new IntegrityFailure(ledger, `the checkpoint row of size ${frontier.size} holds a frontier that does not match the entries`);
        if (row.createdAtMicros !== last) throw new IntegrityFailure(ledger, `the checkpoint row of size ${frontier.size} is dated differently from the last entry it covers`);
      }
      this.entriesChecked++;
      if (budget.spent) await budget.yield();
    }
    if (frontier.size !== end) throw new IntegrityFailure(ledger, `the checkpoint of size ${end} covers entries that are not stored (the store ends at ${frontier.size})`);
    // Every row of the slice was reached at its size above, unless it names no size the entries end at
    // (6.5, a second row of one size): those are forged, and signed by nobody.
    for (const row of rows) {
      if (reached.has(row)) continue;
      this.openRow(ledger, row);
      throw new IntegrityFailure(ledger, `the checkpoint row of size ${row.size} is at no batch end of the entries`);
    }
    await this.compareTreeHashes(ledger, completed);
    return { size: end, frontier, lastReceivedAtMicros: last };
  }

  private async checkRedactionsNamed(ledger: string, entry: StoredEntry): Promise<void> {
    for (const [path, reason] of Object.entries(entry.redactions ?? {})) {
      if (await this.grants.find(ledger, entry.index, path, reason, entry.receivedAtMicros)) continue;
      throw new IntegrityFailure(ledger, `entry ${entry.index}, field ${path}: recorded as ${reason}, but no sealed forgetting record in ${SYSTEM_LEDGER} authorises it`);
    }
  }

  /**
   * Entries [from, to), read in small ranges: SQLite reads a range synchronously, so the range bounds how
   * long one read holds the event loop.
   */
  private async *entriesInPieces(ledger: string, from: number, to: number): AsyncIterable<StoredEntry> {
    for (let low = from; low < to; low += READ_PIECE) yield* this.store.entries(ledger, low, Math.min(to, low + READ_PIECE));
  }

  /** The upper tree hashes the slice completed must be stored as computed (proofs are built from them). */
  private async compareTreeHashes(ledger: string, completed: StoredHash[]): Promise<void> {
    for (let level = 1; level <= TILE_LEVELS; level++) {
      const expected = completed.filter((h) => h.level === level);
      if (expected.length === 0) continue;
      const first = expected[0]!.index;
      const [stored] = await this.store.readHashes(ledger, [{ level, start: first, end: expected.at(-1)!.index + 1 }]);
      expected.forEach((h, i) => {
        const found = stored?.[i];
        if (!found || !bytesEqual(found, h.hash)) throw new IntegrityFailure(ledger, `the stored tree hash at level ${level}, index ${h.index} does not match the entries`);
      });
    }
  }
}

/** One entry against its leaf: position, ledger, time, and every disclosed or forgotten field. */
function checkEntry(suite: CryptoSuite, ledger: string, entry: StoredEntry, lastReceivedAt: number): void {
  try {
    const envelope = decodeLeaf(entry.leaf);
    if (envelope.index !== entry.index) throw new Error(`its leaf says index ${envelope.index}`);
    if (envelope.ledger !== ledger) throw new Error(`its leaf says ledger ${envelope.ledger}`);
    if (parseMicros(envelope.received_at) !== entry.receivedAtMicros) throw new Error('received_at differs from its leaf');
    if (entry.receivedAtMicros < lastReceivedAt) throw new Error('received_at goes backwards');
    verifyDisclosures(suite, envelope, entry.disclosures);
    const redactions = entry.redactions ?? {};
    for (const path of Object.keys(envelope.commitments)) {
      if (!Object.hasOwn(entry.disclosures, path) && !Object.hasOwn(redactions, path)) throw new Error(`${path}: committed, but its value is missing and no erasure or purge is recorded`);
    }
    for (const path of Object.keys(redactions)) {
      if (!Object.hasOwn(envelope.commitments, path)) throw new Error(`${path}: recorded as forgotten, but the leaf never committed to it`);
      if (Object.hasOwn(entry.disclosures, path)) throw new Error(`${path}: recorded as forgotten, but its value is still stored`);
    }
  } catch (cause) {
    const field = cause instanceof SealtrailError && cause.details.path !== undefined ? `, field ${String(cause.details.path)}` : '';
    throw new IntegrityFailure(ledger, `entry ${entry.index}${field}: ${(cause as Error).message}`);
  }
}

export type LedgerTrust = 'verifying' | 'trusted' | 'broken';

export interface LedgerIntegrityStatus {
  ledger: string;
  state: LedgerTrust;
  /** Size up to which this process (or the lease holder, through the watermark) verified the ledger. */
  verifiedSize: number;
  /** The signed root of the checkpoint of verifiedSize (base64), which the verification reproduced. */
  verifiedRoot?: string;
  /** When verification last reached verifiedSize (this process's own, or its adoption of the lease holder's watermark). */
  verifiedAt?: string;
  /**
   * Where this process took over: the size of the MAC-bound watermark it started from (entries below it
   * were verified by an earlier process, or by the lease holder), 0 when it verified from the start.
   */
  resumedFrom?: number;
  /**
   * Where the background sweep over already-verified entries is, and how many full rounds it completed;
   * the last complete round re-derived entries [0, lastRound.size) between its start and end.
   */
  sweep: { position: number; rounds: number; lastRound?: { size: number; startedAt: string; endedAt: string } };
  reason?: string;
  brokenAt?: string;
}

export interface IntegrityStatus {
  ok: boolean;
  ledgers: LedgerIntegrityStatus[];
}

export interface IntegrityLog {
  error(message: string, details: Record<string, unknown>): void;
  warn(message: string, details: Record<string, unknown>): void;
}

export interface IntegrityMonitorOptions {
  store: Store & IntegrityStateStore;
  suite: CryptoSuite;
  signer: Ed25519Signer;
  keyName: string;
  guard: IntegrityGuard;
  /** This process's name for the verification lease. */
  holder: string;
  log?: IntegrityLog;
  /** Milliseconds between background rounds. Default 1000. */
  intervalMs?: number;
  /** Entries verified in one slice (a slice ends at a checkpoint). Default 2000. */
  sliceEntries?: number;
  /** Entries of already-verified history the sweep re-checks per background round, over all ledgers. Default 2000. */
  sweepEntries?: number;
  /** Least time between the end of a ledger's sweep and the start of its next one. Default 60 s. */
  sweepPauseMs?: number;
  /**
   * How busy the event loop was since the last call, 0 to 1; above 0.5 the sweep re-checks less (down
   * to a tenth of sweepEntries). Default: performance.eventLoopUtilization since the last round.
   */
  loopBusy?: () => number;
  /** How long a lease holds without renewal. Default 30 s. */
  leaseMs?: number;
}

/** Event-loop utilisation over a round above which the sweep re-checks less (sweepShare). */
const SWEEP_BUSY = 0.5;
/** The least part of its budget the sweep keeps however busy the loop is, so that it always moves on. */
const SWEEP_FLOOR = 0.1;

interface Watch {
  verified: TreeState | undefined;
  /**
   * The last catch-up reached the head it saw. Until then (or after one cut short by a transient
   * error: a busy database, a lost connection) the ledger is `verifying`, never `trusted`.
   */
  caughtUp?: boolean;
  /** When `verified` last moved (µs). */
  verifiedAt?: number;
  /** The watermark size this process started from (undefined: none read yet; 0: from the start). */
  resumedFrom?: number;
  sweep: TreeState | undefined;
  rounds: number;
  /** When the current sweep round started (µs). */
  roundStartedAt?: number;
  /** When the last complete sweep round ended (µs). */
  roundEndedAt?: number;
  /** The last complete round: the size it reached, and when it ran. */
  lastRound?: { size: number; startedAtMicros: number; endedAtMicros: number };
}

export class IntegrityMonitor {
  readonly verifier: SliceVerifier;
  private readonly offloaded: OffloadedSlices | undefined;
  private readonly key: Uint8Array;
  private readonly watches = new Map<string, Watch>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private roundsRun = 0;
  /** Event-loop utilisation when the last round began (sweepShare). */
  private loopSince = performance.eventLoopUtilization();
  /** Broken marks being written to the store; a round ends only once they are, so other processes see them. */
  private readonly recording = new Set<Promise<void>>();

  constructor(private readonly options: IntegrityMonitorOptions) {
    const { suite, signer, keyName } = options;
    const verifier: NoteVerifier = { name: keyName, keyId: ed25519KeyId(suite, keyName, signer.publicKey), publicKey: signer.publicKey };
    // Re-deriving every entry just appended costs as much as sealing it: on a thread of the store's, where it has one.
    this.offloaded = offloadsSlices(options.store) ? options.store.offloadedSlices(keyName, signer.publicKey) : undefined;
    this.verifier = new SliceVerifier(options.store, { suite, verifier, keyName, ...(this.offloaded ? { offloaded: this.offloaded } : {}) });
    this.key = watermarkKey(suite, signer);
    options.guard.onBroken((ledger, reason) => {
      options.log?.error(`ledger ${ledger} failed integrity verification; appends to it are refused`, { ledger, reason });
      const write = options.store.markIntegrityBroken(ledger, reason, Date.now() * 1000).catch((error: unknown) => {
        options.log?.error(`could not record in the store that ledger ${ledger} is broken`, { ledger, error: (error as Error).message });
      });
      this.recording.add(write);
      void write.finally(() => this.recording.delete(write));
    });
  }

  /**
   * Verifies every ledger up to its head, from its watermark; resolves once each is trusted or broken.
   * Then, with `background`, keeps verifying new batches and sweeping old ones every intervalMs.
   */
  async start(background = true): Promise<void> {
    await this.refreshBroken();
    for (const ledger of await this.options.store.listLedgers()) await this.catchUp(ledger.name);
    await Promise.all(this.recording);
    if (background) this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    await Promise.all(this.recording);
    // Hand the leases back (expired at once), so that the next process sweeps without waiting them out.
    const now = Date.now() * 1000;
    for (const ledger of this.watches.keys()) {
      await this.options.store.claimIntegrityLease(ledger, this.options.holder, now, now - 1).catch(() => {});
    }
    await this.offloaded?.close();
  }

  status(): IntegrityStatus {
    const broken = this.options.guard.brokenLedgers();
    const ledgers: LedgerIntegrityStatus[] = [];
    for (const [ledger, watch] of [...this.watches].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const failure = broken.get(ledger);
      ledgers.push({
        ledger,
        state: failure ? 'broken' : watch.verified && watch.caughtUp ? 'trusted' : 'verifying',
        verifiedSize: watch.verified?.size ?? 0,
        ...(watch.verified ? { verifiedRoot: toBase64(watch.verified.frontier.root(this.options.suite)) } : {}),
        ...(watch.verifiedAt !== undefined ? { verifiedAt: formatMicros(watch.verifiedAt) } : {}),
        ...(watch.resumedFrom !== undefined ? { resumedFrom: watch.resumedFrom } : {}),
        sweep: {
          position: watch.sweep?.size ?? 0,
          rounds: watch.rounds,
          ...(watch.lastRound
            ? { lastRound: { size: watch.lastRound.size, startedAt: formatMicros(watch.lastRound.startedAtMicros), endedAt: formatMicros(watch.lastRound.endedAtMicros) } }
            : {}),
        },
        ...(failure ? { reason: failure.reason, brokenAt: formatMicros(failure.atMicros) } : {}),
      });
    }
    return { ok: ledgers.every((l) => l.state === 'trusted'), ledgers };
  }

  /** One background round now (tests call it instead of waiting for the timer). */
  async runOnce(): Promise<void> {
    await this.refreshBroken();
    const now = Date.now() * 1000;
    const ledgers = await this.options.store.listLedgers();
    // The sweep's budget is shared by all ledgers; each round starts with the next one, so that a big
    // ledger cannot keep the others' sweeps waiting.
    let sweepBudget = Math.round((this.options.sweepEntries ?? 2000) * this.sweepShare());
    const first = ledgers.length === 0 ? 0 : this.roundsRun++ % ledgers.length;
    for (const { name } of [...ledgers.slice(first), ...ledgers.slice(0, first)]) {
      if (this.stopped) return;
      const watch = this.watches.get(name);
      // A ledger created since start is verified here first, by whichever process sees it.
      if (!watch) {
        await this.catchUp(name);
        continue;
      }
      if (this.options.guard.brokenReason(name)) continue;
      const leaseUntil = now + (this.options.leaseMs ?? 30_000) * 1000;
      if (!(await this.options.store.claimIntegrityLease(name, this.options.holder, now, leaseUntil))) {
        await this.adoptWatermark(name, watch);
        continue;
      }
      await this.catchUp(name);
      sweepBudget -= await this.sweepSome(name, watch, sweepBudget);
    }
    await Promise.all(this.recording);
  }

  /**
   * The part of the sweep's budget this round may use: all of it while the event loop has room, less as
   * foreground work (ingest, searches) fills it since the last round, down to SWEEP_FLOOR. Re-checking
   * old history is what can wait; new batches are always verified in full. The sweep's own work is
   * ~0.2 of the loop at its full budget, below where this starts to cut.
   */
  private sweepShare(): number {
    const utilization = this.options.loopBusy ? this.options.loopBusy() : this.loopUtilization();
    if (utilization <= SWEEP_BUSY) return 1;
    return Math.max(SWEEP_FLOOR, (1 - utilization) / (1 - SWEEP_BUSY));
  }

  private loopUtilization(): number {
    const { utilization } = performance.eventLoopUtilization(this.loopSince);
    this.loopSince = performance.eventLoopUtilization();
    return utilization;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.runOnce()
        .catch((error: unknown) => this.options.log?.warn('integrity verification round failed; retrying', { error: (error as Error).message }))
        .finally(() => {
          this.running = undefined;
          this.schedule();
        });
    }, this.options.intervalMs ?? 1000);
    this.timer.unref();
  }

  /** Broken marks recorded by any process sharing the store apply here too. */
  private async refreshBroken(): Promise<void> {
    for (const record of await this.options.store.integrityRecords()) {
      if (record.brokenReason !== null) this.options.guard.markBroken(record.ledger, record.brokenReason, record.brokenAtMicros ?? undefined);
    }
  }

  private async watermarkOf(ledger: string): Promise<{ size: number; root: Uint8Array } | undefined> {
    const record = (await this.options.store.integrityRecords()).find((r) => r.ledger === ledger);
    if (!record || record.verifiedSize === 0 || !record.verifiedRoot) return undefined;
    const expected = watermarkMac(this.key, ledger, record.verifiedSize, record.verifiedRoot);
    if (!macMatches(expected, record.verifiedMac)) {
      // Not this deployment's: ignored, so the ledger is verified again from the start.
      this.options.log?.warn(`ledger ${ledger}: the stored integrity watermark is not authentic; verifying from the start`, { ledger });
      return undefined;
    }
    return { size: record.verifiedSize, root: record.verifiedRoot };
  }

  /** Another process holds the lease: follow its (authenticated) watermark rather than re-verify. */
  private async adoptWatermark(ledger: string, watch: Watch): Promise<void> {
    const mark = await this.watermarkOf(ledger);
    if (!mark || (watch.verified && mark.size <= watch.verified.size)) return;
    try {
      watch.verified = await this.verifier.stateAt(ledger, mark.size, mark.root);
      watch.verifiedAt = Date.now() * 1000;
      watch.resumedFrom ??= mark.size;
      // The lease holder verified up to there; a catch-up of ours cut short before is superseded.
      watch.caughtUp = true;
    } catch (error) {
      this.fail(ledger, error);
    }
  }

  /** Verifies the ledger from what is known verified up to its head, moving the watermark along. */
  private async catchUp(ledger: string): Promise<void> {
    const { guard } = this.options;
    let watch = this.watches.get(ledger);
    if (!watch) {
      watch = { verified: undefined, sweep: undefined, rounds: 0 };
      this.watches.set(ledger, watch);
    }
    if (guard.brokenReason(ledger)) return;
    try {
      const latest = await this.options.store.latestCheckpoint(ledger);
      const headSize = latest?.size ?? 0;
      const headRoot = latest ? latest.rootHash : new Frontier().root(this.options.suite);
      const journalWhy = guard.contradiction(ledger, headSize, headRoot);
      if (journalWhy) throw new IntegrityFailure(ledger, journalWhy);
      const signed = guard.journal?.latestOf(ledger);
      // The store is ahead of the journal (another process signed, or a crash lost the last line): the
      // size the journal knows must still be stored with its root.
      if (signed && headSize > signed.size) await this.verifier.stateAt(ledger, signed.size, signed.root);
      if (!watch.verified) {
        const mark = await this.watermarkOf(ledger);
        watch.verified = mark ? await this.verifier.stateAt(ledger, mark.size, mark.root) : await this.verifier.stateAt(ledger, 0);
        watch.verifiedAt = Date.now() * 1000;
        watch.resumedFrom = mark?.size ?? 0;
      }
      let state = watch.verified;
      while (state.size < headSize && !this.stopped) {
        state = await this.verifier.verifySlice(ledger, state, headSize, this.options.sliceEntries ?? 2000);
        watch.verified = state;
        watch.verifiedAt = Date.now() * 1000;
        const root = state.frontier.root(this.options.suite);
        await this.options.store.saveIntegrityWatermark(ledger, state.size, root, watermarkMac(this.key, ledger, state.size, root));
      }
      if (state.size > headSize) {
        throw new IntegrityFailure(ledger, `size ${state.size} was verified before, but the store now ends at ${headSize}: the store was rolled back`);
      }
      watch.caughtUp = state.size >= headSize;
    } catch (error) {
      watch.caughtUp = false;
      this.fail(ledger, error);
    }
  }

  /**
   * Re-checks up to `budget` entries of already-verified history, from the start round and round, a
   * new round no sooner than sweepPauseMs after the last ended. Returns the entries it checked.
   */
  private async sweepSome(ledger: string, watch: Watch, budget: number): Promise<number> {
    if (!watch.verified || budget <= 0 || this.options.guard.brokenReason(ledger)) return 0;
    const before = this.verifier.entriesChecked;
    try {
      let state = watch.sweep;
      if (!state || state.size >= watch.verified.size) {
        const pause = (this.options.sweepPauseMs ?? 60_000) * 1000;
        if (state && watch.roundEndedAt !== undefined && Date.now() * 1000 - watch.roundEndedAt < pause) return 0;
        state = await this.verifier.stateAt(ledger, 0);
        watch.roundStartedAt = Date.now() * 1000;
      }
      const target = state.size + budget;
      while (state.size < Math.min(target, watch.verified.size) && !this.stopped) {
        state = await this.verifier.verifySlice(ledger, state, watch.verified.size, Math.min(budget, this.options.sliceEntries ?? 2000));
      }
      watch.sweep = state;
      if (state.size >= watch.verified.size) {
        watch.rounds++;
        watch.roundEndedAt = Date.now() * 1000;
        watch.lastRound = { size: state.size, startedAtMicros: watch.roundStartedAt ?? watch.roundEndedAt, endedAtMicros: watch.roundEndedAt };
      }
    } catch (error) {
      this.fail(ledger, error);
    }
    return this.verifier.entriesChecked - before;
  }

  private fail(ledger: string, error: unknown): void {
    if (error instanceof IntegrityFailure) {
      this.options.guard.markBroken(ledger, error.reason);
      return;
    }
    // The store could not be read (a lost connection, a busy file): try again next round.
    this.options.log?.warn(`ledger ${ledger}: integrity verification interrupted; retrying`, { ledger, error: (error as Error).message });
  }
}
