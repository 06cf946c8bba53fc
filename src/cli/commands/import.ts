/** `sealtrail import`: audit history from CloudTrail, Okta, GitHub, Google Cloud or OCSF files (docs/INGEST.md). */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { IMPORT_FORMATS, type ImportFormat } from '../../ingest/import/formats.js';
import { importFiles, storeSink, type ImportSink } from '../../ingest/import/run.js';
import { openDeployment } from '../../server/deployment.js';
import { optionalString, requireString, SERVER_OPTIONS, serverClient, UsageError, type Command, type ParsedArgs } from '../command.js';
import { Progress } from '../progress.js';
import { countOf } from '../table.js';

/** Bad records printed one by one; past this only counted. */
const MAX_REPORTED = 100;

export const importCommand: Command = {
  name: 'import',
  summary: 'Import audit history: CloudTrail, Okta System Log, GitHub audit log, Google Cloud Audit Logs or OCSF JSON files.',
  usage: `import --format ${IMPORT_FORMATS.join('|')} --ledger L [--tenant T] [--data DIR | --url URL --token T] FILE…`,
  options: {
    ...SERVER_OPTIONS,
    format: { type: 'string', description: `Source format: ${IMPORT_FORMATS.join(', ')}.`, value: 'FMT' },
    ledger: { type: 'string', short: 'l', description: 'Ledger to import into (must exist).', env: 'SEALTRAIL_LEDGER', value: 'L' },
    tenant: { type: 'string', description: 'Tenant of every imported event.', value: 'T' },
    data: { type: 'string', description: 'Write into this data folder directly instead of through the API (writer "sealtrail-import").', value: 'DIR' },
    batch: { type: 'string', description: 'Events per append.', default: '500', value: 'N' },
  },
  details:
    'Files may be a JSON array, an object with a "Records" (CloudTrail), "entries" or "events" array, or JSON Lines,\n' +
    'of any size (they are streamed). Each event keeps the source\'s event id, so importing a file again adds nothing;\n' +
    'the original time becomes occurred_at and unmapped fields go to metadata within the event limits. Bad records\n' +
    'are reported as FILE:LINE and skipped; the exit status is 1 if there were any.',
  async run(args) {
    const format = requireString(args, 'format');
    if (!(IMPORT_FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format must be one of ${IMPORT_FORMATS.join(', ')}`);
    const ledger = requireString(args, 'ledger');
    const files = args.positionals;
    if (files.length === 0) throw new UsageError('name at least one FILE to import');
    for (const file of files) if (!statSync(file).isFile()) throw new UsageError(`${file} is not a file`);
    const batchSize = Number(requireString(args, 'batch'));
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 1000) throw new UsageError('--batch must be 1 to 1000');
    const { sink, close } = openSink(args);
    const progress = new Progress('importing', undefined, 'records');
    let reported = 0;
    try {
      const summary = await importFiles({
        format: format as ImportFormat,
        ledger,
        files,
        sink,
        batchSize,
        ...(optionalString(args, 'tenant') ? { tenant: optionalString(args, 'tenant')! } : {}),
        onBad: ({ file, line, reason }) => {
          if (++reported <= MAX_REPORTED) process.stderr.write(`${file}:${line}: ${reason}\n`);
        },
        onProgress: (s, file) => progress.update(s.records, `${countOf(s.records, 'record')} read, ${s.imported} imported (${file})`),
      });
      if (reported > MAX_REPORTED) process.stderr.write(`… and ${reported - MAX_REPORTED} more bad records\n`);
      progress.done(
        `${countOf(summary.records, 'record')} in ${countOf(summary.files, 'file')}: ${summary.imported} imported, ${summary.duplicates} already present, ` +
          `${summary.bad} bad${summary.trimmed ? `, ${summary.trimmed} kept in part (see metadata.dropped_fields)` : ''}`,
      );
      return summary.bad > 0 ? 1 : 0;
    } finally {
      await close();
    }
  },
};

function openSink(args: ParsedArgs): { sink: ImportSink; close(): Promise<void> } {
  const dataDir = optionalString(args, 'data');
  if (dataDir === undefined) {
    const client = serverClient(args);
    return {
      sink: { append: async (ledger, events) => ({ duplicates: (await client.append(ledger, events)).filter((r) => r.duplicate).length }) },
      close: async () => {},
    };
  }
  // Never a new deployment by mistake: the folder must already hold one (made by `serve`).
  if (!existsSync(join(dataDir, 'sealtrail.db'))) throw new UsageError(`${dataDir} holds no sealtrail deployment (start \`sealtrail serve --data ${dataDir}\` once first)`);
  const deployment = openDeployment({ dataDir });
  return { sink: storeSink(deployment.store), close: () => deployment.store.close() };
}
