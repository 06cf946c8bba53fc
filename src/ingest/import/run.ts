/**
 * An import: files of one format read as a stream (read.ts), mapped (formats.ts), bounded to the event
 * limits (bounded.ts) and appended in batches through a sink — the HTTP API or a data folder's store. A
 * bad record is reported with its file and line and skipped; the rest goes on. Re-importing adds
 * nothing: every event carries the source's own id, which the server treats as its idempotency key.
 */
import { validateEvent, type AuditEvent } from '../../core/event.js';
import { SealtrailError } from '../../core/errors.js';
import { withMetadata } from '../bounded.js';
import { mapImported, type ImportFormat } from './formats.js';
import { readRecords } from './read.js';
import { eventIdKey } from '../../store/idempotency.js';
import type { Store } from '../../store/store.js';

/** Writer id of events imported straight into a store (over the API, the key's id is the writer). */
export const IMPORT_WRITER = 'sealtrail-import';

export interface ImportSink {
  /** Appends the events in order; resolves with how many were already sealed (re-imports). */
  append(ledger: string, events: AuditEvent[]): Promise<{ duplicates: number }>;
}

/** Appends to a store directly, as `import --data` does. */
export function storeSink(store: Store): ImportSink {
  return {
    async append(ledger, events) {
      const receipts = await store.append(ledger, events.map((event) => ({ event, writer: IMPORT_WRITER, idempotencyKey: eventIdKey(event.id!) })));
      return { duplicates: receipts.filter((r) => r.duplicate).length };
    },
  };
}

export interface BadRecord {
  file: string;
  line: number;
  reason: string;
}

export interface ImportSummary {
  files: number;
  records: number;
  imported: number;
  duplicates: number;
  bad: number;
  /** Events that kept only part of the source record (named in their metadata.dropped_fields). */
  trimmed: number;
}

export interface ImportOptions {
  format: ImportFormat;
  ledger: string;
  files: string[];
  sink: ImportSink;
  /** Sets the tenant of every event (the sources have no notion of sealtrail's tenants). */
  tenant?: string;
  batchSize?: number;
  onBad?: (bad: BadRecord) => void;
  onProgress?: (summary: ImportSummary, file: string) => void;
}

export async function importFiles(options: ImportOptions): Promise<ImportSummary> {
  const summary: ImportSummary = { files: 0, records: 0, imported: 0, duplicates: 0, bad: 0, trimmed: 0 };
  const batchSize = options.batchSize ?? 500;
  let batch: AuditEvent[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const { duplicates } = await options.sink.append(options.ledger, batch);
    summary.imported += batch.length - duplicates;
    summary.duplicates += duplicates;
    batch = [];
  };
  for (const file of options.files) {
    summary.files++;
    // The same id twice in one batch would be one key for two events: the second counts as a duplicate.
    const inBatch = new Set<string>();
    for await (const item of readRecords(file)) {
      if ('error' in item) {
        summary.bad++;
        options.onBad?.({ file, line: item.line, reason: item.error });
        continue;
      }
      summary.records++;
      const event = eventOf(options, item.record, (reason) => {
        summary.bad++;
        options.onBad?.({ file, line: item.line, reason });
      });
      if (!event) continue;
      if (event.metadata?.dropped_fields !== undefined) summary.trimmed++;
      if (inBatch.has(event.id!)) {
        summary.duplicates++;
        continue;
      }
      inBatch.add(event.id!);
      batch.push(event);
      if (batch.length >= batchSize) {
        await flush();
        inBatch.clear();
        options.onProgress?.(summary, file);
      }
    }
    options.onProgress?.(summary, file);
  }
  await flush();
  return summary;
}

function eventOf(options: ImportOptions, record: unknown, bad: (reason: string) => void): AuditEvent | undefined {
  try {
    const { event, rest } = mapImported(options.format, record);
    return validateEvent(withMetadata(options.tenant ? { ...event, tenant: options.tenant } : event, rest));
  } catch (error) {
    if (error instanceof SealtrailError || error instanceof Error) bad(error.message);
    else throw error;
    return undefined;
  }
}
