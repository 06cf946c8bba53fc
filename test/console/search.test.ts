/**
 * The search page in a real browser, on both stores: results and counts that match what was seeded,
 * key completion, the parser's error at its position, a facet that refines the query and the rows,
 * paging past the first page, live tail of a newly appended event, a saved search round trip, exports
 * whose files have the expected number of lines, an evidence bundle, and a tenant-scoped key that never
 * sees another tenant's events.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { appendEvents, assertNoOffHostRequests, consoleUnavailable, launchConsoleBrowser, serveConsole, signIn, STORE_KINDS, type ConsoleBrowser, type ServedConsole } from '../helpers/console.js';

const IPS = ['8.8.8.8', '1.1.1.1', '81.2.69.142', '8.8.8.8'];

/** 300 acme events in `web`: alice 150, bob 100, carol 50; 60 logins; 30 failures; 8.8.8.8 150 times. */
function acmeEvents() {
  return Array.from({ length: 300 }, (_, i) => ({
    actor: { type: 'user', id: ['alice', 'alice', 'alice', 'bob', 'bob', 'carol'][i % 6], name: `User ${i % 6}` },
    action: i % 5 === 0 ? 'auth.login' : 'file.download',
    category: i % 5 === 0 ? 'auth' : 'read',
    targets: [{ type: 'file', id: `f-${String(i).padStart(4, '0')}` }],
    outcome: i % 10 === 0 ? 'failure' : 'success',
    tenant: 'acme',
    occurred_at: new Date(Date.UTC(2026, 10, 26, 8, 0, 0) + i * 1000).toISOString(),
    origin: { ip: IPS[i % 4] },
  }));
}

/** 40 globex events in the same ledger, by an actor no acme key may see. */
function globexEvents() {
  return Array.from({ length: 40 }, (_, i) => ({
    actor: { type: 'user', id: 'mallory' },
    action: 'secret.read',
    category: 'read',
    targets: [{ type: 'secret', id: `s-${i}` }],
    outcome: 'success',
    tenant: 'globex',
    origin: { ip: '81.2.69.142' },
  }));
}

const searchBox = (page: Page) => page.getByRole('combobox', { name: 'Search' });
const table = (page: Page) => page.getByRole('region', { name: 'Search results' });
const bodyRows = (page: Page) => table(page).locator('tbody tr[data-key]');
const matchCount = (page: Page) => page.locator('.match-count');

async function rowTexts(page: Page): Promise<string[]> {
  return bodyRows(page).allInnerTexts();
}

/**
 * Waits until a browser expression is true. page.waitForFunction evaluates its text with eval, which
 * the console's CSP (script-src 'self') forbids; page.evaluate does not.
 */
async function until(page: Page, expression: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await page.evaluate(expression))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${expression}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Waits until the table shows rows for the current route (none loading) and returns them. */
async function settledRows(page: Page): Promise<string[]> {
  await until(page, "document.querySelector('.results table')?.getAttribute('aria-busy') === 'false'");
  return rowTexts(page);
}

async function search(page: Page, query: string): Promise<void> {
  await searchBox(page).fill(query);
  await searchBox(page).press('Escape');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
}

// The two stores' suites run side by side: much of each is waiting on the live tail's polling.
describe('console search', { concurrency: true }, () => {
for (const kind of STORE_KINDS) {
  describe(`console search (${kind})`, { concurrency: false }, async () => {
    const skip = await consoleUnavailable(kind);
    let server: ServedConsole;
    let browser: ConsoleBrowser;
    let reader: string;
    /** One reader's page, signed in once; tests move it by its route, as links do. */
    let page: Page;
    const visit = async (route: string) => {
      await page.evaluate(`location.hash = ${JSON.stringify(route)}`);
      await until(page, `location.hash === ${JSON.stringify(route)}`);
    };
    before(async () => {
      if (skip) return;
      server = await serveConsole(kind);
      browser = await launchConsoleBrowser();
      await appendEvents(server, 'web', acmeEvents());
      await appendEvents(server, 'web', globexEvents());
      await appendEvents(server, 'billing', acmeEvents().slice(0, 20).map((e) => ({ ...e, actor: { type: 'service', id: 'svc-billing' } })));
      await appendEvents(server, 'ops', Array.from({ length: 100 }, (_, i) => ({ actor: { type: 'service', id: 'deployer' }, action: 'ops.deploy', category: 'execute', targets: [{ type: 'service', id: `svc-${i}` }], outcome: 'success', tenant: 'acme' })));
      reader = await server.createKey('reader', { description: 'console search test' });
      ({ page } = await browser.open(server));
      await signIn(page, server, reader, '/#/search?ledger=web');
    });
    after(async () => {
      await browser?.close();
      await server?.stop();
    });

    it('searches one ledger and all ledgers, with counts, facets and rows that match the seed', { skip }, async () => {
      await matchCount(page).filter({ hasText: '340 matches' }).waitFor();
      const first = await settledRows(page);
      assert.equal(first.length, 50, 'one page of 50');
      await page.getByRole('button', { name: 'Next page' }).waitFor();
      assert.match(await page.locator('.pager-status').innerText(), /Rows 1–50 of 340/);

      // The actor facet counts what was seeded, largest first.
      const actors = page.getByRole('region', { name: 'Top actors' });
      assert.deepEqual(
        (await actors.getByRole('button').allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim()),
        ['alice 150', 'bob 100', 'carol 50', 'mallory 40'],
      );
      const ips = page.getByRole('region', { name: 'IP addresses' });
      await ips.getByRole('button', { name: /^8\.8\.8\.8\s*150$/ }).waitFor();
      const outcomes = page.getByRole('region', { name: 'Outcomes' });
      await outcomes.getByRole('button', { name: /^failure\s*30$/ }).waitFor();

      await search(page, 'actor.id:carol action:auth.login');
      // carol is i%6==5, logins are i%5==0: i in {5, 35, 65, …} → 10 events.
      await matchCount(page).filter({ hasText: /^10 matches$/ }).waitFor();
      const carol = await settledRows(page);
      assert.equal(carol.length, 10);
      for (const row of carol) {
        assert.match(row, /carol/);
        assert.match(row, /auth\.login/);
        assert.match(row, /web #\d+/);
      }
      // Each row links to its event page and shows its verification state.
      const link = table(page).getByRole('link').first();
      assert.match((await link.getAttribute('href'))!, /^#\/events\/web\/\d+$/);
      assert.match(await bodyRows(page).first().locator('.verify-cell').innerText(), /verified|not verified|failed|checking/);

      // All ledgers but the system ledger: web and billing together.
      await page.getByLabel('Ledger').selectOption('');
      await search(page, 'action:auth.login');
      // 60 logins in web, and billing's 20 events hold 4 (i%5==0 for i<20).
      await matchCount(page).filter({ hasText: /^64 matches$/ }).waitFor();
      const all = await settledRows(page);
      assert.equal(all.length, 50);
      assert.ok(all.some((r) => /billing #/.test(r)) && all.some((r) => /web #/.test(r)), 'rows of both ledgers');
      assert.ok(!all.some((r) => /sealtrail-system|ops #/.test(r)), 'not the system ledger; ops has no logins');
      assertNoOffHostRequests(browser);
    });

    it('completes keys and values from the keyboard, and shows the parser error at its position', { skip }, async () => {
      await visit('#/search?ledger=web&q=');
      const box = searchBox(page);
      await box.fill('');
      await box.click();
      await box.pressSequentially('act');
      const options = page.getByRole('listbox', { name: 'Query keys' }).getByRole('option');
      await options.first().waitFor();
      const offered = (await options.allInnerTexts()).map((t) => t.split(/\s/)[0]);
      assert.deepEqual(offered, ['actor', 'actor.id', 'actor.name', 'actor.type', 'action']);
      assert.equal(await box.getAttribute('aria-expanded'), 'true');
      await box.press('ArrowDown');
      await box.press('Enter');
      assert.equal(await box.inputValue(), 'actor.id:');
      await box.pressSequentially('bob outc');
      await box.press('Tab');
      assert.equal(await box.inputValue(), 'actor.id:bob outcome:');
      // The closed domain's values follow.
      assert.deepEqual((await options.allInnerTexts()).map((t) => t.split(/\s/)[0]), ['success', 'failure']);
      await box.pressSequentially('f');
      await box.press('Enter');
      assert.equal(await box.inputValue(), 'actor.id:bob outcome:failure');
      await box.press('Escape');
      assert.equal(await box.getAttribute('aria-expanded'), 'false');
      await box.press('Enter');
      // bob is i%6 in {3,4}, failures i%10==0: i ≡ 10, 40 (mod 60)… → 10 events.
      await matchCount(page).filter({ hasText: /^10 matches$/ }).waitFor();
      assert.match(page.url(), /q=actor\.id%3Abob\+outcome%3Afailure/);

      // A bad query: the core parser's own message, the span marked, nothing sent.
      const before = await page.evaluate('location.hash');
      await box.fill('outcome:failure actr:alice');
      const message = page.locator('.query-message');
      await message.waitFor();
      assert.match(await message.innerText(), /^at 16: unknown key "actr" \(did you mean "actor"\?\)/);
      assert.equal(await page.locator('.query-echo mark').innerText(), 'actr');
      assert.equal(await box.getAttribute('aria-invalid'), 'true');
      await page.getByRole('button', { name: 'Search', exact: true }).click();
      assert.equal(await page.evaluate('location.hash'), before, 'an invalid query is not sent');
      await box.fill('outcome:failure ab');
      assert.match(await message.innerText(), /free text "ab" is too short/);
      assert.equal(await page.locator('.query-echo mark').innerText(), 'ab');
      await box.fill('outcome:failure');
      await message.waitFor({ state: 'detached' });

      // A server error has the server's message: a ledger this key cannot see.
      await visit('#/search?ledger=nope');
      await page.getByRole('alert').filter({ hasText: 'nope' }).first().waitFor();
    });

    it('refines the query by a facet and pages through more than one page', { skip }, async () => {
      await visit('#/search?ledger=web&q=action%3Afile.download');
      // 240 downloads; alice has 120 of them.
      await matchCount(page).filter({ hasText: /^240 matches$/ }).waitFor();
      await page.getByRole('region', { name: 'Top actors' }).getByRole('button', { name: /^alice\s*120$/ }).click();
      await matchCount(page).filter({ hasText: /^120 matches$/ }).waitFor();
      assert.equal(await searchBox(page).inputValue(), 'action:file.download actor.id:alice');
      const page1 = await settledRows(page);
      assert.equal(page1.length, 50);
      assert.ok(page1.every((r) => /alice/.test(r) && /file\.download/.test(r)));

      const keys = async () => bodyRows(page).evaluateAll((rows) => rows.map((r) => (r as unknown as { dataset: { key: string } }).dataset.key));
      const seen = new Set(await keys());
      const boxHeight = await table(page).evaluate((el) => (el as unknown as { offsetHeight: number }).offsetHeight);
      for (const expected of ['Rows 51–100 of 120', 'Rows 101–120 of 120']) {
        await page.getByRole('button', { name: 'Next page' }).click();
        await page.locator('.pager-status').filter({ hasText: expected }).waitFor();
        for (const key of await keys()) {
          assert.ok(!seen.has(key), `${key} is on one page only`);
          seen.add(key);
        }
        assert.equal(await table(page).evaluate((el) => (el as unknown as { offsetHeight: number }).offsetHeight), boxHeight, 'the table keeps its height');
      }
      assert.equal(seen.size, 120);
      assert.equal(await page.getByRole('button', { name: 'Next page' }).isDisabled(), true);
      await page.getByRole('button', { name: 'Previous page' }).click();
      await page.locator('.pager-status').filter({ hasText: 'Rows 51–100 of 120' }).waitFor();

      // The histogram is drawn, with its summary for screen readers.
      assert.match((await page.locator('.histogram-plot').getAttribute('aria-label'))!, /120 in all/);
      // Dragging across the chart narrows the time range to the buckets covered (here all of them).
      await page.locator('.histogram-plot .u-over').scrollIntoViewIfNeeded();
      const over = (await page.locator('.histogram-plot .u-over').boundingBox())!;
      await page.mouse.move(over.x + 2, over.y + over.height / 2);
      await page.mouse.down();
      await page.mouse.move(over.x + over.width / 2, over.y + over.height / 2, { steps: 5 });
      await page.mouse.move(over.x + over.width - 2, over.y + over.height / 2, { steps: 5 });
      await page.mouse.up();
      await until(page, "/[?&]from=[^&]+/.test(location.hash) && /[?&]to=[^&]+/.test(location.hash)");
      const narrowed = new URLSearchParams((await page.evaluate<string>('location.hash')).split('?')[1]);
      assert.ok(Date.parse(narrowed.get('to')!) > Date.parse(narrowed.get('from')!));
      assert.equal(new Date(narrowed.get('from')!).getUTCMinutes(), 0, 'bucket boundaries');
      await page.locator('.sent-query').filter({ hasText: /received:>=.*received:</ }).waitFor();
      await matchCount(page).filter({ hasText: /^120 matches$/ }).waitFor();
    });

    it('tails new matches live without moving the rows being read, and stops when hidden or off', { skip }, async () => {
      await visit('#/search?ledger=ops&q=action%3Aops.deploy');
      await matchCount(page).filter({ hasText: /^100 matches$/ }).waitFor();
      assert.equal((await settledRows(page)).length, 50);
      // Scroll the table and note where a row the reader is looking at sits.
      const box = table(page);
      await box.evaluate((el) => ((el as unknown as { scrollTop: number }).scrollTop = 400));
      const where = `(() => { const box = document.querySelector('.table-box'); const row = [...box.querySelectorAll('tbody tr[data-key]')].find((tr) => tr.offsetTop > box.scrollTop + 60);
        return { key: row.dataset.key, top: row.getBoundingClientRect().top - box.getBoundingClientRect().top }; })()`;
      const watched = (await page.evaluate(where)) as { key: string; top: number };
      const topOf = (key: string) =>
        page.evaluate(`document.querySelector('.table-box tbody tr[data-key="${key}"]').getBoundingClientRect().top - document.querySelector('.table-box').getBoundingClientRect().top`) as Promise<number>;
      const polls: string[] = [];
      page.on('request', (request) => {
        if (/\/v1\/ledgers\/ops\/events/.test(request.url())) polls.push(request.url());
      });
      const deploy = (id: string) => appendEvents(server, 'ops', [{ actor: { type: 'user', id }, action: 'ops.deploy', category: 'execute', outcome: 'success', tenant: 'acme' }]);

      await page.getByLabel('Live tail').check();
      await deploy('dave');
      await bodyRows(page).first().filter({ hasText: 'dave' }).waitFor({ timeout: 15_000 });
      assert.equal(await bodyRows(page).count(), 50, 'the page keeps its size: the new row on top');
      assert.ok(Math.abs((await topOf(watched.key)) - watched.top) <= 2, 'the row being read has not moved');
      await matchCount(page).filter({ hasText: /^101 matches$/ }).waitFor();
      assert.match(await page.locator('.pager-status').innerText(), /live/);

      // A hidden page does not poll; coming back, it catches up.
      await page.evaluate("Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' }); document.dispatchEvent(new Event('visibilitychange'))");
      polls.length = 0;
      await deploy('erin');
      // An absence cannot be awaited: a poll interval and a half with nothing asked.
      await page.waitForTimeout(3500);
      assert.deepEqual(polls, [], 'no polling while hidden');
      await page.evaluate("Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'visible' }); document.dispatchEvent(new Event('visibilitychange'))");
      await bodyRows(page).first().filter({ hasText: 'erin' }).waitFor({ timeout: 15_000 });
      assert.match(await bodyRows(page).nth(1).innerText(), /dave/);

      await page.getByLabel('Live tail').uncheck();
      await page.locator('.pager-status').filter({ hasText: /^Rows 1–50 of 102$/ }).waitFor();
      polls.length = 0;
      await deploy('frank');
      await page.waitForTimeout(3500);
      assert.deepEqual(polls, [], 'no polling with the toggle off');
      assert.doesNotMatch((await rowTexts(page)).join('\n'), /frank/);
    });

    it('saves, runs and deletes a search, kept per server and key', { skip }, async () => {
      await visit('#/search?ledger=web&q=actor.id%3Acarol&from=2020-01-01T00%3A00%3A00.000Z');
      await matchCount(page).filter({ hasText: /^50 matches$/ }).waitFor();
      await page.getByLabel('Name').fill('carol since 2020');
      await page.getByRole('button', { name: 'Save search' }).click();
      const saved = page.getByRole('link', { name: 'carol since 2020' });
      await saved.waitFor();

      await visit('#/search');
      await until(page, "document.querySelector('[role=combobox]').value === ''");
      await page.reload();
      await saved.click();
      await matchCount(page).filter({ hasText: /^50 matches$/ }).waitFor();
      assert.equal(await searchBox(page).inputValue(), 'actor.id:carol');
      assert.equal(await page.getByLabel('Ledger').inputValue(), 'web');
      assert.match(await page.locator('.sent-query').innerText(), /actor\.id:carol received:>=2020-01-01T00:00:00\.000Z/);

      // Another key has its own list.
      const other = await server.createKey('reader', { description: 'another key' });
      const second = await browser.open(server);
      await signIn(second.page, server, other, '/#/search');
      await second.page.getByText('None saved yet.').waitFor();
      await second.context.close();

      await page.getByRole('button', { name: 'Delete saved search carol since 2020' }).click();
      await saved.waitFor({ state: 'detached' });
      await page.reload();
      await page.getByText('None saved yet.').waitFor();
    });

    it('exports the current query in every format and as an evidence bundle', { skip }, async () => {
      await visit('#/search?ledger=web&q=actor.id%3Acarol');
      await matchCount(page).filter({ hasText: /^50 matches$/ }).waitFor();
      const formats = await page.getByLabel('Format').locator('option').evaluateAll((options) => options.map((o) => (o as unknown as { value: string }).value));
      assert.deepEqual(formats, ['jsonl', 'csv', 'ocsf', 'cef', 'syslog']);
      for (const format of formats) {
        await page.getByLabel('Format').selectOption(format);
        const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export', exact: true }).click()]);
        const text = readFileSync((await download.path())!, 'utf8');
        const lines = text.split('\n').filter((l) => l !== '');
        // CSV has a header row; every other format one line per event.
        assert.equal(lines.length, format === 'csv' ? 51 : 50, `${format}: one line per match`);
        assert.match(download.suggestedFilename(), new RegExp(`^web-.*\\.(${format === 'ocsf' ? 'ocsf\\.jsonl|jsonl|ocsf' : format === 'syslog' ? 'log|syslog|txt' : format})$`));
        if (format === 'jsonl') for (const line of lines) assert.equal(JSON.parse(line).event.actor.id, 'carol');
        await page.getByRole('status').filter({ hasText: /Export: downloaded/ }).waitFor();
      }
      const [bundle] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Evidence bundle' }).click()]);
      const zip = readFileSync((await bundle.path())!);
      assert.equal(zip.subarray(0, 4).toString('hex'), '504b0304', 'a zip archive');

      // A query the server refuses shows its message: export needs no free text shorter than 3, so use a
      // ledger that disappears from scope — an unknown ledger answers 404 with the server's message.
      await visit('#/search?ledger=gone&q=actor.id%3Acarol');
      await page.getByRole('button', { name: 'Export', exact: true }).click();
      await page.getByRole('alert').filter({ hasText: /The export failed.*gone/ }).waitFor();
      assertNoOffHostRequests(browser);
    });

    it("never shows a tenant-scoped key another tenant's events", { skip }, async () => {
      const acme = await server.createKey('reader', { tenants: ['acme'], description: 'acme only' });
      const { page, context } = await browser.open(server);
      await signIn(page, server, acme, '/#/search?ledger=web');
      await matchCount(page).filter({ hasText: /^300 matches$/ }).waitFor();
      const actors = await page.getByRole('region', { name: 'Top actors' }).innerText();
      assert.doesNotMatch(actors, /mallory/);
      await search(page, 'actor.id:mallory');
      await matchCount(page).filter({ hasText: /^0 matches$/ }).waitFor();
      await page.getByText('No events match.').waitFor();
      await search(page, 'tenant:globex');
      await matchCount(page).filter({ hasText: /^0 matches$/ }).waitFor();
      assert.deepEqual(await rowTexts(page), []);
      // All ledgers, too.
      await page.getByLabel('Ledger').selectOption('');
      await search(page, 'secret.read');
      await matchCount(page).filter({ hasText: /^0 matches$/ }).waitFor();
      assert.deepEqual(await rowTexts(page), []);
      await context.close();
    });
  });
}
});
