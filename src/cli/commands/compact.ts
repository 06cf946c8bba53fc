/** `sealtrail compact`: rewrite a data folder's database file, reclaiming freed space and moving it to 16 KiB pages. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { compactDatabase, DatabaseInUseError } from '../../store/sqlite/compact.js';
import { DATA_OPTION, requireString, UsageError, type Command } from '../command.js';

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

export const compactCommand: Command = {
  name: 'compact',
  summary: 'Rewrite the embedded database file: reclaims the space retention and erasure freed, and moves a file made by an older sealtrail to 16 KiB pages.',
  usage: 'compact [--data DIR]',
  options: { ...DATA_OPTION },
  details:
    'Stop the server first: compact refuses a file that another process has open. Rows are copied as they are,\n' +
    'so entries, checkpoints and proofs are unchanged and `sealtrail verify` passes as before. It needs free\n' +
    'disk of about twice the file, takes about as long as reading it, and if interrupted leaves the file as it\n' +
    'was (SQLite rolls the rewrite back on the next open). The embedded store only.',
  async run(args) {
    const dataDir = requireString(args, 'data');
    const path = join(dataDir, 'sealtrail.db');
    if (!existsSync(path)) throw new UsageError(`no sealtrail database in ${dataDir}`);
    process.stderr.write(`compacting ${path} …\n`);
    try {
      const result = compactDatabase(path);
      process.stdout.write(
        `${path}: ${mib(result.bytesBefore)} → ${mib(result.bytesAfter)}, pages of ${result.pageSizeBefore / 1024} KiB → ${result.pageSizeAfter / 1024} KiB\n`,
      );
      return 0;
    } catch (error) {
      if (!(error instanceof DatabaseInUseError)) throw error;
      process.stderr.write(`sealtrail compact: ${error.message}\n`);
      return 1;
    }
  },
};
