/** What the SQLite store's file-level tests share: a temporary database path, and every index a search finds. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseQuery } from '../../src/core/query.js';
import type { Store } from '../../src/store/store.js';

/** Runs `run` with the path of a database file in a fresh folder, removed afterwards. */
export function withDatabaseFile(prefix: string, run: (path: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    try {
      await run(join(dir, 'sealtrail.db'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

/** Every index a query finds in the ledger, oldest first, across all its pages. */
export async function allIndexes(store: Store, ledger: string, q = ''): Promise<number[]> {
  const found: number[] = [];
  let after: number | undefined;
  for (;;) {
    const page = await store.search(ledger, { query: parseQuery(q), limit: 1000, order: 'asc', ...(after !== undefined ? { after } : {}) });
    found.push(...page.entries.map((e) => e.index));
    if (page.next === null) return found;
    after = page.next;
  }
}

export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
