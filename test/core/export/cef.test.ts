/** CEF export: header and extension escaping, read back by a parser written from the CEF rules. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cefHeaderEscape, cefValueEscape, formatCefLine } from '../../../src/core/export/cef.js';
import { HOSTILE_TEXT, hostileEvent, recordCorpus, sealedRecord } from './helpers.js';
import { sampleEvent } from '../../helpers/events.js';

/** Keys of the ArcSight CEF key dictionary that this exporter may use (a subset of the dictionary). */
const CEF_DICTIONARY = new Set([
  'act', 'cat', 'cn1', 'cn1Label', 'cs1', 'cs1Label', 'cs2', 'cs2Label', 'cs3', 'cs3Label', 'cs4', 'cs4Label', 'cs5',
  'cs5Label', 'cs6', 'cs6Label', 'c6a2', 'c6a2Label', 'externalId', 'outcome', 'reason', 'requestClientApplication', 'rt',
  'src', 'start', 'suid', 'suser',
]);

/** Splits a CEF line into its 7 header fields and the extension, honouring `\|` and `\\`. */
function parseCef(line: string): { header: string[]; extension: Map<string, string> } {
  assert.ok(line.endsWith('\n'), 'a line ends with LF');
  const body = line.slice(0, -1);
  assert.ok(!/[\r\n]/.test(body), 'no raw CR or LF inside a line');
  const header: string[] = [];
  let field = '';
  let i = 0;
  while (header.length < 7) {
    const c = body[i];
    if (c === undefined) throw new Error('header has fewer than 7 fields');
    if (c === '\\') {
      const next = body[i + 1];
      if (next !== '\\' && next !== '|') throw new Error(`bad header escape \\${next}`);
      field += next;
      i += 2;
    } else if (c === '|') {
      header.push(field);
      field = '';
      i++;
    } else {
      field += c;
      i++;
    }
  }
  const extension = new Map<string, string>();
  const text = body.slice(i);
  // A key starts the text or follows a space, and ends at an unescaped '='.
  const keyAt: Array<{ key: string; start: number; valueStart: number }> = [];
  const keyPattern = /(?:^| )([A-Za-z0-9]+)=/g;
  for (let m = keyPattern.exec(text); m; m = keyPattern.exec(text)) {
    let backslashes = 0;
    for (let j = m.index + m[0].length - 2; j >= 0 && text[j] === '\\'; j--) backslashes++;
    if (backslashes % 2 === 1) continue;
    keyAt.push({ key: m[1]!, start: m.index, valueStart: m.index + m[0].length });
  }
  keyAt.forEach((k, n) => {
    const raw = text.slice(k.valueStart, n + 1 < keyAt.length ? keyAt[n + 1]!.start : text.length);
    assert.ok(!extension.has(k.key), `key ${k.key} repeated`);
    extension.set(k.key, unescapeValue(raw));
  });
  return { header, extension };
}

function unescapeValue(raw: string): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] !== '\\') {
      assert.notEqual(raw[i], '=', `unescaped '=' in value ${JSON.stringify(raw)}`);
      out += raw[i];
      continue;
    }
    const next = raw[++i];
    if (next === '\\' || next === '=') out += next;
    else if (next === 'n') out += '\n';
    else if (next === 'r') out += '\r';
    else throw new Error(`bad extension escape \\${next}`);
  }
  return out;
}

/** What survives CEF: control characters without an escape become U+FFFD. */
const expected = (text: string) => text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g, '\ufffd');

describe('CEF export', () => {
  it('writes CEF:0 headers with sealtrail as vendor and product, the action as signature and a 0–10 severity', () => {
    for (const record of recordCorpus()) {
      const { header, extension } = parseCef(formatCefLine(record));
      assert.equal(header[0], 'CEF:0');
      assert.deepEqual(header.slice(1, 3), ['sealtrail', 'sealtrail']);
      assert.match(header[3]!, /^\d+\.\d+\.\d+$/);
      const severity = Number(header[6]);
      assert.ok(Number.isInteger(severity) && severity >= 0 && severity <= 10);
      for (const key of extension.keys()) assert.ok(CEF_DICTIONARY.has(key), `extension key ${key} is not from the CEF dictionary`);
      assert.equal(extension.get('cn1'), String(record.index));
      assert.equal(extension.get('cs2'), record.ledger);
      assert.equal(extension.get('cs4'), record.leaf_hash);
      assert.equal(extension.get('rt'), String(Date.parse(record.received_at)));
    }
  });

  it('escapes hostile values so that every one reads back exactly', () => {
    HOSTILE_TEXT.forEach((text, i) => {
      const record = sealedRecord(hostileEvent(text, i), { index: i });
      const { extension } = parseCef(formatCefLine(record));
      assert.equal(extension.get('suser'), expected(text), `suser of ${JSON.stringify(text)}`);
      assert.equal(extension.get('reason'), expected(text));
      assert.equal(extension.get('requestClientApplication'), expected(text));
      const details = JSON.parse(extension.get('cs5')!);
      assert.equal(details.targets[0].name, text, 'JSON keeps the exact value');
      assert.equal(details.metadata.note, text);
      assert.equal(extension.get(i % 2 === 0 ? 'src' : 'c6a2'), i % 2 === 0 ? '203.0.113.9' : '2001:db8::9');
    });
  });

  it('escapes header fields: backslash and pipe, and no line breaks', () => {
    assert.equal(cefHeaderEscape('a|b\\c'), 'a\\|b\\\\c');
    assert.equal(cefHeaderEscape('line\r\nbreak'), 'line  break');
    assert.equal(cefValueEscape('a=b\\c\nd\re|f'), 'a\\=b\\\\c\\nd\\re|f');
    assert.equal(cefValueEscape('esc\u001b'), 'esc\ufffd');
  });

  it('maps outcomes to severities and lists removed fields in cs6', () => {
    const severity = (line: string) => Number(parseCef(line).header[6]);
    assert.equal(severity(formatCefLine(sealedRecord({ ...sampleEvent(1), outcome: 'success' }))), 3);
    assert.equal(severity(formatCefLine(sealedRecord({ ...sampleEvent(0), category: 'read', outcome: 'failure' }))), 5);
    assert.equal(severity(formatCefLine(sealedRecord({ ...sampleEvent(0), category: 'auth', outcome: 'failure' }))), 7);
    const { extension } = parseCef(formatCefLine(sealedRecord(sampleEvent(1), { redact: { 'actor.name': 'erased', 'origin.ip': 'purged' } })));
    assert.equal(extension.get('cs6'), 'actor.name=erased,origin.ip=purged');
    assert.equal(extension.get('cs6Label'), 'redacted');
    assert.equal(extension.has('src'), false);
    assert.equal(extension.get('suser'), 'u-1', 'without a display name, suser is the actor id');
  });
});
