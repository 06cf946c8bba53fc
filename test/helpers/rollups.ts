/**
 * For tests that write a store's search rows by hand to stage a state (an old version's purge, a tail
 * cut off by an attacker who kept the store consistent in itself): the hourly count rollups recounted
 * from the search rows, as the migration that adds them and a consistent attacker would.
 */
import type Database from 'better-sqlite3';
import { countedRollups } from '../../src/store/rollups.js';

export function recountRollups(db: Database.Database): void {
  db.exec(`DELETE FROM search_hourly; INSERT INTO search_hourly (ledger_id, dimension, value, hour, count) ${countedRollups(() => 'TRUE')}`);
}
