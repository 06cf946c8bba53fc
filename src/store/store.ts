/**
 * The storage contract every backend (SQLite, PostgreSQL) implements, and that the shared conformance
 * suite in test/store/conformance.ts checks. The server, the CLI and the verifier talk to storage only
 * through this interface.
 *
 * Lifecycle of an event: validated → queued → sequenced and sealed inside one database transaction
 * together with every other event of its batch, the tree hashes it completes and the signed checkpoint
 * of the new tree → committed → acknowledged. A backend MUST NOT resolve an append before the transaction
 * holding it is durable, and MUST NOT commit part of a batch.
 */
import type { Disclosures, Redaction, Redactions } from '../core/commitments.js';
import type { AuditEvent } from '../core/event.js';
import type { RawEntryLike } from '../core/export/raw.js';
import type { HashRange, TileNodes } from '../core/tree.js';
import type { Query } from '../core/query.js';
import type { LegalHold } from '../core/retention.js';
import type { SearchRecord } from './search-fields.js';
import type { RollupMismatch } from './rollups.js';
import type { SinkStateStore } from './sink-state.js';
import type { DetectionStateStore } from './detection-state.js';
import type { SessionStateStore } from './session-state.js';

export interface AppendRequest {
  event: AuditEvent;
  /** Credential id recorded in the leaf as `writer`. */
  writer: string;
  /** Retry-safety key; a second append with the same key returns the first receipt. */
  idempotencyKey?: string;
}

export interface Receipt {
  ledger: string;
  index: number;
  /** Standard base64 of the RFC 6962 leaf hash. */
  leafHash: string;
  receivedAt: string;
  /** The signed checkpoint (C2SP signed note) of the batch that sealed this event. */
  checkpoint: string;
  /** Tree size of that checkpoint. */
  treeSize: number;
  /** True when this receipt answers a retry of an event already sealed. */
  duplicate: boolean;
}

export interface LedgerInfo {
  name: string;
  origin: string;
  createdAt: string;
  size: number;
}

export interface StoredEntry {
  ledger: string;
  index: number;
  receivedAtMicros: number;
  leaf: Uint8Array;
  leafHash: Uint8Array;
  disclosures: Disclosures;
  /** Fields whose value was removed after sealing, and why; absent when nothing was. */
  redactions?: Redactions;
}

export type { Redaction, Redactions } from '../core/commitments.js';

/** One event's fields to forget through Store.forget. */
export interface ForgetRequest {
  index: number;
  /** Field paths to remove; '*' for every field of the event (a retention purge). */
  paths: string[] | '*';
  reason: Redaction;
  /**
   * Index, in the system ledger, of the sealed forgetting record that names this removal
   * (src/core/forgetting.ts; authoriseForget in src/store/forget.ts seals one). Required unless the
   * call is a dry run: the database refuses a redaction no such record names, and verification fails.
   */
  authorisedBy?: number;
}

export interface ForgetOptions {
  /** Decide everything (holds included) inside the transactions, then roll them back. */
  dryRun?: boolean;
  /**
   * false: leave the removal of old copies from the files to a later scrubFiles() call, so that a run of
   * many forget calls rewrites the files once. Default true.
   */
  scrub?: boolean;
}

export interface ForgetResult {
  /** Indexes whose stored values changed. */
  changed: number[];
  /** Indexes left untouched because an active legal hold covers them. */
  held: number[];
  /** Field values removed in all. */
  fieldsRemoved: number;
}

export interface LegacyRedaction {
  ledger: string;
  index: number;
  redactions: Redactions;
}

export interface StoredPolicy {
  version: number;
  /** The policy document as JSON (see src/core/retention.ts). */
  policy: string;
  changedAtMicros: number;
  changedBy: string;
}

export interface StoredCheckpoint {
  ledger: string;
  size: number;
  rootHash: Uint8Array;
  /** The signed note, exactly as signed. */
  note: string;
  /** The compact range of the tree at this size, as stored (unsigned: verify before use). */
  frontier: Uint8Array;
  createdAtMicros: number;
}

export interface SearchRequest {
  query: Query;
  /** Most entries in the page (1–1000). */
  limit: number;
  /** 'desc': newest first (the default order of the API); 'asc': oldest first. */
  order: 'asc' | 'desc';
  /** Continue after this index (exclusive), as returned in `next` of the previous page. */
  after?: number;
}

/**
 * Where an event's origin IP was, as the deployment's geolocation database placed it when the event was
 * indexed. Derived from `origin.ip`, not sealed, and gone with it when that field is erased or purged.
 */
export interface IpLocation {
  /** ISO 3166-1 alpha-2 code, upper case. */
  country?: string;
  /** First-level subdivision (state, region), as the database names it. */
  region?: string;
  city?: string;
  latitude?: number;
  longitude?: number;
  /** Set instead of the others for special-purpose addresses (private, loopback, documentation, …). */
  reserved?: string;
}

/** A search result: the stored entry and what the index derived from it. */
export interface SearchHit extends StoredEntry {
  /** Absent when the event has no origin IP or geolocation knows nothing of it. */
  location?: IpLocation;
}

export interface SearchPage {
  entries: SearchHit[];
  /** Index to pass as `after` for the next page; null on the last page. */
  next: number | null;
}

/**
 * A search hit as bulk readers (exports) take it: the leaf's writer (core/export writerFromLeaf) instead
 * of the whole leaf, and the disclosures as the stored JSON text, written by JSON.stringify, left for
 * the reader to parse only if it must (core/export/raw.ts mostly need not). Same entry, same location.
 */
export interface ExportHit extends RawEntryLike {
  redactions?: Redactions;
  location?: IpLocation;
}

export interface ExportPage {
  entries: ExportHit[];
  next: number | null;
}

/**
 * One event's row of the search index as stored (search_events), read back to compare it with the
 * entry it was derived from (src/store/verify-derived.ts). Location columns are left out: they come
 * from the geolocation database of the day the event was indexed, which verification cannot replay.
 */
export type IndexedEventRow = Omit<SearchRecord, 'location' | 'targets' | 'metadata' | 'text'> & {
  /** The free text as stored; undefined where it cannot be read back (SQLite's contentless FTS5 index). */
  text?: string;
};

/** A target or metadata row of the search index, for the same comparison. */
export type IndexedDetailRow =
  | { index: number; target: { type: string; id: string; name: string | null } }
  | { index: number; metadata: [key: string, value: string] };

/** A stored idempotency key (its stored form: src/store/idempotency.ts) and the entry it answers with. */
export interface StoredIdempotencyKey {
  index: number;
  key: string;
}

/** Stats groupings; `target` keys read `type:id`, `day` is the UTC date of received_at, `ip` the origin address. */
export const STATS_DIMENSIONS = ['actor', 'action', 'hour', 'country', 'outcome', 'tenant', 'category', 'ip', 'target', 'day'] as const;
export type StatsDimension = (typeof STATS_DIMENSIONS)[number];

export type Role = 'writer' | 'reader' | 'auditor' | 'admin';
export const ROLES: readonly Role[] = ['writer', 'reader', 'auditor', 'admin'];

export interface ApiKeyRecord {
  id: string;
  role: Role;
  /** Ledger names the key may use; ['*'] means every ledger. */
  ledgers: string[];
  /** Tenants (the event field `tenant`) the key may write or read within those ledgers; ['*'] means all. */
  tenants: string[];
  description: string;
  createdAtMicros: number;
  expiresAtMicros: number | null;
  revokedAtMicros: number | null;
  /** SHA-256 of the secret part of the token. Never the secret itself. */
  secretHash: Uint8Array;
}

/** Errors a caller must branch on, with their HTTP mapping in src/server/errors.ts. */
export type StoreErrorCode =
  | 'LEDGER_NOT_FOUND'
  | 'IDEMPOTENCY_CONFLICT'
  | 'NOT_FOUND'
  | 'OVERLOADED'
  /** A search or stats read ran past the store's time budget and was cancelled; `details.budgetMs`. */
  | 'QUERY_TIMEOUT'
  | 'SCHEMA_TOO_NEW'
  /** Stored data contradicts what was signed (tampering or damage); the store refuses to build on it. */
  | 'CORRUPT'
  /** The ledger failed the running server's integrity checks (src/store/integrity.ts): appends are refused. */
  | 'LEDGER_INTEGRITY';

export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

export interface Store {
  /** Creates a ledger; returns false if it already existed (idempotent). */
  createLedger(name: string): Promise<boolean>;
  getLedger(name: string): Promise<LedgerInfo | undefined>;
  listLedgers(): Promise<LedgerInfo[]>;

  /**
   * Seals and durably commits the events, in order, as part of a group commit shared with concurrent
   * callers. Resolves to one receipt per request, in order, once everything is durable. Rejects with
   * LEDGER_NOT_FOUND, IDEMPOTENCY_CONFLICT (same key, different event) or OVERLOADED; in every
   * rejection none of the requests of this call is stored.
   */
  append(ledger: string, requests: AppendRequest[]): Promise<Receipt[]>;

  latestCheckpoint(ledger: string): Promise<StoredCheckpoint | undefined>;
  /** Stored checkpoints with from ≤ size ≤ to, by increasing size. */
  checkpoints(ledger: string, from?: number, to?: number): Promise<StoredCheckpoint[]>;
  getEntry(ledger: string, index: number): Promise<StoredEntry | undefined>;
  /** Entries [from, to) in index order, in pages, for verification and streaming consumers. */
  entries(ledger: string, from: number, to: number): AsyncIterable<StoredEntry>;
  /** Stored tree hashes for each range (level 0 = leaf hashes); see planInclusionProof. */
  readHashes(ledger: string, ranges: HashRange[]): Promise<Uint8Array[][]>;
  /**
   * The stored interior nodes of full tiles (TileNodes, docs/FORMAT.md), one per request in order,
   * undefined where none is stored. Derived from the stored hashes, like tree hashes: written as appends
   * complete tiles, and by writeTileNodes for tiles computed on demand (appended before schema 15, or
   * completed by a process restarted mid-tile).
   */
  readTileNodes(ledger: string, tiles: ReadonlyArray<{ level: number; tile: number }>): Promise<Array<Uint8Array | undefined>>;
  /** Stores interior nodes computed from the stored hashes; a tile already stored is left as it is. No-op when read-only. */
  writeTileNodes(ledger: string, tiles: readonly TileNodes[]): Promise<void>;

  /**
   * Entries matching the query, in index order, one page at a time. Exact and complete for everything
   * acknowledged before the call (SQLite indexes in deferred batches and first indexes whatever
   * acknowledged entries still wait; PostgreSQL indexes in the append's own transaction). Pages are
   * stable under concurrent appends: cursors are indexes, which never change.
   */
  search(ledger: string, request: SearchRequest): Promise<SearchPage>;
  /**
   * search() for bulk readers (exports): the same request (same limits) answers with the same entries,
   * locations and `next`, as ExportHits. SQLite reads these pages on a thread of their own with a small
   * page cache (a scan reads each page once), so that a long export neither grows the process by the
   * search threads' caches nor evicts what they hold.
   */
  searchForExport(ledger: string, request: SearchRequest): Promise<ExportPage>;
  /** Counts of matching entries grouped by one dimension, largest first (hour: chronological). */
  stats(ledger: string, query: Query, by: StatsDimension, limit: number): Promise<Array<{ key: string | null; count: number }>>;

  /**
   * For verification of what is derived from the entries (src/store/verify-derived.ts), read as stored
   * (SQLite first writes the records its own process still holds in memory, never re-deriving from the
   * entries what the index lacks): search_events rows with from ≤ idx < to, in index order;
   * target and metadata rows in that range, in no particular order; idempotency keys in index order.
   */
  indexedEvents(ledger: string, from: number, to: number): AsyncIterable<IndexedEventRow>;
  indexedDetails(ledger: string, from: number, to: number): AsyncIterable<IndexedDetailRow>;
  /**
   * The first hourly count rollup row (src/store/rollups.ts) that differs from a count of the search
   * rows it summarises, read in one statement (one snapshot); undefined when they all agree.
   */
  rollupMismatch(ledger: string): Promise<RollupMismatch | undefined>;
  idempotencyKeys(ledger: string): AsyncIterable<StoredIdempotencyKey>;

  createApiKey(key: ApiKeyRecord): Promise<void>;
  getApiKey(id: string): Promise<ApiKeyRecord | undefined>;
  listApiKeys(): Promise<ApiKeyRecord[]>;
  /** Returns false when no such key exists. Revocation is immediate for every later request. */
  revokeApiKey(id: string, atMicros: number): Promise<boolean>;

  /**
   * The one narrow path by which stored data is ever reduced: removes the named fields' disclosures
   * (salt and value together, so nothing left can be brute-forced), records them in the entry's
   * redactions, and rewrites the entry's search rows from what remains (none for a purge). Leaves,
   * tree hashes and checkpoints are untouched, so every proof still verifies. Events covered by an
   * active legal hold are skipped and reported, checked in the same transaction that changes the rest.
   * Once the call returns, the removed values are gone from the database files (SQLite: overwritten
   * in place and the WAL truncated; PostgreSQL: see docs/RETENTION.md), unless `scrub: false` asked
   * to leave that to scrubFiles().
   */
  forget(ledger: string, requests: ForgetRequest[], options?: ForgetOptions): Promise<ForgetResult>;
  /** Removes old copies of forgotten values from the files (SQLite); nothing to do on PostgreSQL. */
  scrubFiles(): Promise<void>;
  /**
   * Redactions made before forgetting records existed, as the schema upgrade listed them once (nothing
   * can be added to the list later), oldest ledger entry first; empty once settled.
   */
  legacyRedactions(): Promise<LegacyRedaction[]>;
  /** Drops these entries from the legacy list, once a sealed record attests their redactions. */
  settleLegacyRedactions(entries: Array<{ ledger: string; index: number }>): Promise<void>;

  /** The current retention policy; undefined when none was ever set (nothing expires). */
  retentionPolicy(): Promise<StoredPolicy | undefined>;
  /** Stores a new policy version (history is kept); returns its version number. */
  putRetentionPolicy(policy: string, changedBy: string, atMicros: number): Promise<number>;
  createLegalHold(hold: LegalHold): Promise<void>;
  /** Every hold, active and released, oldest first. */
  legalHolds(): Promise<LegalHold[]>;
  /** Returns false when no such hold exists or it was already released. */
  releaseLegalHold(id: string, releasedBy: string, atMicros: number, reason: string): Promise<boolean>;

  /**
   * Takes or renews the named lease of background work (src/store/lease.ts) for `holder` until
   * `untilMicros`: true when it is now `holder`'s, false while another holder's lease runs. A lease
   * whose time has passed goes to whoever claims it next; claiming with `untilMicros` < `nowMicros`
   * hands one's own lease back.
   */
  claimLease(name: string, holder: string, nowMicros: number, untilMicros: number): Promise<boolean>;

  /**
   * Calls `listener` after each batch this process appended is durable and acknowledged, with the
   * ledger's new size. Appends by other processes sharing the database are not announced: consumers
   * that must see them poll (src/store/follow.ts does both). Returns the unsubscribe function.
   */
  onAppended(listener: (ledger: string, size: number) => void): () => void;

  /**
   * Acknowledged events of this process whose search rows are still to be written (a store that
   * indexes in the append's own transaction has none and leaves this out). Searches never see the gap:
   * they index what waits first. For the operator's view of the background indexer's backlog.
   */
  searchIndexBacklog?(): number;

  /** Streams' sinks, cursors and dead letters (src/store/sink-state.ts). */
  readonly sinks: SinkStateStore;
  /** The detection engine's cursors, states, alerts, outbox, rules and departures (src/store/detection-state.ts). */
  readonly detection: DetectionStateStore;
  /** Console sign-in sessions (src/store/session-state.ts). */
  readonly sessions: SessionStateStore;

  close(): Promise<void>;
}
