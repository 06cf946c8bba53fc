/**
 * The time budget of search and stats reads on both stores (issue 19): a read past its budget fails
 * with QUERY_TIMEOUT naming the budget (SQLite: its worker thread is terminated; PostgreSQL: the
 * statement is cancelled by statement_timeout, SQLSTATE 57014), and the same store keeps serving.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { portableSigner, type Ed25519Signer } from '../../src/core/crypto.js';
import { parseQuery } from '../../src/core/query.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { StoreError, type Store } from '../../src/store/store.js';
import { sampleEvent } from '../helpers/events.js';
import { createPostgresFixture, postgresUnavailable, type PostgresFixture } from '../helpers/postgres.js';

const EVENTS = 3000;
const NAME = 'budget.test';
/** Eight words in every sampleEvent's free text: the costliest query the bounds allow, over every event. */
const COSTLY = parseQuery('Mozilla Linux x86_64 example report .pdf X11 user');

interface Backend {
  open(queryTimeoutMs: number): Promise<Store>;
  destroy(): Promise<void>;
}

const pgUnavailable = await postgresUnavailable();

async function sqliteBackend(signer: Ed25519Signer): Promise<Backend> {
  const dir = mkdtempSync(join(tmpdir(), 'sealtrail-budget-'));
  return {
    open: async (queryTimeoutMs) => new SqliteStore({ path: join(dir, 'sealtrail.db'), suite: nodeSuite, signer, name: NAME, queryTimeoutMs }),
    destroy: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

async function postgresBackend(signer: Ed25519Signer): Promise<Backend> {
  const fixture: PostgresFixture = await createPostgresFixture(NAME);
  return {
    open: (queryTimeoutMs) => PostgresStore.open({ url: fixture.serviceUrl, schema: fixture.schema, suite: nodeSuite, signer, name: NAME, queryTimeoutMs }),
    destroy: () => fixture.drop(),
  };
}

const backends: Array<[string, (signer: Ed25519Signer) => Promise<Backend>, string | undefined]> = [
  ['sqlite', sqliteBackend, undefined],
  ['postgres', postgresBackend, pgUnavailable],
];

for (const [label, make, skip] of backends) {
  describe(`query time budget: ${label}`, { skip, timeout: 120_000 }, () => {
    let backend: Backend;
    let tight: Store;
    let roomy: Store;

    before(async () => {
      backend = await make(portableSigner(nodeSuite.randomBytes(32)));
      roomy = await backend.open(60_000);
      await roomy.createLedger('audit');
      for (let from = 0; from < EVENTS; from += 1000) {
        await roomy.append('audit', Array.from({ length: 1000 }, (_, i) => ({ event: sampleEvent(from + i), writer: 'w' })));
      }
      tight = await backend.open(5);
    });
    after(async () => {
      await tight?.close();
      await roomy?.close();
      await backend?.destroy();
    });

    const isTimeout = (budgetMs: number) => (error: unknown) => {
      assert.ok(error instanceof StoreError, String(error));
      assert.equal(error.code, 'QUERY_TIMEOUT');
      assert.equal(error.details.budgetMs, budgetMs);
      assert.match(error.message, new RegExp(`time budget of ${budgetMs} ms`));
      return true;
    };

    it('fails a stats read past its budget with QUERY_TIMEOUT, and the same store answers it within a larger one', async () => {
      // Warm up (SQLite starts its read thread on the first search; that is not part of the budget).
      await tight.search('audit', { query: parseQuery('index:1'), limit: 1, order: 'asc' }).catch(() => {});
      await assert.rejects(tight.stats('audit', COSTLY, 'actor', 100), isTimeout(5));
      await assert.rejects(tight.search('audit', { query: parseQuery(`-"zzz" ${'Mozilla Linux x86_64 example report .pdf X11'}`), limit: 1000, order: 'asc' }), isTimeout(5));
      const buckets = await roomy.stats('audit', COSTLY, 'actor', 100);
      assert.equal(buckets.reduce((n, b) => n + b.count, 0), EVENTS);
    });
  });
}
