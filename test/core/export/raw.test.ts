/**
 * The bulk path of JSON Lines and CSV (core/export/raw.ts) against the general one (recordWithAttribution
 * and the formatter), byte for byte: whatever the raw path writes must be exactly what the general path
 * writes, and it must decline (undefined) whatever it cannot write that way, redactions above all.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SaltSource, type Disclosures } from '../../../src/core/commitments.js';
import { toBase64 } from '../../../src/core/bytes.js';
import { validateEvent, type AuditEvent } from '../../../src/core/event.js';
import { formatCsvRow } from '../../../src/core/export/csv.js';
import { exportFormatter } from '../../../src/core/export/index.js';
import { formatJsonLine } from '../../../src/core/export/jsonl.js';
import { rawCsvRow, rawJsonLine, rawScratch, splitDisclosures, type RawEntryLike } from '../../../src/core/export/raw.js';
import { base64Of, formatReceivedAt, recordWithAttribution, type LocationLike } from '../../../src/core/export/record.js';
import { sealEvent } from '../../../src/core/leaf.js';
import { formatMicros } from '../../../src/core/time.js';
import { GEO_ATTRIBUTION } from '../../../src/platform/geo.js';
import { nodeSuite } from '../../../src/platform/node-crypto.js';
import { sampleEvent } from '../../helpers/events.js';
import { HOSTILE_TEXT, hostileEvent, RECEIVED_AT_MICROS } from './helpers.js';

const salts = new SaltSource(nodeSuite);

function rawEntry(event: AuditEvent, index: number, extra: { writer?: string; location?: LocationLike; redactions?: Record<string, string>; drop?: string[] } = {}): RawEntryLike {
  validateEvent(event);
  const writer = extra.writer ?? 'k1a2b3c4d';
  const sealed = sealEvent(nodeSuite, { ledger: 'payments', index, receivedAtMicros: RECEIVED_AT_MICROS + index * 7919, writer, event }, salts);
  const disclosures: Disclosures = { ...sealed.disclosures };
  for (const path of extra.drop ?? []) delete disclosures[path];
  return {
    ledger: 'payments',
    index,
    receivedAtMicros: RECEIVED_AT_MICROS + index * 7919,
    leafHash: sealed.leafHash,
    writer,
    disclosuresJson: JSON.stringify(disclosures),
    ...(extra.redactions ? { redactions: extra.redactions } : {}),
    ...(extra.location ? { location: extra.location } : {}),
  };
}

function general(entry: RawEntryLike, format: 'jsonl' | 'csv'): string {
  const record = recordWithAttribution({ ...entry, disclosures: JSON.parse(entry.disclosuresJson) as Disclosures }, GEO_ATTRIBUTION);
  return format === 'jsonl' ? formatJsonLine(record) : formatCsvRow(record);
}

/**
 * Scratches that outlive one entry, as an export's do: every entry of this file goes through them too,
 * so that shapes compiled for earlier entries (and the last one used) are tried on every later one.
 */
const long = { jsonl: rawScratch(), csv: rawScratch() };

/** The same answers through the long-lived scratches, twice (compiling the shape, then reusing it). */
function sameThroughLongScratch(entry: RawEntryLike, jsonl: string | undefined, csv: string | undefined): void {
  for (let pass = 0; pass < 2; pass++) {
    assert.equal(rawJsonLine(entry, GEO_ATTRIBUTION, long.jsonl), jsonl, entry.disclosuresJson);
    assert.equal(rawCsvRow(entry, GEO_ATTRIBUTION, long.csv), csv, entry.disclosuresJson);
  }
}

/** The raw path writes what the general path writes, or declines; returns whether it wrote. */
function agrees(entry: RawEntryLike): boolean {
  const jsonl = rawJsonLine(entry, GEO_ATTRIBUTION);
  const csv = rawCsvRow(entry, GEO_ATTRIBUTION);
  sameThroughLongScratch(entry, jsonl, csv);
  if (jsonl !== undefined) assert.equal(jsonl, general(entry, 'jsonl'), entry.disclosuresJson);
  if (csv !== undefined) assert.equal(csv, general(entry, 'csv'), entry.disclosuresJson);
  assert.equal(jsonl === undefined, csv === undefined, 'both formats take the same path');
  return jsonl !== undefined;
}

const LOCATIONS: Array<LocationLike | undefined> = [
  undefined,
  { country: 'CH', region: 'Vaud', city: 'Lausanne', latitude: 46.5197, longitude: 6.6323 },
  { reserved: 'documentation' },
  { country: 'FR' },
];

function manyTargets(n: number): AuditEvent {
  return { ...sampleEvent(n), targets: Array.from({ length: n }, (_, i) => ({ type: 'file', id: `f-${i}`, ...(i % 2 ? { name: `na"me,${i}\u2028` } : {}) })) };
}

describe('export: lines written from the stored disclosures text', () => {
  it('writes exactly what the general path writes, for realistic, hostile and located events', () => {
    let n = 0;
    const events: AuditEvent[] = [
      ...Array.from({ length: 40 }, (_, i) => sampleEvent(i)),
      ...HOSTILE_TEXT.map((text, i) => hostileEvent(text, i)),
      hostileEvent('line\u2028sep\u2029para\u0085nel\u009fc1', 99),
      hostileEvent("dollar $& $' $` $$ $1", 98),
      ...[1, 2, 3, 4, 5, 32].map(manyTargets),
      { ...sampleEvent(3), metadata: { float: 1.5e-7, big: 1e21, neg: -0.25, t: true, f: false, n: null, nested: { '10': 1, '2': [1, { x: 'y' }], z: 'é' }, empty: {}, list: [] } },
      { actor: { type: 'service', id: 'svc' }, action: 'svc.ping', category: 'read', outcome: 'success' },
    ];
    for (const event of events) {
      for (const location of LOCATIONS) {
        assert.ok(agrees(rawEntry(event, n++, location ? { location } : {})), 'the raw path takes ordinary events');
      }
    }
    assert.ok(agrees(rawEntry(sampleEvent(1), n++, { writer: 'w' })));
    assert.ok(agrees({ ...rawEntry(sampleEvent(1), n++), writer: '+formula\u2028writer' }));
  });

  it('declines every entry with redactions, so erased values and their markers come from the general path', () => {
    const entry = rawEntry(sampleEvent(2), 1, { drop: ['actor.name', 'origin.ip'], redactions: { 'actor.name': 'erased', 'origin.ip': 'purged' } });
    assert.equal(rawJsonLine(entry, GEO_ATTRIBUTION), undefined);
    assert.equal(rawCsvRow(entry, GEO_ATTRIBUTION), undefined);
    assert.equal(rawJsonLine({ ...entry, redactions: {} }, GEO_ATTRIBUTION), undefined);
    const purged = rawEntry(sampleEvent(2), 2, { drop: Object.keys(JSON.parse(rawEntry(sampleEvent(2), 2).disclosuresJson)), redactions: { action: 'purged' } });
    assert.equal(purged.disclosuresJson, '{}');
    assert.equal(rawCsvRow(purged, GEO_ATTRIBUTION), undefined);
    // Through the formatter's own path too: an erased value never shows.
    const line = exportFormatter('jsonl').line(recordWithAttribution({ ...entry, disclosures: JSON.parse(entry.disclosuresJson) as Disclosures }, GEO_ATTRIBUTION));
    assert.ok(!line.includes('User 2') && !line.includes('203.0.113'), line);
  });

  it('declines text that is not exactly JSON.stringify of simple paths, and agrees wherever it writes', () => {
    const texts = [
      '{}',
      '{"id":["s","x"]}',
      '{"id": ["s","x"]}',
      '{"id":["s", "x"]}',
      '{"metadata.a":["s",{"b": 1}]}',
      '{"metadata.0":["s",1],"metadata.b":["s",2]}',
      '{"metadata.b":["s",1],"metadata.10":["s",2],"metadata.2":["s",3]}',
      '{"0":["s",1],"id":["s","x"]}',
      '{"metadata.__proto__":["s",{"polluted":true}]}',
      '{"actor":["s","x"],"actor.id":["s","y"]}',
      '{"targets":["s",[1]],"targets.0":["s",{"type":"a","id":"b"}]}',
      '{"targets.01":["s",{"type":"a","id":"b"}]}',
      '{"targets.":["s",{"type":"a","id":"b"}]}',
      '{"targets.2":["s",{"type":"a","id":"b"}],"targets.0":["s","not an object"]}',
      '{"targets.1":["s",null],"targets.4":["s",[1,2]],"targets.3":["s",7]}',
      '{"metadata.x":["s",1.0]}',
      '{"metadata.x":["s",1E3]}',
      '{"metadata.x":["s",-0]}',
      '{"id":["s","a\\"b"],"action":["s","c\\\\"],"tenant":["s","\\\\\\""]}',
      '{"id":["s\\"","x"]}',
      '{"i\\u0064":["s","x"]}',
      '{"id":["s","\\u2028\\u0085 \u2028\u0085"]}',
      '{"other.thing":["s","dropped"],"id":["s","kept"]}',
      '{"metadata.k":["s","v"],"actor.id":["s","a"],"metadata.j":["s","w"],"actor.type":["s","user"]}',
      '{"id":["s","x"]}trailing',
      '{"id":["s","x"]',
      '{"id":["s","x"],}',
    ];
    const wrote: string[] = [];
    texts.forEach((disclosuresJson, index) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(disclosuresJson);
      } catch {
        const entry: RawEntryLike = { ledger: 'l', index, receivedAtMicros: RECEIVED_AT_MICROS, leafHash: new Uint8Array(32), writer: 'w', disclosuresJson };
        assert.equal(rawJsonLine(entry, GEO_ATTRIBUTION), undefined);
        sameThroughLongScratch(entry, undefined, undefined);
        return;
      }
      assert.ok(parsed);
      const entry: RawEntryLike = { ledger: 'l', index, receivedAtMicros: RECEIVED_AT_MICROS, leafHash: new Uint8Array(32).fill(index), writer: 'w', disclosuresJson };
      if (agrees(entry)) wrote.push(disclosuresJson);
    });
    for (const declined of ['{"id": ["s","x"]}', '{"metadata.0":["s",1],"metadata.b":["s",2]}', '{"metadata.__proto__":["s",{"polluted":true}]}', '{"metadata.x":["s",1.0]}', '{"id":["s\\"","x"]}']) {
      assert.ok(!wrote.includes(declined), `declines ${declined}`);
    }
    for (const taken of ['{}', '{"id":["s","x"]}', '{"targets.1":["s",null],"targets.4":["s",[1,2]],"targets.3":["s",7]}', '{"other.thing":["s","dropped"],"id":["s","kept"]}']) {
      assert.ok(wrote.includes(taken), `takes ${taken}`);
    }
  });

  it('checks each text against the shape it reuses: the same paths, exactly, in stringify\'s form', () => {
    const scratch = { jsonl: rawScratch(), csv: rawScratch() };
    const entry = (index: number, disclosuresJson: string): RawEntryLike => ({ ledger: 'l', index, receivedAtMicros: RECEIVED_AT_MICROS, leafHash: new Uint8Array(32).fill(index), writer: 'w', disclosuresJson });
    const base = '{"id":["s","x"],"actor.id":["t","a"],"metadata.k":["u",[1,"]"]],"targets.1":["v",{"type":"f","id":"1"}]}';
    const variants = [
      base,
      '{"id":["s","y"],"actor.id":["t","b"],"metadata.k":["u",{"z":null}],"targets.1":["v",{"type":"g","id":"2"}]}',
      '{"id":["s","x"],"actor.id":["t","a"],"metadata.k":["u",[1,"]"]]}',
      '{"id":["s","x"],"actor.id":["t","a"],"metadata.k":["u",[1,"]"]],"targets.1":["v",{"type":"f","id":"1"}],"tenant":["w","t"]}',
      '{"id":["s","x"],"actor.id":["t","a"],"metadata.k":["u",[1,"]"]],"targets.1":["v",{"type":"f","id":"1"}]}x',
      '{"id":["s","x"],"actor.id":["t","a"],"metadata.k":["u",[1, "]"]],"targets.1":["v",{"type":"f","id":"1"}]}',
      '{"id":["s","x"],"actor.idx":["t","a"],"metadata.k":["u",[1,"]"]],"targets.1":["v",{"type":"f","id":"1"}]}',
      '{"id":["s","x"],"actor.i":["t","a"],"metadata.k":["u",[1,"]"]],"targets.1":["v",{"type":"f","id":"1"}]}',
      '{"id":["s\\"","x"],"actor.id":["t","a"],"metadata.k":["u",[1,"]"]],"targets.1":["v",{"type":"f","id":"1"}]}',
      '{"actor.id":["t","a"],"id":["s","x"],"metadata.k":["u",[1,"]"]],"targets.1":["v",{"type":"f","id":"1"}]}',
      '{"id":["s","x"],"actor.id":["t","a"],"metadata.k":["u",[1,"]"]],"targets.1":["v",tru]}',
      '{}',
      base,
    ];
    variants.forEach((text, i) => {
      const e = entry(i, text);
      let expected: { jsonl: string | undefined; csv: string | undefined } = { jsonl: undefined, csv: undefined };
      try {
        JSON.parse(text);
        expected = { jsonl: rawJsonLine(e, GEO_ATTRIBUTION), csv: rawCsvRow(e, GEO_ATTRIBUTION) };
        if (expected.jsonl !== undefined) assert.equal(expected.jsonl, general(e, 'jsonl'), text);
        if (expected.csv !== undefined) assert.equal(expected.csv, general(e, 'csv'), text);
      } catch (error) {
        if (!(error instanceof SyntaxError)) throw error;
      }
      assert.equal(rawJsonLine(e, GEO_ATTRIBUTION, scratch.jsonl), expected.jsonl, text);
      assert.equal(rawCsvRow(e, GEO_ATTRIBUTION, scratch.csv), expected.csv, text);
    });
  });

  it('splits the disclosures text into paths and value texts', () => {
    const paths: string[] = [];
    const values: string[] = [];
    assert.ok(splitDisclosures('{"a":["s","x]\\"}"],"b.c":["t",[1,{"d":"]"}]],"e":["u",-1.5]}', paths, values));
    assert.deepEqual(paths, ['a', 'b.c', 'e']);
    assert.deepEqual(values, ['"x]\\"}"', '[1,{"d":"]"}]', '-1.5']);
    assert.ok(!splitDisclosures('{"a":["s",tru]}', paths, values));
    assert.ok(!splitDisclosures('', paths, values));
  });

  it('formats leaf hashes and receipt times as the general helpers do', () => {
    for (let length = 0; length < 40; length++) {
      const bytes = Uint8Array.from({ length }, (_, i) => (i * 89 + length * 7) & 0xff);
      assert.equal(base64Of(bytes), toBase64(bytes));
    }
    for (const micros of [0, 1, 999_999, 1_000_000, RECEIVED_AT_MICROS, RECEIVED_AT_MICROS + 1, RECEIVED_AT_MICROS + 876_544, 4_102_444_800_000_000]) {
      assert.equal(formatReceivedAt(micros), formatMicros(micros));
    }
    assert.throws(() => formatReceivedAt(-1));
    assert.throws(() => formatReceivedAt(1.5));
  });
});
