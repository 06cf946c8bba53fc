/** RFC 5424 export: every line matches the ABNF (as a regex) and its structured data reads back. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DOCUMENTATION_PEN, formatSyslogLine, isSdName, sdValueEscape } from '../../../src/core/export/syslog.js';
import { buildTestServer } from '../../helpers/server.js';
import { HOSTILE_TEXT, hostileEvent, recordCorpus, sealedRecord } from './helpers.js';
import { sampleEvent } from '../../helpers/events.js';

// RFC 5424 §6: HEADER SP STRUCTURED-DATA [SP MSG]
const PRINTUSASCII = '[\\x21-\\x7e]';
const SD_NAME = '[\\x21\\x23-\\x3c\\x3e-\\x5c\\x5e-\\x7e]{1,32}'; // printable but '=', SP, ']', '"'
const PARAM_VALUE = '(?:\\\\.|[^"\\\\\\]])*'; // escaped pair, or anything but '"', '\' and ']'
const SD_ELEMENT = `\\[${SD_NAME}(?: ${SD_NAME}="${PARAM_VALUE}")*\\]`;
const TIMESTAMP = '\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(?:\\.\\d{1,6})?(?:Z|[+-]\\d{2}:\\d{2})';
const SYSLOG = new RegExp(
  `^<(\\d{1,3})>1 (${TIMESTAMP}|-) (${PRINTUSASCII}{1,255}|-) (${PRINTUSASCII}{1,48}|-) (${PRINTUSASCII}{1,128}|-) (${PRINTUSASCII}{1,32}|-) ((?:${SD_ELEMENT})+|-)(?: ([^]*))?$`,
  'u',
);

interface Parsed {
  pri: number;
  timestamp: string;
  hostname: string;
  msgid: string;
  sd: Map<string, Map<string, string[]>>;
  msg: string | undefined;
}

function parseSyslog(line: string): Parsed {
  assert.ok(line.endsWith('\n'));
  const body = line.slice(0, -1);
  assert.ok(!/[\r\n]/.test(body), 'no raw CR or LF inside a message');
  const m = SYSLOG.exec(body);
  assert.ok(m, `not RFC 5424: ${body}`);
  const sd = new Map<string, Map<string, string[]>>();
  const element = new RegExp(`\\[(${SD_NAME})((?: ${SD_NAME}="${PARAM_VALUE}")*)\\]`, 'gu');
  for (const e of m[7]!.matchAll(element)) {
    assert.ok(!sd.has(e[1]!), 'an SD-ID appears once per message (RFC 5424 §6.3.2)');
    const params = new Map<string, string[]>();
    for (const p of e[2]!.matchAll(new RegExp(` (${SD_NAME})="(${PARAM_VALUE})"`, 'gu'))) {
      params.set(p[1]!, [...(params.get(p[1]!) ?? []), unescapeValue(p[2]!)]);
    }
    sd.set(e[1]!, params);
  }
  return { pri: Number(m[1]), timestamp: m[2]!, hostname: m[3]!, msgid: m[6]!, sd, msg: m[8] };
}

/** RFC 5424 unescaping of `\"`, `\\`, `\]`, then sealtrail's `\n` / `\r` for line breaks. */
function unescapeValue(raw: string): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] !== '\\') {
      out += raw[i];
      continue;
    }
    const next = raw[++i]!;
    out += next === 'n' ? '\n' : next === 'r' ? '\r' : next;
  }
  return out;
}

const expected = (text: string) => text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g, '\ufffd');

describe('RFC 5424 syslog export', () => {
  it('writes every record as a message matching the ABNF, with the facility "log audit"', () => {
    for (const record of recordCorpus()) {
      const line = formatSyslogLine(record, { hostname: 'audit.example.com' });
      const parsed = parseSyslog(line);
      assert.equal(Math.floor(parsed.pri / 8), 13);
      assert.ok([4, 5, 6].includes(parsed.pri % 8));
      assert.equal(parsed.timestamp, record.received_at);
      assert.match(parsed.timestamp, /\.\d{6}Z$/);
      assert.equal(parsed.hostname, 'audit.example.com');
      for (const [id, params] of parsed.sd) {
        assert.ok(isSdName(id) && /^[^@]+@32473$/.test(id));
        for (const name of params.keys()) assert.ok(isSdName(name), name);
      }
      const seal = parsed.sd.get('seal@32473')!;
      assert.deepEqual(seal.get('index'), [String(record.index)]);
      assert.deepEqual(seal.get('leaf_hash'), [record.leaf_hash]);
      assert.deepEqual(seal.get('writer'), [record.writer]);
      // MSG-UTF8 starts with a BOM; an ASCII message is MSG-ANY and has none.
      const msg = parsed.msg!;
      const nonAscii = /[^\x00-\x7f]/.test(msg.replace(/^\ufeff/, ''));
      assert.equal(msg.startsWith('\ufeff'), nonAscii, JSON.stringify(msg));
    }
  });

  it('escapes quotes, backslashes and brackets so hostile values read back', () => {
    HOSTILE_TEXT.forEach((text, i) => {
      const parsed = parseSyslog(formatSyslogLine(sealedRecord(hostileEvent(text, i), { index: i })));
      const event = parsed.sd.get('event@32473')!;
      assert.deepEqual(event.get('actor.name'), [expected(text)], JSON.stringify(text));
      assert.deepEqual(event.get('reason'), [expected(text)]);
      assert.deepEqual(event.get('target.0.name'), [expected(text)]);
      assert.deepEqual(JSON.parse(event.get('metadata')![0]!).note, text);
      assert.equal(parsed.hostname, '-');
    });
    assert.equal(sdValueEscape('a"b\\c]d'), 'a\\"b\\\\c\\]d');
  });

  it('derives the severity from the outcome and lists removed fields', () => {
    const pri = (record: ReturnType<typeof sealedRecord>) => parseSyslog(formatSyslogLine(record)).pri;
    assert.equal(pri(sealedRecord({ ...sampleEvent(1), outcome: 'success' })), 13 * 8 + 6);
    assert.equal(pri(sealedRecord({ ...sampleEvent(0), category: 'read', outcome: 'failure' })), 13 * 8 + 5);
    assert.equal(pri(sealedRecord({ ...sampleEvent(0), category: 'admin', outcome: 'failure' })), 13 * 8 + 4);
    const parsed = parseSyslog(formatSyslogLine(sealedRecord(sampleEvent(1), { redact: { 'actor.name': 'erased', 'origin.ip': 'purged' } })));
    const event = parsed.sd.get('event@32473')!;
    assert.deepEqual(event.get('redacted'), ['actor.name=erased,origin.ip=purged']);
    assert.equal(event.has('actor.name'), false);
    assert.equal(event.has('origin.ip'), false);
  });

  it('uses the enterprise number given and refuses hostnames that are not printable ASCII', () => {
    const line = formatSyslogLine(sealedRecord(sampleEvent(1)), { enterpriseNumber: 99999, hostname: 'bad host' });
    const parsed = parseSyslog(line);
    assert.ok(parsed.sd.has('seal@99999'));
    assert.equal(parsed.hostname, '-');
    // MSGID is the action when it fits in 32 characters.
    assert.equal(parsed.msgid, 'auth.login');
    const long = parseSyslog(formatSyslogLine(sealedRecord({ ...sampleEvent(1), action: `a.${'b'.repeat(40)}` })));
    assert.equal(long.msgid, '-');
  });
});

describe('syslog enterprise number (issue 18)', () => {
  it('refuses numbers that would make the SD-IDs malformed', () => {
    for (const bad of [0, -1, 1.5, 4_294_967_296, Number.NaN]) {
      assert.throws(() => formatSyslogLine(sealedRecord(sampleEvent(1)), { enterpriseNumber: bad }), RangeError, String(bad));
    }
    assert.ok(parseSyslog(formatSyslogLine(sealedRecord(sampleEvent(1)), { enterpriseNumber: 4_294_967_295 })).sd.has('event@4294967295'));
  });

  it('the server exports with its configured number, a request may name its own, and other formats refuse it', async () => {
    const server = await buildTestServer({ syslogEnterpriseNumber: 55555 });
    try {
      const headers = { authorization: `Bearer ${server.adminToken}` };
      await server.app.inject({ method: 'PUT', url: '/v1/ledgers/pen', headers });
      assert.equal((await server.app.inject({ method: 'POST', url: '/v1/ledgers/pen/events', headers, payload: [sampleEvent(1)] })).statusCode, 201);
      const get = (query: string) => server.app.inject({ method: 'GET', url: `/v1/ledgers/pen/export?${query}`, headers });
      const configured = parseSyslog((await get('format=syslog')).body);
      assert.deepEqual([...configured.sd.keys()], ['seal@55555', 'event@55555']);
      const named = parseSyslog((await get('format=syslog&enterprise_number=12345')).body);
      assert.deepEqual([...named.sd.keys()], ['seal@12345', 'event@12345']);
      for (const bad of ['0', '4294967296', 'abc']) assert.equal((await get(`format=syslog&enterprise_number=${bad}`)).statusCode, 400, bad);
      const csv = await get('format=csv&enterprise_number=12345');
      assert.equal(csv.statusCode, 400);
      assert.match(csv.json().message, /enterprise_number applies only to format=syslog/);
    } finally {
      await server.cleanup();
    }
  });

  it('without configuration the server still uses 32473, the documentation number', async () => {
    const server = await buildTestServer();
    try {
      const headers = { authorization: `Bearer ${server.adminToken}` };
      await server.app.inject({ method: 'PUT', url: '/v1/ledgers/pen', headers });
      await server.app.inject({ method: 'POST', url: '/v1/ledgers/pen/events', headers, payload: [sampleEvent(1)] });
      const line = (await server.app.inject({ method: 'GET', url: '/v1/ledgers/pen/export?format=syslog', headers })).body;
      assert.ok(parseSyslog(line).sd.has(`seal@${DOCUMENTATION_PEN}`));
    } finally {
      await server.cleanup();
    }
  });
});
