/**
 * Takes the screenshots of the console's main pages in docs/screenshots/ (`npm run screenshots`): a real
 * `sealtrail serve` on SQLite with two weeks of generated traffic and the seed's incident (a service
 * account seen from London and, minutes later, Mountain View, moving across three systems), Debian's
 * Chromium at 1280x800 and at a phone's width. Needs /usr/bin/chromium and a built console.
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { buildScenario, TRAFFIC_LEDGER } from '../bench/scenarios.js';
import { SYSTEM_LEDGER } from '../src/core/forgetting.js';
import { appendEvents, consoleUnavailable, launchConsoleBrowser, serveConsole, signIn } from '../test/helpers/console.js';

const OUT = fileURLToPath(new URL('../docs/screenshots/', import.meta.url));
const MINUTE = 60_000;
const LONDON = '81.2.69.142';
const MOUNTAIN_VIEW = '8.8.8.8';

function incident(now: number): unknown[] {
  const svc = (session: string) => ({ type: 'service', id: 'svc-backup', session_id: session });
  const at = (minutes: number) => new Date(now - 30 * MINUTE + minutes * MINUTE).toISOString();
  const base = { category: 'read', outcome: 'success', tenant: 'tenant-01' };
  const events: unknown[] = [];
  for (let day = 9; day >= 1; day--) {
    const when = new Date(now - day * 86_400_000).toISOString();
    events.push({ ...base, actor: svc(`s-night-${day}`), action: 'auth.login', category: 'auth', origin: { ip: LONDON }, occurred_at: when });
    events.push({ ...base, actor: svc(`s-night-${day}`), action: 'file.read', origin: { ip: LONDON }, targets: [{ type: 'file', id: 'backup/manifest.json' }], occurred_at: when });
  }
  events.push({ ...base, actor: svc('s-london'), action: 'auth.login', category: 'auth', origin: { ip: LONDON }, occurred_at: at(0) });
  events.push({ ...base, actor: svc('s-attacker'), action: 'auth.login', category: 'auth', origin: { ip: MOUNTAIN_VIEW }, occurred_at: at(4) });
  ['billing-db-01', 'hr-files-02', 'ci-runner-03'].forEach((host, k) => {
    events.push({ ...base, actor: svc('s-attacker'), action: 'system.connect', category: 'execute', origin: { ip: MOUNTAIN_VIEW }, targets: [{ type: 'host', id: host }], occurred_at: at(6 + k * 5) });
    events.push({ ...base, actor: svc('s-attacker'), action: 'file.download', origin: { ip: MOUNTAIN_VIEW }, targets: [{ type: 'file', id: ['/billing/invoices-2026.csv', '/hr/salaries-2026.xlsx', '/ci/deploy-keys.pem'][k] }], occurred_at: at(8 + k * 5) });
  });
  events.push({ ...base, actor: { type: 'user', id: 'usr-mallory' }, action: 'auth.login', category: 'auth', origin: { ip: MOUNTAIN_VIEW }, occurred_at: at(2) });
  return events;
}

async function shot(page: Page, name: string, ready: () => Promise<unknown>): Promise<void> {
  await ready();
  // Let charts, the map and row verification settle.
  await page.waitForLoadState('networkidle');
  await page.waitForTimeout(1500);
  await page.screenshot({ path: `${OUT}${name}.png`, fullPage: false });
  process.stdout.write(`docs/screenshots/${name}.png\n`);
}

async function main(): Promise<void> {
  const unavailable = await consoleUnavailable('SQLite');
  if (unavailable) throw new Error(unavailable);
  mkdirSync(OUT, { recursive: true });
  const now = Date.now();
  const server = await serveConsole('SQLite');
  const browser = await launchConsoleBrowser();
  try {
    const scenario = buildScenario('screenshots', { events: 20_000, days: 14, endMicros: (now - 2 * 3_600_000) * 1000, tenants: 6, users: 200 });
    const traffic = [...scenario.events()].filter((e) => e.ledger !== SYSTEM_LEDGER).map((e) => e.event);
    await appendEvents(server, TRAFFIC_LEDGER, traffic);
    await appendEvents(server, TRAFFIC_LEDGER, incident(now));
    const size = (await server.api('GET', `/v1/ledgers/${TRAFFIC_LEDGER}`)).size as number;
    for (let i = 0; i < 120; i++) {
      const detection = await server.api('GET', '/v1/detection');
      if (detection.ledgers.find((l: { ledger: string }) => l.ledger === TRAFFIC_LEDGER)?.evaluated >= size) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const tenantKey = await server.createKey('auditor', { tenants: ['tenant-01'], description: 'tenant-01 compliance' });

    const { page } = await browser.open(server);
    await page.goto(server.url);
    await shot(page, 'sign-in', () => page.getByLabel('API key').waitFor());
    await signIn(page, server, server.adminToken);
    // Pin the verifier key once, as a user would, so rows read `verified`.
    await page.getByRole('button', { name: 'Pin this key' }).click();
    await page.getByRole('button', { name: 'Pin this key' }).waitFor({ state: 'detached' });

    await page.goto(`${server.url}/#/search?ledger=${TRAFFIC_LEDGER}&q=${encodeURIComponent('action:file.*')}`);
    await shot(page, 'search', () => page.getByText('verified').first().waitFor({ timeout: 60_000 }));
    const firstRow = page.locator('a[href^="#/events/"]').first();
    await firstRow.click();
    await shot(page, 'event', () => page.getByRole('heading', { level: 1 }).waitFor());

    const from = new Date(now - 10 * 86_400_000).toISOString();
    await page.goto(`${server.url}/#/incident?actor=svc-backup&from=${encodeURIComponent(from)}`);
    await shot(page, 'incident', () => page.getByText('ci-runner-03').first().waitFor({ timeout: 60_000 }));
    await page.goto(`${server.url}/#/alerts`);
    await shot(page, 'alerts', () => page.getByRole('heading', { level: 1 }).waitFor());
    await page.goto(`${server.url}/#/admin`);
    await shot(page, 'admin', () => page.getByRole('heading', { level: 1 }).waitFor());

    const phone = await browser.open(server, { viewport: { width: 390, height: 844 } });
    await signIn(phone.page, server, server.adminToken);
    await phone.page.getByRole('button', { name: 'Pin this key' }).click();
    await phone.page.goto(`${server.url}/#/search?ledger=${TRAFFIC_LEDGER}`);
    await shot(phone.page, 'search-phone', () => phone.page.getByRole('table').first().waitFor({ timeout: 60_000 }));

    const tenant = await browser.open(server);
    await signIn(tenant.page, server, tenantKey);
    await tenant.page.getByRole('button', { name: 'Pin this key' }).click();
    await shot(tenant.page, 'tenant', () => tenant.page.getByRole('heading', { level: 1 }).waitFor());
    if (browser.offHostRequests.length > 0) throw new Error(`requests to other hosts: ${browser.offHostRequests.join(', ')}`);
  } finally {
    await browser.close();
    await server.stop();
  }
}

await main();
