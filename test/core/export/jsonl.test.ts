/** JSON Lines export and the record it is built from. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventFromFields } from '../../../src/core/commitments.js';
import { exportFormatter, EXPORT_FORMATS } from '../../../src/core/export/index.js';
import { formatJsonLine } from '../../../src/core/export/jsonl.js';
import { writerFromLeaf } from '../../../src/core/export/record.js';
import { decodeLeaf, encodeLeaf } from '../../../src/core/leaf.js';
import { HOSTILE_TEXT, hostileEvent, recordCorpus, sealedRecord } from './helpers.js';
import { sampleEvent } from '../../helpers/events.js';

describe('JSON Lines export', () => {
  it('writes one parseable object per line with the search result shape plus writer', () => {
    const records = recordCorpus();
    const text = records.map(formatJsonLine).join('');
    const lines = text.split('\n');
    assert.equal(lines.pop(), '', 'every line ends with LF');
    assert.equal(lines.length, records.length);
    lines.forEach((line, i) => {
      const parsed = JSON.parse(line);
      assert.deepEqual(Object.keys(parsed).slice(0, 6), ['ledger', 'index', 'received_at', 'leaf_hash', 'writer', 'event']);
      assert.deepEqual(parsed, JSON.parse(JSON.stringify(records[i])));
    });
  });

  it('keeps hostile text exactly', () => {
    HOSTILE_TEXT.forEach((text, i) => {
      const event = hostileEvent(text, i);
      const parsed = JSON.parse(formatJsonLine(sealedRecord(event, { index: i })));
      assert.deepEqual(parsed.event, JSON.parse(JSON.stringify(event)));
    });
  });

  it('rebuilds events as the search API does, and lists removed fields', () => {
    const event = sampleEvent(4);
    const record = sealedRecord(event);
    assert.deepEqual(record.event, eventFromFields(Object.entries(flatten(event))));
    assert.equal(record.redacted, undefined);
    const redacted = sealedRecord({ ...event, targets: [{ type: 'a', id: '1' }, { type: 'b', id: '2' }] }, { redact: { 'targets.0': 'erased', 'metadata.bytes': 'purged' } });
    const parsed = JSON.parse(formatJsonLine(redacted));
    assert.deepEqual(parsed.redacted, { 'targets.0': 'erased', 'metadata.bytes': 'purged' });
    // The remaining target keeps its position: index 1 is still the second sealed target.
    assert.deepEqual(parsed.event.targets, [null, { type: 'b', id: '2' }]);
    assert.equal('bytes' in parsed.event.metadata, false);
  });

  it('carries the location, attributed, in a fixed member order before redacted', () => {
    // Members given out of order: the line must not depend on the order the store read them in.
    const location = { longitude: -0.0931, city: 'London', country: 'GB', latitude: 51.5142, region: 'England' };
    const line = formatJsonLine(sealedRecord(sampleEvent(0), { location, redact: { 'actor.name': 'erased' } }));
    assert.match(line, /"event":\{.*\},"location":\{"country":"GB","region":"England","city":"London","latitude":51\.5142,"longitude":-0\.0931,"attribution":"IP Geolocation by DB-IP[^"]*"\},"redacted":\{"actor\.name":"erased"\}\}\n$/);
    const reserved = JSON.parse(formatJsonLine(sealedRecord(sampleEvent(0), { location: { reserved: 'private' } })));
    assert.deepEqual(reserved.location, { reserved: 'private' }, 'no attribution where no place is shown');
    assert.equal(JSON.parse(formatJsonLine(sealedRecord(sampleEvent(0)))).location, undefined);
  });

  it('reads the writer from the leaf without parsing it', () => {
    for (const writer of ['k1', 'admin', 'sealtrail', 'a.b:c@d-e_f']) {
      const record = sealedRecord(sampleEvent(0), { writer });
      assert.equal(record.writer, writer);
    }
    const envelope = { v: 1 as const, ledger: 'x', index: 0, received_at: '2026-11-26T07:51:51.123456Z', writer: 'w-1', commitments: {} };
    const leaf = encodeLeaf(envelope);
    assert.equal(writerFromLeaf(leaf), decodeLeaf(leaf).writer);
    assert.equal(writerFromLeaf(new TextEncoder().encode('{"other":"x"}')), '');
  });

  it('offers every format through one factory with its media type', () => {
    const record = sealedRecord(sampleEvent(0));
    for (const format of EXPORT_FORMATS) {
      const formatter = exportFormatter(format);
      assert.ok(formatter.contentType.length > 0);
      const line = formatter.line(record);
      assert.ok(line.endsWith('\n') && line.length > 20, format);
      assert.equal(formatter.header === '', format !== 'csv');
    }
  });
});

function flatten(event: Record<string, any>): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(event)) {
    if (key === 'actor' || key === 'origin' || key === 'metadata') for (const [k, v] of Object.entries(value)) fields[`${key}.${k}`] = v;
    else if (key === 'targets') (value as unknown[]).forEach((t, i) => (fields[`targets.${i}`] = t));
    else fields[key] = value;
  }
  return fields;
}
