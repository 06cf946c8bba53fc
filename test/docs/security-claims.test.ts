/**
 * docs/SECURITY.md's statements about what can remove data, checked against the code: the review found
 * it saying there was no erasure command (there is) and that the PostgreSQL service role cannot update
 * sealed rows (it may update `entries`' disclosure columns, within the triggers' rules).
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { eraseCommand } from '../../src/cli/commands/retention.js';
import { serviceGrants } from '../../src/store/postgres/schema.js';

const security = readFileSync(new URL('../../docs/SECURITY.md', import.meta.url), 'utf8');
const retention = readFileSync(new URL('../../docs/RETENTION.md', import.meta.url), 'utf8');

/** The table row of SECURITY.md's actors table whose first cell starts with `actor`. */
function actorRow(actor: string): { can: string; cannot: string } {
  const line = security.split('\n').find((l) => l.startsWith(`| ${actor}`));
  assert.ok(line, `SECURITY.md has a row for ${actor}`);
  const cells = line.split(' | ');
  return { can: cells[2]!, cannot: cells[3]! };
}

it('SECURITY.md says erasure exists, as RETENTION.md and the CLI do', () => {
  assert.equal(eraseCommand.name, 'erase');
  assert.match(retention, /sealtrail erase --subject/);
  assert.doesNotMatch(security, /no API or command for it/);
  assert.match(security, /`sealtrail erase`/);
  assert.match(actorRow('**admin** key for `*`').can, /erasure/);
  assert.doesNotMatch(actorRow('**admin** key for `*`').cannot, /there is no API/);
});

it("SECURITY.md's service-role row names the updates serviceGrants gives it", () => {
  const grants = serviceGrants('s', 'r');
  const row = actorRow("holder of the PostgreSQL service role's password");
  const updatesEntries = /GRANT UPDATE \([^)]*disclosures[^)]*\) ON "s"\.entries/.test(grants);
  assert.ok(updatesEntries, 'the service role may update entries\' disclosures (retention and erasure)');
  assert.match(row.can, /`UPDATE` of `entries`/);
  assert.doesNotMatch(row.cannot, /^update, delete or truncate sealed rows/);
  if (/GRANT UPDATE \([^)]*released_at[^)]*\) ON "s"\.legal_holds/.test(grants)) assert.match(row.can, /legal_holds/);
  if (/GRANT DELETE ON "s"\.search_events/.test(grants)) assert.match(row.can, /search rows/);
  // What it may not do is stated too, and matches the REVOKE.
  assert.match(grants, /REVOKE UPDATE, DELETE, TRUNCATE ON "s"\.ledgers, "s"\.entries, "s"\.tree_hashes, "s"\.checkpoints/);
  assert.match(row.cannot, /delete or truncate entries, tree hashes or checkpoints/);
});
