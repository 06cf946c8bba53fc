/** Durability for files written outside a database: contents (or a folder's entries) on disk before they are relied on. */
import { closeSync, fsyncSync, openSync } from 'node:fs';

/** fsync of a file or folder by path: a file's contents, or a folder's entries (a rename in it). */
export function syncToDisk(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
