/**
 * The console in a real browser: served by `sealtrail serve` at `/`, sign-in through the form with an
 * API key, the httpOnly session cookie (script cannot read it), a wrong key's message, sign-out, and a
 * session that ends server-side (the key revoked) bringing the sign-in form back with a message. Nothing
 * is loaded from another host. On both stores.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertNoOffHostRequests, consoleUnavailable, launchConsoleBrowser, serveConsole, signIn, STORE_KINDS, type ConsoleBrowser, type ServedConsole } from '../helpers/console.js';

for (const kind of STORE_KINDS) {
  describe(`console sign-in (${kind})`, async () => {
    const skip = await consoleUnavailable(kind);
    let server: ServedConsole;
    let browser: ConsoleBrowser;
    before(async () => {
      if (skip) return;
      server = await serveConsole(kind);
      browser = await launchConsoleBrowser();
    });
    after(async () => {
      await browser?.close();
      await server?.stop();
    });

    it('signs in with a key, keeps the session out of reach of scripts, and signs out', { skip }, async () => {
      const token = await server.createKey('reader', { description: 'console sign-in test' });
      const { page, context } = await browser.open(server);
      await page.goto(server.url);
      await page.getByLabel('API key').fill('st_abcd1234.' + 'x'.repeat(43));
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('alert').filter({ hasText: 'Sign-in failed' }).waitFor();

      await page.getByLabel('API key').fill(token);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('button', { name: 'Sign out' }).waitFor();
      assert.match(await page.locator('.who').innerText(), /reader/);
      const cookies = await context.cookies();
      const session = cookies.find((c) => c.name === 'sealtrail_session');
      assert.ok(session, 'a session cookie');
      assert.equal(session.httpOnly, true);
      assert.equal(session.sameSite, 'Strict');
      assert.equal(await page.evaluate("document.cookie.includes('sealtrail_session')"), false, 'scripts cannot read it');
      assert.equal(await page.evaluate("JSON.stringify(localStorage).includes('st_')"), false, 'the key is not kept in storage');

      // A reload keeps the session.
      await page.reload();
      await page.getByRole('button', { name: 'Sign out' }).waitFor();

      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByText('You are signed out.').waitFor();
      await page.reload();
      await page.getByLabel('API key').waitFor();
      await context.close();
      assertNoOffHostRequests(browser);
    });

    it('says "signed out" after signing out, even when a request still in flight answers 401 afterwards', { skip }, async () => {
      const token = await server.createKey('reader', { description: 'console sign-out race test' });
      const { page, context } = await browser.open(server);
      await signIn(page, server, token, '/#/search');
      await page.getByRole('button', { name: 'Sign out' }).waitFor();
      // Hold the next session look until after the sign-out: it then answers 401, the session being gone.
      let release: () => void = () => {};
      const held = new Promise<void>((resolve) => (release = resolve));
      let holding = true;
      await page.route('**/v1/session', async (route) => {
        if (holding && route.request().method() === 'GET') {
          holding = false;
          await held;
        }
        await route.continue();
      });
      await page.evaluate("location.hash = '#/alerts'");
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByText('You are signed out.').waitFor();
      const answered = page.waitForResponse((response) => response.url().endsWith('/v1/session') && response.request().method() === 'GET');
      release();
      assert.equal((await answered).status(), 401);
      await page.waitForTimeout(300);
      assert.equal(await page.getByText('You are signed out.').count(), 1);
      assert.equal(await page.getByText(/Your session has ended/).count(), 0);
      await context.close();
    });

    it('shows the sign-in form with a message when the session ends on the server', { skip }, async () => {
      const created = await server.api('POST', '/v1/keys', { role: 'reader', ledgers: ['*'] });
      const { page, context } = await browser.open(server);
      await signIn(page, server, created.token, '/#/search');
      await page.getByRole('heading', { level: 1 }).waitFor();
      await server.api('DELETE', `/v1/keys/${created.id}`);
      // Any request now answers 401; the shell also looks on every move, so moving shows the form again.
      // Browser code as text: the tests are typed for Node, without the DOM's globals.
      await page.evaluate("location.hash = '#/alerts'");
      await page.getByText(/Your session has ended/).waitFor();
      await page.getByLabel('API key').waitFor();
      await context.close();
    });
  });
}
