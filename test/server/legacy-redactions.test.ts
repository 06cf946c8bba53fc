/**
 * Issue 19, high, end to end with the real CLI: `sealtrail verify` fails on a forged erasure naming the
 * entry and field, and a folder upgraded from before forgetting records still verifies — its old
 * redactions attested once, in a sealed record marked legacy, when the server first starts on it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { FORGET_ACTION, SYSTEM_LEDGER } from '../../src/core/forgetting.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { buildApp } from '../../src/server/app.js';
import { openDeployment } from '../../src/server/deployment.js';
import { runVerify } from '../helpers/cli.js';
import { sampleEvent } from '../helpers/events.js';
import { recountRollups } from '../helpers/rollups.js';

const NAME = 'legacy.test';

/** Starts the app on the folder (as `serve` would), runs `body`, stops it. */
async function withServer(dir: string, body: (store: ReturnType<typeof openDeployment>['store']) => Promise<void>): Promise<void> {
  const deployment = openDeployment({ dataDir: dir, name: NAME });
  const app = await buildApp({ store: deployment.store, suite: nodeSuite, verifierKey: deployment.verifierKey, adminToken: 'legacy-admin-token-0123456789abcdef' });
  try {
    await app.ready();
    await body(deployment.store);
  } finally {
    await app.close();
    await deployment.store.close();
  }
}

/**
 * What a sealtrail from before this change left: entry 2's actor.email erased and entry 4 purged, with
 * no forgetting record, and the list migration 7 makes of them. Triggers of this version are bypassed to
 * write the old state.
 */
function writeOldRedactions(dir: string, listThem: boolean): void {
  const db = new Database(join(dir, 'sealtrail.db'));
  try {
    db.exec('DROP TRIGGER entries_forget_authorised; DROP TRIGGER legacy_redactions_closed');
    db.exec(`UPDATE entries SET disclosures = json_remove(disclosures, '$."actor.email"'), redactions = '{"actor.email":"erased"}'
              WHERE ledger_id = (SELECT ledger_id FROM ledgers WHERE name = 'old') AND idx = 2`);
    const keys = db.prepare<[], { k: string }>(`SELECT j.key AS k FROM entries, json_each(entries.disclosures) j WHERE idx = 4 AND ledger_id = (SELECT ledger_id FROM ledgers WHERE name = 'old')`).all();
    db.prepare(`UPDATE entries SET disclosures = '{}', redactions = ? WHERE ledger_id = (SELECT ledger_id FROM ledgers WHERE name = 'old') AND idx = 4`)
      .run(JSON.stringify(Object.fromEntries(keys.map(({ k }) => [k, 'purged']))));
    // A purge took the entry's search rows with it.
    const where = `ledger_id = (SELECT ledger_id FROM ledgers WHERE name = 'old') AND idx = 4`;
    const { id } = db.prepare<[], { id: number }>(`SELECT id FROM search_events WHERE ${where}`).get()!;
    db.exec(`DELETE FROM search_text WHERE rowid = ${id}; DELETE FROM search_events WHERE ${where};
             DELETE FROM search_targets WHERE ${where}; DELETE FROM search_metadata WHERE ${where}`);
    recountRollups(db);
    if (listThem) db.exec(`INSERT INTO legacy_redactions SELECT ledger_id, idx, redactions FROM entries WHERE redactions IS NOT NULL`);
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

describe('forgetting records through the CLI and across the upgrade', () => {
  let pristine: string;
  const dirs: string[] = [];
  const copy = () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealtrail-legacy-'));
    cpSync(pristine, dir, { recursive: true });
    dirs.push(dir);
    return dir;
  };
  before(async () => {
    pristine = mkdtempSync(join(tmpdir(), 'sealtrail-legacy-'));
    dirs.push(pristine);
    await withServer(pristine, async (store) => {
      await store.createLedger('old');
      await store.append('old', Array.from({ length: 8 }, (_, i) => ({ event: sampleEvent(i), writer: 'w' })));
    });
  });
  after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  it('verify fails on redactions no record names, naming the entry and field', async () => {
    const dir = copy();
    writeOldRedactions(dir, false);
    const result = await runVerify(['--data', dir]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /FAILED old: entry 2, field actor\.email: recorded as erased, but no sealed forgetting record/);
    // Starting the server does not launder them: only what the upgrade listed is attested.
    await withServer(dir, async () => {});
    assert.equal((await runVerify(['--data', dir])).code, 1);
  });

  it('redactions listed by the upgrade are attested once at start, and then verify', async () => {
    const dir = copy();
    writeOldRedactions(dir, true);
    let records = 0;
    await withServer(dir, async (store) => {
      const system = (await store.getLedger(SYSTEM_LEDGER))!;
      for await (const entry of store.entries(SYSTEM_LEDGER, 0, system.size)) {
        if (entry.disclosures.action?.[1] !== FORGET_ACTION) continue;
        records++;
        assert.equal((entry.disclosures['metadata.forget']?.[1] as { legacy?: boolean }).legacy, true);
      }
      assert.deepEqual(await store.legacyRedactions(), [], 'the list is settled');
    });
    assert.equal(records, 2, 'one record per ledger and reason');
    const result = await runVerify(['--data', dir]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /ok {2}old: 8 entries.*, 18 forgotten fields each named by a sealed record \(18 attested at the upgrade\)/);
    // A second start attests nothing more — not even removals someone lists after the upgrade.
    const db = new Database(join(dir, 'sealtrail.db'));
    try {
      db.exec('DROP TRIGGER IF EXISTS entries_forget_authorised; DROP TRIGGER IF EXISTS legacy_redactions_closed');
      db.exec(`UPDATE entries SET disclosures = json_remove(disclosures, '$.outcome'), redactions = '{"outcome":"erased"}'
                WHERE ledger_id = (SELECT ledger_id FROM ledgers WHERE name = 'old') AND idx = 6`);
      db.exec(`INSERT INTO legacy_redactions SELECT ledger_id, idx, redactions FROM entries WHERE idx = 6 AND ledger_id = (SELECT ledger_id FROM ledgers WHERE name = 'old')`);
      db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      db.close();
    }
    await withServer(dir, async (store) => {
      const system = (await store.getLedger(SYSTEM_LEDGER))!;
      let again = 0;
      for await (const entry of store.entries(SYSTEM_LEDGER, 0, system.size)) if (entry.disclosures.action?.[1] === FORGET_ACTION) again++;
      assert.equal(again, records);
      assert.deepEqual(await store.legacyRedactions(), [], 'the planted list is settled, not sealed');
    });
    const laundered = await runVerify(['--data', dir]);
    assert.equal(laundered.code, 1, laundered.stdout);
    assert.match(laundered.stdout, /entry 6, field outcome: recorded as erased, but no sealed forgetting record/);
  });
});
