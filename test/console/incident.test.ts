/**
 * The incident view in a real browser, on both stores, with the seed's scenario: a service account
 * with a week of ordinary history from London logs in from London, then — minutes later — from
 * Mountain View, and within 20 minutes touches three hosts it never used and a file on each, guessing
 * the second host's secret three times before it gets in. Another actor works from the attacker's address. The page must show the two sessions,
 * the flagged travel leg with its speed (and both places on the map, with the geolocation attribution),
 * the three systems and the exact files marked first seen, the authentication run, the other actor
 * (whose own incident view its link opens), the impossible-travel alert detection raises, and every
 * event row linked to its entry with a verification state. A bad window shows the server's message,
 * and the page fits a phone's width.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendEvents, assertNoOffHostRequests, consoleUnavailable, launchConsoleBrowser, serveConsole, signIn, STORE_KINDS, type ConsoleBrowser, type ServedConsole } from '../helpers/console.js';

const LONDON = '81.2.69.142';
const MOUNTAIN_VIEW = '8.8.8.8';
const MINUTE = 60_000;
const DAY = 86_400_000;
const SYSTEMS = ['billing-db-01', 'hr-files-02', 'ci-runner-03'];
const FILES = ['/billing/invoices-2026.csv', '/hr/salaries-2026.xlsx', '/ci/deploy-keys.pem'];

const iso = (ms: number) => new Date(ms).toISOString();
const svc = (sessionId?: string) => ({ type: 'service', id: 'svc-backup', ...(sessionId ? { session_id: sessionId } : {}) });

function scenario(now: number): unknown[] {
  const events: unknown[] = [];
  // History: 8 days of nightly logins and manifest reads from London (the impossible-travel detector
  // learns for 3 days of the deployment and 30 geolocated events over 7 days of the actor).
  for (let i = 0; i < 40; i++) {
    const at = now - 8 * DAY + i * 4.5 * 3_600_000;
    events.push(
      i % 2 === 0
        ? { actor: svc(), action: 'auth.login', category: 'auth', outcome: 'success', tenant: 'acme', origin: { ip: LONDON }, occurred_at: iso(at) }
        : { actor: svc(), action: 'file.read', category: 'read', outcome: 'success', tenant: 'acme', origin: { ip: LONDON }, targets: [{ type: 'file', id: 'backup/manifest.json' }], occurred_at: iso(at) },
    );
  }
  const t0 = now - 30 * MINUTE;
  const at = (minutes: number) => iso(t0 + minutes * MINUTE);
  events.push({ actor: svc('s-london'), action: 'auth.login', category: 'auth', outcome: 'success', tenant: 'acme', origin: { ip: LONDON }, occurred_at: at(0) });
  events.push({ actor: { type: 'user', id: 'usr-mallory' }, action: 'auth.login', category: 'auth', outcome: 'success', tenant: 'acme', origin: { ip: MOUNTAIN_VIEW }, occurred_at: at(2) });
  // The attacker's login from the other side of the world (the detector judges it: its failures would
  // have made the country known first), then a host after another, guessing its way into the second.
  events.push({ actor: svc('s-attacker'), action: 'auth.login', category: 'auth', outcome: 'success', tenant: 'acme', origin: { ip: MOUNTAIN_VIEW }, occurred_at: at(4) });
  SYSTEMS.forEach((host, k) => {
    const start = 6 + k * 5;
    if (k === 1) {
      for (let i = 0; i < 3; i++) {
        events.push({ actor: svc('s-attacker'), action: 'auth.login', category: 'auth', outcome: 'failure', outcome_reason: 'invalid secret', tenant: 'acme', origin: { ip: MOUNTAIN_VIEW }, targets: [{ type: 'host', id: host }], occurred_at: at(start - 1 + i * 0.2) });
      }
      events.push({ actor: svc('s-attacker'), action: 'auth.login', category: 'auth', outcome: 'success', tenant: 'acme', origin: { ip: MOUNTAIN_VIEW }, targets: [{ type: 'host', id: host }], occurred_at: at(start - 0.2) });
    }
    events.push({ actor: svc('s-attacker'), action: 'system.connect', category: 'execute', outcome: 'success', tenant: 'acme', origin: { ip: MOUNTAIN_VIEW }, targets: [{ type: 'host', id: host }], occurred_at: at(start) });
    events.push({ actor: svc('s-attacker'), action: 'file.download', category: 'read', outcome: 'success', tenant: 'acme', origin: { ip: MOUNTAIN_VIEW }, targets: [{ type: 'file', id: FILES[k] }], occurred_at: at(start + 2) });
  });
  events.push({ actor: { type: 'user', id: 'usr-alice' }, action: 'record.view', category: 'read', outcome: 'success', tenant: 'acme', origin: { ip: '79.192.10.20' }, occurred_at: at(10) });
  return events;
}

/** Uncaught errors and console errors other than the browser's note of a refused request (the first look's 401, the bad window's 400). */
const scriptErrors = (browser: ConsoleBrowser) => browser.pageErrors.filter((line) => !line.startsWith('console: Failed to load resource'));

/** Waits for a condition the server reaches on its own (detection runs behind appends). */
async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

for (const kind of STORE_KINDS) {
  describe(`console incident view (${kind})`, async () => {
    const skip = await consoleUnavailable(kind);
    let server: ServedConsole;
    let browser: ConsoleBrowser;
    let alertId: string;
    before(async () => {
      if (skip) return;
      server = await serveConsole(kind);
      browser = await launchConsoleBrowser();
      await appendEvents(server, 'corp', scenario(Date.now()));
      const alert = await eventually('the impossible-travel alert', async () => {
        const { alerts } = await server.api('GET', '/v1/alerts?limit=100');
        return (alerts as Array<{ id: string; rule: string; actor: { id: string } | null }>).find((a) => a.rule === 'behaviour.impossible-travel' && a.actor?.id === 'svc-backup');
      });
      alertId = alert.id;
    });
    after(async () => {
      await browser?.close();
      await server?.stop();
    });

    it('reconstructs the compromised service account: sessions, travel, systems, files, other actors, alerts', { skip }, async () => {
      const token = await server.createKey('reader', { description: 'incident test reader' });
      const { page, context } = await browser.open(server);
      await signIn(page, server, token, '/#/incident');
      await page.getByLabel('Actor', { exact: true }).fill('svc-backup');
      await page.getByRole('button', { name: 'Last hour' }).click();
      await page.getByRole('button', { name: 'Reconstruct' }).click();
      await page.getByRole('heading', { level: 1, name: 'Incident: svc-backup' }).waitFor();
      assert.match(await page.evaluate('location.hash'), /^#\/incident\?actor=svc-backup&from=/);

      // The timeline as the API answers it, to compare figures with.
      const from = new URL(`http://x/${(await page.evaluate('location.hash') as string).slice(2)}`).searchParams.get('from')!;
      const timeline = await server.api('GET', `/v1/actors/svc-backup/timeline?from=${encodeURIComponent(from)}`);
      assert.equal(timeline.events.length, 12);

      // Sessions: the London one and the attacker's.
      const events = page.getByRole('table', { name: /Events of svc-backup/ });
      await events.getByRole('rowgroup', { name: 'Session 1 (s-london)' }).waitFor();
      await events.getByRole('rowgroup', { name: 'Session 2 (s-attacker)' }).waitFor();
      assert.equal(await events.getByRole('rowgroup', { name: /^Session 2/ }).getByRole('row').count(), 1 + 11);

      // Travel: London → Mountain View in minutes, flagged, with the API's speed; both places on the map.
      const leg = timeline.travel.find((l: any) => l.from.ip === LONDON && l.to.ip === MOUNTAIN_VIEW);
      assert.ok(leg, 'the API has the leg');
      const travel = page.getByRole('table', { name: /^Travel between consecutive located events/ });
      const legRow = travel.getByRole('row').filter({ hasText: MOUNTAIN_VIEW });
      await legRow.getByText('flagged: impossible travel').waitFor();
      assert.ok((await legRow.innerText()).includes(`${Math.round(leg.speed_kmh).toLocaleString('en-US')} km/h`), await legRow.innerText());
      assert.ok(leg.speed_kmh > 900);
      const map = page.getByRole('img', { name: /^Map of 2 located addresses of svc-backup and 1 travel leg/ });
      await map.waitFor();
      assert.equal(await map.locator('.points circle').count(), 2);
      assert.equal(await map.locator('.line.flagged').count(), 1);
      await map.locator('.countries path').first().waitFor({ state: 'attached' });
      assert.ok((await map.locator('.countries path').count()) > 100, 'the bundled country outlines are drawn');
      const addresses = page.getByRole('table', { name: 'Addresses' });
      assert.match(await addresses.getByRole('row').filter({ hasText: LONDON }).innerText(), /GB London/);
      assert.match(await addresses.getByRole('row').filter({ hasText: MOUNTAIN_VIEW }).innerText(), /US Mountain View/);
      await page.getByRole('link', { name: 'IP Geolocation by DB-IP' }).first().waitFor();

      // Systems and the exact files, first seen against the week of history; the old manifest is not.
      const resources = page.getByRole('table', { name: /^Resources/ });
      for (const host of SYSTEMS) assert.match(await resources.getByRole('row').filter({ hasText: `host:${host}` }).innerText(), /first seen/);
      for (const file of FILES) assert.match(await resources.getByRole('row').filter({ hasText: `file:${file}` }).innerText(), /first seen/);
      assert.equal(await resources.getByRole('row').count(), 1 + SYSTEMS.length + FILES.length, 'nothing else was touched in the window');
      assert.equal(await resources.getByText('file:backup/manifest.json').count(), 0, 'the history is not in the window');
      // History is read by received time, and the week of history was received just now (imported), so
      // it is not history to the timeline: every mark here is "first seen" (docs/REPORTS.md).
      const systems = page.getByRole('table', { name: /^Systems/ });
      assert.match(await systems.getByRole('row').filter({ hasText: 'target type' }).filter({ hasText: 'host' }).innerText(), /first seen/);
      assert.match(await systems.getByRole('row').filter({ hasText: 'tenant' }).filter({ hasText: 'acme' }).innerText(), /\t12\t/);

      // Failed-then-successful authentication from the attacker's address.
      const auth = page.getByRole('region', { name: 'Failed, then successful authentication' });
      assert.match(await auth.getByRole('row').nth(1).innerText(), new RegExp(`^3\\s[\\s\\S]*${MOUNTAIN_VIEW.replaceAll('.', '\\.')}[\\s\\S]*invalid secret`));

      // The alert detection raised, linked to the alerts page.
      const alerts = page.getByRole('region', { name: 'Alerts involving this actor' });
      const alertLink = alerts.getByRole('link', { name: 'Impossible travel between two logins' });
      await alertLink.waitFor();
      assert.equal(await alertLink.getAttribute('href'), `#/alerts/${alertId}`);

      // Every event row links to its entry and reaches a verification state (none failed).
      const rows = events.locator('tbody tr:not(.session-row)');
      assert.equal(await rows.count(), 12);
      for (let i = 0; i < 12; i++) {
        const e = timeline.events[i];
        const row = rows.nth(i);
        assert.equal(await row.getByRole('link', { name: `corp#${e.index}` }).getAttribute('href'), `#/events/corp/${e.index}`);
      }
      await page.waitForFunction("[...document.querySelectorAll('table.incident-events tbody tr:not(.session-row) td:last-child')].every((cell) => cell.textContent && cell.textContent !== 'checking…')");
      const states = await rows.locator('td:last-child').allInnerTexts();
      for (const state of states) assert.doesNotMatch(state, /failed|could not be fetched|did not return/, state);

      // Another actor from the attacker's address; its link opens its own incident view.
      const shared = page.getByRole('region', { name: 'Other actors at the same addresses' });
      assert.equal(await shared.getByRole('link').count(), 1, 'only usr-mallory shared an address');
      await shared.getByRole('link', { name: 'usr-mallory' }).click();
      await page.getByRole('heading', { level: 1, name: 'Incident: usr-mallory' }).waitFor();
      await page.getByRole('table', { name: /Events of usr-mallory/ }).getByRole('link', { name: /^corp#/ }).waitFor();
      assert.equal(await page.getByLabel('Actor', { exact: true }).inputValue(), 'usr-mallory');
      await page.getByRole('region', { name: 'Alerts involving this actor' }).getByText('No alert involves usr-mallory in this window.').waitFor();

      assert.deepEqual(scriptErrors(browser), []);
      await context.close();
      assertNoOffHostRequests(browser);
    });

    it("shows the server's message for a bad window, an empty timeline for a stranger, and fits a phone", { skip }, async () => {
      const token = await server.createKey('reader', { description: 'incident test reader (errors)' });
      const { page, context } = await browser.open(server, { viewport: { width: 390, height: 844 } });
      await signIn(page, server, token, '/#/incident?actor=svc-backup&from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z');
      await page.getByRole('alert').filter({ hasText: 'from must be before to' }).waitFor();

      await page.evaluate("location.hash = '#/incident?actor=nobody-at-all'");
      await page.getByText('No events of this actor in the window.').waitFor();

      await page.evaluate(`location.hash = '#/incident?actor=svc-backup&from=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}'`);
      await page.getByRole('table', { name: /Events of svc-backup/ }).getByRole('link', { name: /^corp#/ }).first().waitFor();
      await page.getByRole('img', { name: /^Map of 2 located addresses/ }).waitFor();
      const overflow = await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
      assert.ok((overflow as number) <= 1, `the page scrolls sideways by ${overflow}px at 390px`);

      // Keyboard: the actor field is reachable and submitting with Enter reconstructs.
      await page.getByLabel('Actor', { exact: true }).fill('usr-alice');
      await page.getByLabel('Actor', { exact: true }).press('Enter');
      await page.getByRole('heading', { level: 1, name: 'Incident: usr-alice' }).waitFor();
      assert.deepEqual(scriptErrors(browser), []);
      await context.close();
    });
  });
}
