/**
 * Forgetting records (src/core/forgetting.ts): grants cover exactly the requested fields, split so that
 * every record is a valid audit event, and the authorisation index finds a grant only for the ledger,
 * entry, field and reason it names.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { validateEvent } from '../../src/core/event.js';
import {
  checkRedactionsAuthorised,
  ForgetAuthorisations,
  forgetRecordEvent,
  grantOf,
  parseGrant,
  planGrants,
  SERVER_WRITER,
  type GrantRequest,
} from '../../src/core/forgetting.js';

const ACTOR = { type: 'api_key', id: '0123456789abcdef' } as const;
const PATHS = ['actor.email', 'actor.name', 'origin.ip', 'outcome_reason', 'metadata.note', 'targets.0', 'targets.31'];

function authorise(requests: GrantRequest[], reason: 'erased' | 'purged' = 'erased'): ForgetAuthorisations {
  const authorisations = new ForgetAuthorisations();
  planGrants('payments', reason, 'erasure_1', requests).forEach((grant, record) => {
    // Each grant must survive being an event: sealed, stored, parsed back.
    const event = validateEvent(forgetRecordEvent(grant, ACTOR));
    authorisations.add(parseGrant(JSON.parse(JSON.stringify(event.metadata!.forget))), { record, legacy: false, sealedAtMicros: 100 });
  });
  return authorisations;
}

describe('forgetting grants', () => {
  it('merge adjacent entries with the same fields into one range', () => {
    const grants = planGrants('l', 'purged', 'purge_1', [5, 3, 4, 9, 10].map((index) => ({ index, paths: '*' as const })));
    assert.deepEqual(grants.map((g) => g.ranges), [[[3, 5, '*'], [9, 10, '*']]]);
  });

  it('cover exactly what was requested, whatever the mix, each record a valid event', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ index: fc.integer({ min: 0, max: 3000 }), paths: fc.oneof(fc.constant('*' as const), fc.uniqueArray(fc.constantFrom(...PATHS), { minLength: 1 })) }), { maxLength: 900 }),
        (requests) => {
          const authorisations = authorise(requests);
          for (const { index, paths } of requests) {
            for (const path of paths === '*' ? PATHS : paths) assert.ok(authorisations.find('payments', index, path, 'erased', 0), `${index} ${path}`);
          }
          const named = new Set(requests.flatMap(({ index, paths }) => (paths === '*' ? PATHS : paths).map((p) => `${index} ${p}`)));
          for (let index = 0; index <= 3001; index += 7) {
            for (const path of PATHS) {
              if (!named.has(`${index} ${path}`)) assert.equal(authorisations.find('payments', index, path, 'erased', 0), undefined, `${index} ${path} was never named`);
            }
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('split into several records when one would exceed the event limits', () => {
    // Every other entry: no two are adjacent, so each is its own range.
    const requests = Array.from({ length: 2000 }, (_, i) => ({ index: i * 2, paths: ['actor.email', 'origin.ip'] }));
    const grants = planGrants('payments', 'erased', 'erasure_1', requests);
    assert.ok(grants.length >= 8, `${grants.length} records`);
    for (const grant of grants) {
      assert.ok(grant.ranges.length <= 256);
      validateEvent(forgetRecordEvent(grant, ACTOR));
    }
  });

  it('authorise only their own ledger and reason', () => {
    const authorisations = authorise([{ index: 4, paths: ['actor.email'] }]);
    assert.ok(authorisations.find('payments', 4, 'actor.email', 'erased', 0));
    assert.equal(authorisations.find('payments', 4, 'actor.email', 'purged', 0), undefined);
    assert.equal(authorisations.find('other', 4, 'actor.email', 'erased', 0), undefined);
    assert.equal(authorisations.find('payments', 4, 'actor.name', 'erased', 0), undefined);
    assert.throws(() => checkRedactionsAuthorised(authorisations, 'payments', { index: 4, receivedAtMicros: 0, redactions: { 'actor.email': 'erased', outcome: 'erased' } }), /recorded as erased, but no sealed/);
    assert.equal(checkRedactionsAuthorised(authorisations, 'payments', { index: 4, receivedAtMicros: 0, redactions: { 'actor.email': 'erased' } }), 0);
  });

  it('find the right range among many wide and overlapping ones, quickly', () => {
    const authorisations = new ForgetAuthorisations();
    const source = (record: number) => ({ record, legacy: false, sealedAtMicros: 1 });
    // One purge of a million entries beside 50,000 one-entry erasures: the shape that made a linear
    // backward scan quadratic.
    authorisations.add({ ledger: 'l', reason: 'purged', run: 'p', ranges: [[0, 1_000_000, '*']] }, source(0));
    for (let i = 0; i < 50_000; i++) authorisations.add({ ledger: 'l', reason: 'erased', run: 'e', ranges: [[i * 20, i * 20, ['actor.email']]] }, source(i + 1));
    authorisations.add({ ledger: 'l', reason: 'erased', run: 'w', ranges: [[0, 2_000_000, ['origin.ip']]] }, source(99_999));
    const started = performance.now();
    for (let i = 0; i < 50_000; i++) {
      assert.equal(authorisations.find('l', i * 20, 'actor.email', 'erased', 0)?.record, i + 1);
      assert.equal(authorisations.find('l', i * 20 + 1, 'actor.email', 'erased', 0), undefined);
      assert.equal(authorisations.find('l', i * 20 + 1, 'origin.ip', 'erased', 0)?.record, 99_999);
      assert.equal(authorisations.find('l', i * 20 + 1, 'outcome', 'purged', 0)?.record, 0);
    }
    // Generous: a quadratic scan takes minutes here; the tree takes well under a second.
    assert.ok(performance.now() - started < 20_000);
  });

  it('count a legacy attestation only from the first attestation run, for entries received before it', () => {
    const authorisations = new ForgetAuthorisations();
    authorisations.add({ ledger: 'l', reason: 'erased', run: 'attest_1', legacy: true, ranges: [[3, 3, ['actor.email']]] }, { record: 10, legacy: true, sealedAtMicros: 500 });
    authorisations.add({ ledger: 'l', reason: 'erased', run: 'attest_2', legacy: true, ranges: [[4, 4, ['actor.email']]] }, { record: 20, legacy: true, sealedAtMicros: 900 });
    assert.equal(authorisations.find('l', 3, 'actor.email', 'erased', 400)?.record, 10);
    assert.equal(authorisations.find('l', 3, 'actor.email', 'erased', 600), undefined, 'an entry received after the attestation');
    assert.equal(authorisations.find('l', 4, 'actor.email', 'erased', 400), undefined, 'a second attestation run launders nothing');
  });

  it('are read only from the server’s own records, and refuse malformed grants', () => {
    const grant = planGrants('l', 'erased', 'r', [{ index: 1, paths: ['actor.email'] }])[0]!;
    const disclosures = { action: ['s', 'retention.forget'], 'metadata.forget': ['s', grant] } as never;
    const commitments = { action: 'c', 'metadata.forget': 'c' };
    assert.deepEqual(grantOf(SERVER_WRITER, commitments, disclosures), grant);
    assert.equal(grantOf('some-key', commitments, disclosures), undefined, 'a writer key cannot grant');
    assert.throws(() => grantOf(SERVER_WRITER, commitments, { action: ['s', 'retention.forget'] } as never), /lost its grant/);
    for (const bad of [{ ...grant, ranges: [[3, 1, '*']] }, { ...grant, reason: 'gone' }, { ...grant, extra: 1 }, { ...grant, ranges: [[0, 1, 'actor.email']] }]) {
      assert.throws(() => parseGrant(bad), /forgetting record/);
    }
  });
});
