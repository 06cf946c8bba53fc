/**
 * Evidence bundles (docs/FORMAT.md "Evidence bundles", docs/API.md):
 *   POST /v1/ledgers/{ledger}/bundle   {q, withhold, checkpoints, size}  →  application/zip
 *
 * The bundle is built here because the store has what proofs need (readHashes) next to the entries; it
 * is streamed: events are read a page at a time in index order, each with its inclusion proof, and the
 * archive's bytes leave as the client reads them (a pull-based Readable over the core writer), so
 * memory stays bounded by one events part whatever the selection.
 *
 * Everything that can be refused is checked before the first byte, as an ordinary JSON error: the query,
 * the withhold paths, and each checkpoint the requester supplied — it must carry this deployment's
 * signature for this ledger, lie within this ledger's history, and match that history's root at its
 * size. A signed checkpoint that does not is evidence of a rollback or a fork: it is refused with 409
 * rather than packed into a bundle that could only fail verification. The first page of the selection
 * and its proofs are read before the first byte too, so that a query the store refuses (free text too
 * short, over its cost budget) is a JSON error and its access record a failure, not a 200 with a cut zip.
 *
 * A failure after the first byte (a later page, the client going away) cannot change the status any
 * more: the archive stops where it is, without its central directory (written last), so no zip reader
 * and no verifier accepts it, and a second access record says the export failed (recordIncompleteBundle).
 *
 * Read access is as for search: reader, auditor or admin, in scope; a tenant-scoped key bundles only its
 * tenants' events (scopedQuery), and every entry is checked against that scope again before it is packed.
 */
import { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bytesEqual } from '../../core/bytes.js';
import { validateEvent, type AuditEvent } from '../../core/event.js';
import { isIPv4, isIPv6 } from '../../core/ip.js';
import { openCheckpoint, type Checkpoint } from '../../core/checkpoint.js';
import { parseVerifierKey } from '../../core/note.js';
import type { Query } from '../../core/query.js';
import { formatMicros } from '../../core/time.js';
import { planConsistencyProof, planRootHash } from '../../core/tree.js';
import { isWithholdSpec, MAX_AUDITOR_CHECKPOINTS, writeBundle, type BundleEventInput } from '../../core/bundle/index.js';
import type { Store, StoredCheckpoint } from '../../store/store.js';
import { inclusionProofs } from '../../store/proofs.js';
import { clean, SERVER_WRITER, SYSTEM_LEDGER } from '../access-log.js';
import type { AppContext } from '../app.js';
import { ledgerNotFound, requireLedger, tenantInScope, type Principal } from '../auth.js';
import { ApiError } from '../errors.js';
import { BODY_ERRORS, keyedErrors, LedgerParams } from '../schemas.js';
import { scopedQuery } from './search.js';
import { bundleForgetting } from '../forgetting-records.js';

/** Entries read per store.search call (its maximum). */
const PAGE = 1000;

export const BundleRequest = Type.Object(
  {
    q: Type.Optional(Type.String({ maxLength: 2000, description: 'Query selecting the events (docs/SEARCH.md); empty selects every event.' })),
    withhold: Type.Optional(
      Type.Array(Type.String({ maxLength: 80 }), {
        maxItems: 100,
        description: 'Field paths (e.g. "origin.ip") or groups ("actor", "origin", "targets", "metadata") whose disclosures are left out.',
      }),
    ),
    checkpoints: Type.Optional(
      Type.Array(Type.String({ maxLength: 8192 }), {
        maxItems: MAX_AUDITOR_CHECKPOINTS,
        description: 'Signed checkpoints the auditor holds (older or newer); the bundle carries a consistency proof for each.',
      }),
    ),
    size: Type.Optional(
      Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Tree size of a stored checkpoint to prove against (default: the latest).' }),
    ),
  },
  { additionalProperties: false },
);

interface BundleBody {
  q?: string;
  withhold?: string[];
  checkpoints?: string[];
  size?: number;
}


export async function bundleRoutes(app: FastifyInstance, { store, suite, verifierKey }: AppContext): Promise<void> {
  const verifier = parseVerifierKey(suite, verifierKey);

  app.post<{ Params: { ledger: string }; Body: BundleBody }>(
    '/ledgers/:ledger/bundle',
    {
      schema: {
        summary: 'An evidence bundle: the selected events with disclosures and proofs, as a zip an auditor verifies offline.',
        description:
          'Streams application/zip (layout in docs/FORMAT.md, "Evidence bundles"). Verify it with `sealtrail verify-bundle FILE --key KEY`. ' +
          'Every refusal, including a query the store refuses when it runs, is a JSON error before the first byte; a failure after it cuts the archive short, which no verifier accepts.',
        params: LedgerParams,
        body: BundleRequest,
        produces: ['application/zip'],
        response: {
          200: { description: 'The bundle (application/zip).', content: { 'application/zip': { schema: { type: 'string', format: 'binary' } } } },
          ...keyedErrors(BODY_ERRORS, 'FORBIDDEN', 'LEDGER_NOT_FOUND', 'NOT_FOUND', 'MALFORMED', 'BAD_SIGNATURE', 'CHECKPOINT_CONFLICT', 'QUERY_TOO_COSTLY', 'QUERY_TIMEOUT'),
        },
      },
      config: { accessMetadata: bundleSelection },
    },
    async (request, reply) => {
      const { ledger } = request.params;
      requireLedger(request.principal, ledger, 'read');
      const body = request.body ?? {};
      const withhold = body.withhold ?? [];
      for (const spec of withhold) {
        if (!isWithholdSpec(spec)) throw new ApiError(400, 'INVALID_ARGUMENT', `cannot withhold ${JSON.stringify(spec)}: not a field path or group`, { path: spec });
      }
      const query = scopedQuery(body.q, request.principal);
      const head = await bundleCheckpoint(store, ledger, body.size);
      const origin = `${verifier.name}/${ledger}`;
      const auditorCheckpoints = [];
      for (const [k, note] of (body.checkpoints ?? []).entries()) {
        auditorCheckpoints.push({ note, proof: await proofFor(store, suite, verifier, ledger, origin, head, note, k) });
      }
      const pageAfter = (after: number | undefined) => selectedPage(store, suite, ledger, query, head.size, request.principal, after);
      const firstPage = await pageAfter(undefined);
      const exportedAt = formatMicros(Date.now() * 1000);
      const stream = Readable.from(
        writeBundle({
          suite,
          ledger,
          query: body.q ?? '',
          exportedAt,
          verifierKey,
          checkpoint: head.note,
          withhold,
          auditorCheckpoints,
          events: selectedEvents(firstPage, pageAfter),
          forgetting: bundleForgetting(store, suite, [verifier], ledger, (l, indexes, size) => inclusionProofs(store, suite, l, indexes, size)),
        }),
        { objectMode: false },
      );
      recordIncompleteBundle(stream, request, reply, store, ledger);
      const filename = `${ledger}-${head.size}-${exportedAt.slice(0, 10)}.zip`;
      return reply.type('application/zip').header('content-disposition', `attachment; filename="${filename}"`).send(stream);
    },
  );
}

/** The stored checkpoint to prove against: the latest, or the one of exactly `size`. */
async function bundleCheckpoint(store: Store, ledger: string, size: number | undefined): Promise<StoredCheckpoint> {
  const head = size === undefined ? await store.latestCheckpoint(ledger) : (await store.checkpoints(ledger, size, size))[0];
  if (head) return head;
  if (!(await store.getLedger(ledger))) throw ledgerNotFound(ledger);
  throw new ApiError(404, 'NOT_FOUND', size === undefined ? 'this ledger has no checkpoint yet' : `no checkpoint of size ${size}`);
}

/**
 * The consistency proof between a supplied checkpoint and the bundle's, from the smaller size to the
 * larger. The supplied one must be signed by this deployment for this ledger, and this ledger's root at
 * its size must be its root: otherwise the proof could not verify, and the requester needs to know why.
 */
async function proofFor(
  store: Store,
  suite: AppContext['suite'],
  verifier: ReturnType<typeof parseVerifierKey>,
  ledger: string,
  origin: string,
  head: StoredCheckpoint,
  note: string,
  k: number,
): Promise<Uint8Array[]> {
  let supplied: Checkpoint;
  try {
    supplied = openCheckpoint(suite, note, [verifier], origin).checkpoint;
  } catch (cause) {
    throw new ApiError(400, 'BAD_SIGNATURE', `checkpoints[${k}]: ${(cause as Error).message}`, { checkpoint: k });
  }
  const latest = (await store.latestCheckpoint(ledger))?.size ?? 0;
  if (supplied.size > latest) {
    throw new ApiError(
      409,
      'CHECKPOINT_CONFLICT',
      `checkpoints[${k}] is signed for size ${supplied.size}, but ${ledger} has only ${latest} entries: the ledger was rolled back or the checkpoint comes from another copy`,
      { checkpoint: k, size: supplied.size, latest },
    );
  }
  const rootPlan = planRootHash(suite, supplied.size);
  const root = rootPlan.finish(await store.readHashes(ledger, rootPlan.reads));
  if (!bytesEqual(root, supplied.rootHash)) {
    throw new ApiError(
      409,
      'CHECKPOINT_CONFLICT',
      `checkpoints[${k}] (size ${supplied.size}) has another root than ${ledger} at that size: the ledger's history was rewritten or forked`,
      { checkpoint: k, size: supplied.size },
    );
  }
  const from = Math.min(supplied.size, head.size);
  const to = Math.max(supplied.size, head.size);
  if (from === 0) return [];
  const plan = planConsistencyProof(suite, from, to);
  return plan.finish(await store.readHashes(ledger, plan.reads));
}

/** The selection's events from `first` on, page after page, in index order. */
async function* selectedEvents(first: SelectedPage, pageAfter: (after: number) => Promise<SelectedPage>): AsyncGenerator<BundleEventInput> {
  for (let page = first; ; page = await pageAfter(page.next!)) {
    yield* page.events;
    if (page.next === undefined) return;
  }
}

interface SelectedPage {
  events: BundleEventInput[];
  /** `after` of the next page; undefined when this was the last. */
  next: number | undefined;
}

/** One page of the selection with its inclusion proofs (read before the first byte for the first page). */
async function selectedPage(
  store: Store,
  suite: AppContext['suite'],
  ledger: string,
  query: Query,
  size: number,
  principal: Principal,
  after: number | undefined,
): Promise<SelectedPage> {
  const page = await store.search(ledger, { query, limit: PAGE, order: 'asc', ...(after !== undefined ? { after } : {}) });
  // Entries appended after the checkpoint was read are not in its tree: the snapshot ends there.
  const entries = page.entries.filter((e) => e.index < size && tenantInScope(principal, e.disclosures.tenant?.[1]));
  const proofs = await inclusionProofs(store, suite, ledger, entries.map((e) => e.index), size);
  const events = entries.map((entry, i) => ({
    index: entry.index,
    leaf: entry.leaf,
    disclosures: entry.disclosures,
    inclusionProof: proofs[i]!,
    ...(entry.redactions ? { redactions: entry.redactions } : {}),
  }));
  const last = page.next === null || page.entries.some((e) => e.index >= size);
  return { events, next: last ? undefined : (page.next as number) };
}

/**
 * The access record of a bundle request is sealed before the first byte (access-log.ts, fail closed)
 * and can only say what was known then: that the export started. If the stream then fails, or the
 * client leaves before the end, a second bundle.export record with outcome failure says the archive
 * was cut short. The reason names the error code only: a message could carry the query's text.
 */
function recordIncompleteBundle(stream: Readable, request: FastifyRequest, reply: FastifyReply, store: Store, ledger: string): void {
  let recorded = false;
  const record = (reason: string) => {
    if (recorded) return;
    recorded = true;
    const ip = isIPv4(request.ip) || isIPv6(request.ip) ? request.ip : undefined;
    const event: AuditEvent = {
      actor: { type: 'api_key', id: request.principal.id },
      action: 'bundle.export',
      category: 'export',
      targets: [{ type: 'ledger', id: clean(ledger, 256) }],
      ...(ip ? { origin: { ip } } : {}),
      outcome: 'failure',
      outcome_reason: reason,
      metadata: { route: 'POST /v1/ledgers/:ledger/bundle', status: reply.statusCode, stage: 'streaming', ...bundleSelection(request) },
    };
    Promise.resolve()
      .then(() => store.append(SYSTEM_LEDGER, [{ event: validateEvent(event), writer: SERVER_WRITER }]))
      .catch((error: unknown) => request.log.error({ err: error }, 'could not record that a bundle export was cut short'));
  };
  stream.once('error', (error: Error & { code?: unknown }) => {
    const code = typeof error.code === 'string' && /^[A-Z_]{1,64}$/.test(error.code) ? error.code : 'INTERNAL';
    record(`failed while streaming (${code}): the client received a truncated archive`);
  });
  reply.raw.once('close', () => {
    if (!stream.readableEnded) record('the connection closed before the bundle ended: the client received a truncated archive');
  });
}

/** What a bundle request selected, for its access record (access-log.ts); the body may have failed validation. */
function bundleSelection(request: FastifyRequest): Record<string, unknown> {
  const body = (request.body ?? {}) as BundleBody;
  const selection: Record<string, unknown> = {};
  if (typeof body.q === 'string' && body.q !== '') selection.query = clean(body.q, 1024);
  if (Array.isArray(body.withhold) && body.withhold.length > 0) selection.withheld = clean(body.withhold.join(','), 1024);
  if (Array.isArray(body.checkpoints)) selection.auditor_checkpoints = body.checkpoints.length;
  return selection;
}
