/**
 * What an evidence bundle needs to prove its redactions were authorised: the system ledger's forgetting
 * records (src/core/forgetting.ts) that name them, each with its inclusion proof in the system ledger's
 * latest signed checkpoint (the grants come from SealedGrants).
 */
import { SYSTEM_LEDGER } from '../core/forgetting.js';
import type { BundleForgetting, BundleRecordInput } from '../core/bundle/index.js';
import { SealedGrants } from '../store/forget.js';
import type { Store } from '../store/store.js';
import type { CryptoSuite } from '../core/crypto.js';
import type { NoteVerifier } from '../core/note.js';

export type ProofReader = (ledger: string, indexes: number[], size: number) => Promise<Uint8Array[][]>;

/** The records for a bundle of `ledger`. */
export function bundleForgetting(store: Store, suite: CryptoSuite, verifiers: NoteVerifier[], ledger: string, proofs: ProofReader): BundleForgetting {
  const grants = new SealedGrants(store, suite, verifiers);
  return {
    async recordFor(index, path, reason, receivedAtMicros) {
      return (await grants.find(ledger, index, path, reason, receivedAtMicros))?.record;
    },
    async records(indexes) {
      const head = await store.latestCheckpoint(SYSTEM_LEDGER);
      if (!head) throw new Error('the system ledger has no checkpoint');
      const entries = [];
      for (const index of indexes) {
        const entry = await store.getEntry(SYSTEM_LEDGER, index);
        if (entry && index < head.size) entries.push(entry);
      }
      const paths = await proofs(SYSTEM_LEDGER, entries.map((e) => e.index), head.size);
      const records: BundleRecordInput[] = entries.map((entry, i) => ({ index: entry.index, leaf: entry.leaf, disclosures: entry.disclosures, inclusionProof: paths[i]! }));
      return { checkpoint: head.note, records };
    },
  };
}
