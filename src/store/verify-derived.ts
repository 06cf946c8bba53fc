/**
 * Verification of what the store derives from the sealed entries and relies on, but does not seal:
 * the search index (an edited row hides an event from searches, or shows it under another actor), its
 * hourly count rollups, and the idempotency keys (a deleted key lets a retry store an event twice). Runs after verifyStoredLedger
 * has checked the entries themselves, in one more pass over them in index order, reading the derived
 * rows in the same order beside them, so memory stays flat at any ledger size (targets and metadata,
 * which have no index by entry, are compared as per-range digests and read by range only on mismatch).
 *
 * What is compared, and what cannot be, is listed in docs/SECURITY.md ("Idempotency keys and the
 * search index").
 */
import { bytesEqual } from '../core/bytes.js';
import type { Disclosures } from '../core/commitments.js';
import { SealtrailError } from '../core/errors.js';
import { ipBytes } from '../core/ipnet.js';
import type { LeafEnvelope } from '../core/leaf.js';
import { hash } from 'node:crypto';
import { eventIdKey, isLegacyKey, storedIdempotencyKey } from './idempotency.js';
import { searchRecord, type SearchContext, type SearchRecord } from './search-fields.js';
import { hourKey } from './search-sql.js';
import type { IndexedDetailRow, IndexedEventRow, Store, StoredEntry, StoredIdempotencyKey } from './store.js';

/** The search_events columns both stores read back for verification (location columns excepted). */
export const INDEXED_EVENT_COLUMNS =
  'idx, received_at, occurred_at, actor_type, actor_id, actor_name, action, category, tenant, outcome, ip, writer, session_id, device_id';

export interface IndexedEventColumns<N extends number | string> {
  idx: N;
  received_at: N;
  occurred_at: N | null;
  actor_type: string | null;
  actor_id: string | null;
  actor_name: string | null;
  action: string | null;
  category: string | null;
  tenant: string | null;
  outcome: string | null;
  ip: Buffer | null;
  writer: string;
  session_id: string | null;
  device_id: string | null;
}

export function toIndexedEvent(row: IndexedEventColumns<number | string>): IndexedEventRow {
  return {
    index: Number(row.idx),
    receivedAtMicros: Number(row.received_at),
    occurredAtMicros: row.occurred_at === null ? null : Number(row.occurred_at),
    actorType: row.actor_type,
    actorId: row.actor_id,
    actorName: row.actor_name,
    action: row.action,
    category: row.category,
    tenant: row.tenant,
    outcome: row.outcome,
    ip: row.ip === null ? null : new Uint8Array(row.ip),
    writer: row.writer,
    sessionId: row.session_id,
    deviceId: row.device_id,
  };
}

export interface VerifyDerivedOptions {
  /**
   * Entries verifyStoredLedger verified (its `entries`): only derived rows of these are compared, so
   * that appends of a server still running (PostgreSQL) do not read as derived rows without entries.
   */
  size: number;
  /**
   * The HMAC key of stored idempotency keys (idempotencySecret of the signing key). Without it, keys
   * are checked for presence and duplicates only, not for being the right ones.
   */
  idempotencySecret?: Uint8Array;
  /**
   * Writers whose appends came through the HTTP route, which always stores a key for an event with an
   * `id`: the ids of the API keys (and `admin`, the operator token). Others (the server itself, tools
   * that append through the store) may append events with an `id` and no key.
   */
  httpWriters: ReadonlySet<string>;
  /**
   * SQLite indexes in deferred batches: after a crash the newest entries may have no search rows until
   * the next open indexes them. true tolerates such an unindexed tail (it is reported); PostgreSQL
   * indexes in the append's own transaction and tolerates none.
   */
  allowUnindexedTail: boolean;
}

export interface DerivedVerification {
  /** Entries whose search rows were compared. */
  indexed: number;
  /** Entries at the end with no search rows yet (SQLite after a crash; indexed on the next open). */
  unindexedTail: number;
  /** Entries with an idempotency key row. */
  keyed: number;
  /** Whether the stored keys were checked against the HMAC of the event id (the secret was given). */
  keysAuthenticated: boolean;
}

/** Entries per digest range of targets and metadata: a mismatch is then located by reading one range. */
const DIGEST_RANGE_BITS = 12;

function broken(ledger: string, message: string, details: Record<string, unknown> = {}): never {
  throw new SealtrailError('VERIFICATION_FAILED', `${ledger}: ${message}`, { ledger, ...details });
}

const context: SearchContext = { ipBytes };

/** What the index must hold of an entry; undefined for a purged one, which keeps no search rows. */
function expectedRecord(entry: StoredEntry, writer: string): SearchRecord | undefined {
  if (entry.redactions !== undefined && Object.keys(entry.disclosures).length === 0) return undefined;
  return searchRecord(entry.index, entry.receivedAtMicros, writer, entry.disclosures as Disclosures, context);
}

/** The detail rows a record produces: targets deduplicated as the tables' primary keys do (first wins). */
function expectedDetails(record: SearchRecord): IndexedDetailRow[] {
  const rows: IndexedDetailRow[] = [];
  const seen = new Set<string>();
  for (const t of record.targets) {
    const key = JSON.stringify([t.type, t.id]);
    if (seen.has(key)) continue;
    seen.add(key);
    rows.push({ index: record.index, target: t });
  }
  for (const m of record.metadata) rows.push({ index: record.index, metadata: m });
  return rows;
}

function detailText(row: IndexedDetailRow): string {
  return 'target' in row ? JSON.stringify(['target', row.index, row.target.type, row.target.id, row.target.name]) : JSON.stringify(['metadata', row.index, ...row.metadata]);
}

/** An order-independent digest of a set of rows: the sum of their hashes, mod 2^64. */
function rowDigest(row: IndexedDetailRow): bigint {
  return hash('sha256', detailText(row), 'buffer').readBigUInt64BE(0);
}

/**
 * The writer and committed paths of an entry's leaf. verifyStoredLedger has decoded and checked every
 * leaf already (decodeLeaf's canonical-form checks were half of this pass's time); this only reads it.
 */
function leafOf(entry: StoredEntry): Pick<LeafEnvelope, 'writer' | 'commitments'> {
  return JSON.parse(Buffer.from(entry.leaf).toString('utf8')) as LeafEnvelope;
}

function addDigest(digests: Map<number, bigint>, row: IndexedDetailRow): void {
  const range = row.index >> DIGEST_RANGE_BITS;
  digests.set(range, BigInt.asUintN(64, (digests.get(range) ?? 0n) + rowDigest(row)));
}

const COMPARED_COLUMNS = ['receivedAtMicros', 'occurredAtMicros', 'actorType', 'actorId', 'actorName', 'action', 'category', 'tenant', 'outcome', 'writer', 'sessionId', 'deviceId'] as const;

/** The first column in which a stored search row differs from the entry's record, if any. */
function differingColumn(row: IndexedEventRow, record: SearchRecord): string | undefined {
  for (const column of COMPARED_COLUMNS) if (row[column] !== record[column]) return column;
  if ((row.ip === null) !== (record.ip === null) || (row.ip && record.ip && !bytesEqual(row.ip, record.ip))) return 'ip';
  if (row.text !== undefined && row.text !== record.text) return 'text';
  return undefined;
}

/** Pulls one ordered iterator alongside another: everything below an index, then the rows at it. */
class Cursor<T extends { index: number }> {
  private readonly iterator: AsyncIterator<T>;
  private head: T | undefined;
  private done = false;
  constructor(iterable: AsyncIterable<T>) {
    this.iterator = iterable[Symbol.asyncIterator]();
  }
  async peek(): Promise<T | undefined> {
    if (this.head === undefined && !this.done) {
      const next = await this.iterator.next();
      if (next.done) this.done = true;
      else this.head = next.value;
    }
    return this.head;
  }
  async take(): Promise<T | undefined> {
    const value = await this.peek();
    this.head = undefined;
    return value;
  }
}

/**
 * Compares the search index and the idempotency keys of one ledger with its entries, which
 * verifyStoredLedger must have verified first. Throws VERIFICATION_FAILED naming the entry.
 */
export async function verifyDerived(store: Store, ledger: string, options: VerifyDerivedOptions): Promise<DerivedVerification> {
  const all = [Number.MIN_SAFE_INTEGER, options.size] as const;
  const indexRows = new Cursor(store.indexedEvents(ledger, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER));
  const keyRows = new Cursor<StoredIdempotencyKey>(store.idempotencyKeys(ledger));
  const expectedDigests = new Map<number, bigint>();
  const secret = options.idempotencySecret;
  // Without the secret, a deleted key row replaced by a made-up one can only be seen as two entries of
  // one writer with the same event id: remembered as 16-byte fingerprints (~60 bytes per keyed entry).
  const seenIds = secret ? undefined : new Map<string, number>();
  let unindexedFrom: number | undefined;
  let indexed = 0;
  let keyed = 0;
  let count = 0;

  for await (const entry of store.entries(ledger, ...all)) {
    const index = entry.index;
    count = index + 1;
    const { writer, commitments } = leafOf(entry);
    const record = expectedRecord(entry, writer);

    // The search row, in index order beside the entries.
    const stray = await indexRows.peek();
    if (stray && stray.index < index) broken(ledger, `the search index has a row for entry ${stray.index}, which does not exist`, { index: stray.index });
    const row = stray?.index === index ? await indexRows.take() : undefined;
    if (row) {
      if (unindexedFrom !== undefined) broken(ledger, `entry ${unindexedFrom} has no search row: it is hidden from every search`, { index: unindexedFrom });
      if (!record) broken(ledger, `entry ${index} was purged, but the search index still has a row for it`, { index });
      const column = differingColumn(row, record);
      if (column) broken(ledger, `entry ${index}: its search row differs from the entry in ${column}, so searches would not find it as it is`, { index, field: column });
      for (const detail of expectedDetails(record)) addDigest(expectedDigests, detail);
      indexed++;
    } else if (record) {
      if (!options.allowUnindexedTail) broken(ledger, `entry ${index} has no search row: it is hidden from every search`, { index });
      unindexedFrom ??= index;
    }

    // The idempotency key, in index order beside the entries.
    const strayKey = await keyRows.peek();
    if (strayKey && strayKey.index < index) broken(ledger, `an idempotency key answers with entry ${strayKey.index}, which has another key or does not exist`, { index: strayKey.index });
    const keyRow = strayKey?.index === index ? await keyRows.take() : undefined;
    const eventId = Object.hasOwn(entry.disclosures, 'id') ? entry.disclosures['id']![1] : undefined;
    const expectsKey = options.httpWriters.has(writer) && Object.hasOwn(commitments, 'id');
    if (keyRow) {
      keyed++;
      if (typeof eventId === 'string' && options.httpWriters.has(writer)) {
        // A row written before keys were hashed holds the route's raw key; anyone can check that one.
        const expected = isLegacyKey(keyRow.key) ? eventIdKey(eventId) : secret && storedIdempotencyKey(secret, ledger, writer, eventIdKey(eventId));
        if (expected && keyRow.key !== expected) {
          broken(ledger, `entry ${index}: its idempotency key is not the one its event id gives (a key was moved or made up)`, { index, field: 'id' });
        }
      }
    } else if (expectsKey) {
      broken(ledger, `entry ${index} (writer ${writer}) had an event id, but its idempotency key is missing: a retry would be stored twice`, { index, field: 'id' });
    }
    if (seenIds && expectsKey && typeof eventId === 'string') {
      const fingerprint = hash('sha256', JSON.stringify([writer, eventId]), 'base64url').slice(0, 22);
      const first = seenIds.get(fingerprint);
      if (first !== undefined) broken(ledger, `entries ${first} and ${index} of writer ${writer} have the same event id: a retry was stored twice`, { index, field: 'id' });
      seenIds.set(fingerprint, index);
    }
  }

  // Rows past the verified entries: appends of a server still running have their entry (written in
  // the same transaction); anything else was planted.
  for (let extra = await indexRows.take(); extra; extra = await indexRows.take()) {
    if (!(await store.getEntry(ledger, extra.index))) broken(ledger, `the search index has a row for entry ${extra.index}, which does not exist`, { index: extra.index });
  }
  for (let extra = await keyRows.take(); extra; extra = await keyRows.take()) {
    if (extra.index < options.size) broken(ledger, `an idempotency key answers with entry ${extra.index}, which has another key`, { index: extra.index });
    if (!(await store.getEntry(ledger, extra.index))) broken(ledger, `an idempotency key answers with entry ${extra.index}, which does not exist`, { index: extra.index });
  }

  await compareDetails(store, ledger, expectedDigests, options.size);
  await compareRollups(store, ledger);
  return {
    indexed,
    unindexedTail: unindexedFrom === undefined ? 0 : count - unindexedFrom,
    keyed,
    keysAuthenticated: secret !== undefined,
  };
}

/**
 * Targets and metadata: one scan of each table, summed into per-range digests and compared with those
 * of the entries' records; a range that differs is read again, entry by entry, to name the entry.
 */
async function compareDetails(store: Store, ledger: string, expected: Map<number, bigint>, size: number): Promise<void> {
  const stored = new Map<number, bigint>();
  for await (const row of store.indexedDetails(ledger, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)) addDigest(stored, row);
  const ranges = new Set([...expected.keys(), ...stored.keys()]);
  for (const range of [...ranges].sort((a, b) => a - b)) {
    if ((expected.get(range) ?? 0n) === (stored.get(range) ?? 0n)) continue;
    const from = range * 2 ** DIGEST_RANGE_BITS;
    const to = from + 2 ** DIGEST_RANGE_BITS;
    const want = new Map<number, Set<string>>();
    for await (const entry of store.entries(ledger, from, to)) {
      const record = expectedRecord(entry, leafOf(entry).writer);
      want.set(entry.index, new Set(record ? expectedDetails(record).map(detailText) : []));
    }
    const have = new Map<number, Set<string>>();
    for await (const row of store.indexedDetails(ledger, from, to)) {
      const set = have.get(row.index) ?? new Set<string>();
      set.add(detailText(row));
      have.set(row.index, set);
    }
    for (const index of [...new Set([...want.keys(), ...have.keys()])].sort((a, b) => a - b)) {
      const a = want.get(index) ?? new Set<string>();
      const b = have.get(index) ?? new Set<string>();
      const missing = [...a].find((t) => !b.has(t));
      const extra = [...b].find((t) => !a.has(t));
      if (missing || extra) {
        const what = missing ? `lacks ${describeDetail(missing)}` : `has ${describeDetail(extra!)}, which the entry does not`;
        broken(ledger, `entry ${index}: the search index ${what}`, { index });
      }
    }
    // Past the verified entries, rows and entries appended meanwhile agree: nothing to report.
    if (to > size) continue;
    broken(ledger, `the search index's targets or metadata of entries ${from}–${to - 1} differ from the entries`, { index: from });
  }
}

/**
 * The hourly count rollups (src/store/rollups.ts) against a count of the search rows, which the pass
 * above compared with the entries: a rollup edited, or drifted by a write that missed it, shows counts
 * by hour that no search would.
 */
async function compareRollups(store: Store, ledger: string): Promise<void> {
  const mismatch = await store.rollupMismatch(ledger);
  if (!mismatch) return;
  const { dimension, value, hour, stored, counted } = mismatch;
  const of = dimension === '' ? 'the whole ledger' : `${dimension} ${JSON.stringify(value)}`;
  broken(ledger, `the hourly count of ${of} at ${hourKey(hour)} is ${stored ?? 'missing'}, but the search index has ${counted ?? 'no'} such events`, {
    rollup: { dimension, value, hour: hourKey(hour) },
  });
}

function describeDetail(text: string): string {
  const [kind, , ...rest] = JSON.parse(text) as [string, number, ...unknown[]];
  return kind === 'target' ? `a target row ${JSON.stringify(rest[0])}/${JSON.stringify(rest[1])}` : `a metadata row ${JSON.stringify(rest[0])}`;
}
