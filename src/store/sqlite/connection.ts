/**
 * Opening the embedded store's file: its permissions, the pragmas every writing connection needs, and
 * the schema migrations. Shared by the store's own connection and its writer thread (writer-worker.ts).
 */
import Database from 'better-sqlite3';
import { chmodSync, closeSync, openSync, statSync } from 'node:fs';
import { StoreError } from '../store.js';
import { MIGRATIONS } from './schema.js';

/**
 * Page size of new database files. An entry row (leaf, leaf hash, disclosures) is ~2.2 KB: a 4 KiB page
 * holds one and leaves the rest empty, a 16 KiB page holds seven; a full tile's 16,320 bytes of nodes
 * fit one page instead of an overflow chain of five. Measured with 100,000 generated events in batches
 * of 1,000 (bench/indexed.ts sqliteStoreRun, alternating): disk 4,820 → 3,687 bytes/event, bytes
 * written 15.3k → 13.9k per event, ingest unchanged or faster (1,624–1,767 → 1,842–2,156 events/s).
 */
export const SQLITE_PAGE_SIZE = 16384;
/** Page cache of the writing connection, in KiB (256 MiB). */
export const SQLITE_CACHE_KIB = 256 * 1024;

/**
 * Whether the database is a file other connections (the store's read and writer threads) can open by
 * its path: not ":memory:", not "" (a private temporary database), not a "file:" URI.
 */
export function isSharedFile(path: string): boolean {
  return !(path === ':memory:' || path === '' || path.startsWith('file:'));
}

/**
 * The database file and its -wal and -shm hold every field value and salt, so they are for the owner
 * alone, whatever the folder's mode or the process umask. SQLite creates a new database 0644 (less the
 * umask) but gives -wal and -shm the database file's own mode (os_unix.c findCreateFileMode, and
 * robust_open's fchmod of a new empty file, which overrides the umask): so the file is created here
 * 0600 before SQLite first opens it, and a file of an older start that others may read is narrowed
 * to its owner's bits, together with any -wal and -shm beside it.
 */
export function restrictDatabaseFiles(path: string): void {
  if (!isSharedFile(path)) return;
  closeSync(openSync(path, 'a', 0o600));
  const uid = process.getuid?.();
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    let stat;
    try {
      stat = statSync(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    // Only the owner may chmod; a file someone else owns is theirs to fix.
    if ((stat.mode & 0o077) !== 0 && (uid === undefined || stat.uid === uid)) chmodSync(file, stat.mode & 0o700);
  }
}

/** Opens (creating or upgrading) the database file and applies the pragmas every connection needs. */
export function openDatabase(path: string, readonly = false): Database.Database {
  if (!readonly) restrictDatabaseFiles(path);
  const db = new Database(path, { readonly, fileMustExist: readonly });
  if (!readonly) {
    // Only a new, empty file takes it (an existing file keeps its own): must come before WAL mode.
    db.pragma(`page_size = ${SQLITE_PAGE_SIZE}`);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    // The search indexes are random-key B-trees: once they outgrow the default 2 MiB page cache, nearly
    // every insert reads its pages back. Measured with 250-event batches: 2.9k → 5.2k events/s by the
    // 125,000th event with 256 MiB, and the gap widens as the ledger grows.
    db.pragma(`cache_size = -${SQLITE_CACHE_KIB}`);
    // Retention and erasure must leave no copy of a forgotten value in the file: freed pages and cells
    // are zeroed as they are freed, not left for forensics (FAST mode would leave the free-list pages).
    db.pragma('secure_delete = ON');
  }
  db.pragma('busy_timeout = 5000');
  migrate(db, readonly);
  // Statistics are refreshed as the ledger grows (see OPTIMIZE_EVERY_EVENTS), with a bounded sample so
  // that it takes milliseconds even on large files. Not on open: statistics taken of near-empty tables
  // made the planner scan the growing tables for every lookup (ingest fell from 3.2k to 0.9k events/s
  // within 150,000 events).
  db.pragma('analysis_limit = 1000');
  return db;
}

function migrate(db: Database.Database, readonly: boolean): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw new StoreError(
      'SCHEMA_TOO_NEW',
      `this database has schema version ${version}, newer than this sealtrail understands (${MIGRATIONS.length}); upgrade sealtrail`,
    );
  }
  if (version === MIGRATIONS.length) return;
  if (readonly) throw new StoreError('SCHEMA_TOO_NEW', `database schema ${version} needs upgrading; open it once with the server`);
  db.transaction(() => {
    for (let v = version; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v]!);
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  }).immediate();
}
