/**
 * Browser verification in a real browser, on both stores: the verifier key pinned once from the banner,
 * the event page reading `verified` with every field's disclosure state (present, withheld, erased), its
 * leaf hash, proof and checkpoint; nearby rows (fetched without proofs, so the hook fetches the evidence
 * in batches) verified too; an entry tampered with behind the server's back (its disclosure rewritten in
 * the database) shown as failed naming the field, on its page and in the list; another deployment's key
 * pinned: a loud warning with both keys and nothing verified until re-pinned; and a server that presents
 * the pinned key but signs with another: verification uses only the pinned key, so it fails.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { portableSigner } from '../../src/core/crypto.js';
import { formatVerifierKey } from '../../src/core/note.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { appendEvents, assertNoOffHostRequests, consoleUnavailable, launchConsoleBrowser, serveConsole, signIn, STORE_KINDS, type ConsoleBrowser, type ServedConsole } from '../helpers/console.js';
import { sampleEvent } from '../helpers/events.js';

const LEDGER = 'web';
const EVENTS = 24;
const TAMPERED = 11;
const ERASED_SUBJECT = 'erase.me@example.com';
const ERASED_INDEX = 17;

const pinName = (server: ServedConsole) => `sealtrail.verifier-key@${new URL(server.url).origin}`;
const otherDeploymentKey = () => formatVerifierKey(nodeSuite, 'console.test', portableSigner(randomBytes(32)).publicKey);

/** Rewrites the stored value of one disclosure of entry `index`, as someone with the database could. */
async function tamperDisclosure(server: ServedConsole, index: number, path: string, value: unknown): Promise<void> {
  const rewrite = (text: string) => {
    const disclosures = JSON.parse(text) as Record<string, [string, unknown]>;
    assert.ok(disclosures[path], `entry ${index} discloses ${path}`);
    disclosures[path] = [disclosures[path]![0], value];
    return JSON.stringify(disclosures);
  };
  if (server.kind === 'SQLite') {
    const db = new Database(join(server.dataDir, 'sealtrail.db'));
    try {
      db.transaction(() => {
        for (const name of db.prepare<[], string>(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'entries'`).pluck().all()) db.exec(`DROP TRIGGER "${name}"`);
        const id = db.prepare<[string], number>('SELECT ledger_id FROM ledgers WHERE name = ?').pluck().get(LEDGER)!;
        const text = db.prepare<[number, number], string>('SELECT disclosures FROM entries WHERE ledger_id = ? AND idx = ?').pluck().get(id, index)!;
        db.prepare('UPDATE entries SET disclosures = ? WHERE ledger_id = ? AND idx = ?').run(rewrite(text), id, index);
        // IMMEDIATE: the live server writes too, and a read transaction that then writes after one of its
        // commits fails at once with SQLITE_BUSY (a stale snapshot), where BEGIN IMMEDIATE waits its turn.
      }).immediate();
    } finally {
      db.close();
    }
    return;
  }
  const fixture = server.postgres!;
  const client = new pg.Client({ connectionString: fixture.adminUrl });
  await client.connect();
  try {
    await client.query(`SET search_path TO "${fixture.schema}"`);
    await client.query('SET session_replication_role = replica'); // the append-only triggers off, as the owner or a superuser can
    const ledger = `(SELECT ledger_id FROM ledgers WHERE name = '${LEDGER}')`;
    const row = await client.query<{ disclosures: string }>(`SELECT disclosures FROM entries WHERE ledger_id = ${ledger} AND idx = $1`, [index]);
    await client.query(`UPDATE entries SET disclosures = $1 WHERE ledger_id = ${ledger} AND idx = $2`, [rewrite(row.rows[0]!.disclosures), index]);
  } finally {
    await client.end();
  }
}

for (const kind of STORE_KINDS) {
  describe(`console browser verification (${kind})`, async () => {
    const skip = await consoleUnavailable(kind);
    let server: ServedConsole;
    let browser: ConsoleBrowser;
    let reader: string;
    let serverKey: string;
    before(async () => {
      if (skip) return;
      [server, browser] = await Promise.all([serveConsole(kind), launchConsoleBrowser()]);
      const events = Array.from({ length: EVENTS }, (_, n) => {
        const event = sampleEvent(n);
        if (n === ERASED_INDEX) event.actor = { ...event.actor, email: ERASED_SUBJECT };
        return event;
      });
      await appendEvents(server, LEDGER, events);
      const erased = await server.api('POST', '/v1/erasures', { subject: ERASED_SUBJECT, reference: 'console verify test' });
      assert.ok(JSON.stringify(erased).includes(LEDGER), `the erasure reached ${LEDGER}: ${JSON.stringify(erased)}`);
      reader = await server.createKey('reader', { description: 'console verify test' });
      serverKey = String(await server.api('GET', '/v1/verifier-key')).trim();
    });
    after(async () => {
      await browser?.close();
      await server?.stop();
    });

    it('pins the key once, then shows an event verified with every field, its proof and checkpoint, and its neighbours verified', { skip }, async () => {
      const { page, context } = await browser.open(server);
      const workers: string[] = [];
      page.on('worker', (worker) => workers.push(worker.url()));
      await signIn(page, server, reader, `/#/events/${LEDGER}/3`);
      const verdict = page.locator('.verdict-line');
      // Nothing is verified before a key is pinned, and the banner shows the server's key to pin.
      await verdict.getByText('not verified: no verifier key is pinned').waitFor();
      const banner = page.getByRole('complementary', { name: 'Verifier key' });
      assert.equal((await banner.locator('dd').innerText()).trim(), serverKey);
      await page.getByRole('button', { name: 'Pin this key' }).click();
      await verdict.getByText('verified', { exact: true }).waitFor();
      assert.equal(await banner.count(), 0, 'the banner goes once the pinned key matches');
      assert.equal(await page.evaluate(`localStorage.getItem(${JSON.stringify(pinName(server))})`), serverKey);
      assert.equal(workers.length, 1, 'verification runs in one Web Worker, off the page');
      assert.ok(workers[0]!.startsWith(`${new URL(server.url).origin}/assets/`), workers[0]);

      const entry = await server.api('GET', `/v1/ledgers/${LEDGER}/entries/3`);
      const checkpoint = String(await server.api('GET', `/v1/ledgers/${LEDGER}/checkpoint`));
      const fields = page.getByRole('table', { name: /Every field the leaf commits to/ });
      const row = (path: string) => fields.getByRole('row').filter({ has: page.getByRole('rowheader', { name: path, exact: true }) });
      assert.match(await row('actor.id').innerText(), /present: opened and checked\s+u-3/);
      assert.match(await row('targets.0').innerText(), /present: opened and checked/);
      assert.equal(await fields.getByRole('row').count(), Object.keys(entry.disclosures).length + 1, 'a row per committed field, and the header');
      await page.getByText(entry.leaf_hash, { exact: true }).waitFor();
      assert.equal((await page.getByLabel('Checkpoint note').innerText()).trim(), checkpoint.trim());
      assert.match(await page.getByRole('region', { name: 'Inclusion proof' }).innerText(), new RegExp(`tree of size ${EVENTS}`));
      assert.equal(await page.getByRole('link', { name: 'Incident view for u-3' }).getAttribute('href'), '#/incident?actor=u-3');
      assert.equal(await page.getByRole('link', { name: 'Back to search' }).getAttribute('href'), `#/search?ledger=${LEDGER}`);

      // The neighbours came without proofs: the hook fetched their evidence and verified each.
      const nearby = page.getByRole('region', { name: 'Nearby entries' });
      for (const index of [0, 1, 2, 4, 5, 6]) {
        await nearby.getByRole('row').filter({ hasText: `#${index}` }).getByText('verified', { exact: true }).waitFor();
      }

      // Search rows: one ledger (proofs in the answer) and all ledgers (no proofs: the hook fetches them).
      for (const scope of [`ledger=${LEDGER}&`, '']) {
        await page.evaluate(`location.hash = '#/search?${scope}q=index:0..${EVENTS - 1}'`);
        const rows = page.getByRole('region', { name: 'Search results' }).locator('tbody tr[data-key]');
        await rows.locator('.verify-cell .state-verified').nth(EVENTS - 1).waitFor();
        assert.equal(await rows.count(), EVENTS);
        assert.equal(await rows.locator('.verify-cell .state-verified').count(), EVENTS, `every row reads verified (${scope || 'all ledgers'})`);
      }

      // An erased entry: verified, its erased fields named as such, the rest present.
      await page.evaluate(`location.hash = '#/events/${LEDGER}/${ERASED_INDEX}'`);
      await verdict.getByText('verified', { exact: true }).waitFor();
      assert.match(await row('actor.email').innerText(), /erased: removed for a data subject/);
      assert.match(await row('action').innerText(), /present: opened and checked/);

      // A field the server withholds (its opening left out of the answer) is withheld, and the rest still verifies.
      await page.route(/\/v1\/ledgers\/web\/events\?q=index%3A8&proofs=1/, async (route) => {
        const response = await route.fetch();
        const body = await response.json();
        for (const result of body.events) {
          delete result.disclosures['origin.user_agent'];
          delete result.event.origin.user_agent;
        }
        await route.fulfill({ response, json: body });
      });
      await page.evaluate(`location.hash = '#/events/${LEDGER}/8'`);
      await verdict.getByText('verified', { exact: true }).waitFor();
      assert.match(await row('origin.user_agent').innerText(), /withheld: committed in the leaf, not disclosed to this key/);
      await page.unrouteAll({ behavior: 'wait' });

      // Readable on a phone: nothing wider than the screen.
      await page.setViewportSize({ width: 390, height: 844 });
      assert.equal(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'), true, 'no horizontal scrolling at 390 px');
      await context.close();
      assertNoOffHostRequests(browser);
    });

    it('shows a tampered entry as failed, naming the field, on its page and among its neighbours', { skip }, async () => {
      await tamperDisclosure(server, TAMPERED, 'actor.id', 'mallory');
      const { page, context } = await browser.open(server);
      await context.addInitScript(`localStorage.setItem(${JSON.stringify(pinName(server))}, ${JSON.stringify(serverKey)})`);
      await signIn(page, server, reader, `/#/events/${LEDGER}/${TAMPERED}`);
      const verdict = page.locator('.verdict-line');
      await verdict.getByText(/^failed: /).waitFor();
      const text = await verdict.innerText();
      assert.match(text, new RegExp(`failed: entry ${TAMPERED}, field actor\\.id: .*does not match its commitment`));
      assert.equal(await page.locator('.verdict-line .state-verified, .event-fields .state-verified').count(), 0, 'nothing of it reads verified');
      const fields = page.getByRole('table', { name: /Every field the leaf commits to/ });
      const tampered = fields.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'actor.id', exact: true }) });
      assert.match(await tampered.innerText(), /present: does NOT match its commitment\s+mallory/);

      // In search results, with proofs and without.
      for (const scope of [`ledger=${LEDGER}&`, '']) {
        await page.evaluate(`location.hash = '#/search?${scope}q=index:${TAMPERED - 2}..${TAMPERED + 2}'`);
        const results = page.getByRole('region', { name: 'Search results' });
        await results.locator(`tbody tr[data-key="${LEDGER}:${TAMPERED}"] .verify-cell`).getByText(/failed: entry 11, field actor\.id/).waitFor();
        await results.locator(`tbody tr[data-key="${LEDGER}:${TAMPERED + 1}"] .verify-cell`).getByText('verified', { exact: true }).waitFor();
      }

      // From a neighbour's page: the neighbour verifies, the tampered row in its list fails with the field.
      await page.evaluate(`location.hash = '#/events/${LEDGER}/${TAMPERED - 1}'`);
      await verdict.getByText('verified', { exact: true }).waitFor();
      const nearby = page.getByRole('region', { name: 'Nearby entries' });
      await nearby.getByRole('row').filter({ hasText: `#${TAMPERED}` }).getByText(/failed: entry 11, field actor\.id/).waitFor();
      await nearby.getByRole('row').filter({ hasText: `#${TAMPERED + 1}` }).getByText('verified', { exact: true }).waitFor();
      await context.close();
    });

    it("warns when the server's key is not the pinned one, verifies nothing until re-pinned, and never verifies with the server's key", { skip }, async () => {
      const other = otherDeploymentKey();
      const { page, context } = await browser.open(server);
      await context.addInitScript(`if (!sessionStorage.getItem('seeded')) { localStorage.setItem(${JSON.stringify(pinName(server))}, ${JSON.stringify(other)}); sessionStorage.setItem('seeded', '1'); }`);
      await signIn(page, server, reader, `/#/events/${LEDGER}/2`);
      const warning = page.getByRole('alert').filter({ hasText: "the server's verifier key differs from the pinned one" });
      await warning.waitFor();
      const shown = await warning.innerText();
      assert.ok(shown.includes(other) && shown.includes(serverKey), 'both keys are shown');
      const verdict = page.locator('.verdict-line');
      await verdict.getByText(/not verified: the server's verifier key differs/).waitFor();
      await page.getByRole('region', { name: 'Nearby entries' }).getByText(/not verified/).first().waitFor();
      assert.equal(await page.locator('.state-verified').count(), 0, 'nothing reads verified');

      // Re-pinning is deliberate: a second, explicit confirmation.
      await page.getByRole('button', { name: "Re-pin to the server's key…" }).click();
      assert.equal(await page.locator('.state-verified').count(), 0);
      await page.getByRole('button', { name: 'Yes, pin the new key' }).click();
      await verdict.getByText('verified', { exact: true }).waitFor();
      assert.equal(await warning.count(), 0);

      // A server that presents the pinned key but signs with its own: only the pinned key is used, so it fails.
      await page.evaluate(`localStorage.setItem(${JSON.stringify(pinName(server))}, ${JSON.stringify(other)})`);
      await page.route('**/v1/verifier-key', (route) => route.fulfill({ status: 200, contentType: 'text/plain', body: `${other}\n` }));
      await page.reload();
      await verdict.getByText(/^failed: checkpoint: /).waitFor();
      assert.equal(await page.getByRole('alert').filter({ hasText: 'differs from the pinned one' }).count(), 0);
      assert.equal(await page.locator('.state-verified').count(), 0);
      await context.close();
      assertNoOffHostRequests(browser);
    });
  });
}
