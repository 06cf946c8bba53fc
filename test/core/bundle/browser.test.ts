/**
 * The bundle verifier must run in a browser: src/core/bundle is bundled for the browser platform (a
 * Node built-in import fails the build) and run in a bare context with only browser globals, where it
 * verifies a real bundle and rejects a tampered one.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { runInContext } from 'node:vm';
import { unzipSync, zipSync } from 'fflate';
import { fromUtf8, utf8 } from '../../../src/core/bytes.js';
import { loadInBrowserContext } from '../../helpers/browser.js';
import { sampleEvent } from '../../helpers/events.js';
import { MemoryLedger, verifierKey } from './helpers.js';

it('bundles for the browser and verifies a bundle with only browser globals', async () => {

  const ledger = new MemoryLedger('web');
  ledger.append(Array.from({ length: 20 }, (_, i) => sampleEvent(i)));
  const archive = await ledger.bundle({ withhold: ['origin.ip'] });
  // The same bundle with one disclosed value changed (and re-zipped).
  const files = unzipSync(archive);
  files['events/part-00000.jsonl'] = new Uint8Array(utf8(fromUtf8(files['events/part-00000.jsonl']!).replace('"u-3"', '"u-9"')));
  const tampered = zipSync(files);

  const context = await loadInBrowserContext(fileURLToPath(new URL('../../../src/core/bundle/index.ts', import.meta.url)), 'sealtrailBundle', { archive: new Uint8Array(archive), tampered, verifierKey });
  const outcome = runInContext(
    `(() => {
      const ok = sealtrailBundle.verifyBundle({ files: archive, verifierKey });
      const bad = sealtrailBundle.verifyBundle({ files: tampered, verifierKey });
      return JSON.stringify({ ok: ok.ok, events: ok.verifiedEvents, bad: bad.ok, typeofProcess: typeof process, typeofRequire: typeof require });
    })()`,
    context,
  );
  assert.deepEqual(JSON.parse(outcome), { ok: true, events: 20, bad: false, typeofProcess: 'undefined', typeofRequire: 'undefined' });
});
