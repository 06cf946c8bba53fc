/**
 * The tenant "Data access" page in a real browser, on both stores: accesses to two tenants are seeded;
 * a key scoped to one of them lands on the page and sees every access to its tenant (paged) and none of
 * the other's, cannot ask for the other's (the server's refusal shown), downloads the certificate's
 * JSON byte for byte, its HTML, and an evidence bundle that the browser verified and that verifies again
 * here against the deployment's key with exactly the counted events. An admin chooses the tenant (on a
 * phone's width) and gets the PDF; a reader is told why it cannot have a certificate.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Download, Page } from 'playwright-core';
import { verifyBundle } from '../../src/core/bundle/verify.js';
import { appendEvents, assertNoOffHostRequests, consoleUnavailable, launchConsoleBrowser, serveConsole, signIn, STORE_KINDS, type ConsoleBrowser, type ServedConsole } from '../helpers/console.js';

const ACME_ACCESSES = 130;
const GLOBEX_ACCESSES = 7;

function seed(now: number): unknown[] {
  const events: unknown[] = [];
  for (let i = 0; i < ACME_ACCESSES; i++) {
    events.push({
      actor: { type: 'user', id: i % 3 === 0 ? 'usr-bob' : 'usr-alice' },
      action: i % 10 === 0 ? 'file.update' : 'file.read',
      category: i % 10 === 0 ? 'update' : 'read',
      outcome: 'success',
      tenant: 'acme',
      origin: { ip: '81.2.69.142' },
      targets: [{ type: 'file', id: `acme-doc-${String(i).padStart(3, '0')}` }],
      occurred_at: new Date(now - (ACME_ACCESSES - i) * 60_000).toISOString(),
    });
  }
  for (let i = 0; i < GLOBEX_ACCESSES; i++) {
    events.push({ actor: { type: 'user', id: 'usr-carol' }, action: 'file.download', category: 'read', outcome: 'success', tenant: 'globex', origin: { ip: '8.8.8.8' }, targets: [{ type: 'file', id: `globex-secret-${i}` }] });
  }
  // Not accesses: a login of acme's, and a read without a tenant.
  events.push({ actor: { type: 'user', id: 'usr-alice' }, action: 'auth.login', category: 'auth', outcome: 'success', tenant: 'acme' });
  events.push({ actor: { type: 'service', id: 'svc-index' }, action: 'file.read', category: 'read', outcome: 'success', targets: [{ type: 'file', id: 'shared-readme' }] });
  return events;
}

async function downloaded(page: Page, click: () => Promise<void>): Promise<{ download: Download; bytes: Buffer }> {
  const [download] = await Promise.all([page.waitForEvent('download'), click()]);
  const path = await download.path();
  return { download, bytes: readFileSync(path) };
}

/** Uncaught errors and console errors other than the browser's note of a refused request. */
const scriptErrors = (browser: ConsoleBrowser) => browser.pageErrors.filter((line) => !line.startsWith('console: Failed to load resource'));

for (const kind of STORE_KINDS) {
  describe(`console tenant data access (${kind})`, async () => {
    const skip = await consoleUnavailable(kind);
    let server: ServedConsole;
    let browser: ConsoleBrowser;
    let verifierKey: string;
    before(async () => {
      if (skip) return;
      server = await serveConsole(kind);
      browser = await launchConsoleBrowser();
      await appendEvents(server, 'app', seed(Date.now()));
      verifierKey = (await server.api('GET', '/v1/verifier-key')).trim();
    });
    after(async () => {
      await browser?.close();
      await server?.stop();
    });

    it("a tenant's key sees every access to its tenant and none of another's, exports them and a verified bundle", { skip }, async () => {
      const token = await server.createKey('auditor', { tenants: ['acme'], description: 'acme auditor' });
      const { page, context } = await browser.open(server);
      await signIn(page, server, token);
      // A tenant-scoped key's home is this page, showing the last 30 days at once.
      await page.getByRole('heading', { level: 1, name: 'Data access' }).waitFor();
      await page.getByRole('heading', { level: 2, name: `${ACME_ACCESSES} accesses to acme` }).waitFor();
      assert.equal(await page.getByLabel('Tenant').inputValue(), 'acme');
      assert.deepEqual(await page.getByLabel('Tenant').locator('option').allInnerTexts(), ['acme'], 'only its own tenant to choose');

      const table = page.getByRole('table', { name: 'Accesses to acme, in index order per ledger' });
      assert.equal(await table.locator('tbody tr').count(), 100, 'the first page');
      await page.getByText(`Accesses 1–100 of ${ACME_ACCESSES}`).first().waitFor();
      const firstPage = await table.locator('tbody').innerText();
      await page.getByRole('button', { name: 'Next page' }).first().click();
      await page.getByText(`Accesses 101–${ACME_ACCESSES} of ${ACME_ACCESSES}`).first().waitFor();
      assert.equal(await table.locator('tbody tr').count(), ACME_ACCESSES - 100);
      const secondPage = await table.locator('tbody').innerText();
      const shown = firstPage + secondPage;
      for (let i = 0; i < ACME_ACCESSES; i++) assert.ok(shown.includes(`file:acme-doc-${String(i).padStart(3, '0')}`), `access ${i} listed`);
      assert.doesNotMatch(shown, /globex|usr-carol|shared-readme|auth\.login/, 'nothing of another tenant, nothing that is not an access');
      assert.match(shown, /user:usr-bob/);
      assert.match(shown, /81\.2\.69\.142 \(GB\)/);
      const entry = table.getByRole('link', { name: /^app#\d+$/ }).first();
      assert.match((await entry.getAttribute('href'))!, /^#\/events\/app\/\d+$/);
      await page.getByRole('link', { name: 'IP Geolocation by DB-IP' }).waitFor();

      // The JSON is the document shown, byte for byte.
      const json = await downloaded(page, () => page.getByRole('button', { name: 'Download JSON' }).click());
      const certificate = JSON.parse(json.bytes.toString('utf8'));
      assert.equal(certificate.schema, 'sealtrail.certificate/1');
      assert.equal(certificate.tenant, 'acme');
      assert.equal(certificate.accesses_total, ACME_ACCESSES);
      assert.ok(certificate.accesses.every((row: { resource: string }) => row.resource.startsWith('file:acme-doc-')));
      assert.ok((await page.getByText(certificate.sha256).count()) === 1, 'the page shows the sealed hash of what it downloads');

      const html = await downloaded(page, () => page.getByRole('button', { name: 'Download HTML' }).click());
      assert.match(html.download.suggestedFilename(), /\.html$/);
      const htmlText = html.bytes.toString('utf8');
      assert.match(htmlText, /acme/);
      assert.doesNotMatch(htmlText, /globex/);

      // The evidence bundle: verified in the browser before it is saved, and again here.
      const ledgerRow = page.getByRole('table', { name: /^Per ledger/ }).getByRole('row').filter({ hasText: 'app' });
      const bundle = await downloaded(page, () => ledgerRow.getByRole('button', { name: 'Download evidence bundle of app' }).click());
      assert.match(bundle.download.suggestedFilename(), /\.zip$/);
      await ledgerRow.getByText(new RegExp(`^verified: ${ACME_ACCESSES} events against checkpoint \\d+`)).waitFor();
      const report = verifyBundle({ files: new Uint8Array(bundle.bytes), verifierKey, expect: { count: ACME_ACCESSES } });
      assert.equal(report.ok, true, JSON.stringify(report.problems));
      assert.equal(report.verifiedEvents, ACME_ACCESSES);
      assert.equal(report.checkpoint?.size, certificate.ledgers[0].checkpoint.size, "proven against the certificate's checkpoint");

      // Another tenant by name: the server refuses, and the page says so.
      await page.evaluate("location.hash = '#/tenant?tenant=globex'");
      await page.getByRole('alert').filter({ hasText: 'this key may not read that tenant' }).waitFor();
      assert.equal(await page.getByText('globex-secret').count(), 0);

      assert.deepEqual(scriptErrors(browser), []);
      await context.close();
      assertNoOffHostRequests(browser);
    });

    it('an admin chooses the tenant; a reader is told it cannot have a certificate', { skip }, async () => {
      const admin = await browser.open(server, { viewport: { width: 390, height: 844 } });
      await signIn(admin.page, server, server.adminToken, '/#/tenant');
      await admin.page.getByText('Choose a tenant.').waitFor();
      await admin.page.getByLabel('Tenant').fill('globex');
      await admin.page.getByRole('button', { name: 'Show accesses' }).click();
      await admin.page.getByRole('heading', { level: 2, name: `${GLOBEX_ACCESSES} accesses to globex` }).waitFor();
      const rows = await admin.page.getByRole('table', { name: /^Accesses to globex/ }).locator('tbody').innerText();
      assert.match(rows, /globex-secret-0/);
      assert.doesNotMatch(rows, /acme-doc/);
      const pdf = await downloaded(admin.page, () => admin.page.getByRole('button', { name: 'Download PDF' }).click());
      assert.equal(pdf.bytes.subarray(0, 5).toString('latin1'), '%PDF-', 'a PDF printed by the server');
      const overflow = await admin.page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
      assert.ok((overflow as number) <= 1, `the page scrolls sideways by ${overflow}px at 390px`);
      await admin.context.close();

      const readerToken = await server.createKey('reader', { tenants: ['acme'], description: 'acme reader' });
      const reader = await browser.open(server);
      await signIn(reader.page, server, readerToken);
      await reader.page.getByRole('alert').filter({ hasText: 'the reader role cannot make reports' }).waitFor();
      await reader.page.getByText('Access certificates are made for auditor and admin keys').waitFor();
      await reader.context.close();
      assert.deepEqual(scriptErrors(browser), []);
    });
  });
}
