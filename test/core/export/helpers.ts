/** Records for the export format tests: sealed like the store seals them, some hostile, some redacted. */
import { SaltSource } from '../../../src/core/commitments.js';
import { validateEvent, type AuditEvent } from '../../../src/core/event.js';
import type { Redaction } from '../../../src/core/commitments.js';
import { recordWithAttribution, type ExportRecord, type LocationLike } from '../../../src/core/export/record.js';
import { GEO_ATTRIBUTION } from '../../../src/platform/geo.js';
import { sealEvent } from '../../../src/core/leaf.js';
import { nodeSuite } from '../../../src/platform/node-crypto.js';
import { sampleEvent } from '../../helpers/events.js';

const salts = new SaltSource(nodeSuite);

/** 2026-11-26T07:51:51.123456Z */
export const RECEIVED_AT_MICROS = 1_795_679_511_123_456;

/**
 * Seals `event` and builds its export record; `redact` removes those fields' disclosures as erasure or
 * a retention purge does, and records why.
 */
export function sealedRecord(
  event: AuditEvent,
  {
    ledger = 'payments',
    index = 0,
    writer = 'k1a2b3c4d',
    redact = {},
    location,
  }: { ledger?: string; index?: number; writer?: string; redact?: Record<string, Redaction>; location?: LocationLike } = {},
): ExportRecord {
  validateEvent(event);
  const sealed = sealEvent(nodeSuite, { ledger, index, receivedAtMicros: RECEIVED_AT_MICROS + index, writer, event }, salts);
  const disclosures = { ...sealed.disclosures };
  for (const path of Object.keys(redact)) delete disclosures[path];
  return recordWithAttribution({
    ledger,
    index,
    receivedAtMicros: RECEIVED_AT_MICROS + index,
    leaf: sealed.leaf,
    leafHash: sealed.leafHash,
    disclosures,
    ...(Object.keys(redact).length > 0 ? { redactions: redact } : {}),
    ...(location ? { location } : {}),
  }, GEO_ATTRIBUTION);
}

/**
 * Text that breaks naive writers of each format: separators, escapes, line breaks, quotes, brackets,
 * spreadsheet formula prefixes, control characters and non-ASCII (including an astral character).
 */
export const HOSTILE_TEXT = [
  'pipe|pipe',
  'back\\slash\\',
  'key=value x=y',
  'line\nbreak',
  'carriage\rreturn\r\n',
  'say "hi"',
  'close]bracket',
  "=HYPERLINK(\"http://evil.test\",\"x\")",
  "+1+cmd|' /C calc'!A0",
  '-2+3',
  '@SUM(A1:A2)',
  '\tleading tab',
  '\rleading cr',
  'ünïcödé ☃ 🎉 中文',
  'comma, separated',
  'nul\u0000esc\u001b[31mdel\u007fnel\u0085',
  '-42',
  '-1.5e3',
  ' padded ',
  '[erased]',
  '"',
  '\\',
  ']',
  '=',
  '|',
];

/** A valid identifier (no control characters) made from hostile text. */
export function identifier(text: string): string {
  const cleaned = text.replace(/[\u0000-\u001f\u007f]/g, '');
  return cleaned.length > 0 ? cleaned : 'x';
}

/** An event carrying `text` in every free-text field and an identifier form of it in every identifier. */
export function hostileEvent(text: string, n = 0): AuditEvent {
  const id = identifier(text);
  return {
    id: `h-${n}-${id}`.slice(0, 128),
    actor: { type: 'user', id, name: text, email: 'a@example.com', session_id: id },
    action: 'file.download',
    category: 'read',
    targets: [{ type: id.slice(0, 128), id, name: text }],
    occurred_at: '2026-11-26T07:00:00.5+01:00',
    origin: { ip: n % 2 === 0 ? '203.0.113.9' : '2001:db8::9', user_agent: text, device_id: id },
    outcome: n % 2 === 0 ? 'failure' : 'success',
    outcome_reason: text,
    tenant: id.slice(0, 128),
    metadata: { note: text, [`k${n}`]: [text, { nested: text }], number: -3 },
  };
}

/** A spread of realistic, hostile and redacted records. */
export function recordCorpus(): ExportRecord[] {
  const records: ExportRecord[] = [];
  for (let n = 0; n < 30; n++) records.push(sealedRecord(sampleEvent(n), { index: n }));
  HOSTILE_TEXT.forEach((text, i) => records.push(sealedRecord(hostileEvent(text, i), { index: 100 + i })));
  records.push(
    sealedRecord(sampleEvent(1), { index: 200, redact: { 'actor.name': 'erased', 'actor.email': 'erased', 'origin.ip': 'purged', 'metadata.request_id': 'erased' } }),
    sealedRecord(
      { ...sampleEvent(7), targets: [{ type: 'user', id: 'bob' }, { type: 'file', id: 'f-1' }] },
      { index: 201, redact: { 'targets.0': 'erased', 'actor.id': 'erased', outcome_reason: 'purged', action: 'purged' } },
    ),
  );
  return records;
}
