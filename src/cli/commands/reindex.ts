/** `sealtrail reindex`: rebuild a data folder's search index from its entries, in one pass. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openDeployment } from '../../server/deployment.js';
import type { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import { DATA_OPTION, optionalString, requireString, UsageError, type Command } from '../command.js';
import { Progress } from '../progress.js';
import { countOf } from '../table.js';
import { GEOIP_OPTION, openGeoOption } from './serve.js';

export const reindexCommand: Command = {
  name: 'reindex',
  summary: "Rebuild the search index of a data folder from its entries (e.g. to locate events indexed before geolocation was set up).",
  usage: 'reindex [--data DIR] [--geoip PATH|off]',
  options: { ...DATA_OPTION, ...GEOIP_OPTION },
  details:
    'Stop the server first: while the index is rebuilt, searches of the folder see it empty or partial. Sealed\n' +
    'data is only read, so proofs, checkpoints and `sealtrail verify` are unaffected. Should the rebuild be\n' +
    'interrupted, the next start finishes it. The embedded store only; PostgreSQL indexes each append as it commits.',
  async run(args) {
    const dataDir = requireString(args, 'data');
    if (!existsSync(join(dataDir, 'sealtrail.db'))) throw new UsageError(`no sealtrail database in ${dataDir}`);
    const geo = openGeoOption(optionalString(args, 'geoip'));
    // bulkLoad: no catch-up of a lagging index row by row first, only to be thrown away.
    const deployment = openDeployment({ dataDir, bulkLoad: true, ...(geo ? { locate: geo.lookup } : {}) });
    try {
      const { events } = rebuildSearchIndexShowingProgress(deployment.store);
      process.stdout.write(`search index of ${deployment.databasePath} rebuilt: ${countOf(events, 'event')}${geo ? `, located with ${geo.source.databaseType ?? 'the geolocation database'}` : ', no geolocation'}\n`);
    } finally {
      await deployment.store.close();
    }
    return 0;
  },
};

/** SqliteStore.rebuildSearchIndex with a progress line on standard error (also used by `npm run gen`). */
export function rebuildSearchIndexShowingProgress(store: SqliteStore): { events: number; seconds: number } {
  const started = performance.now();
  const rows = new Progress('indexing', undefined, 'events');
  let building = false;
  const { events } = store.rebuildSearchIndex((p) => {
    if (p.phase === 'rows') rows.update(p.done, `${p.done} of ${countOf(p.total, 'event')}`);
    else {
      if (!building) rows.done(`indexed ${countOf(p.done, 'event')}`);
      building = true;
      process.stderr.write(`building ${p.step}\n`);
    }
  });
  const seconds = (performance.now() - started) / 1000;
  process.stderr.write(`search index built in ${seconds.toFixed(1)} s\n`);
  return { events, seconds };
}
