/**
 * The sealed state of every API key, as the system ledger records it (key.create, key.attest,
 * key.revoke; src/store/verify-records.ts reads them), held in memory so that authentication can accept
 * a key only when its database row equals what was sealed. A key row inserted or edited in the database
 * (a DBA, the PostgreSQL service role, anyone who can write the SQLite file) has no matching record and
 * is refused.
 *
 * The registry reads the system ledger incrementally: it remembers up to which signed tree size it has
 * read, finds the key records after it through the search index, and accepts a record only if its leaf
 * is in the tree of a checkpoint signed with the deployment's key and its values open the leaf's
 * commitments. A key it does not know yet (created a moment ago by another server process) triggers one
 * shared refresh before it is refused.
 */
import type { CryptoSuite } from '../core/crypto.js';
import { validateEvent, type AuditEvent } from '../core/event.js';
import type { NoteVerifier } from '../core/note.js';
import { parseQuery } from '../core/query.js';
import type { ApiKeyRecord, AppendRequest, Store, StoredEntry } from '../store/store.js';
import { latestSignedTree, proveIncluded, type SignedTree } from '../store/signed-tree.js';
import {
  isKeyRecordsStart,
  KEY_RECORD,
  KEY_RECORD_ACTIONS,
  KEY_RECORDS_START_FIELD,
  keyDifferences,
  keyRecordMetadata,
  SealedRecords,
  sealedStateMetadata,
} from '../store/verify-records.js';
import { SERVER_WRITER, SYSTEM_LEDGER } from './access-log.js';

export interface SecurityLog {
  warn(message: string): void;
  error(message: string): void;
}

/** How often the same key's mismatch is logged and sealed again (each refused request is still recorded by the access log). */
const REPORT_EVERY_MS = 60_000;
const MAX_REPORTED_KEYS = 10_000;
const PAGE = 1000;
/** A key's state is sealed again once its newest record is this old, checked this often. */
const RESEAL_AFTER_MS = 7 * 24 * 3600_000;
const RESEAL_CHECK_MS = 24 * 3600_000;

const SYSTEM_ACTOR: AuditEvent['actor'] = { type: 'system', id: SERVER_WRITER };

/** The sealed record of a key's creation; `actor` is who made it (the admin key, or the server at first start). */
export function keyCreationEvent(key: ApiKeyRecord, actor: AuditEvent['actor'], action: string = KEY_RECORD.create): AuditEvent {
  return validateEvent({
    actor,
    action,
    category: 'admin',
    targets: [{ type: 'api_key', id: key.id }],
    outcome: 'success',
    metadata: keyRecordMetadata(key),
  });
}

/** A malformed leaf is not a start record (the inclusion check would refuse it anyway). */
function isKeyRecordsStartSafe(leaf: Uint8Array): boolean {
  try {
    return isKeyRecordsStart(leaf);
  } catch {
    return false;
  }
}

/** The start record; `resealed` for a copy sealed again because the last one was old or purged. */
function startEvent(attested: number, resealed = false): AuditEvent {
  const field = KEY_RECORDS_START_FIELD.slice('metadata.'.length);
  return validateEvent({
    actor: SYSTEM_ACTOR,
    action: KEY_RECORD.start,
    category: 'admin',
    outcome: 'success',
    metadata: { [field]: attested, ...(resealed ? { resealed: true } : {}) },
  });
}

/** Seals the creation of a key made outside the keys route (the admin key generated at first start). */
export async function recordKeyCreation(store: Store, key: ApiKeyRecord): Promise<void> {
  await store.createLedger(SYSTEM_LEDGER);
  await store.append(SYSTEM_LEDGER, [{ event: keyCreationEvent(key, SYSTEM_ACTOR), writer: SERVER_WRITER }]);
}

export class KeyRegistry {
  private records: SealedRecords;
  /** System-ledger indexes below this have been read. */
  private readTo = 0;
  private tail: Promise<void> = Promise.resolve();
  private waiting: Promise<void> | undefined;
  private readonly reported = new Map<string, number>();
  private resealTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    private readonly suite: CryptoSuite,
    private readonly verifiers: NoteVerifier[],
    private readonly log: SecurityLog,
    private readonly clockMs: () => number = Date.now,
  ) {
    this.records = new SealedRecords(suite);
  }

  /**
   * Reads every key record sealed so far. The first start after the upgrade that introduced sealed key
   * states seals one key.attest record per existing key with its current row, and the start record,
   * in one batch: that once, the database is trusted as it is.
   */
  async start(): Promise<void> {
    await this.load();
    await this.resealStale();
    this.resealTimer = setInterval(() => {
      this.resealStale().catch((cause: Error) => this.log.error(`could not seal key states again: ${cause.message}`));
    }, RESEAL_CHECK_MS).unref();
  }

  stop(): void {
    clearInterval(this.resealTimer);
  }

  /**
   * Seals again, as copies of what the records already say (never of the rows), the state of every key
   * and the start record when their newest record is over a week old, so that a retention purge of
   * old system-ledger records (12 months unless forced) never takes the only record of a key.
   */
  async resealStale(): Promise<void> {
    // Another process may have sealed them again already.
    await this.refresh();
    const cutoff = (this.clockMs() - RESEAL_AFTER_MS) * 1000;
    const events: AuditEvent[] = [];
    for (const state of this.records.keys.values()) {
      if ((this.records.sealedAtMicros.get(state.id) ?? 0) < cutoff) {
        events.push(validateEvent({ actor: SYSTEM_ACTOR, action: KEY_RECORD.attest, category: 'admin', targets: [{ type: 'api_key', id: state.id }], outcome: 'success', metadata: sealedStateMetadata(state) }));
      }
    }
    if (this.records.keysSealed && this.records.startSealedAtMicros < cutoff) events.push(startEvent(0, true));
    for (let at = 0; at < events.length; at += PAGE) {
      await this.store.append(SYSTEM_LEDGER, events.slice(at, at + PAGE).map((event) => ({ event, writer: SERVER_WRITER })));
    }
    if (events.length > 0) await this.refresh();
  }

  private async load(): Promise<void> {
    await this.store.createLedger(SYSTEM_LEDGER);
    await this.refresh();
    if (this.records.keysSealed) return;
    // Not found through the index; an edited index must not make the server attest a planted key, so
    // confirm on the entries themselves before attesting anything.
    const { size, root } = await this.signedTree();
    const scanned = new SealedRecords(this.suite);
    for await (const entry of this.store.entries(SYSTEM_LEDGER, 0, size)) await this.take(scanned, entry, size, root);
    this.records = scanned;
    this.readTo = size;
    if (this.records.keysSealed && this.records.startPurged) {
      // A retention purge took its values (and search rows): seal it again, so later starts find it
      // through the index instead of reading the whole ledger. Nothing is attested.
      await this.store.append(SYSTEM_LEDGER, [{ event: startEvent(0, true), writer: SERVER_WRITER }]);
      this.log.warn('the key.records.start record of the system ledger was purged; sealed it again (no key attested)');
      await this.refresh();
      return;
    }
    if (this.records.keysSealed) {
      this.log.error('the search index of the system ledger hides key records (found by reading the entries); run `sealtrail verify` and `sealtrail reindex`');
      return;
    }
    const unsealed = (await this.store.listApiKeys()).filter((key) => !this.records.keys.has(key.id));
    const requests: AppendRequest[] = unsealed.map((key) => ({ event: keyCreationEvent(key, SYSTEM_ACTOR, KEY_RECORD.attest), writer: SERVER_WRITER }));
    requests.push({ event: startEvent(unsealed.length), writer: SERVER_WRITER });
    await this.store.append(SYSTEM_LEDGER, requests);
    if (unsealed.length > 0) {
      this.log.warn(
        `sealed the current state of ${unsealed.length} API keys made before keys were checked against sealed records ` +
          `(${unsealed.map((k) => k.id).slice(0, 20).join(', ')}${unsealed.length > 20 ? ', …' : ''}): this trusts api_keys as the database holds it now`,
      );
    }
    await this.refresh();
  }

  /**
   * Whether the key's row equals its sealed state. A mismatch is refreshed once (the record may be new),
   * then logged, sealed as a failed authentication and answered false.
   */
  async matches(key: ApiKeyRecord): Promise<boolean> {
    if (keyDifferences(key, this.records.keys.get(key.id)).length === 0) return true;
    await this.refresh();
    const differs = keyDifferences(key, this.records.keys.get(key.id));
    if (differs.length === 0) return true;
    await this.report(key.id, differs);
    return false;
  }

  /**
   * Reads the records sealed since the last read. At most one read runs and one waits: a caller
   * arriving while one waits shares it, since it has not begun and will see everything committed now.
   */
  refresh(): Promise<void> {
    if (this.waiting) return this.waiting;
    const run = this.tail.then(() => {
      this.waiting = undefined;
      return this.readNewRecords();
    });
    this.waiting = run;
    this.tail = run.catch(() => {});
    return run;
  }

  private async readNewRecords(): Promise<void> {
    const { size, root } = await this.signedTree();
    if (size <= this.readTo) return;
    const query = parseQuery(`action:${KEY_RECORD_ACTIONS.join(',')}`);
    let after: number | undefined = this.readTo > 0 ? this.readTo - 1 : undefined;
    reading: do {
      const page = await this.store.search(SYSTEM_LEDGER, { query, limit: PAGE, order: 'asc', ...(after !== undefined ? { after } : {}) });
      for (const entry of page.entries) {
        if (entry.index >= size) break reading;
        await this.take(this.records, entry, size, root);
      }
      after = page.next ?? undefined;
    } while (after !== undefined);
    this.readTo = size;
  }

  /** The latest checkpoint of the system ledger, only if signed by this deployment's key. */
  private signedTree(): Promise<SignedTree> {
    return latestSignedTree(this.store, this.suite, this.verifiers, SYSTEM_LEDGER);
  }

  /** Folds a key record into `records` if its leaf is in the signed tree; anything else is ignored, loudly. */
  private async take(records: SealedRecords, entry: StoredEntry, size: number, root: Uint8Array): Promise<void> {
    const action = Object.hasOwn(entry.disclosures, 'action') ? entry.disclosures.action![1] : undefined;
    const keyRecord = typeof action === 'string' && KEY_RECORD_ACTIONS.includes(action);
    // A start record whose values were purged is still one (its leaf names its fields).
    if (!keyRecord && !(action === undefined && isKeyRecordsStartSafe(entry.leaf))) return;
    try {
      await proveIncluded(this.store, this.suite, SYSTEM_LEDGER, entry, { size, root });
      records.add(entry);
    } catch (cause) {
      this.log.error(`system ledger entry ${entry.index} claims to be a key record but is not sealed as stored (${(cause as Error).message}); ignored — run \`sealtrail verify\``);
    }
  }

  private async report(id: string, differs: string[]): Promise<void> {
    const now = this.clockMs();
    const last = this.reported.get(id);
    if (last !== undefined && now - last < REPORT_EVERY_MS) return;
    if (this.reported.size >= MAX_REPORTED_KEYS) this.reported.clear();
    this.reported.set(id, now);
    const unsealed = !this.records.keys.has(id);
    const what = unsealed ? 'has no sealed record' : `differs from its sealed records in ${differs.join(', ')}`;
    this.log.error(`API key ${id} refused: its api_keys row ${what}; the database was changed outside sealtrail — run \`sealtrail verify\``);
    try {
      const event = validateEvent({
        actor: { type: 'api_key', id: `claimed:${id}` },
        action: 'auth.key_mismatch',
        category: 'auth',
        targets: [{ type: 'api_key', id }],
        outcome: 'failure',
        outcome_reason: unsealed ? 'the key row has no sealed record' : 'the key row differs from its sealed records',
        metadata: { fields: unsealed ? 'all' : differs.join(',') },
      });
      await this.store.append(SYSTEM_LEDGER, [{ event, writer: SERVER_WRITER }]);
    } catch (cause) {
      this.log.error(`could not record the refusal of API key ${id}: ${(cause as Error).message}`);
    }
  }
}
