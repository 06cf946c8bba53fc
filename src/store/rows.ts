/**
 * Row shapes shared by the SQL backends and their conversion to store records. Integer columns come
 * back as numbers from SQLite and as decimal strings from PostgreSQL (BIGINT); the row types take the
 * backend's integer type.
 */
import type { Disclosures } from '../core/commitments.js';
import { locationFromRow, type LocationRow } from './search-fields.js';
import { writerFromLeaf } from '../core/export/record.js';
import type { ApiKeyRecord, ExportHit, Redactions, Role, SearchHit, StoredCheckpoint, StoredEntry } from './store.js';

/** SQLite returns integers as numbers, PostgreSQL BIGINT as decimal strings. */
type Int = number | string;

export interface EntryRow<I extends Int = Int> {
  idx: I;
  received_at: I;
  leaf: Buffer;
  leaf_hash: Buffer;
  disclosures: string;
  /** JSON {path: reason} of forgotten fields; NULL while nothing was. */
  redactions: string | null;
}

/** A search result row: the entry and the location columns of its search row. */
export type HitRow<I extends Int = Int> = EntryRow<I> & LocationRow;

export interface CheckpointRow<I extends Int = Int> {
  size: I;
  root: Buffer;
  note: string;
  frontier: Buffer;
  created_at: I;
}

export interface ApiKeyRow {
  id: string;
  secret_hash: Buffer;
  role: string;
  ledgers: string;
  tenants: string;
  description: string;
  created_at: Int;
  expires_at: Int | null;
  revoked_at: Int | null;
}

const optionalNumber = (value: Int | null) => (value === null ? null : Number(value));

export function toEntry(ledger: string, row: EntryRow): StoredEntry {
  return {
    ledger,
    index: Number(row.idx),
    receivedAtMicros: Number(row.received_at),
    leaf: row.leaf,
    leafHash: row.leaf_hash,
    disclosures: JSON.parse(row.disclosures) as Disclosures,
    ...(row.redactions ? { redactions: JSON.parse(row.redactions) as Redactions } : {}),
  };
}

export function toHit(ledger: string, row: HitRow): SearchHit {
  const location = locationFromRow(row);
  return { ...toEntry(ledger, row), ...(location ? { location } : {}) };
}

/** How much of a leaf's end a SQLite export page reads (as text, `leaf_tail`): `"writer":"<id>"}` for every valid id (WRITER_ID: up to 128 characters). */
export const LEAF_TAIL_BYTES = 144;

/**
 * writerFromLeaf of a leaf from its last bytes, as text: the same answer whenever the tail holds the
 * whole `"writer":"<id>"}` in ASCII; undefined otherwise (a longer or non-ASCII id, a tail cut inside
 * the member, a corrupt leaf), when the caller reads the whole leaf.
 */
export function writerFromTail(tail: string): string | undefined {
  const end = tail.length - 2;
  if (end < 10 || tail.charCodeAt(end + 1) !== 0x7d || tail.charCodeAt(end) !== 0x22) return undefined;
  const start = tail.lastIndexOf('"', end - 1);
  if (start < 9 || tail.slice(start - 9, start) !== '"writer":') return undefined;
  const id = tail.slice(start + 1, end);
  for (let i = 0; i < id.length; i++) if (id.charCodeAt(i) > 0x7f) return undefined;
  return id;
}

/** A search row as an ExportHit, its writer read from the whole leaf (PostgreSQL; SQLite reads the tail). */
export function toExportHit(ledger: string, row: HitRow): ExportHit {
  const location = locationFromRow(row);
  return {
    ledger,
    index: Number(row.idx),
    receivedAtMicros: Number(row.received_at),
    leafHash: row.leaf_hash,
    writer: writerFromLeaf(row.leaf),
    disclosuresJson: row.disclosures,
    ...(row.redactions ? { redactions: JSON.parse(row.redactions) as Redactions } : {}),
    ...(location ? { location } : {}),
  };
}

export function toCheckpoint(ledger: string, row: CheckpointRow): StoredCheckpoint {
  return {
    ledger,
    size: Number(row.size),
    rootHash: row.root,
    note: row.note,
    frontier: row.frontier,
    createdAtMicros: Number(row.created_at),
  };
}

export function toApiKey(row: ApiKeyRow): ApiKeyRecord {
  return {
    id: row.id,
    secretHash: row.secret_hash,
    role: row.role as Role,
    ledgers: JSON.parse(row.ledgers) as string[],
    tenants: JSON.parse(row.tenants) as string[],
    description: row.description,
    createdAtMicros: Number(row.created_at),
    expiresAtMicros: optionalNumber(row.expires_at),
    revokedAtMicros: optionalNumber(row.revoked_at),
  };
}
