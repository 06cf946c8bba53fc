/**
 * What an evidence bundle needs to prove its redactions were authorised: the system ledger's forgetting
 * records (src/core/forgetting.ts) that name them, each with its inclusion proof in the system ledger's
 * latest signed checkpoint. The grants are read once per bundle through the search index (the action
 * column), and read again only if a redaction names none of them — a record sealed since.
 */
import { decodeLeaf } from '../core/leaf.js';
import { parseQuery } from '../core/query.js';
import { FORGET_ACTION, ForgetAuthorisations, grantOf, SYSTEM_LEDGER } from '../core/forgetting.js';
import type { BundleForgetting, BundleRecordInput } from '../core/bundle/index.js';
import type { Store } from '../store/store.js';

const PAGE = 1000;
const RECORDS = parseQuery(`action:${FORGET_ACTION}`);

export type ProofReader = (ledger: string, indexes: number[], size: number) => Promise<Uint8Array[][]>;

/** The records for a bundle of `ledger`. */
export function bundleForgetting(store: Store, ledger: string, proofs: ProofReader): BundleForgetting {
  let authority: ForgetAuthorisations | undefined;
  /** Size of the system ledger when the grants were read: a miss reads them again only if it grew. */
  let loadedAt = -1;
  const systemSize = async () => (await store.getLedger(SYSTEM_LEDGER))?.size ?? 0;
  const load = async () => {
    loadedAt = await systemSize();
    const next = new ForgetAuthorisations();
    let after: number | undefined;
    while (loadedAt > 0) {
      const page = await store.search(SYSTEM_LEDGER, { query: RECORDS, limit: PAGE, order: 'asc', ...(after !== undefined ? { after } : {}) });
      for (const entry of page.entries) {
        const envelope = decodeLeaf(entry.leaf);
        // The auditor's verifier judges every record; a damaged one here is simply not offered.
        try {
          const grant = grantOf(envelope.writer, envelope.commitments, entry.disclosures);
          if (grant) next.add(grant, { record: entry.index, legacy: grant.legacy === true });
        } catch {
          continue;
        }
      }
      if (page.next === null) break;
      after = page.next;
    }
    authority = next;
  };
  return {
    async recordFor(index, path, reason) {
      if (!authority) await load();
      let found = authority!.find(ledger, index, path, reason);
      if (!found && (await systemSize()) > loadedAt) {
        await load();
        found = authority!.find(ledger, index, path, reason);
      }
      return found?.record;
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
