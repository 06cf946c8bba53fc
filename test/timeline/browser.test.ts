/**
 * The timeline's analysis runs in a browser, as the console needs: bundled for the browser platform (a
 * Node built-in import fails the build) and run where only browser globals exist.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { runInContext } from 'node:vm';
import { loadInBrowserContext } from '../helpers/browser.js';

it('bundles the analysis for the browser and assembles a timeline with only browser globals', async () => {
  const context = await loadInBrowserContext(fileURLToPath(new URL('../../src/timeline/analysis.ts', import.meta.url)), 'sealtrailTimeline', {});
  const outcome = runInContext(
    `(() => {
      const { assembleTimeline } = sealtrailTimeline;
      const at = (minute) => Date.UTC(2026, 10, 20, 9, minute) * 1000;
      const login = (minute, outcome, ip, location) => ({ ledger: 'web', index: minute, receivedAtMicros: at(minute), event: { actor: { id: 'a' }, action: 'auth.login', category: 'auth', outcome, origin: { ip } }, location });
      const berlin = { country: 'DE', latitude: 52.52, longitude: 13.405 };
      const tokyo = { country: 'JP', latitude: 35.6895, longitude: 139.6917 };
      const history = { from: null, tenants: new Set(), targetTypes: new Set(), targets: new Set(), complete: true };
      const t = assembleTimeline({ actor: 'a', fromMicros: at(0), toMicros: at(59), ledgers: ['web'], history, sharedAddresses: [],
        events: [login(0, 'success', '192.0.2.1', berlin), login(30, 'failure', '192.0.2.2', tokyo), login(31, 'failure', '192.0.2.2', tokyo), login(32, 'failure', '192.0.2.2', tokyo), login(33, 'success', '192.0.2.2', tokyo)] });
      return JSON.stringify({ runs: t.auth_runs.length, implausible: t.travel[0].implausible, nearBerlinTokyo: Math.abs(t.travel[0].distance_km - 8918) < 10, typeofProcess: typeof process });
    })()`,
    context,
  );
  assert.deepEqual(JSON.parse(outcome), { runs: 1, implausible: true, nearBerlinTokyo: true, typeofProcess: 'undefined' });
});
