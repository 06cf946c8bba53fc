/** `sealtrail reindex`: locates events indexed before geolocation was set up, as a user runs it. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseQuery } from '../../src/core/query.js';
import { openDeployment } from '../../src/server/deployment.js';
import { runCli } from '../helpers/cli.js';
import { sampleEvent } from '../helpers/events.js';

describe('sealtrail reindex', () => {
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sealtrail-reindex-'));
    // A deployment that ran without geolocation: its index knows no places.
    const { store } = openDeployment({ dataDir: dir });
    await store.createLedger('ops');
    await store.append('ops', [
      { event: { ...sampleEvent(0), origin: { ip: '8.8.8.8' } }, writer: 'w' },
      { event: { ...sampleEvent(1), origin: { ip: '10.1.2.3' } }, writer: 'w' },
    ]);
    await store.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('rebuilds the index with the bundled geolocation database, leaving the ledger verifiable', async () => {
    const result = await runCli(['reindex', '--data', dir]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /rebuilt: 2 events, located with/);
    const { store } = openDeployment({ dataDir: dir });
    try {
      const page = await store.search('ops', { query: parseQuery(''), limit: 10, order: 'asc' });
      assert.equal(page.entries[0]!.location?.country, 'US');
      assert.equal(typeof page.entries[0]!.location?.latitude, 'number');
      assert.deepEqual(page.entries[1]!.location, { reserved: 'private' });
      assert.deepEqual((await store.search('ops', { query: parseQuery('country:US'), limit: 10, order: 'asc' })).entries.map((e) => e.index), [0]);
    } finally {
      await store.close();
    }
    const verified = await runCli(['verify', '--data', dir]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  });

  it('refuses a folder with no database', async () => {
    const result = await runCli(['reindex', '--data', join(dir, 'nothing-here')]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /no sealtrail database/);
  });
});
