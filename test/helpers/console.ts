/**
 * The console's end-to-end harness: the real `sealtrail serve` (SQLite or PostgreSQL, the bundled
 * geolocation database on) serving the built console, and Debian's Chromium driven by playwright-core,
 * headless, its network limited to the server: any request to another host is refused and reported.
 *
 * Chromium must be at /usr/bin/chromium (`apt-get install chromium`; .ci/run installs it). Without it
 * the browser tests fail under CI and are skipped elsewhere, saying why.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { spawnServe } from './serve.js';
import { createPostgresFixture, postgresUnavailable, type PostgresFixture } from './postgres.js';

export const CHROMIUM = '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CONSOLE_ADMIN_TOKEN = 'console-test-admin-token-0123456789abcdef';

export type StoreKind = 'SQLite' | 'PostgreSQL';
export const STORE_KINDS: StoreKind[] = ['SQLite', 'PostgreSQL'];

/** Why the browser tests of `kind` cannot run here, or undefined when they can. Under CI nothing is skipped. */
export async function consoleUnavailable(kind: StoreKind): Promise<string | undefined> {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CI) throw new Error(`Chromium is missing at ${CHROMIUM}: apt-get install chromium (.ci/run does)`);
    return `Chromium is not installed at ${CHROMIUM} (apt-get install chromium)`;
  }
  if (!existsSync(join(ROOT, 'dist/console/index.html'))) throw new Error('the console is not built: npm run build (npm test builds it before browser tests)');
  return kind === 'PostgreSQL' ? postgresUnavailable() : undefined;
}

export interface ServedConsole {
  url: string;
  kind: StoreKind;
  adminToken: string;
  dataDir: string;
  /** The PostgreSQL schema and roles, for tests that reach into the database. */
  postgres?: PostgresFixture;
  child: ChildProcess;
  /** A JSON API call with a bearer token (the admin token by default). */
  api<T = any>(method: string, path: string, body?: unknown, token?: string): Promise<T>;
  /** Creates an API key and returns its token. */
  createKey(role: string, options?: { ledgers?: string[]; tenants?: string[]; description?: string }): Promise<string>;
  stop(): Promise<void>;
}

/** Starts `sealtrail serve` on a fresh data folder (and, for PostgreSQL, a fresh schema). */
export async function serveConsole(kind: StoreKind, options: { extraArgs?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<ServedConsole> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sealtrail-console-'));
  const postgres = kind === 'PostgreSQL' ? await createPostgresFixture('console.test') : undefined;
  const args = ['--data', dataDir, '--port', '0', '--host', '127.0.0.1', '--name', 'console.test', '--quiet', ...(options.extraArgs ?? [])];
  if (postgres) args.push('--database-url', postgres.serviceUrl, '--database-schema', postgres.schema);
  const { url, child, exited } = await spawnServe(args, { SEALTRAIL_ADMIN_TOKEN: CONSOLE_ADMIN_TOKEN, SEALTRAIL_RATE_LIMIT: '0', ...options.env });
  const api = async (method: string, path: string, body?: unknown, token = CONSOLE_ADMIN_TOKEN) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    const type = response.headers.get('content-type') ?? '';
    return text && type.includes('json') ? JSON.parse(text) : text;
  };
  return {
    url,
    kind,
    adminToken: CONSOLE_ADMIN_TOKEN,
    dataDir,
    ...(postgres ? { postgres } : {}),
    child,
    api,
    async createKey(role, keyOptions = {}) {
      const created = await api('POST', '/v1/keys', { role, ledgers: keyOptions.ledgers ?? ['*'], tenants: keyOptions.tenants ?? ['*'], description: keyOptions.description ?? `console test ${role}` });
      return created.token as string;
    },
    async stop() {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
      rmSync(dataDir, { recursive: true, force: true });
      await postgres?.drop();
    },
  };
}

export interface ConsoleBrowser {
  browser: Browser;
  /** A fresh context (its own cookies and storage) with a page; requests off the server are refused. */
  open(server: ServedConsole, options?: { viewport?: { width: number; height: number } }): Promise<{ context: BrowserContext; page: Page }>;
  /** Requests the pages tried to make to any other host: must stay empty. */
  offHostRequests: string[];
  /** Console errors and uncaught page errors, for assertions and failure messages. */
  pageErrors: string[];
  close(): Promise<void>;
}

export async function launchConsoleBrowser(): Promise<ConsoleBrowser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // As root in a sandbox-less container; no background connections to Google's hosts.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  const offHostRequests: string[] = [];
  const pageErrors: string[] = [];
  return {
    browser,
    offHostRequests,
    pageErrors,
    async open(server, options = {}) {
      const origin = new URL(server.url).origin;
      const context = await browser.newContext({ viewport: options.viewport ?? { width: 1280, height: 800 }, acceptDownloads: true });
      await context.route('**/*', (route) => {
        const target = route.request().url();
        if (target.startsWith(origin) || target.startsWith('data:') || target.startsWith('blob:')) return route.continue();
        offHostRequests.push(target);
        return route.abort('blockedbyclient');
      });
      const page = await context.newPage();
      page.on('pageerror', (error) => pageErrors.push(`pageerror: ${error.message}`));
      page.on('console', (message) => {
        if (message.type() === 'error') pageErrors.push(`console: ${message.text()}`);
      });
      return { context, page };
    },
    close: () => browser.close(),
  };
}

/** Signs in through the form, as a user would, and waits for the shell. */
export async function signIn(page: Page, server: ServedConsole, token: string, path = '/'): Promise<void> {
  await page.goto(`${server.url}${path}`);
  await page.getByLabel('API key').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

/** Appends events to a ledger (created if needed) through the API, in batches. */
export async function appendEvents(server: ServedConsole, ledger: string, events: unknown[]): Promise<void> {
  await server.api('PUT', `/v1/ledgers/${ledger}`).catch((error: Error) => {
    if (!/409|exists/.test(error.message)) throw error;
  });
  for (let at = 0; at < events.length; at += 500) await server.api('POST', `/v1/ledgers/${ledger}/events`, events.slice(at, at + 500));
}

export function assertNoOffHostRequests(browser: ConsoleBrowser): void {
  assert.deepEqual(browser.offHostRequests, [], 'the console loads nothing from another host');
}
