/**
 * Search (docs/SEARCH.md):
 *   GET /v1/ledgers/{ledger}/events?q=&limit=&cursor=&order=&proofs=1   one ledger
 *   GET /v1/events?q=&ledgers=a,b&limit=&cursor=                          several ledgers, newest first
 *   GET /v1/ledgers/{ledger}/stats?q=&by=&limit=                         counts and histograms
 * A key scoped to tenants only ever matches its tenants' events: the restriction is added to the query.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { fromBase64Url, toBase64, toBase64Url, utf8, fromUtf8 } from '../../core/bytes.js';
import { eventFromDisclosures } from '../../core/commitments.js';
import { parseQuery, QUERY_LIMITS, type Query } from '../../core/query.js';
import { inclusionProofs } from '../../store/proofs.js';
import { formatMicros } from '../../core/time.js';
import { STATS_DIMENSIONS, type SearchHit, type StatsDimension, type Store } from '../../store/store.js';
import type { AppContext } from '../app.js';
import { inScope, requireLedger, type Principal } from '../auth.js';
import { ApiError } from '../errors.js';
import { keyedErrors, LedgerParams, Redacted } from '../schemas.js';

const MAX_LIMIT = 1000;
const MAX_LIMIT_WITH_PROOFS = 100;

/**
 * The query parameter's schema. Beyond its length, the parser bounds its cost (terms, free-text values,
 * values per key, wildcard and range values): over a bound it answers 400 QUERY_TOO_COSTLY; a read past
 * the store's time budget answers 503 QUERY_TIMEOUT (docs/SEARCH.md "Limits").
 */
const QueryText = (description: string) =>
  Type.String({
    maxLength: QUERY_LIMITS.maxLength,
    description:
      `${description} At most ${QUERY_LIMITS.maxTerms} terms, ${QUERY_LIMITS.maxTextValues} free-text values, ${QUERY_LIMITS.maxValuesPerKey} values of one key ` +
      `and ${QUERY_LIMITS.maxPatternValues} wildcard, time, index or IP values (else 400 QUERY_TOO_COSTLY); a read past the time budget answers 503 QUERY_TIMEOUT.`,
  });

const SearchQuery = Type.Object({
  q: Type.Optional(QueryText('Query (docs/SEARCH.md); empty matches everything.')),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LIMIT, default: 100 })),
  cursor: Type.Optional(Type.String({ maxLength: 4096, description: 'The `next` of the previous page.' })),
  order: Type.Optional(Type.Union([Type.Literal('desc'), Type.Literal('asc')], { default: 'desc' })),
  proofs: Type.Optional(Type.Union([Type.Literal('0'), Type.Literal('1')], { description: '1: attach inclusion proofs and their checkpoint.' })),
});

const EventResult = Type.Object({
  ledger: Type.String(),
  index: Type.Integer(),
  received_at: Type.String(),
  leaf_hash: Type.String(),
  event: Type.Record(Type.String(), Type.Unknown()),
  redacted: Type.Optional(Redacted),
  location: Type.Optional(
    Type.Object(
      {
        country: Type.Optional(Type.String({ description: 'ISO 3166-1 alpha-2 code.' })),
        region: Type.Optional(Type.String()),
        city: Type.Optional(Type.String()),
        latitude: Type.Optional(Type.Number()),
        longitude: Type.Optional(Type.Number()),
        reserved: Type.Optional(Type.String({ description: 'The special-purpose range of the address (private, loopback, documentation, …); then no other field.' })),
      },
      { description: "Where origin.ip is, from the server's geolocation database when the event was indexed (not sealed; removed with origin.ip)." },
    ),
  ),
  proof: Type.Optional(Type.Object({ size: Type.Integer(), hashes: Type.Array(Type.String()) })),
  leaf: Type.Optional(Type.String({ description: 'With proofs=1: standard base64 of the exact leaf bytes, so every shown field can be checked against it.' })),
  disclosures: Type.Optional(
    Type.Record(Type.String(), Type.Array(Type.Unknown(), { minItems: 2, maxItems: 2 }), {
      description: 'With proofs=1: field path → [salt, value], the openings of the leaf’s commitments (docs/FORMAT.md).',
    }),
  ),
});

/** Parses the query and narrows it to the principal's tenants. */
export function scopedQuery(text: string | undefined, principal: Principal): Query {
  const query = parseQuery(text ?? '', { now: Date.now() * 1000 });
  if (principal.tenants.includes('*')) return query;
  return {
    clauses: [
      ...query.clauses,
      { field: 'tenant', negate: false, anyOf: principal.tenants.map((value) => ({ kind: 'exact', value })), position: 0 },
    ],
  };
}

function eventBody(entry: SearchHit) {
  return {
    ledger: entry.ledger,
    index: entry.index,
    received_at: formatMicros(entry.receivedAtMicros),
    leaf_hash: toBase64(entry.leafHash),
    event: eventFromDisclosures(entry.disclosures),
    // The visible marker of erasure and purge: which fields were removed, and why.
    ...(entry.redactions ? { redacted: entry.redactions } : {}),
    ...(entry.location ? { location: entry.location } : {}),
  };
}

/**
 * Cursors are opaque to clients: base64url JSON of where each ledger's listing stopped. Positions are a
 * Map keyed by ledger name, never a plain object: a ledger may be called `constructor`, which a `{}`
 * would answer with Object.prototype's function.
 */
function encodeCursor(positions: ReadonlyMap<string, number>, order: string): string {
  return toBase64Url(utf8(JSON.stringify({ p: Object.fromEntries(positions), o: order })));
}

function decodeCursor(cursor: string | undefined, order: string): Map<string, number> {
  if (cursor === undefined) return new Map();
  try {
    const parsed = JSON.parse(fromUtf8(fromBase64Url(cursor))) as { p: Record<string, unknown>; o: string };
    if (parsed.o !== order) throw new Error('order changed');
    if (typeof parsed.p !== 'object' || parsed.p === null || Array.isArray(parsed.p)) throw new Error('bad positions');
    const positions = new Map<string, number>();
    for (const [ledger, at] of Object.entries(parsed.p)) {
      if (!Number.isSafeInteger(at) || (at as number) < -1) throw new Error('bad position');
      positions.set(ledger, at as number);
    }
    return positions;
  } catch {
    throw new ApiError(400, 'INVALID_ARGUMENT', 'cursor is not one this server issued for this order');
  }
}

async function attachProofs(store: Store, suite: AppContext['suite'], ledger: string, entries: SearchHit[]) {
  const checkpoint = await store.latestCheckpoint(ledger);
  const size = checkpoint?.size ?? 0;
  // One planned batch (shared nodes read once, full tiles from the store's cache), as evidence bundles do.
  const proofs = await inclusionProofs(store, suite, ledger, entries.map((entry) => entry.index), size);
  // The leaf and its openings too: a verifier (the console) checks every shown value, not only the leaf hash.
  const results = entries.map((entry, i) => ({
    ...eventBody(entry),
    proof: { size, hashes: proofs[i]!.map(toBase64) },
    leaf: toBase64(entry.leaf),
    disclosures: entry.disclosures,
  }));
  return { events: results, checkpoint: checkpoint?.note ?? null };
}

export async function searchRoutes(app: FastifyInstance, { store, suite }: AppContext): Promise<void> {
  app.get<{ Params: { ledger: string }; Querystring: { q?: string; limit?: number; cursor?: string; order?: 'asc' | 'desc'; proofs?: '0' | '1' } }>(
    '/ledgers/:ledger/events',
    {
      schema: {
        summary: 'Search one ledger.',
        params: LedgerParams,
        querystring: SearchQuery,
        response: {
          200: Type.Object({
            events: Type.Array(EventResult),
            next: Type.Union([Type.String(), Type.Null()]),
            checkpoint: Type.Optional(Type.Union([Type.String(), Type.Null()])),
          }),
          ...keyedErrors('FORBIDDEN', 'LEDGER_NOT_FOUND', 'QUERY_TOO_COSTLY', 'QUERY_TIMEOUT'),
        },
      },
    },
    async (request) => {
      const { ledger } = request.params;
      requireLedger(request.principal, ledger, 'read');
      const order = request.query.order ?? 'desc';
      const withProofs = request.query.proofs === '1';
      const limit = request.query.limit ?? 100;
      if (withProofs && limit > MAX_LIMIT_WITH_PROOFS) {
        throw new ApiError(400, 'INVALID_ARGUMENT', `with proofs=1, limit is at most ${MAX_LIMIT_WITH_PROOFS}`);
      }
      const query = scopedQuery(request.query.q, request.principal);
      const after = decodeCursor(request.query.cursor, order).get(ledger);
      const page = await store.search(ledger, { query, limit, order, ...(after !== undefined ? { after } : {}) });
      request.resultCount = page.entries.length;
      const next = page.next === null ? null : encodeCursor(new Map([[ledger, page.next]]), order);
      if (withProofs) return { ...(await attachProofs(store, suite, ledger, page.entries)), next };
      return { events: page.entries.map(eventBody), next };
    },
  );

  app.get<{ Querystring: { q?: string; limit?: number; cursor?: string; ledgers?: string } }>(
    '/events',
    {
      schema: {
        summary: 'Search several ledgers at once (those named, or every ledger the key may read), newest first.',
        querystring: Type.Composite([
          Type.Omit(SearchQuery, ['order', 'proofs']),
          Type.Object({ ledgers: Type.Optional(Type.String({ maxLength: 4096, description: 'Comma-separated ledger names.' })) }),
        ]),
        response: { 200: Type.Object({ events: Type.Array(EventResult), next: Type.Union([Type.String(), Type.Null()]) }), ...keyedErrors('FORBIDDEN', 'LEDGER_NOT_FOUND', 'QUERY_TOO_COSTLY', 'QUERY_TIMEOUT'), },
      },
    },
    async (request) => {
      const ledgers = await readableLedgers(store, request, request.query.ledgers);
      const query = scopedQuery(request.query.q, request.principal);
      const limit = request.query.limit ?? 100;
      const positions = decodeCursor(request.query.cursor, 'desc');
      // Each ledger's next `limit` matches, merged newest first; the cursor remembers each ledger's position.
      const pages = await Promise.all(
        ledgers
          .filter((ledger) => positions.get(ledger) !== -1)
          .map(async (ledger) => {
            const after = positions.get(ledger);
            const page = await store.search(ledger, { query, limit, order: 'desc', ...(after !== undefined ? { after } : {}) });
            return { ledger, page };
          }),
      );
      const merged = pages
        .flatMap(({ page }) => page.entries)
        .sort((a, b) => b.receivedAtMicros - a.receivedAtMicros || a.ledger.localeCompare(b.ledger) || b.index - a.index)
        .slice(0, limit);
      const nextPositions = new Map(positions);
      let more = false;
      for (const { ledger, page } of pages) {
        const taken = merged.filter((e) => e.ledger === ledger);
        if (taken.length > 0) nextPositions.set(ledger, taken.at(-1)!.index);
        const exhausted = page.next === null && taken.length === page.entries.length;
        if (exhausted) nextPositions.set(ledger, -1);
        else more = true;
      }
      request.resultCount = merged.length;
      return { events: merged.map(eventBody), next: more ? encodeCursor(nextPositions, 'desc') : null };
    },
  );

  app.get<{ Params: { ledger: string }; Querystring: { q?: string; by: StatsDimension; limit?: number } }>(
    '/ledgers/:ledger/stats',
    {
      schema: {
        summary: 'Counts of matching events by actor, action, hour, day, country, outcome, tenant, category, ip or target.',
        params: LedgerParams,
        querystring: Type.Object({
          q: Type.Optional(QueryText('Query selecting the events counted (docs/SEARCH.md); empty counts every event.')),
          by: Type.Union(STATS_DIMENSIONS.map((d) => Type.Literal(d))),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, default: 100 })),
        }),
        response: {
          200: Type.Object({
            by: Type.String(),
            buckets: Type.Array(Type.Object({ key: Type.Union([Type.String(), Type.Null()]), count: Type.Integer() })),
          }),
          ...keyedErrors('FORBIDDEN', 'LEDGER_NOT_FOUND', 'QUERY_TOO_COSTLY', 'QUERY_TIMEOUT'),
        },
      },
    },
    async (request) => {
      const { ledger } = request.params;
      requireLedger(request.principal, ledger, 'read');
      const query = scopedQuery(request.query.q, request.principal);
      const buckets = await store.stats(ledger, query, request.query.by, request.query.limit ?? 100);
      request.resultCount = buckets.length;
      return { by: request.query.by, buckets };
    },
  );
}

export async function readableLedgers(store: Store, request: FastifyRequest, names: string | undefined): Promise<string[]> {
  const principal = request.principal;
  if (names) {
    const requested = [...new Set(names.split(',').map((n) => n.trim()).filter(Boolean))];
    for (const ledger of requested) {
      requireLedger(principal, ledger, 'read');
      if (!(await store.getLedger(ledger))) throw new ApiError(404, 'LEDGER_NOT_FOUND', `no ledger named ${JSON.stringify(ledger)}`, { ledger });
    }
    return requested;
  }
  if (principal.role === 'writer') throw new ApiError(403, 'FORBIDDEN', 'the writer role cannot read here');
  return (await store.listLedgers()).map((l) => l.name).filter((name) => inScope(principal, name));
}
