/**
 * matchesQuery (src/core/query-match.ts) must select exactly what a search with the same query finds:
 * every query below is run both ways over the same generated events in a real SQLite store, with
 * geolocation on, including negations of absent fields, targets, metadata, prefixes, free text, CIDR
 * blocks, countries and time and index ranges; erased fields count as absent in both.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { portableSigner } from '../../src/core/crypto.js';
import { recordFromEntry } from '../../src/core/export/record.js';
import { matchesQuery } from '../../src/core/query-match.js';
import { parseQuery } from '../../src/core/query.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { IpLocation } from '../../src/store/store.js';
import { sampleEvent } from '../helpers/events.js';

const dir = mkdtempSync(join(tmpdir(), 'sealtrail-qm-'));
const locate = (ip: string): IpLocation | undefined => (ip.endsWith('.7') ? { country: 'DE' } : ip.startsWith('203.') ? { country: 'FR' } : undefined);
let store: SqliteStore;
const COUNT = 120;
let selective = 0;

before(async () => {
  store = new SqliteStore({ path: join(dir, 's.db'), suite: nodeSuite, signer: portableSigner(nodeSuite.randomBytes(32)), name: 'qm.test', locate });
  await store.createLedger('app');
  const events = Array.from({ length: COUNT }, (_, i) => {
    const event = sampleEvent(i) as any;
    if (i % 10 === 0) delete event.occurred_at;
    if (i % 11 === 0) delete event.tenant;
    if (i % 13 === 0) event.origin = { ip: `2001:db8::${i.toString(16)}` };
    if (i % 4 === 0) event.metadata.ticket = i % 8 === 0 ? 'CHG-1' : 42;
    if (i % 9 === 0) event.targets.push({ type: 'billing', id: `b-${i}` });
    return event;
  });
  await store.append('app', events.map((event) => ({ event, writer: event.id.endsWith('5') ? 'k-five' : 'k-other' })));
});
after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const QUERIES = [
  '',
  'actor:u-1',
  'actor:"User 3"',
  'actor:u-1*',
  'actor.type:user -outcome:success',
  'action:file.* tenant:tenant-1',
  '-tenant:tenant-1',
  'tenant:*',
  '-tenant:*',
  'category:read,auth',
  'target.type:billing',
  'target:report-1*',
  'target.id:f-3 OR target.id:b-9',
  'metadata.ticket:*',
  'metadata.ticket:42',
  '-metadata.ticket:CHG-1',
  'metadata.bytes:100',
  '"invalid password"',
  '-"Mozilla"',
  'report-11 OR b-99',
  'ip:203.0.113.0/28',
  'ip:2001:db8::/32',
  '-ip:203.0.113.0/24',
  'country:DE',
  '-country:FR',
  'writer:k-five',
  'index:10..20',
  'occurred:2026-11-26',
  '-occurred:2026-11-26',
  'received:-1h',
];

describe('matchesQuery agrees with the store search', () => {
  for (const text of QUERIES) {
    it(`"${text}"`, async () => {
      const query = parseQuery(text);
      const page = await store.search('app', { query, limit: 1000, order: 'asc' });
      const expected = page.entries.map((e) => e.index);
      const actual: number[] = [];
      for await (const entry of store.entries('app', 0, COUNT)) {
        const record = recordFromEntry(entry);
        const ip = (record.event.origin as { ip?: string } | undefined)?.ip;
        const matchable = { index: entry.index, receivedAtMicros: entry.receivedAtMicros, writer: record.writer, event: record.event, country: ip ? locate(ip)?.country : undefined };
        if (matchesQuery(query, matchable)) actual.push(entry.index);
      }
      assert.deepEqual(actual, expected);
      if (expected.length > 0 && expected.length < COUNT) selective++;
    });
  }

  it('most of those queries select some events but not all (the comparison is not vacuous)', () => {
    assert.ok(selective >= QUERIES.length - 6, `${selective} selective queries`);
  });

  it('an erased field no longer matches, as in search', () => {
    const event = { actor: { type: 'user', id: 'alice' }, action: 'x' };
    const base = { index: 0, receivedAtMicros: 0, writer: 'w' };
    assert.equal(matchesQuery(parseQuery('actor:alice'), { ...base, event }), true);
    assert.equal(matchesQuery(parseQuery('actor:alice'), { ...base, event: { action: 'x' } }), false);
    assert.equal(matchesQuery(parseQuery('-actor:alice'), { ...base, event: { action: 'x' } }), true);
  });
});
