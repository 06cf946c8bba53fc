/** How tests edit a SQLite store's file behind its back, as an attacker with the file would. */
import Database from 'better-sqlite3';

/**
 * Runs `change` on the (closed or live) database file at `path` with every trigger dropped, in one
 * IMMEDIATE transaction: a deferred one that reads first fails at once (SQLITE_BUSY) when a live
 * store's writer thread commits between its read and its first write.
 */
export function tamperWithFile(path: string, ledger: string, change: (db: Database.Database, ledgerId: number) => void): void {
  const db = new Database(path);
  try {
    db.transaction(() => {
      for (const name of db.prepare<[], string>(`SELECT name FROM sqlite_master WHERE type = 'trigger'`).pluck().all()) db.exec(`DROP TRIGGER "${name}"`);
      change(db, db.prepare<[string], number>('SELECT ledger_id FROM ledgers WHERE name = ?').pluck().get(ledger)!);
    }).immediate();
  } finally {
    db.close();
  }
}

/** The disclosures text with actor.id's value changed and its salt kept (the commitment no longer matches). */
export function editedDisclosures(text: string): string {
  const disclosures = JSON.parse(text) as Record<string, [string, unknown]>;
  disclosures['actor.id']![1] = 'u-attacker';
  return JSON.stringify(disclosures);
}

/** Changes entry idx's disclosed actor.id in the database (editedDisclosures). */
export function editActorId(db: Database.Database, ledgerId: number, idx: number): void {
  const text = db.prepare<[number, number], string>('SELECT disclosures FROM entries WHERE ledger_id = ? AND idx = ?').pluck().get(ledgerId, idx)!;
  db.prepare('UPDATE entries SET disclosures = ? WHERE ledger_id = ? AND idx = ?').run(editedDisclosures(text), ledgerId, idx);
}
