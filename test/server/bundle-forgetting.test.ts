/**
 * Issue 19 through the API: a bundle of erased and purged events carries the forgetting records the
 * retention service sealed, and verifies offline; a redaction forged in the database (guards bypassed)
 * leaves the bundle invalid, naming the event and field.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { verifyBundle } from '../../src/core/bundle/index.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import type { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { sampleEvent } from '../helpers/events.js';
import { buildTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
const headers = () => ({ authorization: `Bearer ${server.adminToken}` });

async function bundleReport() {
  const res = await server.app.inject({ method: 'POST', url: '/v1/ledgers/crm/bundle', headers: headers(), payload: {} });
  assert.equal(res.statusCode, 200, res.body);
  return verifyBundle({ files: new Uint8Array(res.rawPayload), verifierKey: server.deployment.verifierKey, suite: nodeSuite });
}

describe('bundles of forgotten events, through the API', () => {
  before(async () => {
    server = await buildTestServer();
    await server.app.inject({ method: 'PUT', url: '/v1/ledgers/crm', headers: headers() });
    const events = Array.from({ length: 10 }, (_, i) => sampleEvent(i));
    const res = await server.app.inject({ method: 'POST', url: '/v1/ledgers/crm/events', headers: headers(), payload: events });
    assert.equal(res.statusCode, 201, res.body);
    // sampleEvent gives u-3 the address user3@example.com; events 3 name that actor.
    const erased = await server.app.inject({ method: 'POST', url: '/v1/erasures', headers: headers(), payload: { subject: 'user3@example.com', reference: 'DSR-1' } });
    assert.equal(erased.statusCode, 200, erased.body);
    assert.ok(erased.json().events >= 1);
  });
  after(() => server.cleanup());

  it('carries the sealed records and verifies', async () => {
    const report = await bundleReport();
    assert.deepEqual(report.problems, []);
    assert.ok(report.manifest!.counts.redacted_fields >= 1);
    assert.ok(report.manifest!.forgetting && report.manifest!.forgetting.records >= 1);
  });

  it('a redaction forged in the database makes the bundle invalid, naming event and field', async () => {
    // Committed, not in a savepoint: searches may read through another connection. Last test: it stays.
    const db = (server.deployment.store as SqliteStore).db;
    db.exec('DROP TRIGGER entries_forget_authorised');
    db.exec(`UPDATE entries SET disclosures = json_remove(disclosures, '$.outcome'), redactions = json_set(COALESCE(redactions, '{}'), '$.outcome', 'erased')
              WHERE ledger_id = (SELECT ledger_id FROM ledgers WHERE name = 'crm') AND idx = 7`);
    const report = await bundleReport();
    assert.equal(report.ok, false);
    assert.deepEqual(report.problems.filter((p) => p.kind === 'redaction').map((p) => [p.index, p.field]), [[7, 'outcome']]);
  });
});
