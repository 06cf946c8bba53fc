/**
 * Store.forget as the server calls it: the forgetting records that authorise the removal are sealed in
 * the system ledger first (authoriseForget), so that the database accepts the redactions and
 * verification finds each one named. Dry runs need no record.
 */
import type { Redaction } from '../../src/core/commitments.js';
import { authoriseForget } from '../../src/store/forget.js';
import type { ForgetOptions, ForgetRequest, ForgetResult, Store } from '../../src/store/store.js';

const ACTOR = { type: 'system', id: 'test' } as const;

export async function forgetSealed(store: Store, ledger: string, requests: ForgetRequest[], options: ForgetOptions = {}): Promise<ForgetResult> {
  if (options.dryRun) return store.forget(ledger, requests, options);
  const bound = [...requests];
  for (const reason of ['erased', 'purged'] as Redaction[]) {
    const positions = requests.flatMap((r, i) => (r.reason === reason ? [i] : []));
    const authorised = await authoriseForget(store, ledger, reason, `test_${reason}`, ACTOR, positions.map((i) => requests[i]!));
    positions.forEach((at, k) => (bound[at] = authorised[k]!));
  }
  return store.forget(ledger, bound, options);
}
