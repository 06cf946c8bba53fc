/**
 * One event (`#/events/<ledger>/<index>`): every field the leaf commits to with its disclosure state,
 * the sealed leaf and its hash, the inclusion proof and the signed checkpoint it was checked against,
 * and the overall verification state — all verified here, in the browser, with the pinned key.
 *
 * It asks the search API for that one index with proofs (`index:<n>`, `proofs=1`): the answer holds the
 * leaf, its openings, the proof, the checkpoint, the redactions and the location in one read, narrowed
 * to the key's tenants by the server like every search.
 */
import { api } from '../api.js';
import { href } from '../router.js';
import { decodeLeaf } from '../../../src/core/leaf.js';
import { fromBase64, fromUtf8 } from '../../../src/core/bytes.js';
import { ErrorMessage, Loading, Page, Time, useAsync } from '../ui/common.js';
import { rowKey, useRowVerification, VerificationBadge, type ProvenResult, type RowState } from '../verify/rows.js';
import type { PageProps } from './registry.js';
import './event.css';

interface Location {
  country?: string;
  region?: string;
  city?: string;
  latitude?: number;
  longitude?: number;
  reserved?: string;
}

interface EventAnswer extends ProvenResult {
  received_at: string;
  event: Record<string, unknown>;
  redacted?: Record<string, 'erased' | 'purged'>;
  location?: Location;
}

type FieldState = 'present' | 'withheld' | 'erased' | 'purged';

interface FieldRow {
  path: string;
  state: FieldState;
  value?: unknown;
}

/** Every field path the leaf commits to (or, if the leaf cannot be read, every path the answer names). */
function fieldsOf(answer: EventAnswer): { rows: FieldRow[]; leafText: string | undefined } {
  const disclosures = answer.disclosures ?? {};
  const redacted = answer.redacted ?? {};
  let committed: string[] = [];
  let leafText: string | undefined;
  try {
    const bytes = fromBase64(answer.leaf ?? '');
    leafText = fromUtf8(bytes);
    committed = Object.keys(decodeLeaf(bytes).commitments);
  } catch {
    committed = [];
  }
  const paths = [...new Set([...committed, ...Object.keys(disclosures), ...Object.keys(redacted)])].sort(comparePaths);
  return {
    leafText,
    rows: paths.map((path) => {
      if (Object.hasOwn(disclosures, path)) return { path, state: 'present', value: disclosures[path]![1] };
      const reason = Object.hasOwn(redacted, path) ? redacted[path] : undefined;
      return { path, state: reason ?? 'withheld' };
    }),
  };
}

/** The event's own order first (actor, action, …), then alphabetical. */
const ORDER = ['id', 'occurred_at', 'actor', 'action', 'category', 'outcome', 'tenant', 'targets', 'origin', 'reason', 'metadata'];
function comparePaths(a: string, b: string): number {
  const rank = (p: string) => {
    const at = ORDER.indexOf(p.split('.')[0]!);
    return at < 0 ? ORDER.length : at;
  };
  return rank(a) - rank(b) || a.localeCompare(b, 'en', { numeric: true });
}

function showValue(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function presentState(state: RowState | undefined, path: string): string {
  if (!state || state.status === 'checking') return 'present (checking…)';
  if (state.status === 'verified') return 'present: opened and checked';
  if (state.status === 'failed' && state.field === path) return 'present: does NOT match its commitment';
  if (state.status === 'failed') return 'present: not trusted (the entry failed)';
  return 'present: not checked';
}

const STATE_TEXT: Record<Exclude<FieldState, 'present'>, string> = {
  withheld: 'withheld: committed in the leaf, not disclosed to this key',
  erased: 'erased: removed for a data subject; the leaf still commits to it',
  purged: 'purged by retention; the leaf still commits to it',
};

function get(event: Record<string, unknown>, path: string): unknown {
  let at: unknown = event;
  for (const part of path.split('.')) at = at && typeof at === 'object' ? (at as Record<string, unknown>)[part] : undefined;
  return at;
}

function describeLocation(location: Location | undefined): string | undefined {
  if (!location) return undefined;
  if (location.reserved) return `${location.reserved} address`;
  const place = [location.city, location.region, location.country].filter(Boolean).join(', ');
  const coordinates = location.latitude !== undefined && location.longitude !== undefined ? ` (${location.latitude.toFixed(2)}, ${location.longitude.toFixed(2)})` : '';
  return place || coordinates ? `${place}${coordinates}` : undefined;
}

export function EventPage({ route }: PageProps) {
  const [, ledger = '', indexText = ''] = route.segments;
  const index = /^\d{1,16}$/.test(indexText) ? Number(indexText) : NaN;
  const valid = ledger !== '' && Number.isSafeInteger(index);
  const loaded = useAsync(
    async (signal) => {
      if (!valid) return undefined;
      return api<{ events: EventAnswer[]; checkpoint?: string | null }>(`/ledgers/${encodeURIComponent(ledger)}/events`, {
        query: { q: `index:${index}`, proofs: 1, limit: 1 },
        signal,
      });
    },
    [ledger, index],
  );
  const answer = loaded.data?.events.find((e) => e.ledger === ledger && e.index === index);
  const checkpoint = loaded.data?.checkpoint ?? null;
  const results = answer ? [answer] : [];
  const states = useRowVerification(results, answer ? { [ledger]: checkpoint } : {});
  const state = answer ? states.get(rowKey(ledger, index)) : undefined;
  const title = valid ? `Event ${ledger} #${index}` : 'Event';

  if (!valid) {
    return (
      <Page title={title}>
        <ErrorMessage error={new Error('This address does not name an event: it should be #/events/<ledger>/<index>.')} />
      </Page>
    );
  }
  if (loaded.error) {
    return (
      <Page title={title} actions={<BackLink ledger={ledger} />}>
        <ErrorMessage error={loaded.error} title="The event could not be loaded" />
        <button type="button" onClick={loaded.reload}>
          Try again
        </button>
      </Page>
    );
  }
  if (!loaded.data) {
    return (
      <Page title={title}>
        <Loading what="the event and its proof" />
      </Page>
    );
  }
  if (!answer) {
    return (
      <Page title={title} actions={<BackLink ledger={ledger} />}>
        <ErrorMessage error={new Error(`There is no entry ${index} in ledger ${ledger} that this key may read.`)} />
      </Page>
    );
  }

  // Values shown are the verified ones once verification is done (the event rebuilt from the checked disclosures).
  const event = state?.status === 'verified' && state.entry ? state.entry.event : answer.event;
  const { rows, leafText } = fieldsOf(answer);
  const actorId = get(event, 'actor.id');
  const occurred = get(event, 'occurred_at');
  const location = describeLocation(answer.location);
  const counts = rows.reduce<Record<FieldState, number>>((n, r) => ({ ...n, [r.state]: n[r.state] + 1 }), { present: 0, withheld: 0, erased: 0, purged: 0 });

  return (
    <Page
      title={title}
      actions={
        <>
          <BackLink ledger={ledger} />
          {typeof actorId === 'string' ? <a href={href('incident', { actor: actorId })}>Incident view for {actorId}</a> : null}
        </>
      }
    >
      <div class="event-page stack">
        <section class={`card event-verdict verdict-${state?.status ?? 'checking'}`} aria-labelledby="verdict-title">
          <h2 id="verdict-title">Verification</h2>
          <p aria-live="polite" class="verdict-line">
            <VerificationBadge state={state} />
          </p>
          <p class="muted">
            {state?.status === 'verified'
              ? `Checked in this browser: the checkpoint's signature by the pinned key, the leaf's ledger and index, its inclusion proof against the root of the tree of ${state.checkpointSize} entries, each of the ${counts.present} disclosed fields against its commitment, and that the values shown are the verified ones.`
              : 'The checkpoint signature, the inclusion proof and every disclosed field are checked in this browser with the pinned verifier key.'}
          </p>
        </section>

        <section class="card" aria-labelledby="summary-title">
          <h2 id="summary-title">Summary</h2>
          <dl class="fields">
            <dt>Ledger</dt>
            <dd>{ledger}</dd>
            <dt>Index</dt>
            <dd>{index}</dd>
            <dt>Received</dt>
            <dd>
              <Time value={state?.status === 'verified' && state.entry ? state.entry.receivedAt : answer.received_at} /> <span class="muted">(sealed in the leaf)</span>
            </dd>
            <dt>Occurred</dt>
            <dd>
              {typeof occurred === 'string' ? <Time value={occurred} /> : <span class="muted">not given</span>} <span class="muted">(the client's clock)</span>
            </dd>
            <dt>Actor</dt>
            <dd>{typeof actorId === 'string' ? actorId : <span class="muted">—</span>}</dd>
            <dt>Action</dt>
            <dd>{showValue(get(event, 'action') ?? '—')}</dd>
            <dt>Outcome</dt>
            <dd>{showValue(get(event, 'outcome') ?? '—')}</dd>
            <dt>Location</dt>
            <dd>
              {location ?? <span class="muted">none</span>}
              {location ? <span class="muted"> (from the server's geolocation database; not sealed)</span> : null}
            </dd>
            <dt>Writer</dt>
            <dd>{state?.status === 'verified' && state.entry ? state.entry.writer : <span class="muted">—</span>}</dd>
            <dt>Fields</dt>
            <dd>
              {counts.present} present, {counts.withheld} withheld, {counts.erased} erased, {counts.purged} purged
            </dd>
          </dl>
        </section>

        <section class="card" aria-labelledby="fields-title">
          <h2 id="fields-title">Fields</h2>
          <div class="table-scroll">
            <table class="event-fields">
              <caption class="sr-only">Every field the leaf commits to, with its disclosure state</caption>
              <thead>
                <tr>
                  <th scope="col">Field</th>
                  <th scope="col">State</th>
                  <th scope="col">Value</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((row) => (
                  <tr key={row.path} class={`field-${row.state}${state?.status === 'failed' && state.field === row.path ? ' field-failed' : ''}`}>
                    <th scope="row">
                      <code>{row.path}</code>
                    </th>
                    <td>{row.state === 'present' ? presentState(state, row.path) : STATE_TEXT[row.state]}</td>
                    <td>{row.state === 'present' ? <code>{showValue(row.value)}</code> : <span class="muted">—</span>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>

        <section class="card" aria-labelledby="leaf-title">
          <h2 id="leaf-title">Sealed leaf</h2>
          <dl class="fields">
            <dt>Leaf hash</dt>
            <dd>
              <code>{answer.leaf_hash}</code>
            </dd>
          </dl>
          {leafText ? (
            <details>
              <summary>Leaf bytes (RFC 8785 JSON of the field commitments)</summary>
              <pre class="event-pre">{leafText}</pre>
            </details>
          ) : null}
        </section>

        <section class="card" aria-labelledby="proof-title">
          <h2 id="proof-title">Inclusion proof</h2>
          {answer.proof ? (
            <>
              <p>
                Leaf {index} in the tree of size {answer.proof.size}: {answer.proof.hashes.length} hash{answer.proof.hashes.length === 1 ? '' : 'es'}, the leaf's sibling
                first.
              </p>
              <ol class="proof-hashes">
                {answer.proof.hashes.map((hash, at) => (
                  <li key={at}>
                    <code>{hash}</code>
                  </li>
                ))}
              </ol>
            </>
          ) : (
            <p class="muted">The server returned no proof.</p>
          )}
        </section>

        <NearbyEntries ledger={ledger} index={index} />

        <section class="card" aria-labelledby="checkpoint-title">
          <h2 id="checkpoint-title">Checkpoint</h2>
          {checkpoint ? <pre class="event-pre" aria-label="Checkpoint note">{checkpoint}</pre> : <p class="muted">This ledger has no checkpoint.</p>}
        </section>
      </div>
    </Page>
  );
}

/**
 * The entries around this one, as a search lists them (no proofs): the verification hook fetches their
 * evidence in one batch and verifies each, so a neighbour that was tampered with shows here too.
 */
function NearbyEntries({ ledger, index }: { ledger: string; index: number }) {
  const from = Math.max(0, index - NEARBY);
  const loaded = useAsync(
    (signal) =>
      api<{ events: EventAnswer[] }>(`/ledgers/${encodeURIComponent(ledger)}/events`, {
        query: { q: `index:${from}..${index + NEARBY}`, limit: 2 * NEARBY + 1, order: 'asc' },
        signal,
      }),
    [ledger, index],
  );
  const rows = loaded.data?.events ?? [];
  const states = useRowVerification(rows, {});
  return (
    <section class="card" aria-labelledby="nearby-title">
      <h2 id="nearby-title">Nearby entries</h2>
      <ErrorMessage error={loaded.error} title="The entries around this one could not be loaded" />
      {loaded.data === undefined && !loaded.error ? <Loading what="nearby entries" /> : null}
      {loaded.data ? (
        <div class="table-scroll">
          <table class="nearby">
            <caption class="sr-only">Entries {from} to {index + NEARBY} of {ledger}, each verified in this browser</caption>
            <thead>
              <tr>
                <th scope="col">Entry</th>
                <th scope="col">Received</th>
                <th scope="col">Actor</th>
                <th scope="col">Action</th>
                <th scope="col">Verification</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={row.index} class={row.index === index ? 'current' : undefined}>
                  <td>
                    {row.index === index ? (
                      <span aria-current="page">#{row.index} (this one)</span>
                    ) : (
                      <a href={href('events', ledger, row.index)}>#{row.index}</a>
                    )}
                  </td>
                  <td>
                    <Time value={row.received_at} />
                  </td>
                  <td>{showValue(get(row.event, 'actor.id') ?? '—')}</td>
                  <td>{showValue(get(row.event, 'action') ?? '—')}</td>
                  <td>
                    <VerificationBadge state={states.get(rowKey(row.ledger, row.index))} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

const NEARBY = 3;

function BackLink({ ledger }: { ledger: string }) {
  return <a href={href('search', { ledger })}>Back to search</a>;
}
