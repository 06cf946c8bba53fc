/**
 * The actor's events by event time, grouped in their sessions, a page at a time. Each row links to its
 * event page and shows its verification state: the rows of the page shown are fetched again from the
 * search API with their inclusion proofs (one `index:` query per ledger, at most 100 rows), and checked
 * in the browser by verify/rows.tsx.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api } from '../../api.js';
import { href } from '../../router.js';
import { ErrorMessage, Time, useAsync } from '../../ui/common.js';
import { rowKey, useRowVerification, VerificationBadge, type ProvenResult, type RowState } from '../../verify/rows.js';
import { indexSelection, placeOf, summarize, type Timeline, type TimelineEvent } from './model.js';

/** Rows per page; also the search API's most rows with proofs per request. */
export const EVENTS_PAGE = 100;

interface ProofPage {
  results: ProvenResult[];
  checkpoints: Record<string, string | null>;
}

async function proofsFor(events: TimelineEvent[], signal: AbortSignal): Promise<ProofPage> {
  const byLedger = new Map<string, number[]>();
  for (const e of events) byLedger.set(e.ledger, [...(byLedger.get(e.ledger) ?? []), e.index]);
  const results: ProvenResult[] = [];
  const checkpoints: Record<string, string | null> = {};
  await Promise.all(
    [...byLedger].map(async ([ledger, indexes]) => {
      const answer = await api<{ events: ProvenResult[]; checkpoint?: string | null }>(`/ledgers/${encodeURIComponent(ledger)}/events`, {
        query: { q: indexSelection(indexes), limit: indexes.length, order: 'asc', proofs: 1 },
        signal,
      });
      checkpoints[ledger] = answer.checkpoint ?? null;
      for (const result of answer.events) results.push({ ...result, ledger });
    }),
  );
  return { results, checkpoints };
}

export function EventsBySession({ timeline }: { timeline: Timeline }) {
  const [page, setPage] = useState(0);
  useEffect(() => setPage(0), [timeline]);
  const pages = Math.max(1, Math.ceil(timeline.events.length / EVENTS_PAGE));
  const shown = useMemo(() => timeline.events.slice(page * EVENTS_PAGE, (page + 1) * EVENTS_PAGE), [timeline, page]);
  const proofs = useAsync((signal) => (shown.length ? proofsFor(shown, signal) : Promise.resolve({ results: [], checkpoints: {} })), [shown]);
  const states = useRowVerification(proofs.data?.results ?? [], proofs.data?.checkpoints ?? {});
  const stateOf = (e: TimelineEvent): RowState | undefined => {
    if (proofs.error) return { status: 'unverifiable', reason: 'its proof could not be fetched' };
    const state = states.get(rowKey(e.ledger, e.index));
    if (!state && proofs.data && !proofs.loading) return { status: 'unverifiable', reason: 'the search did not return it (erased or out of scope)' };
    return state;
  };

  // Consecutive rows of one session share a header row.
  const groups: Array<{ session: number; events: TimelineEvent[] }> = [];
  for (const e of shown) {
    const last = groups[groups.length - 1];
    if (last && last.session === e.session) last.events.push(e);
    else groups.push({ session: e.session, events: [e] });
  }

  if (timeline.events.length === 0) return <p>No events of this actor in the window.</p>;
  return (
    <div class="stack">
      <ErrorMessage error={proofs.error} title="Proofs for these rows could not be fetched" />
      <Pager page={page} pages={pages} total={timeline.events.length} onPage={setPage} />
      <div class="table-scroll">
        <table class="incident-events">
          <caption class="sr-only">Events of {timeline.actor} by event time, grouped by session</caption>
          <thead>
            <tr>
              <th scope="col">Event time</th>
              <th scope="col">Action</th>
              <th scope="col">Outcome</th>
              <th scope="col">Targets</th>
              <th scope="col">Address</th>
              <th scope="col">Tenant</th>
              <th scope="col">Entry</th>
              <th scope="col">Verification</th>
            </tr>
          </thead>
          {groups.map((g) => {
            const session = timeline.sessions[g.session];
            const name = `Session ${g.session + 1}${session?.session_id ? ` (${session.session_id})` : ' (by gaps)'}`;
            return (
              <tbody key={`${g.session}:${g.events[0]!.ledger}:${g.events[0]!.index}`} aria-label={name}>
                <tr class="session-row">
                  <th scope="rowgroup" colSpan={8}>
                    {name}: {session ? <><Time value={session.start} /> – <Time value={session.end} />, {session.events} event{session.events === 1 ? '' : 's'} from {session.ips.join(', ') || 'no address'}</> : null}
                  </th>
                </tr>
                {g.events.map((e) => {
                  const s = summarize(e.event);
                  return (
                    <tr key={rowKey(e.ledger, e.index)}>
                      <td><Time value={e.time} /></td>
                      <td><code>{s.action}</code></td>
                      <td class={s.outcome === 'failure' ? 'outcome-failure' : undefined}>
                        {s.outcome}
                        {s.reason ? <span class="muted"> ({s.reason})</span> : null}
                      </td>
                      <td>{s.targets.length ? s.targets.map((t) => <code key={t} class="target">{t}</code>) : <span class="muted">—</span>}</td>
                      <td>
                        {s.ip ? <code>{s.ip}</code> : <span class="muted">—</span>}
                        {e.location ? <span class="muted"> {placeOf(e.location)}</span> : null}
                      </td>
                      <td>{s.tenant ?? <span class="muted">—</span>}</td>
                      <td><a href={href('events', e.ledger, e.index)}>{e.ledger}#{e.index}</a></td>
                      <td><VerificationBadge state={stateOf(e)} /></td>
                    </tr>
                  );
                })}
              </tbody>
            );
          })}
        </table>
      </div>
      {pages > 1 ? <Pager page={page} pages={pages} total={timeline.events.length} onPage={setPage} /> : null}
    </div>
  );
}

export function Pager({ page, pages, total, onPage, size = EVENTS_PAGE, what = 'Events' }: { page: number; pages: number; total: number; onPage(page: number): void; size?: number; what?: string }) {
  const first = total === 0 ? 0 : page * size + 1;
  const last = Math.min(total, (page + 1) * size);
  return (
    <nav class="row pager" aria-label={`${what} pages`}>
      <button type="button" disabled={page === 0} onClick={() => onPage(page - 1)}>
        Previous page
      </button>
      <span aria-live="polite">
        {what} {first}–{last} of {total}
      </span>
      <button type="button" disabled={page >= pages - 1} onClick={() => onPage(page + 1)}>
        Next page
      </button>
    </nav>
  );
}
