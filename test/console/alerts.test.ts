/**
 * The alerts inbox in a real browser, on both stores: a planted brute force then success becomes an
 * alert; the inbox filters by severity, rule and status and pages by cursor; the alert page lists its
 * events (linked to their event pages, each with a verification state), is acknowledged and closed with
 * a required reason (both shown and sealed), a closed alert cannot be acknowledged, and one click
 * downloads an evidence bundle holding exactly the alert's events, which verifies offline.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { verifyBundle } from '../../src/core/bundle/index.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { assertNoOffHostRequests, consoleUnavailable, launchConsoleBrowser, serveConsole, signIn, STORE_KINDS, type ConsoleBrowser, type ServedConsole } from '../helpers/console.js';
import { BRUTE_FORCE_RULE, BRUTE_FORCE_TITLE, detectionCaughtUp, plantBruteForce, until, type PlantedAlert } from './alerts-fixture.js';

for (const kind of STORE_KINDS) {
  describe(`console alerts (${kind})`, async () => {
    const skip = await consoleUnavailable(kind);
    let server: ServedConsole;
    let browser: ConsoleBrowser;
    let planted: PlantedAlert;
    let readerToken: string;
    let readerId: string;
    before(async () => {
      if (skip) return;
      server = await serveConsole(kind);
      browser = await launchConsoleBrowser();
      const reader = await server.api('POST', '/v1/keys', { role: 'reader', ledgers: ['*'], description: 'alerts console test' });
      readerToken = reader.token;
      readerId = reader.id;
      planted = await plantBruteForce(server);
      // The key creation above is itself an alert on the system ledger (low): something for the filters to leave out.
      await until(async () => (await server.api('GET', '/v1/alerts?rule=sealtrail-api-key-created')).alerts.length > 0, 'the key-created alert');
      await detectionCaughtUp(server);
    });
    after(async () => {
      await browser?.close();
      await server?.stop();
    });

    it('filters the inbox and pages through it by cursor', { skip }, async () => {
      const { page, context } = await browser.open(server);
      await signIn(page, server, readerToken, '/#/alerts');
      await page.getByRole('heading', { name: 'Alerts', level: 1 }).waitFor();
      const results = page.getByRole('table');
      await results.getByRole('link', { name: BRUTE_FORCE_TITLE }).waitFor();

      await page.getByLabel('Severity').selectOption('low');
      await until(async () => (await results.getByRole('link', { name: BRUTE_FORCE_TITLE }).count()) === 0, 'a high alert is not among the low ones');
      await results.getByRole('link', { name: /API key created/i }).first().waitFor();
      await page.locator('.alerts-results[aria-busy="false"]').waitFor();
      assert.equal(await results.getByRole('link', { name: BRUTE_FORCE_TITLE }).count(), 0);
      assert.match(await page.evaluate('location.hash'), /severity=low/, 'filters live in the route');

      await page.getByLabel('Severity').selectOption('high');
      await results.getByRole('link', { name: BRUTE_FORCE_TITLE }).waitFor();
      assert.equal(await results.getByRole('row').count(), 2, 'a header row and the one high alert');

      await page.getByLabel('Severity').selectOption('');
      await page.getByLabel('Rule').fill('sealtrail-api-key-created');
      await page.getByLabel('Rule').press('Enter');
      await until(async () => (await results.getByRole('link', { name: BRUTE_FORCE_TITLE }).count()) === 0, 'the rule filter');
      await page.getByRole('button', { name: 'Clear filters' }).click();
      await results.getByRole('link', { name: BRUTE_FORCE_TITLE }).waitFor();

      // Cursor paging, one alert a page: every alert once, newest first, and back again.
      const all = (await server.api('GET', '/v1/alerts?limit=1000', undefined, readerToken)).alerts as Array<{ id: string; title: string }>;
      assert.ok(all.length >= 2, `at least two alerts to page through (${all.length})`);
      await page.goto(`${server.url}/#/alerts?limit=1`);
      const firstLink = results.getByRole('link').first();
      const seen: string[] = [];
      for (let n = 0; n < all.length; n++) {
        await until(async () => (await results.getByRole('row').count()) === 2 && (await firstLink.getAttribute('href')) === `#/alerts/${all[n]!.id}`, `page ${n + 1}`);
        seen.push((await firstLink.getAttribute('href'))!);
        if (n < all.length - 1) await page.getByRole('button', { name: 'Older' }).click();
      }
      assert.deepEqual(seen, all.map((a) => `#/alerts/${a.id}`));
      // A full last page still carries a cursor (the server cannot know there is nothing older): the
      // page after it says so and offers nothing further.
      if (!(await page.getByRole('button', { name: 'Older' }).isDisabled())) {
        await page.getByRole('button', { name: 'Older' }).click();
        await page.getByText('No more alerts: this was the last page.').waitFor();
        assert.equal(await page.getByRole('button', { name: 'Older' }).isDisabled(), true, 'no page after the last');
        await page.getByRole('button', { name: 'Newer' }).click();
      }
      await until(async () => (await firstLink.getAttribute('href')) === `#/alerts/${all[all.length - 1]!.id}`, 'the last page again');
      await page.getByRole('button', { name: 'Newer' }).click();
      await until(async () => (await firstLink.getAttribute('href')) === `#/alerts/${all[all.length - 2]!.id}`, 'the page before');
      await context.close();
      assertNoOffHostRequests(browser);
    });

    it('opens the alert, shows its events, acknowledges and closes it with a reason, and downloads its bundle', { skip }, async () => {
      const { page, context } = await browser.open(server);
      await signIn(page, server, readerToken, '/#/alerts?severity=high');
      await page.getByRole('link', { name: BRUTE_FORCE_TITLE }).click();
      await page.getByRole('heading', { name: BRUTE_FORCE_TITLE, level: 1 }).waitFor();
      assert.equal(await page.evaluate('location.hash'), `#/alerts/${planted.id}`);

      // Its events, each linked to its event page, each with a verification state.
      const events = page.getByRole('table');
      // The burst that met the threshold (ten failures or more) and the success after it.
      const count = planted.events.length;
      assert.ok(count >= 11 && count <= 13, `the failures and the success (${count})`);
      for (const { ledger, index } of planted.events) {
        const link = events.getByRole('link', { name: `${ledger} #${index}`, exact: true });
        assert.equal(await link.getAttribute('href'), `#/events/${ledger}/${index}`);
      }
      await until(async () => (await events.getByRole('row').filter({ hasText: 'auth.login' }).count()) === count, 'the events read');
      assert.equal(await events.getByRole('row').filter({ hasText: 'failure' }).count(), count - 1);
      assert.equal(await events.getByRole('row').filter({ hasText: 'success' }).count(), 1);
      assert.equal(await events.getByRole('row').filter({ hasText: 'mallory' }).count(), count);
      const states = await events.locator('tbody tr td:last-child').allInnerTexts();
      assert.equal(states.length, count);
      for (const state of states) assert.match(state, /^(verified|not verified: |failed: |checking)/, `a verification state: ${state}`);

      // Acknowledge: the status changes on the page and in the server, by this key.
      const facts = page.getByRole('region', { name: 'What was found' });
      await facts.getByText('open', { exact: true }).waitFor();
      await page.getByRole('button', { name: 'Acknowledge' }).click();
      await page.getByRole('status').filter({ hasText: 'acknowledged' }).waitFor();
      await facts.getByText('acknowledged', { exact: true }).waitFor();
      assert.equal(await page.getByRole('button', { name: 'Acknowledge' }).isDisabled(), true);
      let stored = await server.api('GET', `/v1/alerts/${planted.id}`);
      assert.equal(stored.status, 'acknowledged');
      assert.equal(stored.changed_by, readerId);

      // Close: the reason is required.
      const close = page.getByRole('button', { name: 'Close alert' });
      assert.equal(await close.isDisabled(), true, 'no closing without a reason');
      await page.getByLabel('Reason for closing (required)').fill('   ');
      assert.equal(await close.isDisabled(), true, 'blank is no reason');
      await page.getByLabel('Reason for closing (required)').fill('Confirmed with mallory: password reset, MFA enrolled');
      await close.click();
      await facts.getByText('closed', { exact: true }).waitFor();
      await facts.getByText('Confirmed with mallory: password reset, MFA enrolled').waitFor();
      stored = await server.api('GET', `/v1/alerts/${planted.id}`);
      assert.equal(stored.status, 'closed');
      assert.equal(stored.close_reason, 'Confirmed with mallory: password reset, MFA enrolled');
      // Sealed in the system ledger, by this key.
      const sealed = await server.api('GET', `/v1/ledgers/sealtrail-system/events?q=${encodeURIComponent(`action:alert.close target.id:${planted.id}`)}`);
      assert.equal(sealed.events.length, 1);
      assert.equal(sealed.events[0].event.actor.id, readerId);

      // The bundle: one click, exactly the alert's events, verifying against the deployment's key.
      const downloaded = page.waitForEvent('download');
      await page.getByRole('button', { name: 'Download evidence bundle' }).click();
      const download = await downloaded;
      assert.match(download.suggestedFilename(), /^web-\d+-\d{4}-\d{2}-\d{2}\.zip$/);
      const archive = readFileSync((await download.path())!);
      const verifierKey = (await server.api('GET', '/v1/verifier-key')).trim();
      const indexes: number[] = [];
      const report = verifyBundle({ files: new Uint8Array(archive), verifierKey, suite: nodeSuite, onEvent: (e) => indexes.push(e.index) });
      assert.deepEqual(report.problems, []);
      assert.equal(report.ok, true);
      assert.deepEqual(indexes, planted.events.map((e) => e.index));
      await page.getByRole('status').filter({ hasText: 'verify-bundle' }).waitFor();

      // The inbox shows the new status under its filter.
      await page.getByRole('link', { name: '← All alerts' }).click();
      await page.getByLabel('Status').selectOption('closed');
      await page.getByRole('table').getByRole('link', { name: BRUTE_FORCE_TITLE }).waitFor();
      await page.getByLabel('Status').selectOption('open');
      await until(async () => (await page.getByRole('table').getByRole('link', { name: BRUTE_FORCE_TITLE }).count()) === 0, 'not among the open ones');
      await context.close();
      assert.deepEqual(browser.pageErrors.filter((e) => !/401|404/.test(e)), []);
      assertNoOffHostRequests(browser);
    });

    it("shows the server's message when a step is refused and for an alert it may not read", { skip }, async () => {
      const { page, context } = await browser.open(server);
      const other = await server.createKey('reader', { ledgers: ['other'] });
      await signIn(page, server, other, `/#/alerts/${planted.id}`);
      await page.getByRole('alert').filter({ hasText: `no alert "${planted.id}"` }).waitFor();
      await context.close();

      // A closed alert cannot be acknowledged: the server's 409 reaches the page (the button is enabled
      // for a page loaded while the alert was open; another user closed it meanwhile).
      const again = await plantBruteForce(server, { actor: 'trudy' });
      const second = await browser.open(server);
      await signIn(second.page, server, readerToken, `/#/alerts/${again.id}`);
      await second.page.getByRole('button', { name: 'Acknowledge' }).waitFor();
      await server.api('POST', `/v1/alerts/${again.id}/close`, { reason: 'closed elsewhere' });
      await second.page.getByRole('button', { name: 'Acknowledge' }).click();
      await second.page.getByRole('alert').filter({ hasText: /is closed; only an open alert can be acknowledged/ }).waitFor();
      await second.context.close();
      assert.equal((await server.api('GET', `/v1/alerts/${again.id}`)).status, 'closed');
      assert.equal(BRUTE_FORCE_RULE, (await server.api('GET', `/v1/alerts/${again.id}`)).rule);
    });
  });
}
