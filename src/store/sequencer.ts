/**
 * Group commit and sealing, shared by every backend. Appends from concurrent callers queue per ledger;
 * one flush at a time per ledger takes everything queued (up to a cap), and inside one backend
 * transaction assigns indexes, seals each event into its leaf, extends the tree, signs one checkpoint
 * for the batch and writes it all. Callers are resolved only after the backend reports the commit
 * durable. A caller whose request cannot be stored (idempotency conflict) is rejected alone; the rest of
 * its batch goes on.
 */
import { bytesEqual, toBase64, utf8 } from '../core/bytes.js';
import { canonicalJson, eventFields, SaltSource, type Disclosures } from '../core/commitments.js';
import type { CryptoSuite, Ed25519Signer } from '../core/crypto.js';
import { buildLeaf, commitEvent, type CommittedEvent } from '../core/leaf.js';
import { openCheckpoint, signCheckpoint } from '../core/checkpoint.js';
import { ed25519KeyId, type NoteVerifier } from '../core/note.js';
import { formatMicros } from '../core/time.js';
import { Frontier, type StoredHash, type TileNodes } from '../core/tree.js';
import { StoreError, type AppendRequest, type Receipt } from './store.js';
import { idempotencySecret, storedIdempotencyKey } from './idempotency.js';
import { yieldToEventLoop } from '../platform/event-loop.js';

/** What a backend knows about a ledger's tree at the start of a batch, read inside its lock. */
export interface LedgerHead {
  ledger: string;
  origin: string;
  frontier: Frontier;
  lastReceivedAtMicros: number;
}

/** An idempotency key already stored, with what is needed to answer a retry with the original receipt. */
export interface ExistingKey {
  requestHash: Uint8Array;
  receipt: Omit<Receipt, 'duplicate'>;
}

export interface EntryRow {
  index: number;
  /** Credential id recorded in the leaf. */
  writer: string;
  receivedAtMicros: number;
  leaf: Uint8Array;
  leafHash: Uint8Array;
  disclosures: Disclosures;
}

/** Everything one batch writes, in one transaction. */
export interface BatchWrite {
  entries: EntryRow[];
  treeHashes: StoredHash[];
  /** Interior nodes of the tiles the batch completed (those the in-memory frontier saw whole). */
  tileNodes: TileNodes[];
  keys: Array<{ key: string; requestHash: Uint8Array; index: number }>;
  checkpoint: { size: number; rootHash: Uint8Array; note: string; frontier: Uint8Array; createdAtMicros: number } | null;
  /** Head after the batch, for the backend's cache. */
  head: LedgerHead;
}

/** The latest checkpoint row of a ledger, as a backend read it (nothing in it is trusted yet). */
export interface StoredHeadRow {
  size: number;
  note: string;
  frontier: Uint8Array;
  createdAtMicros: number;
}

/** How far ahead of this machine's clock a stored head's time may be before it is treated as tampered. */
const MAX_CLOCK_LEAD_MICROS = 3600 * 1_000_000;

export interface BatchBackend {
  /**
   * Runs `build` inside a transaction that holds the ledger's sequencing lock, with the ledger's current
   * head and the stored entries for `keys`, then writes what it returns and commits durably. Throws
   * LEDGER_NOT_FOUND for an unknown ledger.
   */
  commitBatch(ledger: string, keys: string[], build: (head: LedgerHead, existing: Map<string, ExistingKey>) => BatchWrite): Promise<BatchWrite>;
}

export interface SequencerOptions {
  suite: CryptoSuite;
  signer: Ed25519Signer;
  /** Signed-note key name (the deployment name). */
  keyName: string;
  /** Largest number of events sealed in one transaction. */
  maxBatchEvents?: number;
  /** Appends queued beyond this many events are refused with OVERLOADED. */
  maxQueuedEvents?: number;
  clock?: () => number;
  /** Integrity checks around signing (src/store/integrity.ts); none in tools that never serve. */
  guard?: SigningGuard;
}

/**
 * What the sequencer asks before it signs and tells after it committed, so that a ledger found tampered
 * is never appended to and a size signed before is never signed again with another root (a fork).
 */
export interface SigningGuard {
  /** Inside the backend's lock, before sealing on this head; throws LEDGER_INTEGRITY to refuse. */
  beforeSeal(ledger: string, size: number, root: Uint8Array): void;
  /** Durably records a committed checkpoint; its receipts are released only once this resolves. */
  signed(ledger: string, size: number, root: Uint8Array): Promise<void>;
}

/**
 * What one request of a batch became: a new entry (its index), a retry of an entry sealed earlier in
 * this same batch, or a retry of an entry already stored.
 */
type Slot = number | { duplicateOf: number } | ExistingKey;

function receiptForSlot(ledger: string, written: BatchWrite, slot: Slot): Receipt {
  if (typeof slot === 'number') return receiptFor(ledger, written, slot);
  if ('duplicateOf' in slot) return { ...receiptFor(ledger, written, slot.duplicateOf), duplicate: true };
  return { ...slot.receipt, duplicate: true };
}

interface PendingCall {
  requests: AppendRequest[];
  /** Commitments and disclosures, made when the call arrived, outside any lock. */
  committed: CommittedEvent[];
  requestHashes: Array<Uint8Array | undefined>;
  resolve(receipts: Receipt[]): void;
  reject(error: unknown): void;
}

/** Microseconds since the epoch, with sub-millisecond resolution from the monotonic clock. */
export function nowMicros(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}

export class Sequencer {
  private readonly queues = new Map<string, PendingCall[]>();
  private readonly flushing = new Set<string>();
  private queuedEvents = 0;
  private readonly salts: SaltSource;
  private readonly maxBatchEvents: number;
  private readonly maxQueuedEvents: number;
  private readonly clock: () => number;
  private readonly ownVerifier: NoteVerifier;
  /** HMAC key of stored idempotency keys; derived on the first keyed append (a verifying store never signs). */
  private keySecret: Uint8Array | undefined;
  private readonly appendListeners = new Set<(ledger: string, size: number) => void>();

  constructor(
    private readonly backend: BatchBackend,
    private readonly options: SequencerOptions,
  ) {
    this.salts = new SaltSource(options.suite);
    this.maxBatchEvents = options.maxBatchEvents ?? 5000;
    this.maxQueuedEvents = options.maxQueuedEvents ?? 200_000;
    this.clock = options.clock ?? nowMicros;
    const { suite, keyName, signer } = options;
    this.ownVerifier = { name: keyName, keyId: ed25519KeyId(suite, keyName, signer.publicKey), publicKey: signer.publicKey };
  }

  /**
   * The head to append after, rebuilt from the latest checkpoint row. Appending extends that frontier
   * and signs the result, so it must not be taken on trust: the row's note must carry this deployment's
   * own valid signature for this ledger and size, and the stored frontier must hash to the signed root.
   * Otherwise someone who edited the database could have the server sign a forged history with the
   * genuine key. Throws CORRUPT, refusing to append, when any of that fails.
   */
  headFrom(ledger: string, origin: string, row: StoredHeadRow | undefined): LedgerHead {
    if (!row) return { ledger, origin, frontier: new Frontier(), lastReceivedAtMicros: 0 };
    const corrupt = (why: string) =>
      new StoreError('CORRUPT', `ledger ${ledger}: the latest stored checkpoint (size ${row.size}) ${why}; refusing to append. Run \`sealtrail verify\`.`, {
        ledger,
      });
    let frontier: Frontier;
    try {
      const { checkpoint } = openCheckpoint(this.options.suite, row.note, [this.ownVerifier], `${this.options.keyName}/${ledger}`);
      if (checkpoint.size !== row.size) throw corrupt(`is signed for size ${checkpoint.size}`);
      frontier = Frontier.fromBytes(row.size, row.frontier);
      if (!bytesEqual(frontier.root(this.options.suite), checkpoint.rootHash)) throw corrupt('has a frontier that does not hash to its signed root');
    } catch (error) {
      if (error instanceof StoreError) throw error;
      throw corrupt(`does not verify: ${(error as Error).message}`);
    }
    if (row.createdAtMicros > this.clock() + MAX_CLOCK_LEAD_MICROS) throw corrupt('is dated more than an hour in the future');
    return { ledger, origin, frontier, lastReceivedAtMicros: row.createdAtMicros };
  }

  /**
   * What makes two submissions "the same event" for idempotency: every field path with its canonical
   * value, in path order. Equal for equal JSON whatever the member order, and cheaper than
   * canonicalizing the whole event because scalar values (most fields) need no canonicalizer.
   */
  private contentDigest(event: AppendRequest['event']): Uint8Array {
    const fields = eventFields(event).map(([path, value]) => `${JSON.stringify(path)}:${canonicalJson(value)}`);
    return this.options.suite.sha256(utf8(fields.sort().join(',')));
  }

  /**
   * The form an idempotency key is stored and looked up in: keyed by the deployment's secret and
   * scoped by ledger and writer (src/store/idempotency.ts), so that neither the raw key (often personal
   * data) is stored nor can one writer's key claim another writer's event.
   */
  storedKey(ledger: string, writer: string, key: string): string {
    this.keySecret ??= idempotencySecret(this.options.signer);
    return storedIdempotencyKey(this.keySecret, ledger, writer, key);
  }

  /** Store.onAppended: told after a batch's receipts are released. */
  onAppended(listener: (ledger: string, size: number) => void): () => void {
    this.appendListeners.add(listener);
    return () => this.appendListeners.delete(listener);
  }

  private announce(ledger: string, size: number): void {
    for (const listener of this.appendListeners) {
      try {
        listener(ledger, size);
      } catch {
        // A consumer's mistake must not fail the appends that were already acknowledged.
      }
    }
  }

  append(ledger: string, requests: AppendRequest[]): Promise<Receipt[]> {
    if (requests.length === 0) return Promise.resolve([]);
    // From here on a request's key is its stored form; the raw key goes no further than this line.
    requests = requests.map((r) => (r.idempotencyKey === undefined ? r : { ...r, idempotencyKey: this.storedKey(ledger, r.writer, r.idempotencyKey) }));
    if (this.queuedEvents + requests.length > this.maxQueuedEvents) {
      return Promise.reject(new StoreError('OVERLOADED', 'too many events are waiting to be sealed; retry shortly'));
    }
    // Hashing retried content is only needed for keyed requests; done here, outside the write lock.
    const requestHashes = requests.map((r) => (r.idempotencyKey === undefined ? undefined : this.contentDigest(r.event)));
    const committed = requests.map((r) => commitEvent(this.options.suite, r.event, this.salts));
    return new Promise<Receipt[]>((resolve, reject) => {
      const queue = this.queues.get(ledger) ?? [];
      queue.push({ requests, committed, requestHashes, resolve, reject });
      this.queues.set(ledger, queue);
      this.queuedEvents += requests.length;
      if (!this.flushing.has(ledger)) {
        this.flushing.add(ledger);
        // Let every request that has already arrived join this batch before it is sealed.
        setImmediate(() => void this.flush(ledger));
      }
    });
  }

  private async flush(ledger: string): Promise<void> {
    try {
      for (;;) {
        const calls = this.takeBatch(ledger);
        if (calls.length === 0) return;
        await this.commit(ledger, calls);
        // Yield so that requests arriving during the commit can queue for the next batch.
        await yieldToEventLoop();
      }
    } finally {
      this.flushing.delete(ledger);
      if ((this.queues.get(ledger)?.length ?? 0) > 0) {
        this.flushing.add(ledger);
        setImmediate(() => void this.flush(ledger));
      }
    }
  }

  private takeBatch(ledger: string): PendingCall[] {
    const queue = this.queues.get(ledger);
    if (!queue || queue.length === 0) return [];
    let events = 0;
    let count = 0;
    // Always take at least one call, even if it alone exceeds the cap (callers limit batch size).
    while (count < queue.length && (count === 0 || events + queue[count]!.requests.length <= this.maxBatchEvents)) {
      events += queue[count]!.requests.length;
      count++;
    }
    const taken = queue.splice(0, count);
    this.queuedEvents -= events;
    if (queue.length === 0) this.queues.delete(ledger);
    return taken;
  }

  private async commit(ledger: string, calls: PendingCall[]): Promise<void> {
    const keys = [...new Set(calls.flatMap((c) => c.requests.flatMap((r) => (r.idempotencyKey === undefined ? [] : [r.idempotencyKey]))))];
    let outcome: { accepted: Map<PendingCall, Slot[]>; rejected: Map<PendingCall, StoreError> } | undefined;
    let written: BatchWrite;
    try {
      written = await this.backend.commitBatch(ledger, keys, (head, existing) => {
        const result = this.build(head, existing, calls);
        outcome = result.outcome;
        return result.write;
      });
    } catch (error) {
      for (const call of calls) call.reject(error);
      return;
    }
    const { accepted, rejected } = outcome!;
    const release = () => {
      for (const [call, error] of rejected) call.reject(error);
      for (const [call, slots] of accepted) {
        call.resolve(slots.map((slot) => receiptForSlot(ledger, written, slot)));
      }
      if (written.checkpoint) this.announce(ledger, written.checkpoint.size);
    };
    if (!written.checkpoint || !this.options.guard) {
      release();
      return;
    }
    // The receipts wait for the signed head to be on disk outside the store; the next batch need not
    // (the fork check only needs the heads recorded so far, which never exceed the store's).
    this.options.guard.signed(ledger, written.checkpoint.size, written.checkpoint.rootHash).then(release, (error: unknown) => {
      // Committed but not recorded outside the store: not released, so that no receipt exists for a
      // head the fork check could not see. Retries with the same idempotency key get the stored entry.
      const refusal = new StoreError('LEDGER_INTEGRITY', `ledger ${ledger}: the signed checkpoint could not be recorded: ${(error as Error).message}`, { ledger });
      for (const [call, conflict] of rejected) call.reject(conflict);
      for (const [call] of accepted) call.reject(refusal);
    });
  }

  /** Pure sealing of one batch against the head read inside the backend's lock. */
  private build(head: LedgerHead, existing: Map<string, ExistingKey>, calls: PendingCall[]) {
    const frontier = head.frontier.clone();
    const startSize = frontier.size;
    this.options.guard?.beforeSeal(head.ledger, startSize, frontier.root(this.options.suite));
    const receivedAt = Math.max(this.clock(), head.lastReceivedAtMicros);
    const write: BatchWrite = { entries: [], treeHashes: [], tileNodes: [], keys: [], checkpoint: null, head };
    const accepted = new Map<PendingCall, Slot[]>();
    const rejected = new Map<PendingCall, StoreError>();
    // Keys sealed earlier in this batch, so that two retries racing each other produce one entry.
    const batchKeys = new Map<string, { requestHash: Uint8Array; index: number }>();

    for (const call of calls) {
      const conflict = findConflict(call, existing, batchKeys);
      if (conflict) {
        rejected.set(call, conflict);
        continue;
      }
      const slots: Slot[] = [];
      call.requests.forEach((request, i) => {
        const key = request.idempotencyKey;
        const earlier = key === undefined ? undefined : (existing.get(key) ?? batchKeys.get(key));
        if (earlier) {
          slots.push('receipt' in earlier ? earlier : { duplicateOf: earlier.index });
          return;
        }
        const index = frontier.size;
        const { commitments, disclosures } = call.committed[i]!;
        const sealed = buildLeaf(this.options.suite, { ledger: head.ledger, index, receivedAtMicros: receivedAt, writer: request.writer }, commitments);
        write.treeHashes.push(...frontier.append(this.options.suite, sealed.leafHash, write.tileNodes));
        write.entries.push({ index, writer: request.writer, receivedAtMicros: receivedAt, disclosures, ...sealed });
        if (key !== undefined) {
          const requestHash = call.requestHashes[i]!;
          batchKeys.set(key, { requestHash, index });
          write.keys.push({ key, requestHash, index });
        }
        slots.push(index);
      });
      accepted.set(call, slots);
    }

    if (frontier.size > startSize) {
      const rootHash = frontier.root(this.options.suite);
      const note = signCheckpoint(
        this.options.suite,
        { origin: head.origin, size: frontier.size, rootHash, extensions: [] },
        [{ name: this.options.keyName, signer: this.options.signer }],
      );
      write.checkpoint = { size: frontier.size, rootHash, note, frontier: frontier.toBytes(), createdAtMicros: receivedAt };
      write.head = { ...head, frontier, lastReceivedAtMicros: receivedAt };
    }
    return { write, outcome: { accepted, rejected } };
  }
}

function findConflict(
  call: PendingCall,
  existing: Map<string, ExistingKey>,
  batchKeys: Map<string, { requestHash: Uint8Array; index: number }>,
): StoreError | undefined {
  const seenInCall = new Map<string, Uint8Array>();
  for (let i = 0; i < call.requests.length; i++) {
    const key = call.requests[i]!.idempotencyKey;
    if (key === undefined) continue;
    const hash = call.requestHashes[i]!;
    const earlier = existing.get(key)?.requestHash ?? batchKeys.get(key)?.requestHash ?? seenInCall.get(key);
    if (earlier && !bytesEqual(earlier, hash)) {
      // Neither the key (the client knows it; the stored form is an HMAC) nor the other event is echoed.
      return new StoreError('IDEMPOTENCY_CONFLICT', `the idempotency key of event ${i} was already used by this writer for a different event`, {
        position: i,
      });
    }
    seenInCall.set(key, hash);
  }
  return undefined;
}

function receiptFor(ledger: string, written: BatchWrite, index: number): Receipt {
  const first = written.entries[0]!.index;
  const entry = written.entries[index - first]!;
  const checkpoint = written.checkpoint!;
  return {
    ledger,
    index,
    leafHash: toBase64(entry.leafHash),
    receivedAt: formatMicros(entry.receivedAtMicros),
    checkpoint: checkpoint.note,
    treeSize: checkpoint.size,
    duplicate: false,
  };
}
