/**
 * What the running server trusts of a ledger without verifying all of it: its latest checkpoint,
 * when signed by this deployment's key for that ledger's origin, and entries proven included in that
 * tree. The key registry and the forgetting-record lookup read the system ledger this way, so that a
 * row planted by someone who can write the database but not sign counts for nothing.
 */
import { openCheckpoint } from '../core/checkpoint.js';
import type { CryptoSuite } from '../core/crypto.js';
import type { NoteVerifier } from '../core/note.js';
import { hashLeaf, planInclusionProof, verifyInclusion } from '../core/tree.js';
import type { Store, StoredEntry } from './store.js';

export interface SignedTree {
  size: number;
  root: Uint8Array;
}

/**
 * The ledger's latest checkpoint as signed: size 0 when it has none. Throws when the signature does
 * not verify, or the checkpoint is signed for another origin.
 */
export async function latestSignedTree(store: Store, suite: CryptoSuite, verifiers: NoteVerifier[], ledger: string): Promise<SignedTree> {
  const latest = await store.latestCheckpoint(ledger);
  if (!latest) return { size: 0, root: new Uint8Array() };
  const { checkpoint } = openCheckpoint(suite, latest.note, verifiers);
  if (!verifiers.some((v) => checkpoint.origin === `${v.name}/${ledger}`)) throw new Error(`the ${ledger} ledger's latest checkpoint is for origin ${checkpoint.origin}`);
  return { size: checkpoint.size, root: checkpoint.rootHash };
}

/** Throws unless the entry's stored leaf is included at its index in `tree`. */
export async function proveIncluded(store: Store, suite: CryptoSuite, ledger: string, entry: StoredEntry, tree: SignedTree): Promise<void> {
  const plan = planInclusionProof(suite, entry.index, tree.size);
  const proof = plan.finish(await store.readHashes(ledger, plan.reads));
  verifyInclusion(suite, entry.index, tree.size, hashLeaf(suite, entry.leaf), proof, tree.root);
}
