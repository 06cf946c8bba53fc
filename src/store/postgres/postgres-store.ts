/**
 * The shared store: several sealtrail processes on one PostgreSQL database. Each process group-commits
 * its own appends through the shared Sequencer; batches from different processes are ordered by a
 * transaction-scoped advisory lock per ledger, taken before the ledger head is read, so exactly one
 * batch per ledger is sequenced at a time and every process sees the head the previous batch left.
 * A batch is one transaction: entries, tree hashes, idempotency keys and its signed checkpoint commit
 * together or not at all; with synchronous_commit on (the default) the commit is durable when it returns.
 */
import type { LegalHold } from '../../core/retention.js';
import { PostgresRetention } from './retention.js';
import { inTransaction } from './transaction.js';
import { isPurged } from '../forget.js';
import pg from 'pg';
import { toBase64 } from '../../core/bytes.js';
import type { Disclosures } from '../../core/commitments.js';
import type { CryptoSuite, Ed25519Signer } from '../../core/crypto.js';
import { formatMicros } from '../../core/time.js';
import type { HashRange, TileNodes } from '../../core/tree.js';
import { Sequencer, type BatchBackend, type BatchWrite, type ExistingKey, type LedgerHead, type SigningGuard } from '../sequencer.js';
import type { IntegrityRecord, IntegrityStateStore } from '../integrity.js';
import {
  StoreError,
  type ApiKeyRecord,
  type AppendRequest,
  type LedgerInfo,
  type Receipt,
  type Role,
  type SearchPage,
  type ExportPage,
  type SearchRequest,
  type StatsDimension,
  type Store,
  type StoredCheckpoint,
  type StoredEntry,
  type ForgetOptions,
  type ForgetRequest,
  type ForgetResult,
  type LegacyRedaction,
  type Redactions,
  type StoredPolicy,
  type IndexedEventRow,
  type IndexedDetailRow,
  type StoredIdempotencyKey,
} from '../store.js';
import { PG_MIGRATIONS, quoteIdent } from './schema.js';
import { countsFromRollups, rollupDeltas, rollupMismatchQuery, rollupPlan, toRollupMismatch, wholeHoursQuery, type CountRow, type RollupDimension, type RollupMismatch } from '../rollups.js';
import { adjustRollups, ROLLUP_COLUMNS, rollupSource, type RollupColumns } from './rollups.js';
import { LOCATION_COLUMNS, locationValues, searchContext, searchRecord, type GeolocationOption, type SearchContext, type SearchRecord } from '../search-fields.js';
import { DEFAULT_QUERY_TIMEOUT_MS, compileWhere, isTimeDimension, pageOfEntries, receivedAsIndex, statsGroup, statsKey, type Dialect, type Statement } from '../search-sql.js';
import { toApiKey, toCheckpoint, toEntry, toExportHit, toHit, type ApiKeyRow, type CheckpointRow, type EntryRow, type HitRow } from '../rows.js';
import type { Query } from '../../core/query.js';
import { ipBytes } from '../../core/ipnet.js';
import { LEGACY_KEY_CHUNK } from '../idempotency.js';
import { PostgresSinks } from './sinks.js';
import { PostgresSessions } from './sessions.js';
import { PostgresDetectionState } from './detection.js';
import { INDEXED_EVENT_COLUMNS, toIndexedEvent, type IndexedEventColumns } from '../verify-derived.js';

/** First key of the advisory locks sealtrail takes (the second is the ledger id): "sealtrail" in hex-ish. */
const LOCK_NAMESPACE = 0x5ea1;
const PAGE = 1000;

export interface PostgresStoreOptions extends GeolocationOption {
  /** Connection string of the service role. */
  url: string;
  /** Schema holding sealtrail's tables. */
  schema?: string;
  suite: CryptoSuite;
  signer: Ed25519Signer;
  /** Deployment name; must equal the one recorded in the database. */
  name: string;
  maxBatchEvents?: number;
  clock?: () => number;
  poolSize?: number;
  /**
   * Time budget of one search page or stats read, in milliseconds (default 5000): the statement runs
   * under SET LOCAL statement_timeout, and a cancelled one fails with QUERY_TIMEOUT.
   */
  queryTimeoutMs?: number;
  /** Checks around signing: refuses broken ledgers, never signs a fork (src/store/integrity.ts). */
  signingGuard?: SigningGuard;
}

export const DEFAULT_SCHEMA = 'sealtrail';

export function createPool(url: string, schema: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max, options: `-c search_path=${quoteIdent(schema)}` });
  // An idle client that loses its connection must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  return pool;
}

/** Reads the schema version (0 when sealtrail's tables do not exist yet). */
export async function schemaVersion(client: pg.ClientBase, schema: string): Promise<number> {
  const exists = await client.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [`${quoteIdent(schema)}.meta`]);
  if (!exists.rows[0]?.t) return 0;
  const row = await client.query<{ value: string }>(`SELECT value FROM ${quoteIdent(schema)}.meta WHERE key = 'schema_version'`);
  return Number(row.rows[0]?.value ?? 0);
}

/**
 * Applies pending migrations in one transaction, as `ownerRole` when given. Refuses a database whose
 * schema is newer than this code. Serialized by an advisory lock, so two processes starting together
 * cannot both migrate.
 */
export async function migrate(client: pg.ClientBase, schema: string, ownerRole?: string): Promise<number> {
  const s = quoteIdent(schema);
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1, 0)', [LOCK_NAMESPACE]);
    if (ownerRole) await client.query(`SET LOCAL ROLE ${quoteIdent(ownerRole)}`);
    const version = await schemaVersion(client, schema);
    if (version > PG_MIGRATIONS.length) throw schemaTooNew(version);
    if (version < PG_MIGRATIONS.length) {
      // CREATE SCHEMA IF NOT EXISTS still needs CREATE on the database, which the owner role may lack.
      const schemaExists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
      if (schemaExists.rowCount === 0) await client.query(`CREATE SCHEMA ${s}`);
      await client.query(`SET LOCAL search_path TO ${s}`);
      for (let v = version; v < PG_MIGRATIONS.length; v++) await client.query(PG_MIGRATIONS[v]!);
      await client.query(
        `INSERT INTO meta (key, value) VALUES ('schema_version', $1) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
        [String(PG_MIGRATIONS.length)],
      );
    }
    await client.query('COMMIT');
    return PG_MIGRATIONS.length;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}

function schemaTooNew(version: number): StoreError {
  return new StoreError(
    'SCHEMA_TOO_NEW',
    `the database has sealtrail schema version ${version}, newer than this sealtrail understands (${PG_MIGRATIONS.length}); upgrade sealtrail`,
  );
}

export class PostgresStore implements Store, BatchBackend, IntegrityStateStore {
  readonly pool: pg.Pool;
  private readonly sequencer: Sequencer;
  private readonly ledgerIds = new Map<string, number>();
  private readonly heads = new Map<string, LedgerHead>();
  private readonly searchContext: SearchContext;
  private readonly retention: PostgresRetention;
  readonly sinks: PostgresSinks;
  readonly detection: PostgresDetectionState;
  readonly sessions: PostgresSessions;

  private constructor(private readonly options: PostgresStoreOptions & { schema: string }) {
    this.pool = createPool(options.url, options.schema, options.poolSize);
    this.searchContext = searchContext(options, ipBytes);
    this.sinks = new PostgresSinks(this.pool);
    this.detection = new PostgresDetectionState(this.pool);
    this.sessions = new PostgresSessions(this.pool);
    this.retention = new PostgresRetention({
      pool: this.pool,
      context: this.searchContext,
      dialect: postgresDialect,
      writeSearchRecords,
      lockNamespace: LOCK_NAMESPACE,
    });
    this.sequencer = new Sequencer(this, {
      suite: options.suite,
      signer: options.signer,
      keyName: options.name,
      ...(options.maxBatchEvents !== undefined ? { maxBatchEvents: options.maxBatchEvents } : {}),
      ...(options.clock !== undefined ? { clock: options.clock } : {}),
      ...(options.signingGuard ? { guard: options.signingGuard } : {}),
    });
  }

  /** Connects, checks (or, when allowed, applies) the schema version and the deployment name. */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const store = new PostgresStore({ ...options, schema: options.schema ?? DEFAULT_SCHEMA });
    try {
      await store.prepare();
      return store;
    } catch (error) {
      await store.pool.end();
      throw error;
    }
  }

  private async prepare(): Promise<void> {
    const { schema } = this.options;
    const client = await this.pool.connect();
    try {
      const version = await schemaVersion(client, schema);
      if (version > PG_MIGRATIONS.length) throw schemaTooNew(version);
      // An older schema is upgraded on start when the connected role may (it owns the schema, as in a
      // development setup); a restricted service role may not, and is told what to run instead.
      if (version < PG_MIGRATIONS.length) {
        try {
          await migrate(client, schema);
        } catch (error) {
          if ((error as { code?: string }).code !== '42501') throw error;
          throw new StoreError(
            'SCHEMA_TOO_NEW',
            version === 0
              ? `no sealtrail schema "${schema}" in this database, and this role may not create it; run \`sealtrail db setup\` with an administrator's connection`
              : `the sealtrail schema is at version ${version}, this sealtrail needs ${PG_MIGRATIONS.length}; run \`sealtrail db migrate\` with an administrator's connection`,
          );
        }
      }
      await this.checkDeploymentName(client);
    } finally {
      client.release();
    }
    await this.convertLegacyKeys();
    await this.catchUpSearchIndex();
  }

  /**
   * Replaces idempotency rows written before schema 9, which hold the client's raw key, by their keyed
   * hash (src/store/idempotency.ts), scoped by the writer in the entry's leaf, so that retries of those
   * events still dedupe and no raw key (an event id can be an email address) stays in the table; the
   * dead row versions go with VACUUM (docs/RETENTION.md). Each chunk holds the ledger's sequencing
   * lock, so no append looks a key up half converted. A row whose entry is missing is left for verify.
   */
  private async convertLegacyKeys(): Promise<void> {
    const ledgers = await this.pool.query<{ ledger_id: number; name: string }>(
      `SELECT l.ledger_id, l.name FROM ledgers l
        WHERE EXISTS (SELECT 1 FROM idempotency_keys k WHERE k.ledger_id = l.ledger_id AND NOT starts_with(k.key, 'v2:'))`,
    );
    if (ledgers.rows.length === 0) return;
    try {
      this.sequencer.storedKey('', '', '');
    } catch {
      return; // opened for verification, without the signing key: nothing is written
    }
    for (const { ledger_id: ledgerId, name } of ledgers.rows) {
      for (let after = ''; ; ) {
        const rows = await inTransaction(this.pool, async (client) => {
          await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_NAMESPACE, ledgerId]);
          const legacy = await client.query<{ key: string; request_hash: Buffer; idx: string; leaf: Buffer }>(
            `SELECT k.key, k.request_hash, k.idx, e.leaf FROM idempotency_keys k JOIN entries e ON e.ledger_id = k.ledger_id AND e.idx = k.idx
              WHERE k.ledger_id = $1 AND NOT starts_with(k.key, 'v2:') AND k.key > $2 ORDER BY k.key LIMIT $3`,
            [ledgerId, after, LEGACY_KEY_CHUNK],
          );
          if (legacy.rows.length === 0) return legacy.rows;
          const stored = legacy.rows.map((row) => this.sequencer.storedKey(name, (JSON.parse(row.leaf.toString('utf8')) as { writer: string }).writer, row.key));
          await client.query(
            `INSERT INTO idempotency_keys (ledger_id, key, request_hash, idx) SELECT $1, * FROM unnest($2::text[], $3::bytea[], $4::bigint[]) ON CONFLICT DO NOTHING`,
            [ledgerId, stored, legacy.rows.map((r) => r.request_hash), legacy.rows.map((r) => r.idx)],
          );
          await client.query('DELETE FROM idempotency_keys WHERE ledger_id = $1 AND key = ANY($2::text[])', [ledgerId, legacy.rows.map((r) => r.key)]);
          return legacy.rows;
        });
        if (rows.length === 0) break;
        after = rows.at(-1)!.key;
      }
    }
  }

  /** Indexes entries the search index lacks (after the migration that introduced it). */
  private async catchUpSearchIndex(): Promise<void> {
    const lagging = await this.pool.query<{ ledger_id: number; name: string; size: string; indexed: string | null }>(
      `SELECT l.ledger_id, l.name,
              COALESCE((SELECT max(size) FROM checkpoints c WHERE c.ledger_id = l.ledger_id), 0) AS size,
              (SELECT max(idx) FROM search_events s WHERE s.ledger_id = l.ledger_id) AS indexed
         FROM ledgers l`,
    );
    for (const row of lagging.rows) {
      let next = row.indexed === null ? 0 : Number(row.indexed) + 1;
      const size = Number(row.size);
      while (next < size) {
        const page = await this.pool.query<EntryRow<string>>(
          'SELECT idx, received_at, leaf, leaf_hash, disclosures, redactions FROM entries WHERE ledger_id = $1 AND idx >= $2 ORDER BY idx LIMIT $3',
          [row.ledger_id, next, PAGE],
        );
        if (page.rows.length === 0) break;
        // Purged entries keep no search rows (their values are gone on purpose).
        const records = page.rows
          .filter((r) => !isPurged(r))
          .map((r) =>
            searchRecord(Number(r.idx), Number(r.received_at), (JSON.parse(r.leaf.toString('utf8')) as { writer: string }).writer, JSON.parse(r.disclosures) as Disclosures, this.searchContext),
          );
        // ON CONFLICT: another process may be catching up at the same time.
        await inTransaction(this.pool, (client) => writeSearchRecords(client, row.ledger_id, records, true));
        next = Number(page.rows[page.rows.length - 1]!.idx) + 1;
      }
    }
  }

  private async checkDeploymentName(client: pg.ClientBase): Promise<void> {
    const row = await client.query<{ value: string }>(`SELECT value FROM meta WHERE key = 'deployment_name'`);
    const stored = row.rows[0]?.value;
    if (stored === undefined) {
      try {
        await client.query(`INSERT INTO meta (key, value) VALUES ('deployment_name', $1) ON CONFLICT DO NOTHING`, [this.options.name]);
      } catch {
        throw new StoreError('SCHEMA_TOO_NEW', 'the database has no deployment name yet; run `sealtrail db setup --name NAME`');
      }
      return this.checkDeploymentName(client);
    }
    if (stored !== this.options.name) {
      throw new StoreError(
        'SCHEMA_TOO_NEW',
        `this database belongs to deployment ${JSON.stringify(stored)}, not ${JSON.stringify(this.options.name)}; pass --name ${stored}`,
      );
    }
  }

  // ---- ledgers -------------------------------------------------------------------------------------

  async createLedger(name: string): Promise<boolean> {
    const result = await this.pool.query('INSERT INTO ledgers (name, origin, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING', [
      name,
      `${this.options.name}/${name}`,
      Date.now() * 1000,
    ]);
    return result.rowCount === 1;
  }

  async getLedger(name: string): Promise<LedgerInfo | undefined> {
    return (await this.queryLedgers('WHERE l.name = $1', [name]))[0];
  }

  async listLedgers(): Promise<LedgerInfo[]> {
    return this.queryLedgers('', []);
  }

  private async queryLedgers(where: string, params: unknown[]): Promise<LedgerInfo[]> {
    const result = await this.pool.query<{ name: string; origin: string; created_at: string; size: string | null }>(
      `SELECT l.name, l.origin, l.created_at,
              (SELECT c.size FROM checkpoints c WHERE c.ledger_id = l.ledger_id ORDER BY c.size DESC LIMIT 1) AS size
         FROM ledgers l ${where} ORDER BY l.name`,
      params,
    );
    return result.rows.map((r) => ({ name: r.name, origin: r.origin, createdAt: formatMicros(Number(r.created_at)), size: Number(r.size ?? 0) }));
  }

  private async ledgerId(name: string, client: pg.ClientBase | pg.Pool = this.pool): Promise<number> {
    const cached = this.ledgerIds.get(name);
    if (cached !== undefined) return cached;
    const result = await client.query<{ ledger_id: number }>('SELECT ledger_id FROM ledgers WHERE name = $1', [name]);
    const id = result.rows[0]?.ledger_id;
    if (id === undefined) throw new StoreError('LEDGER_NOT_FOUND', `no ledger named ${JSON.stringify(name)}`, { ledger: name });
    this.ledgerIds.set(name, id);
    return id;
  }

  // ---- appends -------------------------------------------------------------------------------------

  append(ledger: string, requests: AppendRequest[]): Promise<Receipt[]> {
    return this.sequencer.append(ledger, requests);
  }

  async commitBatch(
    ledger: string,
    keys: string[],
    build: (head: LedgerHead, existing: Map<string, ExistingKey>) => BatchWrite,
  ): Promise<BatchWrite> {
    const ledgerId = await this.ledgerId(ledger);
    const write = await inTransaction(this.pool, async (client) => {
      // One sequencer per ledger across all processes: the lock is held until COMMIT or ROLLBACK.
      await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_NAMESPACE, ledgerId]);
      const head = await this.currentHead(client, ledger, ledgerId);
      const existing = await this.existingKeys(client, ledger, ledgerId, keys);
      const write = build(head, existing);
      await this.writeBatch(client, ledgerId, write);
      return write;
    });
    if (write.checkpoint) this.heads.set(ledger, write.head);
    return write;
  }

  /** The cached head if no other process has moved the ledger on since, else the head from the database. */
  private async currentHead(client: pg.ClientBase, ledger: string, ledgerId: number): Promise<LedgerHead> {
    const latest = await client.query<CheckpointRow<string>>(
      'SELECT size, root, note, frontier, created_at FROM checkpoints WHERE ledger_id = $1 ORDER BY size DESC LIMIT 1',
      [ledgerId],
    );
    const row = latest.rows[0];
    const size = Number(row?.size ?? 0);
    const cached = this.heads.get(ledger);
    if (cached && cached.frontier.size === size) return cached;
    const head = this.sequencer.headFrom(
      ledger,
      `${this.options.name}/${ledger}`,
      row && { size, note: row.note, frontier: row.frontier, createdAtMicros: Number(row.created_at) },
    );
    this.heads.set(ledger, head);
    return head;
  }

  private async existingKeys(client: pg.ClientBase, ledger: string, ledgerId: number, keys: string[]): Promise<Map<string, ExistingKey>> {
    const found = new Map<string, ExistingKey>();
    if (keys.length === 0) return found;
    const result = await client.query<{ key: string; request_hash: Buffer; idx: string; leaf_hash: Buffer; received_at: string; size: string; note: string }>(
      `SELECT k.key, k.request_hash, k.idx, e.leaf_hash, e.received_at, c.size, c.note
         FROM idempotency_keys k
         JOIN entries e ON e.ledger_id = k.ledger_id AND e.idx = k.idx
         CROSS JOIN LATERAL (
           SELECT size, note FROM checkpoints c WHERE c.ledger_id = k.ledger_id AND c.size > k.idx ORDER BY c.size LIMIT 1
         ) c
        WHERE k.ledger_id = $1 AND k.key = ANY($2::text[])`,
      [ledgerId, keys],
    );
    for (const row of result.rows) {
      found.set(row.key, {
        requestHash: row.request_hash,
        receipt: {
          ledger,
          index: Number(row.idx),
          leafHash: toBase64(row.leaf_hash),
          receivedAt: formatMicros(Number(row.received_at)),
          checkpoint: row.note,
          treeSize: Number(row.size),
        },
      });
    }
    return found;
  }

  /** One multi-row INSERT per table (arrays unnested server-side), so a batch costs a handful of round trips. */
  private async writeBatch(client: pg.ClientBase, ledgerId: number, write: BatchWrite): Promise<void> {
    const { entries, treeHashes, tileNodes, keys, checkpoint } = write;
    await writeSearchRecords(
      client,
      ledgerId,
      entries.map((e) => searchRecord(e.index, e.receivedAtMicros, e.writer, e.disclosures, this.searchContext)),
      false,
    );
    if (entries.length > 0) {
      await client.query(
        `INSERT INTO entries (ledger_id, idx, received_at, leaf, leaf_hash, disclosures)
         SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::bytea[], $5::bytea[], $6::text[])`,
        [
          ledgerId,
          entries.map((e) => e.index),
          entries.map((e) => e.receivedAtMicros),
          entries.map((e) => Buffer.from(e.leaf)),
          entries.map((e) => Buffer.from(e.leafHash)),
          entries.map((e) => JSON.stringify(e.disclosures)),
        ],
      );
    }
    if (treeHashes.length > 0) {
      await client.query(
        'INSERT INTO tree_hashes (ledger_id, level, idx, hash) SELECT $1, * FROM unnest($2::smallint[], $3::bigint[], $4::bytea[])',
        [ledgerId, treeHashes.map((h) => h.level), treeHashes.map((h) => h.index), treeHashes.map((h) => Buffer.from(h.hash))],
      );
    }
    if (tileNodes.length > 0) await insertTileNodes(client, ledgerId, tileNodes);
    if (keys.length > 0) {
      await client.query(
        'INSERT INTO idempotency_keys (ledger_id, key, request_hash, idx) SELECT $1, * FROM unnest($2::text[], $3::bytea[], $4::bigint[])',
        [ledgerId, keys.map((k) => k.key), keys.map((k) => Buffer.from(k.requestHash)), keys.map((k) => k.index)],
      );
    }
    if (checkpoint) {
      await client.query('INSERT INTO checkpoints (ledger_id, size, root, note, frontier, created_at) VALUES ($1, $2, $3, $4, $5, $6)', [
        ledgerId,
        checkpoint.size,
        Buffer.from(checkpoint.rootHash),
        checkpoint.note,
        Buffer.from(checkpoint.frontier),
        checkpoint.createdAtMicros,
      ]);
    }
  }

  // ---- reads ---------------------------------------------------------------------------------------

  async latestCheckpoint(ledger: string): Promise<StoredCheckpoint | undefined> {
    const result = await this.pool.query<CheckpointRow<string>>(
      'SELECT size, root, note, frontier, created_at FROM checkpoints WHERE ledger_id = $1 ORDER BY size DESC LIMIT 1',
      [await this.ledgerId(ledger)],
    );
    return result.rows[0] && toCheckpoint(ledger, result.rows[0]);
  }

  async checkpoints(ledger: string, from = 0, to = Number.MAX_SAFE_INTEGER): Promise<StoredCheckpoint[]> {
    const result = await this.pool.query<CheckpointRow<string>>(
      'SELECT size, root, note, frontier, created_at FROM checkpoints WHERE ledger_id = $1 AND size >= $2 AND size <= $3 ORDER BY size',
      [await this.ledgerId(ledger), from, to],
    );
    return result.rows.map((row) => toCheckpoint(ledger, row));
  }

  async getEntry(ledger: string, index: number): Promise<StoredEntry | undefined> {
    const result = await this.pool.query<EntryRow<string>>(
      'SELECT idx, received_at, leaf, leaf_hash, disclosures, redactions FROM entries WHERE ledger_id = $1 AND idx = $2',
      [await this.ledgerId(ledger), index],
    );
    return result.rows[0] && toEntry(ledger, result.rows[0]);
  }

  async *entries(ledger: string, from: number, to: number): AsyncIterable<StoredEntry> {
    const ledgerId = await this.ledgerId(ledger);
    let next = from;
    while (next < to) {
      const result = await this.pool.query<EntryRow<string>>(
        'SELECT idx, received_at, leaf, leaf_hash, disclosures, redactions FROM entries WHERE ledger_id = $1 AND idx >= $2 AND idx < $3 ORDER BY idx LIMIT $4',
        [ledgerId, next, to, PAGE],
      );
      if (result.rows.length === 0) return;
      for (const row of result.rows) yield toEntry(ledger, row);
      next = Number(result.rows[result.rows.length - 1]!.idx) + 1;
    }
  }

  async readHashes(ledger: string, ranges: HashRange[]): Promise<Uint8Array[][]> {
    const ledgerId = await this.ledgerId(ledger);
    return Promise.all(
      ranges.map(async ({ level, start, end }) => {
        const result =
          level === 0
            ? await this.pool.query<{ h: Buffer }>('SELECT leaf_hash AS h FROM entries WHERE ledger_id = $1 AND idx >= $2 AND idx < $3 ORDER BY idx', [
                ledgerId,
                start,
                end,
              ])
            : await this.pool.query<{ h: Buffer }>(
                'SELECT hash AS h FROM tree_hashes WHERE ledger_id = $1 AND level = $2 AND idx >= $3 AND idx < $4 ORDER BY idx',
                [ledgerId, level, start, end],
              );
        return result.rows.map((row) => row.h);
      }),
    );
  }

  async readTileNodes(ledger: string, tiles: ReadonlyArray<{ level: number; tile: number }>): Promise<Array<Uint8Array | undefined>> {
    if (tiles.length === 0) return [];
    const result = await this.pool.query<{ level: number; tile: string; nodes: Buffer }>(
      'SELECT level, tile, nodes FROM tile_nodes WHERE ledger_id = $1 AND (level, tile) IN (SELECT * FROM unnest($2::smallint[], $3::bigint[]))',
      [await this.ledgerId(ledger), tiles.map((t) => t.level), tiles.map((t) => t.tile)],
    );
    const found = new Map(result.rows.map((row) => [`${row.level}/${row.tile}`, row.nodes]));
    return tiles.map(({ level, tile }) => found.get(`${level}/${tile}`));
  }

  async writeTileNodes(ledger: string, tiles: readonly TileNodes[]): Promise<void> {
    if (tiles.length === 0) return;
    await insertTileNodes(this.pool, await this.ledgerId(ledger), tiles, true);
  }

  // ---- search --------------------------------------------------------------------------------------

  /** The SQL and parameters search() runs for one page (public for EXPLAIN in tests and benchmarks). */
  async searchStatement(ledger: string, request: SearchRequest): Promise<Statement> {
    const ledgerId = await this.ledgerId(ledger);
    const params: unknown[] = [ledgerId];
    const query = await receivedAsIndex(request.query, (micros) => this.firstIndexAtOrAfter(ledgerId, micros));
    const where = compileWhere(query, postgresDialect(params));
    const direction = request.order === 'desc' ? 'DESC' : 'ASC';
    let cursor = '';
    if (request.after !== undefined) {
      params.push(request.after);
      cursor = ` AND e.idx ${direction === 'DESC' ? '<' : '>'} $${params.length}`;
    }
    params.push(request.limit + 1);
    const matches = `FROM search_events e
                WHERE e.ledger_id = $1 AND ${where}${cursor} ORDER BY e.idx ${direction}`;
    return { sql: pageOfEntries(matches, `$${params.length}`, direction), params };
  }

  /**
   * Runs a heavy read in a read-only transaction of its own whose statement_timeout is the budget, so
   * the server cancels it, rather than leaving it to run on after the client gave up.
   */
  private async heavyRead<T extends pg.QueryResultRow>(sql: string, params: unknown[]): Promise<{ rows: T[] }> {
    const budgetMs = this.options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
    try {
      return await inTransaction(
        this.pool,
        async (client) => {
          // A number from the options, never user input; SET takes no bound parameters.
          await client.query(`SET TRANSACTION READ ONLY; SET LOCAL statement_timeout = ${Math.max(1, Math.trunc(budgetMs))}`);
          return client.query<T>(sql, params);
        },
        { rollBack: true },
      );
    } catch (error) {
      // 57014 query_canceled: statement_timeout expired.
      if ((error as { code?: unknown }).code === '57014') {
        throw new StoreError(
          'QUERY_TIMEOUT',
          `the query did not finish within its time budget of ${budgetMs} ms; narrow it (a shorter time range, fewer values, keys instead of free text)`,
          { budgetMs },
        );
      }
      throw error;
    }
  }

  async search(ledger: string, request: SearchRequest): Promise<SearchPage> {
    return this.pageOf(ledger, request, toHit);
  }

  async searchForExport(ledger: string, request: SearchRequest): Promise<ExportPage> {
    // The same statement as search(): PostgreSQL sends the leaf, whose writer is read here.
    return this.pageOf(ledger, request, toExportHit);
  }

  /** One page of search's statement (limit + 1 rows: the extra one says whether there is a next). */
  private async pageOf<T>(ledger: string, request: SearchRequest, toEntry: (ledger: string, row: HitRow<string>) => T): Promise<{ entries: T[]; next: number | null }> {
    const { sql, params } = await this.searchStatement(ledger, request);
    const result = await this.heavyRead<HitRow<string>>(sql, params);
    const page = result.rows.slice(0, request.limit);
    return {
      entries: page.map((row) => toEntry(ledger, row)),
      next: result.rows.length > request.limit ? Number(page.at(-1)!.idx) : null,
    };
  }

  /** The SQL and parameters stats() runs (public for EXPLAIN in tests and benchmarks). */
  async statsStatement(ledger: string, query: Query, by: StatsDimension, limit: number): Promise<Statement> {
    const ledgerId = await this.ledgerId(ledger);
    const params: unknown[] = [ledgerId];
    const narrowed = await receivedAsIndex(query, (micros) => this.firstIndexAtOrAfter(ledgerId, micros));
    const where = compileWhere(narrowed, postgresDialect(params));
    params.push(limit);
    // Time buckets stay numbers, so that they sort in time order.
    const group = statsGroup(by, (divisor) => `(e.received_at / ${divisor})`);
    const sql = `SELECT ${group.key} AS key, count(*) AS count FROM search_events e${group.join} WHERE e.ledger_id = $1 AND ${where}
        GROUP BY 1 ORDER BY ${isTimeDimension(by) ? '1' : '2 DESC, 1'} LIMIT $${params.length}`;
    return { sql, params };
  }

  /** The rollup read stats() runs for the whole hours of a query the rollups answer (rollupPlan), if it is one. */
  async rollupStatement(ledger: string, query: Query, by: StatsDimension, limit: number): Promise<Statement | undefined> {
    const plan = rollupPlan(query, by);
    if (!plan) return undefined;
    const params: unknown[] = [];
    return { sql: wholeHoursQuery(await this.ledgerId(ledger), plan, by, limit, postgresDialect(params).param), params };
  }

  async stats(ledger: string, query: Query, by: StatsDimension, limit: number): Promise<Array<{ key: string | null; count: number }>> {
    const plan = rollupPlan(query, by);
    const grouped = (q: Query, dimension: StatsDimension) => this.readCounts(this.statsStatement(ledger, q, dimension, limit));
    const rows = plan
      ? await countsFromRollups(plan, by, limit, () => this.readCounts(this.rollupStatement(ledger, query, by, limit)), (edge) => grouped(edge, 'hour'))
      : await grouped(query, by);
    return rows.map((row) => ({ key: statsKey(by, row.key), count: Number(row.count) }));
  }

  private async readCounts(statement: Promise<Statement | undefined>): Promise<CountRow[]> {
    const { sql, params } = (await statement)!;
    return (await this.heavyRead<{ key: unknown; count: string }>(sql, params)).rows;
  }

  // ---- derived rows, for verification (src/store/verify-derived.ts) -----------------------------------

  async *indexedEvents(ledger: string, from: number, to: number): AsyncIterable<IndexedEventRow> {
    const ledgerId = await this.ledgerId(ledger);
    for (let next = from; ; ) {
      const page = await this.pool.query<IndexedEventColumns<string> & { body: string }>(
        `SELECT ${INDEXED_EVENT_COLUMNS}, body FROM search_events WHERE ledger_id = $1 AND idx >= $2 AND idx < $3 ORDER BY idx LIMIT $4`,
        [ledgerId, next, to, PAGE],
      );
      for (const row of page.rows) yield { ...toIndexedEvent(row), text: row.body };
      if (page.rows.length < PAGE) return;
      next = Number(page.rows.at(-1)!.idx) + 1;
    }
  }

  async *indexedDetails(ledger: string, from: number, to: number): AsyncIterable<IndexedDetailRow> {
    const ledgerId = await this.ledgerId(ledger);
    // Keyset pages in primary-key order: the tables have no index by idx, and need none but this scan.
    for (let after: [string, number, string] = ['', Number.MIN_SAFE_INTEGER, '']; ; ) {
      const page = await this.pool.query<{ target_id: string; idx: string; target_type: string; target_name: string | null }>(
        `SELECT target_id, idx, target_type, target_name FROM search_targets
          WHERE ledger_id = $1 AND (target_id, idx, target_type) > ($2, $3, $4) AND idx >= $5 AND idx < $6 ORDER BY target_id, idx, target_type LIMIT $7`,
        [ledgerId, ...after, from, to, PAGE],
      );
      for (const r of page.rows) yield { index: Number(r.idx), target: { type: r.target_type, id: r.target_id, name: r.target_name } };
      if (page.rows.length < PAGE) break;
      const last = page.rows.at(-1)!;
      after = [last.target_id, Number(last.idx), last.target_type];
    }
    for (let after: [string, string, number] = ['', '', Number.MIN_SAFE_INTEGER]; ; ) {
      const page = await this.pool.query<{ key: string; value: string; idx: string }>(
        `SELECT key, value, idx FROM search_metadata
          WHERE ledger_id = $1 AND (key, value, idx) > ($2, $3, $4) AND idx >= $5 AND idx < $6 ORDER BY key, value, idx LIMIT $7`,
        [ledgerId, ...after, from, to, PAGE],
      );
      for (const r of page.rows) yield { index: Number(r.idx), metadata: [r.key, r.value] };
      if (page.rows.length < PAGE) break;
      const last = page.rows.at(-1)!;
      after = [last.key, last.value, Number(last.idx)];
    }
  }

  async rollupMismatch(ledger: string): Promise<RollupMismatch | undefined> {
    const result = await this.pool.query<{ dimension: RollupDimension; value: string; hour: string; stored: string | null; counted: string | null }>(
      rollupMismatchQuery(() => '$1'),
      [await this.ledgerId(ledger)],
    );
    return result.rows[0] && toRollupMismatch(result.rows[0]);
  }

  async *idempotencyKeys(ledger: string): AsyncIterable<StoredIdempotencyKey> {
    const ledgerId = await this.ledgerId(ledger);
    for (let after: [number, string] = [Number.MIN_SAFE_INTEGER, '']; ; ) {
      const page = await this.pool.query<{ idx: string; key: string }>(
        'SELECT idx, key FROM idempotency_keys WHERE ledger_id = $1 AND (idx, key) > ($2, $3) ORDER BY idx, key LIMIT $4',
        [ledgerId, ...after, PAGE],
      );
      for (const r of page.rows) yield { index: Number(r.idx), key: r.key };
      if (page.rows.length < PAGE) return;
      after = [Number(page.rows.at(-1)!.idx), page.rows.at(-1)!.key];
    }
  }

  /** See receivedAsIndex: two index probes on (ledger_id, received_at). */
  private async firstIndexAtOrAfter(ledgerId: number, micros: number): Promise<number> {
    const result = await this.pool.query<{ idx: string | null }>(
      `SELECT min(idx) AS idx FROM search_events WHERE ledger_id = $1 AND received_at =
         (SELECT min(received_at) FROM search_events WHERE ledger_id = $1 AND received_at >= $2)`,
      [ledgerId, micros],
    );
    const idx = result.rows[0]?.idx;
    return idx === null || idx === undefined ? Number.MAX_SAFE_INTEGER : Number(idx);
  }

  // ---- API keys ------------------------------------------------------------------------------------

  async createApiKey(key: ApiKeyRecord): Promise<void> {
    await this.pool.query(
      'INSERT INTO api_keys (id, secret_hash, role, ledgers, tenants, description, created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
      [key.id, Buffer.from(key.secretHash), key.role, JSON.stringify(key.ledgers), JSON.stringify(key.tenants), key.description, key.createdAtMicros, key.expiresAtMicros, key.revokedAtMicros],
    );
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    const result = await this.pool.query<ApiKeyRow>('SELECT * FROM api_keys WHERE id = $1', [id]);
    return result.rows[0] && toApiKey(result.rows[0]);
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return (await this.pool.query<ApiKeyRow>('SELECT * FROM api_keys ORDER BY created_at, id')).rows.map(toApiKey);
  }

  async revokeApiKey(id: string, atMicros: number): Promise<boolean> {
    const exists = await this.pool.query('SELECT 1 FROM api_keys WHERE id = $1', [id]);
    if (exists.rowCount === 0) return false;
    await this.pool.query('UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [atMicros, id]);
    return true;
  }

  // ---- retention (src/store/postgres/retention.ts) ----------------------------------------------------

  async forget(ledger: string, requests: ForgetRequest[], options: ForgetOptions = {}): Promise<ForgetResult> {
    return this.retention.forget(await this.ledgerId(ledger), ledger, requests, options.dryRun);
  }

  /** Old row versions go with VACUUM, which the owner role runs (docs/RETENTION.md); nothing to do here. */
  async scrubFiles(): Promise<void> {}

  async legacyRedactions(): Promise<LegacyRedaction[]> {
    const rows = await this.pool.query<{ name: string; idx: string; redactions: string }>(
      'SELECT l.name, r.idx, r.redactions FROM legacy_redactions r JOIN ledgers l USING (ledger_id) ORDER BY r.ledger_id, r.idx',
    );
    return rows.rows.map((r) => ({ ledger: r.name, index: Number(r.idx), redactions: JSON.parse(r.redactions) as Redactions }));
  }

  async settleLegacyRedactions(entries: Array<{ ledger: string; index: number }>): Promise<void> {
    const byLedger = new Map<string, number[]>();
    for (const { ledger, index } of entries) {
      if (!byLedger.has(ledger)) byLedger.set(ledger, []);
      byLedger.get(ledger)!.push(index);
    }
    for (const [ledger, indexes] of byLedger) {
      await this.pool.query('DELETE FROM legacy_redactions WHERE ledger_id = $1 AND idx = ANY($2::bigint[])', [await this.ledgerId(ledger), indexes]);
    }
  }

  retentionPolicy(): Promise<StoredPolicy | undefined> {
    return this.retention.retentionPolicy();
  }

  putRetentionPolicy(policy: string, changedBy: string, atMicros: number): Promise<number> {
    return this.retention.putRetentionPolicy(policy, changedBy, atMicros);
  }

  createLegalHold(hold: LegalHold): Promise<void> {
    return this.retention.createLegalHold(hold);
  }

  legalHolds(): Promise<LegalHold[]> {
    return this.retention.legalHolds();
  }

  releaseLegalHold(id: string, releasedBy: string, atMicros: number, reason: string): Promise<boolean> {
    return this.retention.releaseLegalHold(id, releasedBy, atMicros, reason);
  }

  // ---- integrity of the running server (src/store/integrity.ts) --------------------------------------

  async integrityRecords(): Promise<IntegrityRecord[]> {
    const result = await this.pool.query<{ name: string; verified_size: string; verified_root: Buffer | null; verified_mac: Buffer | null; broken_reason: string | null; broken_at: string | null }>(
      'SELECT l.name, s.verified_size, s.verified_root, s.verified_mac, s.broken_reason, s.broken_at FROM integrity_state s JOIN ledgers l ON l.ledger_id = s.ledger_id ORDER BY l.name',
    );
    return result.rows.map((r) => ({
      ledger: r.name,
      verifiedSize: Number(r.verified_size),
      verifiedRoot: r.verified_root,
      verifiedMac: r.verified_mac,
      brokenReason: r.broken_reason,
      brokenAtMicros: r.broken_at === null ? null : Number(r.broken_at),
    }));
  }

  async saveIntegrityWatermark(ledger: string, size: number, root: Uint8Array, mac: Uint8Array): Promise<void> {
    await this.pool.query(
      `INSERT INTO integrity_state (ledger_id, verified_size, verified_root, verified_mac) VALUES ($1, $2, $3, $4)
         ON CONFLICT (ledger_id) DO UPDATE SET verified_size = EXCLUDED.verified_size, verified_root = EXCLUDED.verified_root, verified_mac = EXCLUDED.verified_mac
         WHERE EXCLUDED.verified_size >= integrity_state.verified_size`,
      [await this.ledgerId(ledger), size, Buffer.from(root), Buffer.from(mac)],
    );
  }

  async markIntegrityBroken(ledger: string, reason: string, atMicros: number): Promise<void> {
    await this.pool.query(
      `INSERT INTO integrity_state (ledger_id, broken_reason, broken_at) VALUES ($1, $2, $3)
         ON CONFLICT (ledger_id) DO UPDATE SET broken_reason = EXCLUDED.broken_reason, broken_at = EXCLUDED.broken_at
         WHERE integrity_state.broken_reason IS NULL`,
      [await this.ledgerId(ledger), reason, atMicros],
    );
  }

  async claimIntegrityLease(ledger: string, holder: string, nowMicros: number, untilMicros: number): Promise<boolean> {
    const result = await this.pool.query(
      `INSERT INTO integrity_state (ledger_id, lease_holder, lease_until) VALUES ($1, $2, $3)
         ON CONFLICT (ledger_id) DO UPDATE SET lease_holder = EXCLUDED.lease_holder, lease_until = EXCLUDED.lease_until
         WHERE integrity_state.lease_holder IS NULL OR integrity_state.lease_holder = EXCLUDED.lease_holder OR integrity_state.lease_until < $4`,
      [await this.ledgerId(ledger), holder, untilMicros, nowMicros],
    );
    return result.rowCount === 1;
  }

  async claimLease(name: string, holder: string, nowMicros: number, untilMicros: number): Promise<boolean> {
    const result = await this.pool.query(
      `INSERT INTO leases (name, holder, until) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until
         WHERE leases.holder = EXCLUDED.holder OR leases.until < $4`,
      [name, holder, untilMicros, nowMicros],
    );
    return result.rowCount === 1;
  }

  onAppended(listener: (ledger: string, size: number) => void): () => void {
    return this.sequencer.onAppended(listener);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

function postgresDialect(params: unknown[]): Dialect {
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  return {
    param,
    // $1 is always the ledger id in the stores' queries.
    ledger: () => '$1',
    inSubquery: (column, subquery) => `${column} = ANY(ARRAY(${subquery}))`,
    // Substring, case-insensitive; LIKE wildcards in the phrase are escaped.
    text: (phrase) => `e.body ILIKE '%' || ${param(phrase.replace(/[\\%_]/g, (c) => `\\${c}`))} || '%'`,
    inSet: (column, values) => `${column} = ANY(${param(values)}::text[])`,
    blob: (hex) => Buffer.from(hex, 'hex'),
  };
}

/**
 * Tiles' interior nodes in one INSERT. Appends insert plainly, as tree hashes (a row already there for a
 * tile only now complete was planted); nodes computed on demand keep a row another process stored first.
 */
async function insertTileNodes(db: pg.ClientBase | pg.Pool, ledgerId: number, tiles: readonly TileNodes[], computed = false): Promise<void> {
  const conflict = computed ? ' ON CONFLICT DO NOTHING' : '';
  await db.query(`INSERT INTO tile_nodes (ledger_id, level, tile, nodes) SELECT $1, * FROM unnest($2::smallint[], $3::bigint[], $4::bytea[])${conflict}`, [
    ledgerId,
    tiles.map((t) => t.level),
    tiles.map((t) => t.tile),
    tiles.map((t) => Buffer.from(t.nodes.buffer, t.nodes.byteOffset, t.nodes.byteLength)),
  ]);
}

/**
 * One multi-row INSERT per search table for a batch of records, and the rollups of the rows actually
 * inserted (with ignoreExisting, rows another process indexed first are skipped and not counted twice).
 * Pass a client in a transaction: the rollups must move with the rows.
 */
async function writeSearchRecords(db: pg.ClientBase, ledgerId: number, records: SearchRecord[], ignoreExisting: boolean): Promise<void> {
  if (records.length === 0) return;
  const conflict = ignoreExisting ? ' ON CONFLICT DO NOTHING' : '';
  const inserted = await db.query<RollupColumns>(
    `INSERT INTO search_events (ledger_id, idx, received_at, occurred_at, actor_type, actor_id, actor_name, action, category, tenant, outcome, ip, writer, body,
                                country, region, city, latitude, longitude, ip_reserved, session_id, device_id)
     SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bytea[], $13::text[], $14::text[],
                              $15::text[], $16::text[], $17::text[], $18::float8[], $19::float8[], $20::text[], $21::text[], $22::text[])${conflict}
     RETURNING ${ROLLUP_COLUMNS}`,
    [
      ledgerId,
      records.map((r) => r.index),
      records.map((r) => r.receivedAtMicros),
      records.map((r) => r.occurredAtMicros),
      records.map((r) => r.actorType),
      records.map((r) => r.actorId),
      records.map((r) => r.actorName),
      records.map((r) => r.action),
      records.map((r) => r.category),
      records.map((r) => r.tenant),
      records.map((r) => r.outcome),
      records.map((r) => (r.ip ? Buffer.from(r.ip) : null)),
      records.map((r) => r.writer),
      records.map((r) => r.text),
      ...transpose(records.map((r) => locationValues(r.location)), LOCATION_COLUMNS.length),
      records.map((r) => r.sessionId),
      records.map((r) => r.deviceId),
    ],
  );
  await adjustRollups(db, ledgerId, rollupDeltas(inserted.rows.map(rollupSource), 1));
  const targets = records.flatMap((r) => r.targets.map((t) => ({ ...t, index: r.index })));
  if (targets.length > 0) {
    await db.query(
      `INSERT INTO search_targets (ledger_id, target_id, idx, target_type, target_name)
       SELECT $1, * FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[]) ON CONFLICT DO NOTHING`,
      [ledgerId, targets.map((t) => t.id), targets.map((t) => t.index), targets.map((t) => t.type), targets.map((t) => t.name)],
    );
  }
  const metadata = records.flatMap((r) => r.metadata.map(([key, value]) => ({ key, value, index: r.index })));
  if (metadata.length > 0) {
    await db.query(
      `INSERT INTO search_metadata (ledger_id, key, value, idx)
       SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[]) ON CONFLICT DO NOTHING`,
      [ledgerId, metadata.map((m) => m.key), metadata.map((m) => m.value), metadata.map((m) => m.index)],
    );
  }
}

/** Columns of rows: the arrays unnest() takes, one per column. */
function transpose<T extends unknown[]>(rows: T[], width: number): unknown[][] {
  return Array.from({ length: width }, (_, column) => rows.map((row) => row[column]));
}
