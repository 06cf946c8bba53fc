/**
 * The core must run in a browser: it is bundled for the browser platform (a Node built-in import fails
 * the build) and then run in a bare JavaScript context that has only what browsers have (Web Crypto,
 * TextEncoder/TextDecoder) — no require, process or Buffer — where it verifies a real sealed entry and
 * rejects a tampered one.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { runInContext } from 'node:vm';
import { toBase64 } from '../../src/core/bytes.js';
import { SaltSource, type Disclosures } from '../../src/core/commitments.js';
import { signCheckpoint } from '../../src/core/checkpoint.js';
import { portableSigner } from '../../src/core/crypto.js';
import { sealEvent } from '../../src/core/leaf.js';
import { formatVerifierKey } from '../../src/core/note.js';
import { Frontier, planInclusionProof } from '../../src/core/tree.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { loadInBrowserContext } from '../helpers/browser.js';
import { sampleEvent } from '../helpers/events.js';

it('bundles for the browser and verifies entries with only browser globals', async () => {

  // Seal three events and sign a checkpoint on the server side (node:crypto).
  const signer = portableSigner(new Uint8Array(32).fill(7));
  const frontier = new Frontier();
  const sealed = [0, 1, 2].map((index) => {
    const entry = sealEvent(nodeSuite, { ledger: 'web', index, receivedAtMicros: 1_795_680_000_000_000, writer: 'k1', event: sampleEvent(index) }, new SaltSource(nodeSuite));
    frontier.append(nodeSuite, entry.leafHash);
    return entry;
  });
  const checkpoint = signCheckpoint(nodeSuite, { origin: 'browser.test/web', size: 3, rootHash: frontier.root(nodeSuite), extensions: [] }, [{ name: 'browser.test', signer }]);
  const plan = planInclusionProof(nodeSuite, 1, 3);
  const proof = plan.finish(plan.reads.map((r) => sealed.slice(r.start, r.end).map((e) => e.leafHash)));
  const input = {
    verifierKey: formatVerifierKey(nodeSuite, 'browser.test', signer.publicKey),
    checkpoint,
    leaf: toBase64(sealed[1]!.leaf),
    disclosures: sealed[1]!.disclosures satisfies Disclosures,
    proof: proof.map(toBase64),
  };

  const context = await loadInBrowserContext(fileURLToPath(new URL('../../src/core/index.ts', import.meta.url)), 'sealtrailCore', { input: JSON.parse(JSON.stringify(input)) });
  const outcome = runInContext(
    `(() => {
      const { verifyEntries, fromBase64 } = sealtrailCore;
      const verify = (disclosures) => verifyEntries({
        verifierKeys: [input.verifierKey],
        checkpoint: input.checkpoint,
        entries: [{ index: 1, leaf: fromBase64(input.leaf), disclosures, inclusionProof: input.proof.map(fromBase64) }],
      });
      const ok = verify(input.disclosures).entries[0];
      const tampered = { ...input.disclosures, 'actor.id': [input.disclosures['actor.id'][0], 'mallory'] };
      let failure = '';
      try { verify(tampered); } catch (e) { failure = e.code + ' ' + e.details.field; }
      return JSON.stringify({ actor: ok.event.actor.id, typeofRequire: typeof require, typeofProcess: typeof process, failure });
    })()`,
    context,
  );
  assert.deepEqual(JSON.parse(outcome), { actor: 'u-1', typeofRequire: 'undefined', typeofProcess: 'undefined', failure: 'VERIFICATION_FAILED actor.id' });
});
