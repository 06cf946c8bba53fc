/** CSV export against RFC 4180, read back by a strict parser written here, and OWASP formula neutralisation. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CSV_COLUMNS, CSV_FLAT_TARGETS, csvCell, csvHeader, formatCsvRow } from '../../../src/core/export/csv.js';
import { HOSTILE_TEXT, hostileEvent, recordCorpus, sealedRecord } from './helpers.js';
import { sampleEvent } from '../../helpers/events.js';

/**
 * RFC 4180 §2, strictly: records end with CRLF (the last one too, as the exporter writes), fields are
 * separated by commas, a field is either bare (no quote, comma, CR or LF) or quoted with inner quotes
 * doubled. Anything else throws.
 */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let i = 0;
  const endOfField = () => {
    if (text.startsWith('\r\n', i)) {
      rows.push(row);
      row = [];
      i += 2;
      return;
    }
    if (text[i] === ',') {
      i++;
      if (i === text.length) throw new Error('file ends after a comma');
      return;
    }
    throw new Error(`at ${i}: expected comma or CRLF, got ${JSON.stringify(text[i])}`);
  };
  while (i < text.length) {
    if (text[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        if (i >= text.length) throw new Error('unterminated quoted field');
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            value += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += text[i++];
      }
      row.push(value);
    } else {
      let value = '';
      while (i < text.length && text[i] !== ',' && text[i] !== '\r') {
        if (text[i] === '"' || text[i] === '\n') throw new Error(`at ${i}: ${JSON.stringify(text[i])} in an unquoted field`);
        value += text[i++];
      }
      row.push(value);
    }
    if (i >= text.length) throw new Error('last record is not terminated by CRLF');
    endOfField();
  }
  return rows;
}

const column = (name: string) => {
  const at = CSV_COLUMNS.indexOf(name);
  assert.ok(at >= 0, `no column ${name}`);
  return at;
};

/** What a cell must read for `value` after neutralisation (OWASP: prefix `'` to a formula start). */
function neutralised(value: string): string {
  return /^[=+\-@\t\r]/.test(value) && !/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(value) ? `'${value}` : value;
}

describe('CSV export', () => {
  it('writes a header and rows of the same width that a strict RFC 4180 parser reads back', () => {
    const records = recordCorpus();
    const text = csvHeader() + records.map(formatCsvRow).join('');
    const rows = parseCsv(text);
    assert.deepEqual(rows[0], [...CSV_COLUMNS]);
    assert.equal(rows.length, records.length + 1);
    for (const row of rows) assert.equal(row.length, CSV_COLUMNS.length);
    // Every row ends with CRLF and no LF appears without its CR outside quotes (the parser checks the rest).
    assert.ok(text.endsWith('\r\n'));
  });

  it('round-trips hostile text in every text column, neutralising formula starts and controls only', () => {
    // Controls CSV cannot carry (C0 but TAB, CR, LF; DEL; C1) read U+FFFD in text cells, as in CEF;
    // the JSON cells (metadata) keep them as \u escapes.
    const controlsReplaced = (text: string) => text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g, '\ufffd');
    HOSTILE_TEXT.forEach((value, i) => {
      const [row] = parseCsv(formatCsvRow(sealedRecord(hostileEvent(value, i), { index: i })));
      for (const name of ['actor.name', 'outcome_reason', 'origin.user_agent', 'target.0.name']) {
        assert.equal(row![column(name)], neutralised(controlsReplaced(value)), `${name} of ${JSON.stringify(value)}`);
      }
      assert.deepEqual(JSON.parse(row![column('metadata')]!), { note: value, [`k${i}`]: [value, { nested: value }], number: -3 });
    });
  });

  it('neutralises spreadsheet formulas (OWASP) but leaves plain numbers alone', () => {
    for (const formula of ['=1+1', '+1+1', '-1+1', '@SUM(A1)', '\t=1', '\r=1', "=cmd|' /C calc'!A0", '-', '+']) {
      const cell = csvCell(formula);
      const unquoted = cell.startsWith('"') ? cell.slice(1, -1).replaceAll('""', '"') : cell;
      assert.equal(unquoted, `'${formula}`, JSON.stringify(formula));
    }
    for (const number of ['-42', '-1.5', '-1.5e3', '+7', '42', '']) assert.equal(csvCell(number), number);
    // Quoting as RFC 4180 asks: only for quote, comma, CR, LF.
    assert.equal(csvCell('a"b'), '"a""b"');
    assert.equal(csvCell('a,b'), '"a,b"');
    assert.equal(csvCell('a\nb'), '"a\nb"');
    assert.equal(csvCell('a\rb'), '"a\rb"');
    assert.equal(csvCell('a b|c;d'), 'a b|c;d');
  });

  it('keeps a fixed column order: core fields, flattened targets, metadata as one JSON column, redacted, then the location added after', () => {
    assert.deepEqual(CSV_COLUMNS.slice(0, 6), ['ledger', 'index', 'received_at', 'leaf_hash', 'writer', 'id']);
    const redacted = CSV_COLUMNS.indexOf('redacted');
    assert.deepEqual(CSV_COLUMNS.slice(redacted - 2, redacted + 1), ['targets.more', 'metadata', 'redacted']);
    assert.deepEqual(CSV_COLUMNS.slice(redacted + 1), [
      'location.country',
      'location.region',
      'location.city',
      'location.latitude',
      'location.longitude',
      'location.reserved',
      'location.attribution',
    ]);
    assert.equal(CSV_COLUMNS.filter((c) => c.startsWith('target.') && c !== 'target.count').length, CSV_FLAT_TARGETS * 3);
    const [row] = parseCsv(formatCsvRow(sealedRecord(sampleEvent(3), { index: 3 })));
    assert.equal(row![column('index')], '3');
    assert.equal(row![column('writer')], 'k1a2b3c4d');
    assert.equal(row![column('target.0.id')], 'f-3');
    assert.equal(row![column('target.1.id')], '');
    assert.equal(row![column('received_at')], '2026-11-26T07:51:51.123459Z');
  });

  it('fills the location columns with the place and its attribution, and leaves them empty without one', () => {
    const [row] = parseCsv(formatCsvRow(sealedRecord(sampleEvent(0), { location: { country: 'GB', region: 'England', city: 'London', latitude: 51.5142, longitude: -0.0931 } })));
    assert.deepEqual(
      ['country', 'region', 'city', 'latitude', 'longitude', 'reserved'].map((m) => row![column(`location.${m}`)]),
      ['GB', 'England', 'London', '51.5142', '-0.0931', ''],
    );
    assert.match(row![column('location.attribution')]!, /^IP Geolocation by DB-IP/);
    const [bare] = parseCsv(formatCsvRow(sealedRecord(sampleEvent(0))));
    assert.deepEqual(CSV_COLUMNS.filter((c) => c.startsWith('location.')).map((c) => bare![column(c)]), ['', '', '', '', '', '', '']);
  });

  it('puts targets beyond the flattened ones in targets.more', () => {
    const targets = Array.from({ length: 5 }, (_, i) => ({ type: 'file', id: `f-${i}` }));
    const [row] = parseCsv(formatCsvRow(sealedRecord({ ...sampleEvent(0), targets })));
    assert.equal(row![column('target.count')], '5');
    assert.equal(row![column('target.2.id')], 'f-2');
    assert.deepEqual(JSON.parse(row![column('targets.more')]!), targets.slice(3));
  });

  it('shows removed values as [erased] / [purged] in place and lists them in the redacted column', () => {
    const record = sealedRecord(
      { ...sampleEvent(0), targets: [{ type: 'user', id: 'bob' }, { type: 'file', id: 'f-1' }] },
      { redact: { 'actor.name': 'erased', 'origin.ip': 'purged', 'metadata.request_id': 'erased', 'targets.0': 'erased' } },
    );
    const [row] = parseCsv(formatCsvRow(record));
    assert.equal(row![column('actor.name')], '[erased]');
    assert.equal(row![column('origin.ip')], '[purged]');
    assert.equal(row![column('target.0.id')], '[erased]');
    assert.equal(row![column('target.0.type')], '[erased]');
    // The remaining target keeps its sealed position.
    assert.equal(row![column('target.1.id')], 'f-1');
    assert.equal(row![column('target.count')], '2');
    assert.equal(JSON.parse(row![column('metadata')]!).request_id, '[erased]');
    assert.equal(row![column('redacted')], 'actor.name=erased;metadata.request_id=erased;origin.ip=purged;targets.0=erased');
    assert.equal(row![column('actor.id')], 'u-0');
  });
});
