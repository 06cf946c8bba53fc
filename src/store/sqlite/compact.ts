/**
 * Rewrites an embedded database file (SQLite VACUUM INTO) with the page size new files get
 * (SQLITE_PAGE_SIZE): a file created with 4 KiB pages moves to 16 KiB, and the pages that retention
 * and erasure freed are returned to the file system. Every row is copied as it is, so what is sealed
 * (entries, tree hashes, checkpoints) and every proof stays byte for byte the same; the schema version
 * is kept.
 *
 * Only with no other connection open: a running server writes to the file while it is copied, and WAL
 * mode cannot be left while another connection shares it, so that refusal is the check; the file is
 * then locked until the copy has replaced it. The copy is written beside the file, in the data folder
 * (not in a temporary directory, which may lie on a less protected disk), synced, then renamed over the
 * file: interrupted at any point, the folder holds the old file whole or the new one.
 */
import { closeSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { syncToDisk } from '../../platform/sync-file.js';
import { restrictDatabaseFiles, SQLITE_PAGE_SIZE } from './connection.js';

export interface CompactResult {
  pageSizeBefore: number;
  pageSizeAfter: number;
  /** The file and its WAL, before and after. */
  bytesBefore: number;
  bytesAfter: number;
}

/** The database is open in another process (or connection): compacting it now would lose its writes. */
export class DatabaseInUseError extends Error {
  constructor(readonly path: string) {
    super(`${path} is open in another process (is a server running on this data folder?); stop it first`);
    this.name = 'DatabaseInUseError';
  }
}

function fileBytes(path: string): number {
  let total = 0;
  for (const file of [path, `${path}-wal`]) {
    try {
      total += statSync(file).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return total;
}

export function compactDatabase(path: string): CompactResult {
  statSync(path); // ENOENT rather than an empty database made by restrictDatabaseFiles
  restrictDatabaseFiles(path);
  const bytesBefore = fileBytes(path);
  const copy = `${path}.compacting`;
  rmSync(copy, { force: true });
  const db = new Database(path, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 0');
    const pageSizeBefore = db.pragma('page_size', { simple: true }) as number;
    let mode: unknown;
    try {
      // Checkpoints the WAL into the file and leaves WAL mode, or fails while anyone else has it open.
      mode = db.pragma('journal_mode = DELETE', { simple: true });
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_BUSY') throw new DatabaseInUseError(path);
      throw error;
    }
    if (mode !== 'delete') throw new DatabaseInUseError(path);
    // Held until this connection closes: no server can open the file while it is being replaced.
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE; COMMIT');
    // VACUUM INTO takes the page size a pending page_size pragma names.
    db.pragma(`page_size = ${SQLITE_PAGE_SIZE}`);
    closeSync(openSync(copy, 'w', 0o600));
    db.prepare('VACUUM INTO ?').run(copy);
    const compacted = new Database(copy);
    const pageSizeAfter = compacted.pragma('page_size', { simple: true }) as number;
    compacted.pragma('journal_mode = WAL');
    compacted.close();
    syncToDisk(copy);
    renameSync(copy, path);
    syncToDisk(dirname(path));
    return { pageSizeBefore, pageSizeAfter, bytesBefore, bytesAfter: fileBytes(path) };
  } catch (error) {
    rmSync(copy, { force: true });
    throw error;
  } finally {
    db.close();
  }
}
