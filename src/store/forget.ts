/**
 * What both SQL backends share of forgetting (Store.forget): deciding an entry's reduced disclosures
 * and redactions, the search records before and after, and the legal-hold check as one SQL condition.
 */
import type { Disclosures, Redaction } from '../core/commitments.js';
import { validateEvent, type AuditEvent } from '../core/event.js';
import { decodeLeaf, verifyDisclosures } from '../core/leaf.js';
import type { CryptoSuite } from '../core/crypto.js';
import type { NoteVerifier } from '../core/note.js';
import { latestSignedTree, proveIncluded, type SignedTree } from './signed-tree.js';
import { FORGET_ACTION, FORGET_PATH, ForgetAuthorisations, forgetRecordEvent, grantOf, planGrants, SERVER_WRITER, SYSTEM_LEDGER, type GrantSource } from '../core/forgetting.js';
import { parseQuery } from '../core/query.js';
import { holdCovers, type LegalHold } from '../core/retention.js';
import { searchRecord, type SearchContext, type SearchRecord } from './search-fields.js';
import { compileWhere, type Dialect } from './search-sql.js';
import { StoreError, type ForgetRequest, type ForgetResult, type Redactions, type Store } from './store.js';

/** Entries forgotten per transaction: bounds lock time and the size of the hold check's IN list. */
export const FORGET_CHUNK = 500;

export interface ForgettableRow {
  idx: number | string;
  received_at: number | string;
  leaf: Buffer;
  disclosures: string;
  redactions: string | null;
}

export interface ForgetChange {
  index: number;
  /** System-ledger index of the forgetting record that authorises this change. */
  authorisedBy: number | null;
  disclosures: string;
  redactions: string;
  removed: number;
  /** The search record the entry is indexed under now (its rows are deleted). */
  before: SearchRecord;
  /** The record to index it under afterwards; undefined when nothing searchable remains (a purge). */
  after: SearchRecord | undefined;
}

/**
 * Whether an entry was purged: no value left, every field recorded as forgotten. Such an entry gets no
 * search rows, also when the index is rebuilt from the entries.
 */
export function isPurged(row: { disclosures: string; redactions: string | null }): boolean {
  return row.redactions !== null && row.disclosures === '{}';
}

/**
 * The entry's reduced state, or undefined when none of the requested fields is still disclosed, or when
 * the entry is a forgetting record: those hold no personal data and are the authority for every other
 * removal, so they are never forgotten. Legal-hold records are never purged either: verification
 * compares every hold row, which is never deleted, with them (an erasure may still reach their values).
 */
export function planForget(ledger: string, row: ForgettableRow, request: ForgetRequest, context: SearchContext): ForgetChange | undefined {
  const disclosures = JSON.parse(row.disclosures) as Disclosures;
  const redactions = (row.redactions ? JSON.parse(row.redactions) : {}) as Redactions;
  const leaf = JSON.parse(row.leaf.toString('utf8')) as { writer: string; commitments: Record<string, string> };
  const writer = leaf.writer;
  if (ledger === SYSTEM_LEDGER && writer === SERVER_WRITER) {
    if (Object.hasOwn(leaf.commitments, FORGET_PATH)) return undefined;
    const action = disclosures.action?.[1];
    if (request.reason === 'purged' && typeof action === 'string' && action.startsWith('legal_hold.')) return undefined;
  }
  const index = Number(row.idx);
  const receivedAt = Number(row.received_at);
  const before = searchRecord(index, receivedAt, writer, disclosures, context);
  const paths = request.paths === '*' ? Object.keys(disclosures) : request.paths;
  let removed = 0;
  for (const path of paths) {
    if (!Object.hasOwn(disclosures, path)) continue;
    delete disclosures[path];
    redactions[path] = request.reason;
    removed++;
  }
  if (removed === 0) return undefined;
  const purged = request.paths === '*' || Object.keys(disclosures).length === 0;
  return {
    index,
    authorisedBy: request.authorisedBy ?? null,
    disclosures: JSON.stringify(disclosures),
    redactions: JSON.stringify(sortKeys(redactions)),
    removed,
    before,
    after: purged ? undefined : searchRecord(index, receivedAt, writer, disclosures, context),
  };
}

const sortKeys = (o: Redactions): Redactions => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));

/**
 * The condition, to append to a WHERE over search_events `e`, that leaves out events some active hold on
 * this ledger covers; empty when no hold applies. A hold's query was pinned to absolute times when it
 * was made.
 */
export function excludeHeld(holds: LegalHold[], ledger: string, dialect: Dialect): string {
  const held = holds.filter((hold) => holdCovers(hold, ledger)).map((hold) => `(${compileWhere(parseQuery(hold.query), dialect)})`);
  return held.length === 0 ? '' : ` AND NOT COALESCE((${held.join(' OR ')}), FALSE)`;
}

/**
 * Decides one chunk of requests: indexes missing from `unheld` are reported as held (an event with no
 * search row counts as held: unknown is not free); the others are planned from their stored rows.
 * Returns the changes to apply, in request order, and adds them to `result`.
 */
export function planChunk(
  ledger: string,
  chunk: ForgetRequest[],
  unheld: Set<number>,
  rowOf: (index: number) => ForgettableRow | undefined,
  context: SearchContext,
  result: ForgetResult,
): ForgetChange[] {
  const changes: ForgetChange[] = [];
  for (const request of chunk) {
    if (!unheld.has(request.index)) {
      result.held.push(request.index);
      continue;
    }
    const row = rowOf(request.index);
    if (!row) throw new StoreError('NOT_FOUND', `ledger ${ledger} has no entry ${request.index}`, { ledger, index: request.index });
    const change = planForget(ledger, row, request, context);
    if (!change) continue;
    changes.push(change);
    result.changed.push(change.index);
    result.fieldsRemoved += change.removed;
  }
  return changes;
}

export interface HoldRow {
  id: string;
  ledgers: string;
  query: string;
  reason: string;
  owner: string;
  created_at: number | string;
  created_by: string;
  released_at: number | string | null;
  released_by: string | null;
  release_reason: string | null;
}

export function toHold(row: HoldRow): LegalHold {
  return {
    id: row.id,
    ledgers: JSON.parse(row.ledgers) as string[],
    query: row.query,
    reason: row.reason,
    owner: row.owner,
    createdAtMicros: Number(row.created_at),
    createdBy: row.created_by,
    releasedAtMicros: row.released_at === null ? null : Number(row.released_at),
    releasedBy: row.released_by,
    releaseReason: row.release_reason,
  };
}

/**
 * Seals the forgetting records that authorise `requests` (one audit event per grant, in one batch of
 * the system ledger) and returns the requests bound to them, ready for Store.forget. The records are
 * durable and signed before any value is removed; if the removal then fails or is cut short, they name
 * more than was removed, which verification accepts (a record authorises, it does not assert).
 */
export async function authoriseForget(
  store: Store,
  ledger: string,
  reason: Redaction,
  run: string,
  actor: AuditEvent['actor'],
  requests: ForgetRequest[],
): Promise<ForgetRequest[]> {
  if (requests.length === 0) return [];
  const grants = planGrants(ledger, reason, run, requests);
  await store.createLedger(SYSTEM_LEDGER);
  const receipts = await store.append(
    SYSTEM_LEDGER,
    grants.map((grant) => ({ event: validateEvent(forgetRecordEvent(grant, actor)), writer: SERVER_WRITER })),
  );
  // Each range holds only requested indexes (planGrants merges adjacent ones), so this walk is as long
  // as the request list.
  const recordOf = new Map<string, number>();
  grants.forEach((grant, g) => {
    for (const [from, to, paths] of grant.ranges) {
      for (let index = from; index <= to; index++) recordOf.set(grantKey(index, paths), receipts[g]!.index);
    }
  });
  return requests.map((request) => ({ ...request, authorisedBy: recordOf.get(grantKey(request.index, request.paths)) }));
}

const grantKey = (index: number, paths: string[] | '*') => `${index} ${paths === '*' ? '*' : JSON.stringify([...new Set(paths)].sort())}`;

const FORGET_RECORDS = parseQuery(`action:${FORGET_ACTION}`);

/**
 * The grants of the system ledger's forgetting records as the store holds them, for the running server
 * and exports (offline verification collects grants from the entries it verified, verify-ledger.ts).
 * Records are found through the search index (the action column) but count only once proven: below
 * the latest checkpoint signed by this deployment's key, included in its tree, their leaf naming the
 * system ledger and their own index, and their grant opening its commitment. A row planted by someone
 * who can write the database but not sign grants nothing. Grants are read again only when a lookup
 * misses and a newer system checkpoint exists.
 */
export class SealedGrants {
  private authority: ForgetAuthorisations | undefined;
  private loadedAt = -1;

  constructor(
    private readonly store: Store,
    private readonly suite: CryptoSuite,
    private readonly verifiers: NoteVerifier[],
  ) {}

  async find(ledger: string, index: number, path: string, reason: Redaction, receivedAtMicros: number): Promise<GrantSource | undefined> {
    if (!this.authority) await this.load();
    const found = this.authority!.find(ledger, index, path, reason, receivedAtMicros);
    if (found || (await this.signedSize()) <= this.loadedAt) return found;
    await this.load();
    return this.authority!.find(ledger, index, path, reason, receivedAtMicros);
  }

  private async signedSize(): Promise<number> {
    return (await this.store.latestCheckpoint(SYSTEM_LEDGER))?.size ?? 0;
  }

  private async load(): Promise<void> {
    const next = new ForgetAuthorisations();
    this.authority = next;
    this.loadedAt = await this.signedSize();
    let tree: SignedTree;
    try {
      tree = await latestSignedTree(this.store, this.suite, this.verifiers, SYSTEM_LEDGER);
    } catch {
      return; // Not signed by this deployment for the system ledger: nothing is proven, nothing granted.
    }
    let after: number | undefined;
    reading: for (;;) {
      const page = await this.store.search(SYSTEM_LEDGER, { query: FORGET_RECORDS, limit: 1000, order: 'asc', ...(after !== undefined ? { after } : {}) });
      for (const entry of page.entries) {
        if (entry.index >= tree.size) break reading;
        try {
          const envelope = decodeLeaf(entry.leaf);
          if (envelope.ledger !== SYSTEM_LEDGER || envelope.index !== entry.index) continue;
          const disclosed = Object.fromEntries(['action', FORGET_PATH].filter((p) => Object.hasOwn(entry.disclosures, p)).map((p) => [p, entry.disclosures[p]!]));
          verifyDisclosures(this.suite, envelope, disclosed);
          await proveIncluded(this.store, this.suite, SYSTEM_LEDGER, entry, tree);
          const grant = grantOf(envelope.writer, envelope.commitments, disclosed);
          if (grant) next.add(grant, { record: entry.index, legacy: grant.legacy === true, sealedAtMicros: entry.receivedAtMicros });
        } catch {
          // Not proven, or damaged: it grants nothing, and verifying the system ledger reports it.
        }
      }
      if (page.next === null) break;
      after = page.next;
    }
  }
}
