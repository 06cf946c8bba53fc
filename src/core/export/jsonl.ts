/**
 * JSON Lines (https://jsonlines.org): one JSON object per line, LF-terminated, UTF-8. The object is the
 * search API's event result ({ledger, index, received_at, leaf_hash, event}) plus `writer` and, when some
 * field values were removed after sealing, `redacted` ({path: "erased" | "purged"}); `location` (where
 * origin.ip was placed, with the geolocation data's attribution) comes before it when there is one.
 * Every string is written by controlSafeJson: C0 controls, DEL, C1 (NEL) and U+2028/U+2029 as \u
 * escapes, so no line splits early, not even under Python's str.splitlines, and lone surrogates as \u
 * escapes, so every line is valid UTF-8 JSON.
 */
import { controlSafeJson, type ExportRecord } from './record.js';

export const JSONL_CONTENT_TYPE = 'application/x-ndjson';

export function formatJsonLine(record: ExportRecord): string {
  // Member order is fixed (and redacted comes last) so that exports of the same data are byte-identical.
  const head = `{"ledger":${controlSafeJson(record.ledger)},"index":${record.index},"received_at":"${record.received_at}","leaf_hash":"${record.leaf_hash}","writer":${controlSafeJson(record.writer)},"event":${controlSafeJson(record.event)}`;
  const located = record.location ? `${head},"location":${controlSafeJson(record.location)}` : head;
  return record.redacted ? `${located},"redacted":${controlSafeJson(record.redacted)}}\n` : `${located}}\n`;
}
