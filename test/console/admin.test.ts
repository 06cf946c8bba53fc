/**
 * Administration in a real browser, on both stores: ledger health (entries, checkpoint age, the running
 * server's verification), a key created with its scope and its token shown once (copied, then gone),
 * revoked after a confirmation; the retention policy refused under 12 months with the server's message
 * and saved when forced; a legal hold placed and released with a reason; an erasure dry run warning that
 * the subject has events under an open alert, and a confirmed erasure; sinks with their lag; and a reader
 * key that is not offered Administration and is told it needs an admin key.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { appendEvents, assertNoOffHostRequests, consoleUnavailable, launchConsoleBrowser, serveConsole, signIn, STORE_KINDS, type ConsoleBrowser, type ServedConsole } from '../helpers/console.js';
import { BRUTE_FORCE_TITLE, plantBruteForce, until, type PlantedAlert } from './alerts-fixture.js';

for (const kind of STORE_KINDS) {
  describe(`console administration (${kind})`, async () => {
    const skip = await consoleUnavailable(kind);
    let server: ServedConsole;
    let browser: ConsoleBrowser;
    let planted: PlantedAlert;
    let adminToken: string;
    before(async () => {
      if (skip) return;
      server = await serveConsole(kind);
      browser = await launchConsoleBrowser();
      adminToken = await server.createKey('admin', { description: 'admin console test' });
      planted = await plantBruteForce(server);
    });
    after(async () => {
      await browser?.close();
      await server?.stop();
    });

    it('shows ledger health and sinks with their lag', { skip }, async () => {
      await server.api('POST', '/v1/sinks', { name: 'archive', type: 'file', ledgers: ['web'], directory: join(server.dataDir, 'stream') });
      const { page, context } = await browser.open(server);
      await signIn(page, server, adminToken, '/#/admin');
      await page.getByRole('heading', { name: 'Administration', level: 1 }).waitFor();
      const web = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: /^web/ }) });
      const size = (await server.api('GET', '/v1/ledgers/web')).size as number;
      // The monitor verifies in the background: refresh until it has reached the head.
      await until(async () => {
        await page.getByRole('button', { name: 'Refresh' }).click();
        await page.getByRole('status').filter({ hasText: /ledgers;/ }).waitFor();
        return new RegExp(`verified: ${size} entries(?! of)`).test(await web.innerText());
      }, 'web verified');
      const text = await web.innerText();
      assert.match(text, new RegExp(`\\b${size}\\b`), 'its entries');
      assert.match(text, /\d+ (s|min) ago/, 'its checkpoint age');
      assert.match(text, new RegExp(`verified: ${size} entries`));
      assert.match(text, /judged up to|behind/, 'detection progress');
      await page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: /^sealtrail-system/ }) }).waitFor();

      await page.getByRole('navigation', { name: 'Administration sections' }).getByRole('link', { name: 'Sinks' }).click();
      assert.equal(await page.evaluate('document.activeElement?.textContent'), 'Sinks', 'the keyboard moves to the section');
      const sink = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: /^archive/ }) });
      await sink.waitFor();
      assert.match(await sink.innerText(), /delivering|lagging|failing/);
      assert.match(await sink.innerText(), /\d+ events/);
      await context.close();
      assertNoOffHostRequests(browser);
    });

    it('creates a key whose token is shown once, and revokes it after a confirmation', { skip }, async () => {
      const { page, context } = await browser.open(server);
      await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(server.url).origin });
      await signIn(page, server, adminToken, '/#/admin/keys');
      await page.getByLabel('Role').selectOption('auditor');
      await page.getByLabel('Ledgers').fill('web');
      await page.getByLabel('Tenants').fill('acme, globex');
      await page.getByLabel('Description').fill('quarterly audit');
      await page.getByLabel('Expires after').selectOption({ label: '30 days' });
      await page.getByRole('button', { name: 'Create key' }).click();
      await page.getByRole('alert').filter({ hasText: 'will not be shown again' }).waitFor();
      const token = await page.getByLabel('Token').inputValue();
      assert.match(token, /^st_[a-z0-9]+\./);
      await page.getByRole('button', { name: 'Copy token' }).click();
      await page.getByText('Copied to the clipboard.').waitFor();
      assert.equal(await page.evaluate('navigator.clipboard.readText()'), token);

      // The key has the scope asked for, and works.
      const keys = (await server.api('GET', '/v1/keys')).keys as Array<{ id: string; role: string; ledgers: string[]; tenants: string[]; description: string; expires_at: string | null }>;
      const created = keys.find((k) => k.description === 'quarterly audit')!;
      assert.equal(created.role, 'auditor');
      assert.deepEqual(created.ledgers, ['web']);
      assert.deepEqual(created.tenants, ['acme', 'globex']);
      const days = (new Date(created.expires_at!).getTime() - Date.now()) / 86_400_000;
      assert.ok(days > 29.9 && days <= 30, `expires in 30 days (${days})`);
      assert.deepEqual((await server.api('GET', '/v1/ledgers', undefined, token)).ledgers.map((l: { name: string }) => l.name), ['web']);

      // Shown once: gone when dismissed, and not in the page after a reload.
      await page.getByRole('button', { name: 'I have stored it' }).click();
      assert.equal((await page.content()).includes(token), false);
      await page.reload();
      const row = page.getByRole('row').filter({ hasText: created.id });
      await row.waitFor();
      assert.equal((await page.content()).includes(token.split('.')[1]!), false, 'the secret is never listed');

      // Revoke: nothing happens before the confirmation; a cancel keeps it.
      await row.getByRole('button', { name: `Revoke ${created.id}` }).click();
      await row.getByRole('button', { name: 'Cancel' }).click();
      assert.equal((await server.api('GET', '/v1/ledgers', undefined, token)).ledgers.length, 1, 'still valid');
      await row.getByRole('button', { name: `Revoke ${created.id}` }).click();
      // Focus moves once the confirmation has rendered, which a loaded machine may take a moment to do.
      await until(async () => (await page.evaluate('document.activeElement?.textContent')) === 'Confirm revoke', 'the keyboard is at the confirmation');
      await row.getByRole('button', { name: 'Confirm revoke' }).click();
      await until(async () => (await page.getByRole('row').filter({ hasText: created.id }).count()) === 0, 'the revoked key leaves the active list');
      await page.getByLabel(/Show revoked keys/).check();
      await page.getByRole('row').filter({ hasText: created.id }).filter({ hasText: 'revoked' }).waitFor();
      await assert.rejects(server.api('GET', '/v1/ledgers', undefined, token), /401/);
      await context.close();
    });

    it("refuses a retention rule under 12 months with the server's message, and saves it when forced", { skip }, async () => {
      const { page, context } = await browser.open(server);
      await signIn(page, server, adminToken, '/#/admin/retention');
      await page.getByText('No policy is set: nothing ever expires.').waitFor();
      const policy = { rules: [{ id: 'default', retain: '400d' }, { id: 'debug', ledger: 'web', action: 'debug.*', retain: '30d' }] };
      await page.getByLabel('Policy (JSON)').fill(JSON.stringify(policy));
      await page.getByRole('button', { name: 'Save policy' }).click();
      await page.getByRole('alert').filter({ hasText: /12 months/ }).filter({ hasText: 'RETENTION_TOO_SHORT' }).waitFor();
      assert.equal((await server.api('GET', '/v1/retention/policy')).version, null, 'nothing stored');

      await page.getByLabel('Policy (JSON)').fill('{"rules": [');
      await page.getByRole('button', { name: 'Save policy' }).click();
      await page.getByRole('alert').filter({ hasText: 'not valid JSON' }).waitFor();

      await page.getByLabel('Policy (JSON)').fill(JSON.stringify(policy));
      await page.getByLabel(/Allow rules under 12 months/).check();
      await page.getByRole('button', { name: 'Save policy' }).click();
      await page.getByText(/Saved as version 1\. Warnings: rule debug keeps events for less than 12 months/).waitFor();
      await page.getByRole('rowheader', { name: 'debug' }).waitFor();
      assert.equal((await server.api('GET', '/v1/retention/policy')).rules[1].retain, '30d');

      await page.getByRole('button', { name: 'Dry-run a purge' }).click();
      await page.getByText(/Would purge 0 events/).waitFor();
      await context.close();
    });

    it('places and releases a legal hold with a reason', { skip }, async () => {
      const { page, context } = await browser.open(server);
      await signIn(page, server, adminToken, '/#/admin/holds');
      await page.getByText('No legal holds.').waitFor();
      await page.getByLabel('Hold ledgers').fill('web');
      await page.getByLabel('Hold query').fill(`actor:${planted.actor}`);
      await page.getByLabel('Hold reason').fill('Incident 26-0042: brute force on mallory');
      await page.getByLabel('Owner').fill('security-lead@example.com');
      await page.getByRole('button', { name: 'Place hold' }).click();
      const hold = page.getByRole('listitem').filter({ hasText: 'Incident 26-0042' });
      await hold.getByText('13 in web').waitFor();
      const [stored] = (await server.api('GET', '/v1/holds')).holds;
      assert.equal(stored.query, `actor:${planted.actor}`);
      assert.deepEqual(stored.ledgers, ['web']);
      assert.equal(stored.owner, 'security-lead@example.com');

      await hold.getByRole('button', { name: `Release hold ${stored.id}` }).click();
      const confirm = hold.getByRole('button', { name: 'Confirm release' });
      assert.equal(await confirm.isDisabled(), true, 'a release needs a reason');
      await hold.getByLabel('Reason for release').fill('Investigation closed');
      await confirm.click();
      await hold.getByRole('heading', { name: /released/ }).waitFor();
      await hold.getByText(/Investigation closed/).waitFor();
      const [released] = (await server.api('GET', '/v1/holds')).holds;
      assert.equal(released.release_reason, 'Investigation closed');
      assert.ok(released.released_at);
      await context.close();
    });

    it('warns in the erasure dry run that the subject has events under an open alert, then erases once confirmed', { skip }, async () => {
      await appendEvents(server, 'web', [{ actor: { type: 'user', id: 'walter', email: 'walter@example.com' }, action: 'file.read', category: 'read', outcome: 'success', origin: { ip: '192.0.2.9' } }]);
      const { page, context } = await browser.open(server);
      await signIn(page, server, adminToken, '/#/admin/erasure');
      await page.getByLabel('Subject').fill(planted.actor);
      await page.getByRole('button', { name: 'Dry run' }).click();
      const warning = page.getByRole('alert').filter({ hasText: `${planted.actor} has events under 1 open alert` });
      await warning.waitFor();
      assert.equal(await warning.getByRole('link', { name: BRUTE_FORCE_TITLE }).getAttribute('href'), `#/alerts/${planted.id}`);
      await page.getByText(/Would erase \d+ values in \d+ events/).waitFor();
      const webRow = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'web', exact: true }) });
      assert.match(await webRow.innerText(), /^web\s+13\s+0\s+13\b/, 'its 13 events in web, none held, all recent');
      const unchanged = await server.api('GET', `/v1/ledgers/web/events?q=${encodeURIComponent(`actor:${planted.actor}`)}&limit=1`);
      assert.equal(unchanged.events[0].event.origin.ip, '198.51.100.23', 'a dry run erases nothing');

      // Another subject, with no alert: no warning; erased only after the confirmation.
      await page.getByLabel('Subject').fill('walter@example.com');
      await page.getByText(/subject or reference changed since this dry run/).waitFor();
      await page.getByLabel('Request reference').fill('DSR-2026-0042');
      await page.getByRole('button', { name: 'Dry run' }).click();
      await page.getByText('No open or acknowledged alert has walter@example.com as its actor.').waitFor();
      assert.equal(await page.getByRole('alert').count(), 0);
      const erase = page.getByRole('button', { name: 'Erase now' });
      assert.equal(await erase.isDisabled(), true, 'not before the confirmation');
      await page.getByLabel(/I have read the dry run/).check();
      await erase.click();
      await page.getByRole('heading', { name: 'Erased' }).waitFor();
      const erased = await server.api('GET', `/v1/ledgers/web/events?q=${encodeURIComponent('action:file.read')}`);
      assert.equal(erased.events[0].event.actor.email, undefined);
      assert.equal(erased.events[0].redacted['actor.email'], 'erased');
      await context.close();
    });

    it('is not offered to a reader key, and says it needs an admin key when reached', { skip }, async () => {
      const reader = await server.createKey('reader');
      const { page, context } = await browser.open(server);
      await signIn(page, server, reader, '/#/search');
      const nav = page.getByRole('navigation', { name: 'Main' });
      await nav.getByRole('link', { name: 'Alerts' }).waitFor();
      assert.equal(await nav.getByRole('link', { name: 'Administration' }).count(), 0);
      await page.evaluate("location.hash = '#/admin/keys'");
      await page.getByRole('alert').filter({ hasText: 'needs an admin key' }).waitFor();
      assert.equal(await page.getByLabel('Role').count(), 0, 'no key form');
      // A scoped admin is not a deployment administrator either.
      const scoped = await server.createKey('admin', { ledgers: ['web'] });
      const second = await browser.open(server);
      await signIn(second.page, server, scoped, '/#/admin');
      await second.page.getByRole('alert').filter({ hasText: 'needs an admin key for every ledger and tenant' }).waitFor();
      await second.context.close();
      await context.close();
      assertNoOffHostRequests(browser);
    });
  });
}
