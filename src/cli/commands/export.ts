/**
 * `sealtrail export`: stream every event matching a query from the server in a SIEM format
 * (docs/EXPORT.md) to a file or standard output; with --bundle, write an evidence bundle instead
 * (bundle.ts). A file is written under a temporary name beside it and renamed only once the server has
 * sent everything, so an interrupted export never leaves a file that looks complete.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, renameSync, rmSync, type WriteStream } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { once } from 'node:events';
import { EXPORT_FORMATS, isExportFormat } from '../../core/export/record.js';
import { MAX_ENTERPRISE_NUMBER } from '../../core/export/syslog.js';
import { integerOption, optionalString, requireString, SERVER_OPTIONS, serverClient, UsageError, type Command, type ParsedArgs } from '../command.js';
import { Progress } from '../progress.js';
import { countOf } from '../table.js';
import { runBundleExport } from './bundle.js';
import { syncToDisk } from '../../platform/sync-file.js';

export const exportCommand: Command = {
  name: 'export',
  summary: "Export the events matching a query (JSON Lines, CSV, OCSF, CEF, syslog): sealtrail export --ledger L --format csv -o out.csv 'received:-7d'",
  usage: 'export --ledger L [--format F] [--output FILE] QUERY...\n       sealtrail export --bundle FILE --ledger L [--withhold FIELDS]... [--checkpoint FILE]... [--key VERIFIER_KEY] QUERY...',
  options: {
    ...SERVER_OPTIONS,
    ledger: { type: 'string', short: 'l', description: 'Ledger to export from.', value: 'L' },
    format: { type: 'string', short: 'f', description: `Output format: ${EXPORT_FORMATS.join(', ')}.`, default: 'jsonl', value: 'F' },
    output: { type: 'string', short: 'o', description: 'Write to FILE (replaced only when the export is complete) instead of standard output.', value: 'FILE' },
    'enterprise-number': {
      type: 'string',
      description: "With --format syslog: your organisation's IANA private enterprise number for the SD-IDs (default: the server's, else 32473, the documentation number).",
      value: 'PEN',
    },
    bundle: { type: 'string', description: 'Write an evidence bundle (events, proofs, checkpoints) to FILE instead; see verify-bundle.', value: 'FILE' },
    withhold: { type: 'string', multiple: true, description: 'With --bundle: field paths to leave out (comma list).', value: 'FIELDS' },
    checkpoint: { type: 'string', multiple: true, description: 'With --bundle: a checkpoint saved earlier, to prove consistency with.', value: 'FILE' },
    key: { type: 'string', description: 'With --bundle: the verifier key to pin.', env: 'SEALTRAIL_VERIFIER_KEY', value: 'VERIFIER_KEY' },
  },
  details:
    'The query is every remaining argument joined by spaces (docs/SEARCH.md); an empty query exports the whole\n' +
    'ledger. The export covers the events sealed before it started. Progress goes to standard error.\n' +
    'Formats and their field mappings: docs/EXPORT.md.',
  async run(args) {
    if (args.values.bundle !== undefined) return runBundleExport(args);
    for (const name of ['withhold', 'checkpoint'] as const) {
      if (args.values[name] !== undefined) throw new UsageError(`--${name} applies only with --bundle`);
    }
    return runExport(args);
  },
};

async function runExport(args: ParsedArgs): Promise<number> {
  const ledger = requireString(args, 'ledger');
  const format = requireString(args, 'format');
  if (!isExportFormat(format)) throw new UsageError(`--format must be one of ${EXPORT_FORMATS.join(', ')}`);
  const enterpriseNumber = integerOption(args, 'enterprise-number', { min: 1, max: MAX_ENTERPRISE_NUMBER });
  if (enterpriseNumber !== undefined && format !== 'syslog') {
    throw new UsageError('--enterprise-number applies only with --format syslog');
  }
  const output = optionalString(args, 'output');
  if (output === '') throw new UsageError('--output needs a file name');
  const api = serverClient(args);
  const q = args.positionals.join(' ');

  // Errors before the first byte (bad query, unknown ledger) come back here, before any file is made.
  const response = await api.exportEvents(ledger, { q, format, ...(enterpriseNumber !== undefined ? { enterpriseNumber } : {}) });
  const progress = new Progress(`export ${ledger}`, response.matchCount, 'events');
  const counter = new LineCounter(format === 'csv');
  let bytes = 0;

  const temp = output === undefined ? undefined : join(dirname(output), `.${basename(output)}.${randomBytes(6).toString('hex')}.partial`);
  const sink: NodeJS.WritableStream | WriteStream = temp === undefined ? process.stdout : createWriteStream(temp, { flags: 'wx', mode: 0o600 });
  try {
    if (temp !== undefined) await once(sink as WriteStream, 'open');
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.length;
      counter.scan(value);
      progress.update(counter.events, `${countOf(counter.events, 'event')}, ${formatBytes(bytes)}`);
      // Backpressure: wait for the sink to drain before reading more from the server.
      if (!sink.write(value)) await waitForDrain(sink);
    }
    if (temp !== undefined) {
      const file = sink as WriteStream;
      file.end();
      await once(file, 'close');
      // On disk before it gets its name: a crash right after the rename must not leave an empty file.
      syncToDisk(temp);
      renameSync(temp, output!);
    }
  } catch (error) {
    if (temp !== undefined) {
      (sink as WriteStream).destroy();
      rmSync(temp, { force: true });
    }
    // The server aborts a response it cannot finish; fetch reports that as a failed read of the body.
    if (!(error instanceof UsageError) && (error as Error).name === 'TypeError') {
      throw new Error(`the export was interrupted after ${countOf(counter.events, 'event')} (${(error as Error).message}); ${output ? `${output} was not written` : 'the output is incomplete'}`);
    }
    throw error;
  }
  progress.done(`exported ${countOf(counter.events, 'event')} (${formatBytes(bytes)})${output ? ` to ${output}` : ''}`);
  return 0;
}

function waitForDrain(sink: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      sink.off('error', onError);
      resolve();
    };
    const onError = (error: Error) => {
      sink.off('drain', onDrain);
      reject(error);
    };
    sink.once('drain', onDrain);
    sink.once('error', onError);
  });
}

/**
 * Counts events in the byte stream: every format writes one event per line, and only CSV can hold a
 * line break inside a (quoted) field, so CSV tracks whether it is inside quotes (a doubled quote toggles
 * twice) and does not count the header row.
 */
export class LineCounter {
  private lines = 0;
  private quoted = false;

  constructor(private readonly csv: boolean) {}

  scan(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      if (b === 0x0a && !this.quoted) this.lines++;
      else if (b === 0x22 && this.csv) this.quoted = !this.quoted;
    }
  }

  get events(): number {
    return this.csv ? Math.max(0, this.lines - 1) : this.lines;
  }
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}
