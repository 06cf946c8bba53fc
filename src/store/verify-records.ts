/**
 * API keys and legal holds checked against their sealed records in the system ledger. Their rows live in
 * ordinary tables (api_keys, legal_holds) that whoever can write the database can change; the records of
 * their creation, revocation and release are sealed events. A row is trusted only as far as it equals
 * what was sealed about it: an inserted key, an un-expired or un-revoked one, a deleted, edited or
 * un-released hold all differ from their records. The server (src/server/key-registry.ts) checks keys
 * as they authenticate; `sealtrail verify` checks every key and hold with verifySealedRecords.
 */
import { createHash } from 'node:crypto';
import { toBase64Url } from '../core/bytes.js';
import { canonicalJson, type Disclosures } from '../core/commitments.js';
import type { CryptoSuite } from '../core/crypto.js';
import { SealtrailError } from '../core/errors.js';
import { decodeLeaf, verifyDisclosures } from '../core/leaf.js';
import { SERVER_WRITER } from '../core/forgetting.js';
import type { LegalHold } from '../core/retention.js';
import type { ApiKeyRecord, Store, StoredEntry } from './store.js';

export const KEY_RECORD = {
  /** A key was made (POST /v1/keys, or the admin key of the first start). */
  create: 'key.create',
  /** A key made before keys were sealed: its state as the database held it when the server upgraded. */
  attest: 'key.attest',
  revoke: 'key.revoke',
  /** From here on every key has a sealed record; sealed once, with the attestations of older keys. */
  start: 'key.records.start',
} as const;
export const HOLD_RECORD = { create: 'legal_hold.create', release: 'legal_hold.release' } as const;
/**
 * The metadata field only the start record has. Field names stay in the leaf when a purge removes the
 * values, so the start record is still recognised then: a purge must not make the server attest again.
 */
export const KEY_RECORDS_START_FIELD = 'metadata.keys_attested';
/** Whether a leaf is that of the start record, whatever was forgotten of it since. */
export function isKeyRecordsStart(leaf: Uint8Array): boolean {
  const envelope = decodeLeaf(leaf);
  return envelope.writer === SERVER_WRITER && Object.hasOwn(envelope.commitments, KEY_RECORDS_START_FIELD);
}
/** The actions the key registry reads; an index search for them finds every key record. */
export const KEY_RECORD_ACTIONS: readonly string[] = Object.values(KEY_RECORD);

/** What the sealed records say about one API key; compared field by field with its row. */
export interface SealedKeyState {
  id: string;
  role: string;
  /** Digest of the ledgers and tenants lists, as stored. */
  scope: string;
  createdAtMicros: number;
  expiresAtMicros: number | null;
  /** SHA-256 of the stored secret hash: a row with another secret differs, and no secret is sealed. */
  secretDigest: string;
  revokedAtMicros: number | null;
}

/** What the sealed records say about one legal hold. Fields absent from an older or forgotten record are undefined. */
export interface SealedHold {
  id: string;
  ledgers?: string;
  query?: string;
  reason?: string;
  owner?: string;
  createdBy?: string;
  createdAtMicros?: number;
  digest?: string;
  released: boolean;
  releasedBy?: string;
  releaseReason?: string;
  releasedAtMicros?: number;
}

const digest = (value: unknown): string => toBase64Url(createHash('sha256').update(typeof value === 'string' ? value : canonicalJson(value)).digest());

export function keyStateOf(key: ApiKeyRecord): SealedKeyState {
  return {
    id: key.id,
    role: key.role,
    scope: digest([key.ledgers, key.tenants]),
    createdAtMicros: key.createdAtMicros,
    expiresAtMicros: key.expiresAtMicros,
    secretDigest: toBase64Url(createHash('sha256').update(key.secretHash).digest()),
    revokedAtMicros: key.revokedAtMicros,
  };
}

/** Scope lists are sealed for people to read only while they are short; the digest is what is compared. */
const READABLE_SCOPE_CHARS = 2000;

/** Metadata of a key.create or key.attest record: everything needed to check the row, never the secret. */
export function keyRecordMetadata(key: ApiKeyRecord): Record<string, unknown> {
  const state = keyStateOf(key);
  const readable = JSON.stringify([key.ledgers, key.tenants]).length <= READABLE_SCOPE_CHARS;
  return {
    key_id: state.id,
    key_role: state.role,
    key_scope: state.scope,
    ...(readable ? { key_ledgers: key.ledgers.join(','), key_tenants: key.tenants.join(',') } : {}),
    key_created_at: state.createdAtMicros,
    key_expires_at: state.expiresAtMicros,
    key_secret_digest: state.secretDigest,
    key_revoked_at: state.revokedAtMicros,
  };
}

/** The same metadata from a sealed state alone (a reseal: a copy of what was sealed, not of the row). */
export function sealedStateMetadata(state: SealedKeyState): Record<string, unknown> {
  return {
    key_id: state.id,
    key_role: state.role,
    key_scope: state.scope,
    key_created_at: state.createdAtMicros,
    key_expires_at: state.expiresAtMicros,
    key_secret_digest: state.secretDigest,
    key_revoked_at: state.revokedAtMicros,
    resealed: true,
  };
}

export function keyRevocationMetadata(id: string, revokedAtMicros: number): Record<string, unknown> {
  return { key_id: id, key_revoked_at: revokedAtMicros };
}

function holdCreationFields(hold: LegalHold) {
  return { id: hold.id, ledgers: hold.ledgers, query: hold.query, reason: hold.reason, owner: hold.owner, created_at: hold.createdAtMicros, created_by: hold.createdBy };
}

/**
 * Metadata of a legal_hold.create record. The digest covers every creation field, so the hold is still
 * checkable when the readable reason or owner were erased from the record (they may name a person).
 */
export function holdRecordMetadata(hold: LegalHold): Record<string, unknown> {
  return {
    ledgers: hold.ledgers.join(','),
    query: hold.query || '(everything)',
    reason: hold.reason,
    owner: hold.owner,
    created_at: hold.createdAtMicros,
    hold_digest: digest(holdCreationFields(hold)),
  };
}

export function holdReleaseMetadata(reason: string, releasedAtMicros: number): Record<string, unknown> {
  return { reason, released_at: releasedAtMicros };
}

/**
 * Names of the fields in which a key row differs from its sealed state ([] when it equals it). Plain
 * comparison is fine: both sides are server-side digests, and the presented token was already checked
 * against the row in constant time.
 */
export function keyDifferences(row: ApiKeyRecord, sealed: SealedKeyState | undefined): string[] {
  if (!sealed) return ['sealed record'];
  const actual = keyStateOf(row);
  const names: Array<[keyof SealedKeyState, string]> = [
    ['role', 'role'],
    ['scope', 'ledgers/tenants'],
    ['createdAtMicros', 'created_at'],
    ['expiresAtMicros', 'expires_at'],
    ['secretDigest', 'secret'],
    ['revokedAtMicros', 'revoked_at'],
  ];
  return names.filter(([field]) => actual[field] !== sealed[field]).map(([, name]) => name);
}

export function holdDifferences(row: LegalHold, sealed: SealedHold): string[] {
  const differs: string[] = [];
  const check = (name: string, recorded: unknown, actual: unknown) => {
    if (recorded !== undefined && recorded !== actual) differs.push(name);
  };
  check('ledgers', sealed.ledgers, row.ledgers.join(','));
  check('query', sealed.query, row.query || '(everything)');
  check('reason', sealed.reason, row.reason);
  check('owner', sealed.owner, row.owner);
  check('created_by', sealed.createdBy, row.createdBy);
  check('created_at', sealed.createdAtMicros, row.createdAtMicros);
  check('digest', sealed.digest, digest(holdCreationFields(row)));
  if (sealed.released !== (row.releasedAtMicros !== null)) differs.push('release state');
  else if (sealed.released) {
    check('released_by', sealed.releasedBy, row.releasedBy);
    check('release_reason', sealed.releaseReason, row.releaseReason);
    check('released_at', sealed.releasedAtMicros, row.releasedAtMicros);
  }
  return differs;
}

/**
 * Folds system-ledger entries, in index order, into the sealed state of every key and hold. Only
 * successful records by the server itself count, and only disclosures that open their leaf's
 * commitments; the caller vouches that the leaves are in the signed tree.
 */
export class SealedRecords {
  readonly keys = new Map<string, SealedKeyState>();
  readonly holds = new Map<string, SealedHold>();
  /** Whether the key.records.start record was seen: from then on every key must have a sealed state. */
  keysSealed = false;
  /** When the newest readable start record was sealed. */
  startSealedAtMicros = 0;
  /** When each key's state was last sealed (received_at of its newest record). */
  readonly sealedAtMicros = new Map<string, number>();
  /** Whether it was seen only with its values purged (so the search index no longer finds it). */
  startPurged = false;
  /** System-ledger records that may have been of keys or holds but whose fields were forgotten (purged). */
  unreadable = 0;
  /** The first few of their indexes, for the message. */
  readonly unreadableIndexes: number[] = [];

  constructor(private readonly suite: CryptoSuite) {}

  /** Whether the entry is a record of keys or holds; throws COMMITMENT_MISMATCH for a disclosure its leaf does not commit to. */
  add(entry: StoredEntry): boolean {
    const envelope = decodeLeaf(entry.leaf);
    if (envelope.writer !== SERVER_WRITER) return false;
    const field = (path: string): unknown => valueOf(entry.disclosures, path);
    const action = field('action');
    const recordsKeys = typeof action === 'string' && KEY_RECORD_ACTIONS.includes(action);
    const recordsHolds = action === HOLD_RECORD.create || action === HOLD_RECORD.release;
    if (action === undefined && Object.hasOwn(envelope.commitments, 'action')) {
      if (Object.hasOwn(envelope.commitments, KEY_RECORDS_START_FIELD)) {
        if (!this.keysSealed) this.startPurged = true;
        this.keysSealed = true;
        return true;
      }
      this.markUnreadable(entry.index);
    }
    if (!recordsKeys && !recordsHolds) return false;
    // Only records that count are opened: the rest of the ledger is verifyStoredLedger's to check.
    verifyDisclosures(this.suite, envelope, entry.disclosures);
    if (field('outcome') !== 'success') return true;
    if (action === KEY_RECORD.start) {
      this.startPurged = false;
      this.keysSealed = true;
      this.startSealedAtMicros = entry.receivedAtMicros;
    }
    else if (action === KEY_RECORD.create || action === KEY_RECORD.attest) this.addKeyState(entry, field);
    else if (action === KEY_RECORD.revoke) {
      const id = field('metadata.key_id');
      const at = field('metadata.key_revoked_at');
      const state = typeof id === 'string' ? this.keys.get(id) : undefined;
      // A revocation is final: a later record cannot move its time (the row's revoked_at is set once too).
      if (state && typeof at === 'number' && state.revokedAtMicros === null) {
        state.revokedAtMicros = at;
        this.sealedAtMicros.set(state.id, entry.receivedAtMicros);
      }
    } else this.addHoldRecord(entry.index, action as string, field);
    return true;
  }

  private markUnreadable(index: number): void {
    this.unreadable++;
    if (this.unreadableIndexes.length < 5) this.unreadableIndexes.push(index);
  }

  private addKeyState(entry: StoredEntry, field: (path: string) => unknown): void {
    const index = entry.index;
    const id = field('metadata.key_id');
    // Records from before keys were sealed (no key_id) carry nothing to check: their keys were attested.
    if (id === undefined) return;
    const state = {
      id,
      role: field('metadata.key_role'),
      scope: field('metadata.key_scope'),
      createdAtMicros: field('metadata.key_created_at'),
      expiresAtMicros: field('metadata.key_expires_at'),
      secretDigest: field('metadata.key_secret_digest'),
      revokedAtMicros: field('metadata.key_revoked_at') ?? null,
    };
    const complete =
      typeof state.id === 'string' &&
      typeof state.role === 'string' &&
      typeof state.scope === 'string' &&
      typeof state.createdAtMicros === 'number' &&
      (state.expiresAtMicros === null || typeof state.expiresAtMicros === 'number') &&
      typeof state.secretDigest === 'string' &&
      (state.revokedAtMicros === null || typeof state.revokedAtMicros === 'number');
    if (!complete) {
      this.markUnreadable(index);
      return;
    }
    const sealed = state as SealedKeyState;
    // A revocation is final: a later copy of the key's state (a reseal racing it) cannot undo it.
    const earlier = this.keys.get(sealed.id);
    if (earlier?.revokedAtMicros != null && sealed.revokedAtMicros === null) sealed.revokedAtMicros = earlier.revokedAtMicros;
    this.keys.set(sealed.id, sealed);
    this.sealedAtMicros.set(sealed.id, entry.receivedAtMicros);
  }

  private addHoldRecord(index: number, action: string, field: (path: string) => unknown): void {
    const target = field('targets.0') as { type?: unknown; id?: unknown } | undefined;
    if (target?.type !== 'legal_hold' || typeof target.id !== 'string') {
      this.markUnreadable(index);
      return;
    }
    const text = (path: string) => (typeof field(path) === 'string' ? (field(path) as string) : undefined);
    const number = (path: string) => (typeof field(path) === 'number' ? (field(path) as number) : undefined);
    if (action === HOLD_RECORD.create) {
      this.holds.set(target.id, {
        id: target.id,
        ledgers: text('metadata.ledgers'),
        query: text('metadata.query'),
        reason: text('metadata.reason'),
        owner: text('metadata.owner'),
        createdBy: text('actor.id'),
        createdAtMicros: number('metadata.created_at'),
        digest: text('metadata.hold_digest'),
        released: false,
      });
      return;
    }
    const hold = this.holds.get(target.id) ?? { id: target.id, released: false };
    this.holds.set(target.id, { ...hold, released: true, releasedBy: text('actor.id'), releaseReason: text('metadata.reason'), releasedAtMicros: number('metadata.released_at') });
  }
}

function valueOf(disclosures: Disclosures, path: string): unknown {
  return Object.hasOwn(disclosures, path) ? disclosures[path]![1] : undefined;
}

export interface RecordsVerification {
  keys: number;
  holds: number;
  /** False for a store no server has started on since keys were sealed: its keys could not be checked. */
  keysChecked: boolean;
}

/**
 * Every row has its sealed record and matches it, and every sealed one has its row; the first that
 * does not fails, named by `label` and id.
 */
function compareWithSealed<Row extends { id: string }, Sealed>(
  what: { label: string; detail: 'key' | 'hold'; record: 'record' | 'records'; forgotten: string },
  rows: Row[],
  sealed: ReadonlyMap<string, Sealed>,
  differences: (row: Row, sealed: Sealed) => string[],
): void {
  const ids = new Set<string>();
  for (const row of rows) {
    ids.add(row.id);
    const record = sealed.get(row.id);
    if (!record) broken(`${what.label} ${row.id}: no sealed record of its creation: the row was not made by sealtrail${what.forgotten}`, { [what.detail]: row.id });
    const differs = differences(row, record);
    if (differs.length > 0) broken(`${what.label} ${row.id}: its row differs from its sealed ${what.record} in ${differs.join(', ')}`, { [what.detail]: row.id, fields: differs });
  }
  for (const id of sealed.keys()) if (!ids.has(id)) broken(`${what.label} ${id}: sealed, but its row is missing`, { [what.detail]: id });
}

function broken(message: string, details: Record<string, unknown>): never {
  throw new SealtrailError('VERIFICATION_FAILED', message, details);
}

/**
 * Every key row equals its sealed state and every sealed key has its row; every sealed hold has its row
 * with the same creation fields and release state, and every hold row was sealed. Reads the whole
 * system ledger; call it after verifyStoredLedger has checked that ledger's leaves and tree.
 */
export async function verifySealedRecords(store: Store, systemLedger: string, suite: CryptoSuite): Promise<RecordsVerification> {
  const records = new SealedRecords(suite);
  if (await store.getLedger(systemLedger)) {
    for await (const entry of store.entries(systemLedger, 0, Number.MAX_SAFE_INTEGER)) {
      try {
        records.add(entry);
      } catch (cause) {
        broken(`${systemLedger}: entry ${entry.index}: ${(cause as Error).message}`, { ledger: systemLedger, index: entry.index });
      }
    }
  }
  const forgotten =
    records.unreadable > 0 ? ` (or its record was purged: ${records.unreadable} system records have forgotten fields, from index ${records.unreadableIndexes.join(', ')})` : '';
  const keys = await store.listApiKeys();
  if (records.keysSealed) {
    compareWithSealed({ label: 'API key', detail: 'key', record: 'record', forgotten }, keys, records.keys, keyDifferences);
  }
  const holds = await store.legalHolds();
  compareWithSealed({ label: 'legal hold', detail: 'hold', record: 'records', forgotten }, holds, records.holds, holdDifferences);
  return { keys: keys.length, holds: holds.length, keysChecked: records.keysSealed };
}
