/**
 * Query plans of the searches an investigator runs: each must reach search_events through an index
 * that narrows it by the query's own fields (or through the free-text index), not by scanning the
 * ledger. Catches a missing or unusable index, which small test ledgers would never show as slowness.
 *
 * The SQL is rebuilt with compileWhere exactly as the stores build it (bench/search.ts), and checked to
 * return what the store returns, so that a change in the stores' SQL shows here first.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { portableSigner } from '../../src/core/crypto.js';
import { parseQuery } from '../../src/core/query.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { quoteIdent } from '../../src/store/postgres/schema.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { StatsDimension } from '../../src/store/store.js';
import { Dataset, SimulatedClock, writeToStore } from '../../bench/gen.js';
import {
  explainSqlite,
  incidentQueries,
  ledgerIdOf,
  type Statement,
} from '../../bench/search.js';
import { createPostgresFixture, postgresUnavailable, type PostgresFixture } from '../helpers/postgres.js';

const LEDGER = 'plans';
const NAME = 'plans.test';
const END = Date.UTC(2026, 10, 26, 12) * 1000;

function dataset(): Dataset {
  return new Dataset({ events: 6000, seed: 'plans', days: 4, endMicros: END, tenants: 20, users: 600 });
}

interface Shape {
  id: string;
  q: string;
  by?: StatsDimension;
  /** Set while the schema lacks the index this shape needs: the reason, and the index that would fix it. */
  todo?: string;
  /** The same, for one store only. */
  sqliteTodo?: string;
  postgresTodo?: string;
}

/** The incident queries of the search bench, and a few more an investigation uses. */
function shapes(d: Dataset, sample: { requestId: string; actorName: string }): Shape[] {
  const brute = d.incidents.find((i) => i.name === 'brute-force')!;
  const bruteDay = new Date(brute.fromMicros / 1000).toISOString().slice(0, 10);
  return [
    ...incidentQueries(d).map(({ id, q, by }) => ({ id, q, ...(by ? { by } : {}) })),
    { id: 'brute-force', q: `actor.id:${brute.actor} action:auth.login outcome:failure received:${bruteDay}` },
    { id: 'ip-exact', q: `ip:${brute.ip}` },
    {
      id: 'target',
      q: `target.id:${d.busiest.file.id}`,
    },
    { id: 'actor-id-or-name', q: `actor:${JSON.stringify(sample.actorName)}` },
    { id: 'action-prefix', q: `action:role.*` },
    {
      id: 'metadata',
      q: `metadata.request_id:${sample.requestId}`,
    },
    { id: 'stats-actor-day', q: `action:auth.login outcome:failure received:${bruteDay}`, by: 'actor' },
    { id: 'country', q: `country:RU` },
  ];
}

// ---- SQLite ----------------------------------------------------------------------------------------

/**
 * Why a SQLite plan reads some table without narrowing it (a full scan, or an index searched by the
 * ledger alone), or undefined when every table is reached through the query's own fields, the
 * free-text index, or a join on (ledger_id, idx).
 */
function sqliteWideAccess(plan: string[]): string | undefined {
  const lines = plan.map((line) => line.trim());
  // The page is chosen in a subquery (a co-routine named after it); scanning its few rows is no scan.
  const coroutines = new Set(lines.flatMap((line) => /^CO-ROUTINE (\S+)$/.exec(line)?.[1] ?? []));
  const accesses = lines.filter((line) => /^(SCAN|SEARCH) /.test(line));
  if (!accesses.some((line) => /^(SCAN|SEARCH) e( |$)/.test(line))) return 'the plan never reads search_events';
  for (const line of accesses) {
    if (coroutines.has(line.slice('SCAN '.length))) continue;
    if (/^SCAN \S+ VIRTUAL TABLE/.test(line) || line === 'SCAN CONSTANT ROW') continue; // the FTS index
    if (line.startsWith('SCAN ')) return `full scan: ${line}`;
    if (/USING INTEGER PRIMARY KEY \(rowid=\?\)/.test(line)) continue; // rows fetched by id from the FTS match
    const constraint = /\((.*)\)$/.exec(line)?.[1] ?? '';
    const columns = constraint.split(' AND ').map((c) => c.replace(/[=<>?].*$/, '').trim());
    if (!columns.some((c) => c !== '' && c !== 'ledger_id')) return `only the ledger narrows it: ${line}`;
  }
  return undefined;
}

/** The query shapes whose plans must reach every table through an index, on both stores. */
const INDEXED_SHAPES = [
  'user-between',
  'user-resource',
  'ip-range-day',
  'tenant-file-24h',
  'text-rare',
  'text-common',
  'stats-hour-tenant',
  'brute-force',
  'ip-exact',
  'target',
  'actor-id-or-name',
  'action-prefix',
  'metadata',
  'stats-actor-day',
  'country',
];

describe('search plans: SQLite', () => {
  const d = dataset();
  const clock = new SimulatedClock();
  let store: SqliteStore;
  let ledgerId: number;
  let list: Shape[];

  before(async () => {
    store = new SqliteStore({
      path: ':memory:',
      suite: nodeSuite,
      signer: portableSigner(nodeSuite.randomBytes(32)),
      name: NAME,
      clock: clock.read,
      locate: (ip) => (ip.startsWith('95.') ? { country: 'RU' } : ip.startsWith('10.') ? { reserved: 'private' } : { country: 'DE' }),
    });
    await writeToStore(store, clock, LEDGER, d, { progress: false, windowSeconds: 3600 });
    // Indexing is deferred (the writer thread, SqliteBatchWriter); the statements below read the index tables directly.
    await store.indexPending();
    store.db.exec('ANALYZE');
    ledgerId = ledgerIdOf(store.db, LEDGER);
    const requestId = store.db.prepare<[], { value: string }>(`SELECT value FROM search_metadata WHERE key = 'request_id' LIMIT 1`).get()!.value;
    const actorName = store.db.prepare<[], { n: string }>(`SELECT actor_name AS n FROM search_events WHERE actor_type = 'user' LIMIT 1`).get()!.n;
    list = shapes(d, { requestId, actorName });
  });
  after(() => store.close());

  const statement = (shape: Shape): Promise<Statement> => {
    const query = parseQuery(shape.q, { now: END });
    return shape.by ? store.statsStatement(LEDGER, query, shape.by, 1000) : store.searchStatement(LEDGER, { query, limit: 100, order: 'desc' });
  };

  it('rebuilds the SQL the store runs (same rows as SqliteStore.search and stats)', async () => {
    for (const shape of list) {
      const query = parseQuery(shape.q, { now: END });
      const { sql, params } = await statement(shape);
      const rows = store.db.prepare<unknown[], Record<string, unknown>>(sql).all(...params);
      if (shape.by) {
        const stats = await store.stats(LEDGER, query, shape.by, 1000);
        assert.deepEqual(rows.map((r) => r.count), stats.map((s) => s.count), shape.id);
      } else {
        const page = await store.search(LEDGER, { query, limit: 100, order: 'desc' });
        assert.deepEqual(rows.slice(0, 100).map((r) => r.idx), page.entries.map((e) => e.index), shape.id);
      }
    }
  });

  it('finds the planted incidents and matches for every shape', async () => {
    for (const shape of list.filter((s) => !s.todo)) {
      const { sql, params } = await statement(shape);
      assert.ok(store.db.prepare(sql).all(...params).length > 0, `${shape.id} matches nothing: ${shape.q}`);
    }
  });

  for (const id of INDEXED_SHAPES) {
    it(`reaches every table through an index: ${id}`, async (t) => {
      const shape = list.find((s) => s.id === id)!;
      const todo = shape.todo ?? shape.sqliteTodo;
      if (todo) t.todo(todo);
      const plan = explainSqlite(store.db, await statement(shape));
      t.diagnostic(`${shape.q} → ${plan.map((l) => l.trim()).join(' | ')}`);
      const wide = sqliteWideAccess(plan);
      assert.equal(wide, undefined, `${shape.q}\n${plan.join('\n')}`);
      if (shape.id.startsWith('text-')) {
        assert.ok(plan.some((l) => /VIRTUAL TABLE INDEX \d+:M/.test(l)), `free text through the FTS index\n${plan.join('\n')}`);
        // The page comes from the FTS index in order: no sort of every match inside the page's subquery.
        const page = plan.slice(plan.indexOf('CO-ROUTINE page') + 1).filter((l) => l.startsWith('  '));
        assert.ok(!page.some((l) => l.includes('TEMP B-TREE')), `matches read in order and stopped at the page\n${plan.join('\n')}`);
      }
    });
  }

  it('flags a plan that scans the ledger (the check itself)', () => {
    assert.match(sqliteWideAccess(['SCAN e'])!, /full scan/);
    assert.match(sqliteWideAccess(['SEARCH e USING COVERING INDEX sqlite_autoindex_search_events_1 (ledger_id=?)'])!, /only the ledger/);
    assert.equal(sqliteWideAccess(['SEARCH e USING INDEX search_events_actor (ledger_id=? AND actor_id=?)']), undefined);
    assert.match(sqliteWideAccess(['SCAN en', 'SEARCH e USING COVERING INDEX sqlite_autoindex_search_events_1 (ledger_id=? AND idx=?)'])!, /full scan: SCAN en/);
    const plan = explainSqlite(store.db, { sql: 'SELECT e.idx FROM search_events e WHERE e.ledger_id = ? AND e.outcome = ?', params: [ledgerId, 'failure'] });
    assert.ok(sqliteWideAccess(plan), plan.join('\n'));
  });
});

// ---- PostgreSQL ------------------------------------------------------------------------------------

interface PgPlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  Alias?: string;
  Plans?: PgPlanNode[];
}

/** One line per plan node, indented: type, relation, index and condition. */
function pgPlanLines(node: PgPlanNode, depth = 0): string[] {
  const on = node['Relation Name'] ? ` on ${node['Relation Name']}${node.Alias && node.Alias !== node['Relation Name'] ? ` ${node.Alias}` : ''}` : '';
  const index = node['Index Name'] ? ` using ${node['Index Name']}` : '';
  const cond = node['Index Cond'] ? ` (${node['Index Cond']})` : '';
  return [`${'  '.repeat(depth)}${node['Node Type']}${index}${on}${cond}`, ...(node.Plans ?? []).flatMap((child) => pgPlanLines(child, depth + 1))];
}

function* walk(node: PgPlanNode): Generator<PgPlanNode> {
  yield node;
  for (const child of node.Plans ?? []) yield* walk(child);
}

/** Why a PostgreSQL plan reads some table without narrowing it, or undefined (as for SQLite). */
function postgresWideAccess(root: PgPlanNode): string | undefined {
  const nodes = [...walk(root)];
  if (!nodes.some((n) => n['Relation Name'] === 'search_events')) return 'the plan never reads search_events';
  for (const node of nodes) {
    const type = node['Node Type'];
    if (type === 'Seq Scan') return `sequential scan of ${node['Relation Name']}`;
    if (!['Index Scan', 'Index Only Scan', 'Bitmap Index Scan'].includes(type)) continue; // Bitmap Heap Scan: its children are checked
    const cond = node['Index Cond'] ?? '';
    const columns = [...cond.matchAll(/\b([a-z_]+)\s*(?:=|>=|<=|>|<|~~\*)/g)].map((m) => m[1]);
    if (!columns.some((c) => c !== 'ledger_id')) return `only the ledger narrows it: ${type} using ${node['Index Name']} (${cond || 'no condition'})`;
  }
  return undefined;
}

const unavailable = await postgresUnavailable();

describe('search plans: PostgreSQL', { skip: unavailable }, () => {
  const d = dataset();
  const clock = new SimulatedClock();
  let fixture: PostgresFixture;
  let store: PostgresStore;
  let admin: pg.Client;
  let ledgerId: number;
  let list: Shape[];

  before(async () => {
    fixture = await createPostgresFixture(NAME);
    store = await PostgresStore.open({
      url: fixture.serviceUrl,
      schema: fixture.schema,
      suite: nodeSuite,
      signer: portableSigner(nodeSuite.randomBytes(32)),
      name: NAME,
      clock: clock.read,
      locate: (ip) => (ip.startsWith('95.') ? { country: 'RU' } : ip.startsWith('10.') ? { reserved: 'private' } : { country: 'DE' }),
    });
    await writeToStore(store, clock, LEDGER, d, { progress: false, windowSeconds: 3600 });
    // EXPLAIN and ANALYZE as the administrator (the service role may not ANALYZE); a tiny table is
    // cheapest to scan, so sequential scans are priced out to see which index the planner would use.
    admin = new pg.Client({ connectionString: fixture.adminUrl });
    await admin.connect();
    await admin.query(`SET search_path TO ${quoteIdent(fixture.schema)}`);
    await admin.query('ANALYZE search_events, search_targets, search_metadata, entries');
    await admin.query('SET enable_seqscan = off');
    ledgerId = (await admin.query<{ ledger_id: number }>('SELECT ledger_id FROM ledgers WHERE name = $1', [LEDGER])).rows[0]!.ledger_id;
    const requestId = (await admin.query<{ value: string }>(`SELECT value FROM search_metadata WHERE key = 'request_id' LIMIT 1`)).rows[0]!.value;
    const actorName = (await admin.query<{ n: string }>(`SELECT actor_name AS n FROM search_events WHERE actor_type = 'user' LIMIT 1`)).rows[0]!.n;
    list = shapes(d, { requestId, actorName });
  });
  after(async () => {
    await admin?.end();
    await store?.close();
    await fixture?.drop();
  });

  const statement = (shape: Shape): Promise<Statement> => {
    const query = parseQuery(shape.q, { now: END });
    return shape.by ? store.statsStatement(LEDGER, query, shape.by, 1000) : store.searchStatement(LEDGER, { query, limit: 100, order: 'desc' });
  };

  it('rebuilds the SQL the store runs (same rows as PostgresStore.search and stats)', async () => {
    for (const shape of list) {
      const query = parseQuery(shape.q, { now: END });
      const { sql, params } = await statement(shape);
      const rows = (await admin.query<Record<string, unknown>>(sql, params)).rows;
      if (shape.by) {
        const stats = await store.stats(LEDGER, query, shape.by, 1000);
        assert.deepEqual(rows.map((r) => Number(r.count)), stats.map((s) => s.count), shape.id);
      } else {
        const page = await store.search(LEDGER, { query, limit: 100, order: 'desc' });
        assert.deepEqual(rows.slice(0, 100).map((r) => Number(r.idx)), page.entries.map((e) => e.index), shape.id);
      }
    }
  });

  for (const id of INDEXED_SHAPES) {
    it(`reaches every table through an index: ${id}`, async (t) => {
      const shape = list.find((s) => s.id === id)!;
      const todo = shape.todo ?? shape.postgresTodo;
      if (todo) t.todo(todo);
      const { sql, params } = await statement(shape);
      // Free text is planned as for a 10-million-event ledger (the statistics keep their distributions,
      // only the row count grows, and only inside this transaction): at 6,000 rows the planner rightly
      // prefers reading the whole ledger to a trigram index lookup; at the sizes the index is for it must not.
      const large = shape.id.startsWith('text-');
      if (large) {
        await admin.query('BEGIN');
        for (const table of ['search_events', 'entries']) {
          await admin.query(`UPDATE pg_class SET reltuples = 1e7 WHERE oid = $1::regclass`, [`${quoteIdent(fixture.schema)}.${table}`]);
        }
      }
      const result = await admin.query<{ 'QUERY PLAN': Array<{ Plan: PgPlanNode }> }>(`EXPLAIN (FORMAT JSON) ${sql}`, params);
      if (large) await admin.query('ROLLBACK');
      const root = result.rows[0]!['QUERY PLAN'][0]!.Plan;
      t.diagnostic(`${shape.q} → ${pgPlanLines(root).map((l) => l.trim()).join(' | ')}`);
      // A phrase in many events is best found by reading the ledger newest first and stopping at the
      // page (a Limit straight above the ordered index scan), which is no scan of the ledger.
      if (shape.id === 'text-common' && stopsAtPage(root)) return;
      assert.equal(postgresWideAccess(root), undefined, `${shape.q}\n${pgPlanLines(root).join('\n')}`);
    });
  }
});

/** The plan reads search_events in index order under a Limit, so it stops at the page. */
function stopsAtPage(root: PgPlanNode): boolean {
  return [...walk(root)].some(
    (n) => n['Node Type'] === 'Limit' && (n.Plans ?? []).some((c) => c['Node Type'] === 'Index Scan' && c['Relation Name'] === 'search_events' && c['Index Name'] === 'search_events_pkey'),
  );
}
