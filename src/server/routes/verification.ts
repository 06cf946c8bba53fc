/**
 * The verification read paths fixed by the design brief (other tools rely on them):
 *   GET /v1/ledgers/{ledger}/checkpoint                       text/plain signed note
 *   GET /v1/ledgers/{ledger}/entries/{index}                  {"leaf": base64 of the exact leaf bytes, ...}
 *   GET /v1/ledgers/{ledger}/proof/inclusion?index=I&size=N   {"index","size","hashes":[base64…]}
 *   GET /v1/ledgers/{ledger}/proof/consistency?from=M&to=N    {"from","to","hashes":[base64…]}
 *   GET /v1/verifier-key                                      text/plain verifier key (no token needed)
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { toBase64 } from '../../core/bytes.js';
import { eventFromDisclosures } from '../../core/commitments.js';
import { formatMicros } from '../../core/time.js';
import { planConsistencyProof } from '../../core/tree.js';
import { inclusionProofs } from '../../store/proofs.js';
import type { Store } from '../../store/store.js';
import type { AppContext } from '../app.js';
import { can, requireLedger, tenantInScope } from '../auth.js';
import { ApiError } from '../errors.js';
import { ConsistencyProofBody, EntryBody, errorResponses, IndexParam, InclusionProofBody, keyedErrors, LedgerParams } from '../schemas.js';

const TEXT = 'text/plain; charset=utf-8';

async function treeSize(store: Store, ledger: string): Promise<number> {
  const latest = await store.latestCheckpoint(ledger);
  if (latest === undefined && !(await store.getLedger(ledger))) {
    throw new ApiError(404, 'LEDGER_NOT_FOUND', `no ledger named ${JSON.stringify(ledger)}`);
  }
  return latest?.size ?? 0;
}

export async function verificationRoutes(app: FastifyInstance, { store, suite, verifierKey }: AppContext): Promise<void> {
  app.get(
    '/verifier-key',
    {
      config: { public: true },
      schema: {
        summary: 'The signed-note verifier key of this deployment.',
        security: [],
        produces: ['text/plain'],
        response: { 200: { type: 'string', description: 'The verifier key (text/plain), e.g. `name+1a2b3c4d+AbC…`.' }, ...errorResponses('RATE_LIMITED', 'INTERNAL') },
      },
    },
    async (_request, reply) => reply.type(TEXT).send(`${verifierKey}\n`),
  );

  app.get<{ Params: { ledger: string }; Querystring: { size?: number } }>(
    '/ledgers/:ledger/checkpoint',
    {
      schema: {
        summary: 'The latest signed checkpoint, or the one of tree size `size`.',
        params: LedgerParams,
        querystring: Type.Object({ size: Type.Optional(IndexParam) }),
        produces: ['text/plain'],
        response: { 200: { type: 'string', description: 'The signed checkpoint (text/plain, a C2SP signed note).' }, ...keyedErrors('LEDGER_NOT_FOUND', 'NOT_FOUND') },
      },
    },
    async (request, reply) => {
      const { ledger } = request.params;
      requireLedger(request.principal, ledger, 'verify');
      const size = request.query.size;
      const checkpoint =
        size === undefined ? await store.latestCheckpoint(ledger) : (await store.checkpoints(ledger, size, size))[0];
      if (!checkpoint) {
        await treeSize(store, ledger);
        throw new ApiError(404, 'NOT_FOUND', size === undefined ? 'this ledger has no checkpoint yet' : `no checkpoint of size ${size}`);
      }
      return reply.type(TEXT).send(checkpoint.note);
    },
  );

  app.get<{ Params: { ledger: string; index: number } }>(
    '/ledgers/:ledger/entries/:index',
    {
      schema: {
        summary: 'One sealed entry: its exact leaf bytes and, for roles that may read events, its disclosures.',
        params: Type.Composite([LedgerParams, Type.Object({ index: IndexParam })]),
        response: { 200: EntryBody, ...keyedErrors('LEDGER_NOT_FOUND', 'NOT_FOUND', 'CORRUPT') },
      },
    },
    async (request) => {
      const { ledger, index } = request.params;
      requireLedger(request.principal, ledger, 'verify');
      const entry = await store.getEntry(ledger, index);
      // A tenant-scoped key sees another tenant's entry exactly as a missing one.
      if (!entry || !tenantInScope(request.principal, entry.disclosures.tenant?.[1])) {
        await treeSize(store, ledger);
        throw new ApiError(404, 'NOT_FOUND', `no entry ${index} in ${ledger}`);
      }
      const readable = can(request.principal, 'read');
      return {
        ledger,
        index,
        leaf: toBase64(entry.leaf),
        leaf_hash: toBase64(entry.leafHash),
        received_at: formatMicros(entry.receivedAtMicros),
        ...(readable ? { disclosures: entry.disclosures, event: eventFromDisclosures(entry.disclosures) } : {}),
        ...(readable && entry.redactions ? { redacted: entry.redactions } : {}),
      };
    },
  );

  app.get<{ Params: { ledger: string }; Querystring: { index: number; size?: number } }>(
    '/ledgers/:ledger/proof/inclusion',
    {
      schema: {
        summary: 'RFC 9162 inclusion proof of leaf `index` in the tree of size `size` (default: latest checkpoint).',
        params: LedgerParams,
        querystring: Type.Object({ index: IndexParam, size: Type.Optional(IndexParam) }),
        response: { 200: InclusionProofBody, ...keyedErrors('LEDGER_NOT_FOUND', 'CORRUPT') },
      },
    },
    async (request) => {
      const { ledger } = request.params;
      requireLedger(request.principal, ledger, 'verify');
      const latest = await treeSize(store, ledger);
      const { index } = request.query;
      const size = request.query.size ?? latest;
      if (size > latest) throw new ApiError(400, 'INVALID_ARGUMENT', `size ${size} is beyond the latest checkpoint (${latest})`);
      if (index >= size) throw new ApiError(400, 'INVALID_ARGUMENT', `index ${index} is not below size ${size}`);
      // Through the store's cache of full tiles' interior nodes: a few lookups instead of ~750 SHA-256 calls at 1M leaves.
      const [hashes] = await inclusionProofs(store, suite, ledger, [index], size);
      return { index, size, hashes: hashes!.map(toBase64) };
    },
  );

  app.get<{ Params: { ledger: string }; Querystring: { from: number; to?: number } }>(
    '/ledgers/:ledger/proof/consistency',
    {
      schema: {
        summary: 'RFC 9162 consistency proof between tree sizes `from` and `to` (default: latest checkpoint).',
        params: LedgerParams,
        querystring: Type.Object({ from: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }), to: Type.Optional(IndexParam) }),
        response: { 200: ConsistencyProofBody, ...keyedErrors('LEDGER_NOT_FOUND', 'CORRUPT') },
      },
    },
    async (request) => {
      const { ledger } = request.params;
      requireLedger(request.principal, ledger, 'verify');
      const latest = await treeSize(store, ledger);
      const { from } = request.query;
      const to = request.query.to ?? latest;
      if (to > latest) throw new ApiError(400, 'INVALID_ARGUMENT', `to ${to} is beyond the latest checkpoint (${latest})`);
      if (from > to) throw new ApiError(400, 'INVALID_ARGUMENT', `from ${from} is greater than to ${to}`);
      const plan = planConsistencyProof(suite, from, to);
      const hashes = plan.finish(await store.readHashes(ledger, plan.reads));
      return { from, to, hashes: hashes.map(toBase64) };
    },
  );
}
