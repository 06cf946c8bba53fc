/**
 * Export formats (docs/EXPORT.md): pure functions from an ExportRecord to one line of text. Callers
 * stream: write `header` once (CSV only), then `line(record)` for each record in order.
 */
import { CEF_CONTENT_TYPE, formatCefLine } from './cef.js';
import { CSV_CONTENT_TYPE, csvHeader, formatCsvRow } from './csv.js';
import { formatJsonLine, JSONL_CONTENT_TYPE } from './jsonl.js';
import { formatOcsfLine, OCSF_CONTENT_TYPE } from './ocsf.js';
import { rawCsvRow, rawJsonLine, rawScratch, type RawEntryLike, type RawScratch } from './raw.js';
import type { ExportFormat, ExportRecord } from './record.js';
import { formatSyslogLine, SYSLOG_CONTENT_TYPE, type SyslogOptions } from './syslog.js';

export * from './record.js';
export { rawCsvRow, rawEvent, rawJsonLine, rawScratch, splitDisclosures, type RawEntryLike, type RawScratch } from './raw.js';
export { CSV_COLUMNS, CSV_FLAT_TARGETS, csvCell, csvHeader, formatCsvRow } from './csv.js';
export { formatJsonLine } from './jsonl.js';
export { classify, formatOcsfLine, OCSF_CLASSES, OCSF_VERSION, toOcsf } from './ocsf.js';
export { cefExtension, cefHeaderEscape, cefValueEscape, formatCefLine } from './cef.js';
export { DOCUMENTATION_PEN, formatSyslogLine, isEnterpriseNumber, isSdName, MAX_ENTERPRISE_NUMBER, sdValueEscape, SYSLOG_FACILITY, type SyslogOptions } from './syslog.js';

export interface ExportFormatter {
  format: ExportFormat;
  /** Media type of the whole export. */
  contentType: string;
  /** File name extension, without the dot. */
  extension: string;
  /** Written once before the first line ('' when the format has no header). */
  header: string;
  line(record: ExportRecord): string;
  /**
   * The same line as `line(recordWithAttribution(entry, attribution))`, written from the stored
   * disclosures text (raw.ts), or undefined when the entry needs the general path. JSON Lines and CSV only.
   */
  rawLine?(entry: RawEntryLike, attribution: string): string | undefined;
}

export type FormatterOptions = SyslogOptions;

export function exportFormatter(format: ExportFormat, options: FormatterOptions = {}): ExportFormatter {
  switch (format) {
    case 'jsonl':
      return { format, contentType: JSONL_CONTENT_TYPE, extension: 'jsonl', header: '', line: formatJsonLine, rawLine: withScratch(rawJsonLine) };
    case 'csv':
      return { format, contentType: CSV_CONTENT_TYPE, extension: 'csv', header: csvHeader(), line: formatCsvRow, rawLine: withScratch(rawCsvRow) };
    case 'ocsf':
      return { format, contentType: OCSF_CONTENT_TYPE, extension: 'ocsf.jsonl', header: '', line: formatOcsfLine };
    case 'cef':
      return { format, contentType: CEF_CONTENT_TYPE, extension: 'cef', header: '', line: formatCefLine };
    case 'syslog':
      return { format, contentType: SYSLOG_CONTENT_TYPE, extension: 'log', header: '', line: (record) => formatSyslogLine(record, options) };
  }
}

/** A raw line writer with lists of its own, reused for every entry of one export. */
function withScratch(
  write: (entry: RawEntryLike, attribution: string, scratch: RawScratch) => string | undefined,
): (entry: RawEntryLike, attribution: string) => string | undefined {
  const scratch = rawScratch();
  return (entry, attribution) => write(entry, attribution, scratch);
}
