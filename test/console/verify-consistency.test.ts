/**
 * Consistency between visits, in a real browser on both stores: the console remembers the largest
 * checkpoint it verified per ledger (per origin and pinned key) in localStorage; after more events it
 * fetches one consistency proof from the remembered size to the new one (once, however many rows), checks
 * it and remembers the new size. A remembered checkpoint the server's log contradicts — the same size with
 * another root (a fork), or a size larger than the server now has (a rollback) — turns every row verified
 * against it into `failed: checkpoint: …`, with a loud alert; forgetting it, deliberately, restores
 * `verified`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendEvents, assertNoOffHostRequests, consoleUnavailable, launchConsoleBrowser, serveConsole, signIn, STORE_KINDS, type ConsoleBrowser, type ServedConsole } from '../helpers/console.js';
import { sampleEvent } from '../helpers/events.js';

const LEDGER = 'cons';
const FIRST = 5;
const MORE = 4;
const TOTAL = FIRST + MORE;
const EARLIER = '2026-01-02T03:04:05.000Z';

const origin = (server: ServedConsole) => new URL(server.url).origin;
const pinName = (server: ServedConsole) => `sealtrail.verifier-key@${origin(server)}`;
const memoryName = (server: ServedConsole, key: string) => `sealtrail.checkpoints@${origin(server)}|${key}`;

interface Remembered {
  size: number;
  root: string;
  verifiedAt: string;
}

/** The root hash line of the ledger's current signed checkpoint. */
async function serverRoot(server: ServedConsole): Promise<{ size: number; root: string }> {
  const note = String(await server.api('GET', `/v1/ledgers/${LEDGER}/checkpoint`));
  const [, size, root] = note.split('\n');
  return { size: Number(size), root: root! };
}

for (const kind of STORE_KINDS) {
  describe(`console checkpoint consistency between visits (${kind})`, async () => {
    const skip = await consoleUnavailable(kind);
    let server: ServedConsole;
    let browser: ConsoleBrowser;
    let reader: string;
    let serverKey: string;
    before(async () => {
      if (skip) return;
      [server, browser] = await Promise.all([serveConsole(kind), launchConsoleBrowser()]);
      await appendEvents(server, LEDGER, Array.from({ length: FIRST }, (_, n) => sampleEvent(n)));
      reader = await server.createKey('reader', { description: 'console consistency test' });
      serverKey = String(await server.api('GET', '/v1/verifier-key')).trim();
    });
    after(async () => {
      await browser?.close();
      await server?.stop();
    });

    const remembered = async (page: { evaluate(code: string): Promise<unknown> }): Promise<Record<string, Remembered>> =>
      JSON.parse(String(await page.evaluate(`localStorage.getItem(${JSON.stringify(memoryName(server, serverKey))}) ?? '{}'`))) as Record<string, Remembered>;

    it('remembers the checkpoint it verified, and checks one consistency proof to a larger one', { skip }, async () => {
      const { page, context } = await browser.open(server);
      await context.addInitScript(`localStorage.setItem(${JSON.stringify(pinName(server))}, ${JSON.stringify(serverKey)})`);
      const proofs: string[] = [];
      page.on('request', (request) => {
        if (request.url().includes('/proof/consistency')) proofs.push(new URL(request.url()).search);
      });
      await signIn(page, server, reader, `/#/events/${LEDGER}/2`);
      const verdict = page.locator('.verdict-line');
      await verdict.getByText('verified', { exact: true }).waitFor();
      const first = await serverRoot(server);
      assert.equal(first.size, FIRST);
      const memory = await remembered(page);
      assert.deepEqual(Object.keys(memory), [LEDGER]);
      assert.equal(memory[LEDGER]!.size, FIRST);
      assert.equal(memory[LEDGER]!.root, first.root, 'the verified root is remembered');
      assert.deepEqual(proofs, [], 'nothing to prove on a first visit');

      // More events: the new checkpoint must extend the remembered one.
      await appendEvents(server, LEDGER, Array.from({ length: MORE }, (_, n) => sampleEvent(FIRST + n)));
      await page.evaluate(`location.hash = '#/search?ledger=${LEDGER}&q=index:0..${TOTAL - 1}'`);
      const rows = page.getByRole('region', { name: 'Search results' }).locator('tbody tr[data-key]');
      await rows.locator('.verify-cell .state-verified').nth(TOTAL - 1).waitFor();
      assert.equal(await rows.locator('.verify-cell .state-verified').count(), TOTAL, 'every row verified, and consistent');
      const grown = await remembered(page);
      assert.equal(grown[LEDGER]!.size, TOTAL, 'the remembered size grows');
      assert.equal(grown[LEDGER]!.root, (await serverRoot(server)).root);
      assert.deepEqual(proofs, [`?from=${FIRST}&to=${TOTAL}`], 'one consistency proof for the new checkpoint, not one per row');

      // The same checkpoint again, on another page and all ledgers (evidence fetched): no more proofs.
      await page.evaluate(`location.hash = '#/events/${LEDGER}/7'`);
      await verdict.getByText('verified', { exact: true }).waitFor();
      await page.getByRole('region', { name: 'Nearby entries' }).getByRole('row').filter({ hasText: '#4' }).getByText('verified', { exact: true }).waitFor();
      assert.equal(proofs.length, 1);
      assert.equal(await page.getByRole('alert').count(), 0, 'no warning');
      await context.close();
      assertNoOffHostRequests(browser);
    });

    it('fails every row of a checkpoint that contradicts the remembered one, warns, and verifies again once forgotten', { skip }, async () => {
      const forked: Remembered = { size: TOTAL, root: randomBytes(32).toString('base64'), verifiedAt: EARLIER };
      const { page, context } = await browser.open(server);
      await context.addInitScript(
        `if (!sessionStorage.getItem('seeded')) { localStorage.setItem(${JSON.stringify(pinName(server))}, ${JSON.stringify(serverKey)}); localStorage.setItem(${JSON.stringify(memoryName(server, serverKey))}, ${JSON.stringify(JSON.stringify({ [LEDGER]: forked }))}); sessionStorage.setItem('seeded', '1'); }`,
      );
      await signIn(page, server, reader, `/#/events/${LEDGER}/3`);
      const verdict = page.locator('.verdict-line');
      await verdict.getByText(/^failed: checkpoint: /).waitFor();
      assert.match(
        await verdict.innerText(),
        new RegExp(`failed: checkpoint: the checkpoint of size ${TOTAL} is not consistent with the checkpoint of size ${TOTAL} this browser verified on 2026-01-02 03:04 UTC`),
      );
      const nearby = page.getByRole('region', { name: 'Nearby entries' });
      await nearby.getByRole('row').filter({ hasText: '#2' }).getByText(/failed: checkpoint: .*not consistent with the checkpoint of size/).waitFor();
      const warning = page.getByRole('alert').filter({ hasText: 'may have been rolled back or forked' });
      await warning.waitFor();
      assert.match(await warning.innerText(), new RegExp(`ledger ${LEDGER}[\\s\\S]*${forked.root.replace(/[+/]/g, '\\$&')}`));
      assert.equal(await page.locator('.state-verified').count(), 0, 'nothing reads verified');

      // Forgetting asks first; keeping it changes nothing.
      await page.getByRole('button', { name: `Forget the remembered checkpoint of ${LEDGER}…` }).click();
      await page.getByRole('button', { name: 'Keep it' }).click();
      assert.equal((await remembered(page))[LEDGER]!.root, forked.root);
      await page.getByRole('button', { name: `Forget the remembered checkpoint of ${LEDGER}…` }).click();
      await page.getByRole('button', { name: 'Yes, forget it' }).click();
      await verdict.getByText('verified', { exact: true }).waitFor();
      await nearby.getByRole('row').filter({ hasText: '#2' }).getByText('verified', { exact: true }).waitFor();
      assert.equal(await warning.count(), 0, 'the warning goes');
      const now = await serverRoot(server);
      assert.deepEqual({ size: (await remembered(page))[LEDGER]!.size, root: (await remembered(page))[LEDGER]!.root }, now, "the server's checkpoint is remembered afresh");

      // A rollback: this browser verified a larger log than the server now has; the server cannot prove it.
      await page.evaluate(`localStorage.setItem(${JSON.stringify(memoryName(server, serverKey))}, ${JSON.stringify(JSON.stringify({ [LEDGER]: { ...forked, size: 1000 } }))})`);
      await page.reload();
      await verdict.getByText(/^failed: checkpoint: /).waitFor();
      assert.match(await verdict.innerText(), new RegExp(`checkpoint of size ${TOTAL} is not consistent with the checkpoint of size 1000 this browser verified on 2026-01-02 03:04 UTC \\(the server gives no consistency proof from ${TOTAL} to 1000`));
      await warning.waitFor();

      // Re-pinning the key starts a fresh memory for it.
      await page.evaluate(`localStorage.setItem(${JSON.stringify(pinName(server))}, 'other+01234567+${randomBytes(32).toString('base64')}')`);
      await page.reload();
      await page.getByRole('button', { name: "Re-pin to the server's key…" }).click();
      await page.getByRole('button', { name: 'Yes, pin the new key' }).click();
      await verdict.getByText('verified', { exact: true }).waitFor();
      assert.equal((await remembered(page))[LEDGER]!.size, TOTAL);
      assert.equal(await page.getByRole('alert').count(), 0);
      await context.close();
      assertNoOffHostRequests(browser);
    });

    it('accepts an older checkpoint (an old answer) that the log still extends, and keeps the larger one remembered', { skip }, async () => {
      // The answer with proofs as the server gave it at the current size, kept; then the log grows.
      const old = (await server.api('GET', `/v1/ledgers/${LEDGER}/events?q=${encodeURIComponent(`index:0..${TOTAL - 1}`)}&proofs=1&limit=100`)) as { events: Array<{ index: number; proof: { size: number } }>; checkpoint: string };
      assert.equal(old.events[0]!.proof.size, TOTAL);
      await appendEvents(server, LEDGER, Array.from({ length: 3 }, (_, n) => sampleEvent(TOTAL + n)));
      const latest = await serverRoot(server);
      assert.equal(latest.size, TOTAL + 3);
      const { page, context } = await browser.open(server);
      const memory = { [LEDGER]: { size: latest.size, root: latest.root, verifiedAt: EARLIER } };
      await context.addInitScript(
        `localStorage.setItem(${JSON.stringify(pinName(server))}, ${JSON.stringify(serverKey)}); localStorage.setItem(${JSON.stringify(memoryName(server, serverKey))}, ${JSON.stringify(JSON.stringify(memory))})`,
      );
      const proofs: string[] = [];
      page.on('request', (request) => {
        if (request.url().includes('/proof/consistency')) proofs.push(new URL(request.url()).search);
      });
      // Every answer with proofs is replaced by the old one (the same rows, proved against the older checkpoint).
      await page.route(new RegExp(`/v1/ledgers/${LEDGER}/events\\?.*proofs=1`), async (route) => {
        const response = await route.fetch();
        const body = (await response.json()) as { events: Array<{ index: number }>; checkpoint: string };
        const wanted = new Set(body.events.map((event) => event.index));
        await route.fulfill({ response, json: { ...body, events: old.events.filter((event) => wanted.has(event.index)), checkpoint: old.checkpoint } });
      });
      await signIn(page, server, reader, `/#/search?ledger=${LEDGER}&q=index:0..${TOTAL - 1}`);
      const rows = page.getByRole('region', { name: 'Search results' }).locator('tbody tr[data-key]');
      await rows.locator('.verify-cell .state-verified').nth(TOTAL - 1).waitFor();
      assert.deepEqual(proofs, [`?from=${TOTAL}&to=${TOTAL + 3}`], 'a proof from the older size to the remembered one');
      assert.equal((await remembered(page))[LEDGER]!.size, TOTAL + 3, 'the larger checkpoint stays remembered');
      await page.unrouteAll({ behavior: 'wait' });
      await context.close();
      assertNoOffHostRequests(browser);
    });
  });
}
