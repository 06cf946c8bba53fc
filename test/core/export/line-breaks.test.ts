/**
 * No exported line splits, whatever the values: every line boundary Python's str.splitlines knows
 * (LF, CR, CR LF, VT, FF, U+001C–U+001E, NEL U+0085, U+2028, U+2029) is escaped in JSON Lines and OCSF,
 * escaped or replaced in CEF and syslog, and in CSV appears only as RFC 4180 allows (CR and LF, and
 * U+2028/U+2029, inside a quoted cell). Values round-trip: exactly in JSON (every JSON line, and the
 * JSON cells of the other formats); in CEF, syslog and CSV text with the characters those formats
 * cannot carry read U+FFFD, as docs/EXPORT.md says. Property-based (fast-check) over strings rich in
 * those characters, ESC and BEL.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatCefLine } from '../../../src/core/export/cef.js';
import { CSV_COLUMNS, formatCsvRow } from '../../../src/core/export/csv.js';
import { formatJsonLine } from '../../../src/core/export/jsonl.js';
import { formatOcsfLine } from '../../../src/core/export/ocsf.js';
import { formatSyslogLine } from '../../../src/core/export/syslog.js';
import { hostileEvent, sealedRecord } from './helpers.js';

/** Python's str.splitlines boundaries (docs.python.org, "str.splitlines"). */
const SPLITLINES_BOUNDARY = /[\n\r\u000b\u000c\u001c\u001d\u001e\u0085\u2028\u2029]/;
const TRICKY = ['\n', '\r', '\r\n', '\u000b', '\u000c', '\u001c', '\u001d', '\u001e', '\u0085', '\u2028', '\u2029', '\u007f', '\u001b[31m', '\u0007', '\u0000', '\t', '\\', '"', '=', '|', ']', ',', 'a', 'é', '🎉'];

/** Text made mostly of line boundaries and controls, well-formed Unicode (events refuse lone surrogates). */
const trickyText = fc
  .array(fc.oneof(fc.constantFrom(...TRICKY), fc.string({ unit: 'grapheme', maxLength: 3 })), { minLength: 1, maxLength: 24 })
  .map((parts) => parts.join('').slice(0, 1000))
  .filter((text) => text.length > 0 && text.isWellFormed());

/** What a format without an escape for it makes of a character: U+FFFD (C0 but TAB, LF, CR; DEL; C1; U+2028/9). */
const lossy = (text: string) => text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029]/g, '\ufffd');

function oneLine(line: string, format: string, value: string): string {
  assert.ok(line.endsWith('\n'), `${format}: ends with LF`);
  const body = line.slice(0, -1);
  assert.ok(!SPLITLINES_BOUNDARY.test(body), `${format}: a line boundary inside the line for ${JSON.stringify(value)}: ${JSON.stringify(body)}`);
  return body;
}

/** The CEF extension as key → value, unescaped (\\ \= \n \r); keys are the words before unescaped '='. */
function cefExtension(line: string): Map<string, string> {
  const extension = line.split('|').length >= 8 ? line.slice(nthPipe(line, 7) + 1) : '';
  const pairs = new Map<string, string>();
  const keyStarts: Array<{ key: string; valueAt: number; keyAt: number }> = [];
  for (let i = 0; i < extension.length; i++) {
    if (extension[i] === '\\') {
      i++;
      continue;
    }
    if (extension[i] === '=') {
      let k = i;
      while (k > 0 && /[A-Za-z0-9_]/.test(extension[k - 1]!)) k--;
      keyStarts.push({ key: extension.slice(k, i), keyAt: k, valueAt: i + 1 });
    }
  }
  keyStarts.forEach((entry, n) => {
    const end = n + 1 < keyStarts.length ? keyStarts[n + 1]!.keyAt - 1 : extension.length;
    const raw = extension.slice(entry.valueAt, end);
    pairs.set(entry.key, raw.replace(/\\([\\=nr])/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c)));
  });
  return pairs;
}

function nthPipe(line: string, n: number): number {
  let seen = 0;
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\\') {
      i++;
      continue;
    }
    if (line[i] === '|' && ++seen === n) return i;
  }
  return -1;
}

/** A syslog PARAM-VALUE of `name`, unescaped (\" \\ \] and sealtrail's \n \r). */
function syslogParam(line: string, name: string): string | undefined {
  const at = line.indexOf(` ${name}="`);
  if (at < 0) return undefined;
  let value = '';
  for (let i = at + name.length + 3; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\') {
      const next = line[++i]!;
      value += next === 'n' ? '\n' : next === 'r' ? '\r' : next;
    } else if (c === '"') return value;
    else value += c;
  }
  throw new Error('unterminated PARAM-VALUE');
}

/** One CSV record (RFC 4180), and whether every CR or LF outside quotes is its final CRLF. */
function parseCsvRecord(text: string): string[] {
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    let cell = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        const j = text.indexOf('"', i);
        assert.ok(j >= 0, 'unterminated quoted cell');
        cell += text.slice(i, j);
        if (text[j + 1] === '"') {
          cell += '"';
          i = j + 2;
        } else {
          i = j + 1;
          break;
        }
      }
    } else {
      while (i < text.length && text[i] !== ',' && text[i] !== '\r') {
        assert.ok(!SPLITLINES_BOUNDARY.test(text[i]!), `unquoted line boundary ${JSON.stringify(text[i])}`);
        cell += text[i++];
      }
    }
    cells.push(cell);
    if (text[i] === ',') {
      i++;
      continue;
    }
    assert.equal(text.slice(i), '\r\n', 'the record ends with its CRLF and nothing else');
    return cells;
  }
}

const neutralised = (value: string) => (/^[=+\-@\t\r]/.test(value) && !/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(value) ? `'${value}` : value);

describe('exported lines and line boundaries', () => {
  it('JSON Lines and OCSF: one line each, every value exactly as stored', () => {
    fc.assert(
      fc.property(trickyText, (value) => {
        const record = sealedRecord(hostileEvent(value));
        const json = JSON.parse(oneLine(formatJsonLine(record), 'jsonl', value)) as { event: Record<string, any> };
        assert.equal(json.event.actor.name, value);
        assert.equal(json.event.outcome_reason, value);
        assert.equal(json.event.origin.user_agent, value);
        assert.deepEqual(json.event.metadata.note, value);
        const ocsf = JSON.parse(oneLine(formatOcsfLine(record), 'ocsf', value)) as Record<string, any>;
        assert.equal(ocsf.actor.user.name, value);
        assert.equal(ocsf.status_detail, value);
      }),
      { numRuns: 300 },
    );
  });

  it('CEF: one line, text values with what CEF cannot carry as U+FFFD, the JSON details exactly', () => {
    fc.assert(
      fc.property(trickyText, (value) => {
        const line = oneLine(formatCefLine(sealedRecord(hostileEvent(value))), 'cef', value);
        const extension = cefExtension(line);
        assert.equal(extension.get('reason'), lossy(value));
        assert.equal(extension.get('requestClientApplication'), lossy(value));
        const details = JSON.parse(extension.get('cs5')!) as { actor_name: string; metadata: { note: string } };
        assert.equal(details.actor_name, value);
        assert.equal(details.metadata.note, value);
      }),
      { numRuns: 300 },
    );
  });

  it('syslog: one line, PARAM-VALUEs with what RFC 5424 cannot carry as U+FFFD, the metadata JSON exactly', () => {
    fc.assert(
      fc.property(trickyText, (value) => {
        const line = oneLine(formatSyslogLine(sealedRecord(hostileEvent(value))), 'syslog', value);
        assert.equal(syslogParam(line, 'reason'), lossy(value));
        assert.equal(syslogParam(line, 'actor.name'), lossy(value));
        assert.equal((JSON.parse(syslogParam(line, 'metadata')!) as { note: string }).note, value);
      }),
      { numRuns: 300 },
    );
  });

  it('CSV: line boundaries only inside quoted cells, controls as U+FFFD, JSON cells exactly', () => {
    const column = (name: string) => CSV_COLUMNS.indexOf(name as (typeof CSV_COLUMNS)[number]);
    const csvLossy = (text: string) => text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g, '\ufffd');
    fc.assert(
      fc.property(trickyText, (value) => {
        const row = formatCsvRow(sealedRecord(hostileEvent(value)));
        // VT, FF, U+001C–U+001E and NEL never appear, quoted or not; CR, LF, U+2028/9 only in quotes (parser).
        assert.ok(!/[\u000b\u000c\u001c-\u001e\u0085\u001b\u0007\u007f]/.test(row), `raw control in ${JSON.stringify(row)}`);
        const cells = parseCsvRecord(row);
        assert.equal(cells.length, CSV_COLUMNS.length);
        assert.equal(cells[column('actor.name')], neutralised(csvLossy(value)));
        assert.equal(cells[column('outcome_reason')], neutralised(csvLossy(value)));
        assert.equal((JSON.parse(cells[column('metadata')]!) as { note: string }).note, value);
      }),
      { numRuns: 300 },
    );
  });

  it('the review\'s line: NEL, DEL, U+2028 and U+2029 in one value stay one JSON line', () => {
    const value = 'a\u0085b\u007fc\u2028d\u2029e';
    const line = formatJsonLine(sealedRecord(hostileEvent(value)));
    assert.ok(line.includes('a\\u0085b\\u007fc\\u2028d\\u2029e'));
    assert.equal(line.slice(0, -1).split(SPLITLINES_BOUNDARY).length, 1);
  });
});
