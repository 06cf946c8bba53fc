/**
 * JSON Lines (https://jsonlines.org): one JSON object per line, LF-terminated, UTF-8. The object is the
 * search API's event result ({ledger, index, received_at, leaf_hash, event}) plus `writer` and, when some
 * field values were removed after sealing, `redacted` ({path: "erased" | "purged"}).
 * JSON.stringify escapes every control character (so no raw LF can end a line early) and writes lone
 * surrogates as \u escapes, so every line is valid UTF-8 JSON.
 */
import type { ExportRecord } from './record.js';

export const JSONL_CONTENT_TYPE = 'application/x-ndjson';

export function formatJsonLine(record: ExportRecord): string {
  // Member order is fixed (and redacted comes last) so that exports of the same data are byte-identical.
  const head = `{"ledger":${JSON.stringify(record.ledger)},"index":${record.index},"received_at":"${record.received_at}","leaf_hash":"${record.leaf_hash}","writer":${JSON.stringify(record.writer)},"event":${JSON.stringify(record.event)}`;
  return record.redacted ? `${head},"redacted":${JSON.stringify(record.redacted)}}\n` : `${head}}\n`;
}
