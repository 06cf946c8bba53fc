/**
 * The result table: one page of matches at a time (the API's cursor; never everything), newest first, in
 * a scroll box of fixed height so nothing below it moves as pages load or live rows arrive. One ledger is
 * searched with proofs=1, so every row's inclusion proof and disclosures reach the browser verifier; all
 * ledgers go through GET /v1/events (no proofs, rows say so).
 *
 * Live tail: every few seconds, while the page is visible and the first page is shown, a one-row probe
 * asks for matches newer than the newest shown (`index:>N` on one ledger, `received:>=T` across
 * ledgers); when there are some, the first page is read again (with proofs against the newest
 * checkpoint, so one checkpoint still covers every row shown) and the new rows appear on top. A reader
 * who has scrolled down keeps the rows they were looking at where they were.
 */
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { api } from '../../api.js';
import { href } from '../../router.js';
import { ErrorMessage, Time, useAsync } from '../../ui/common.js';
import { rowKey, useRowVerification, VerificationBadge, type ProvenResult } from '../../verify/rows.js';

export const PAGE_SIZE = 50;
export const TAIL_EVERY_MS = 3000;

export interface SearchEvent extends ProvenResult {
  received_at: string;
  event: {
    actor?: { id?: string; name?: string; type?: string };
    action?: string;
    targets?: Array<{ type?: string; id?: string; name?: string } | null>;
    outcome?: string;
    occurred_at?: string;
    tenant?: string;
    origin?: { ip?: string };
    [field: string]: unknown;
  };
  location?: { country?: string; city?: string; reserved?: string };
  redacted?: Record<string, string>;
}

interface SearchAnswer {
  events: SearchEvent[];
  next: string | null;
  checkpoint?: string | null;
}

export interface ResultScope {
  /** The query sent (the user's text with the time range). */
  q: string;
  /** One ledger, or '' for `ledgers`. */
  ledger: string;
  ledgers: string[];
}

function fetchPage(scope: ResultScope, cursor: string | undefined, signal?: AbortSignal, q = scope.q, limit = PAGE_SIZE): Promise<SearchAnswer> {
  if (scope.ledger) {
    return api<SearchAnswer>(`/ledgers/${encodeURIComponent(scope.ledger)}/events`, { query: { q, limit, cursor, proofs: limit <= 100 ? 1 : undefined }, signal });
  }
  const ledgers = scope.ledgers.join(',');
  return api<SearchAnswer>('/events', { query: { q, limit, cursor, ledgers: ledgers.length <= 4000 ? ledgers : undefined }, signal });
}

const and = (q: string, term: string) => (q.trim() ? `${q.trim()} ${term}` : term);

/** Whether matches newer than the rows shown exist: one small read. */
async function newerExists(scope: ResultScope, rows: SearchEvent[]): Promise<boolean> {
  const newest = rows[0];
  if (scope.ledger) {
    const maxIndex = rows.reduce((max, r) => Math.max(max, r.index), -1);
    const answer = await api<SearchAnswer>(`/ledgers/${encodeURIComponent(scope.ledger)}/events`, { query: { q: maxIndex >= 0 ? and(scope.q, `index:>${maxIndex}`) : scope.q, limit: 1 } });
    return answer.events.length > 0;
  }
  const shown = new Set(rows.map((r) => rowKey(r.ledger, r.index)));
  const answer = await fetchPage(scope, undefined, undefined, newest ? and(scope.q, `received:>=${newest.received_at}`) : scope.q, 100);
  return answer.events.some((e) => !shown.has(rowKey(e.ledger, e.index)));
}

function usePageVisible(): boolean {
  const [visible, setVisible] = useState(() => document.visibilityState === 'visible');
  useEffect(() => {
    const update = () => setVisible(document.visibilityState === 'visible');
    document.addEventListener('visibilitychange', update);
    return () => document.removeEventListener('visibilitychange', update);
  }, []);
  return visible;
}

export function ResultTable({ scope, total, tail, onNewMatches }: { scope: ResultScope; total: number | undefined; tail: boolean; onNewMatches(): void }) {
  const scopeKey = `${scope.ledger}\n${scope.ledgers.join(',')}\n${scope.q}`;
  // cursors[i] opens page i; page 0 has none.
  const [paging, setPaging] = useState<{ scopeKey: string; cursors: Array<string | undefined>; page: number }>({ scopeKey, cursors: [undefined], page: 0 });
  const current = paging.scopeKey === scopeKey ? paging : { scopeKey, cursors: [undefined], page: 0 };
  const [refresh, setRefresh] = useState(0);
  const [tailError, setTailError] = useState<unknown>(undefined);
  const pageKey = `${scopeKey}\n${current.page}`;
  const loaded = useAsync((signal) => fetchPage(scope, current.cursors[current.page], signal).then((answer) => ({ answer, pageKey })), [scopeKey, current.page, refresh]);
  // The answer shown is the last one read; until the one for this page arrives, the table says it loads
  // (useAsync keeps the previous answer meanwhile, and only marks itself loading after this render).
  const stale = loaded.data !== undefined && loaded.data.pageKey !== pageKey;
  const result = { ...loaded, data: loaded.data?.answer, loading: loaded.loading || stale };
  const rows = result.data?.events ?? [];
  const checkpoints: Record<string, string | null> = scope.ledger && result.data ? { [scope.ledger]: result.data.checkpoint ?? null } : {};
  const states = useRowVerification(rows, checkpoints);
  const visible = usePageVisible();

  // Rows that arrived through the live tail, marked for a moment.
  const previousKeys = useRef<Set<string> | null>(null);
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const tailRefresh = useRef(false);

  const scroller = useRef<HTMLDivElement>(null);
  const anchor = useRef<{ key: string; delta: number } | null>(null);
  const captureAnchor = () => {
    const box = scroller.current;
    if (!box) return;
    const first = [...box.querySelectorAll<HTMLTableRowElement>('tbody tr[data-key]')].find((tr) => tr.offsetTop + tr.offsetHeight > box.scrollTop + headerHeight(box));
    anchor.current = first ? { key: first.dataset.key!, delta: first.offsetTop - box.scrollTop } : null;
  };
  useLayoutEffect(() => {
    const box = scroller.current;
    const keys = new Set(rows.map((r) => rowKey(r.ledger, r.index)));
    if (box && anchor.current && box.scrollTop > 0) {
      // Keep what the reader was looking at in place when rows are added above it.
      const row = box.querySelector<HTMLTableRowElement>(`tbody tr[data-key="${CSS.escape(anchor.current.key)}"]`);
      if (row) box.scrollTop = row.offsetTop - anchor.current.delta;
    }
    if (tailRefresh.current && previousKeys.current) {
      const added = [...keys].filter((k) => !previousKeys.current!.has(k));
      if (added.length) setFresh(new Set(added));
    }
    tailRefresh.current = false;
    previousKeys.current = keys;
    captureAnchor();
  }, [result.data]);

  useEffect(() => {
    if (fresh.size === 0) return;
    const timer = setTimeout(() => setFresh(new Set()), 4000);
    return () => clearTimeout(timer);
  }, [fresh]);

  const tailing = tail && visible && current.page === 0;
  const rowsRef = useRef(rows);
  rowsRef.current = rows;
  useEffect(() => {
    if (!tailing) return;
    let stopped = false;
    let busy = false;
    const tick = async () => {
      if (busy || stopped || result.loading) return;
      busy = true;
      try {
        if (await newerExists(scope, rowsRef.current)) {
          if (stopped) return;
          tailRefresh.current = true;
          setRefresh((r) => r + 1);
          onNewMatches();
        }
        setTailError(undefined);
      } catch (error) {
        if (!stopped) setTailError(error);
      } finally {
        busy = false;
      }
    };
    const timer = setInterval(() => void tick(), TAIL_EVERY_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [tailing, scopeKey, result.loading]);

  const go = (page: number) => {
    const cursors = [...current.cursors];
    if (page > current.page && result.data?.next) cursors[page] = result.data.next;
    setPaging({ scopeKey, cursors, page });
    if (scroller.current) scroller.current.scrollTop = 0;
  };
  const first = current.page * PAGE_SIZE + 1;
  const last = current.page * PAGE_SIZE + rows.length;

  return (
    <div class="results">
      <ErrorMessage error={result.error} title="The search failed" />
      <ErrorMessage error={tailError} title="Live tail stopped polling" />
      <div class="table-box" ref={scroller} onScroll={captureAnchor} tabIndex={0} role="region" aria-label="Search results">
        <table aria-busy={result.loading} aria-describedby="search-range-note">
          <thead>
            <tr>
              <th scope="col">Verification</th>
              <th scope="col">Occurred</th>
              <th scope="col">Received</th>
              <th scope="col">Actor</th>
              <th scope="col">Action</th>
              <th scope="col">Target</th>
              <th scope="col">Outcome</th>
              <th scope="col">Origin</th>
              <th scope="col">Event</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => {
              const key = rowKey(row.ledger, row.index);
              const e = row.event;
              const targets = (e.targets ?? []).filter((t): t is NonNullable<typeof t> => t !== null);
              const target = targets[0];
              const place = row.location?.country ?? row.location?.reserved;
              return (
                <tr key={key} data-key={key} class={fresh.has(key) ? 'fresh' : undefined}>
                  <td class="verify-cell"><VerificationBadge state={states.get(key)} /></td>
                  <td><Time value={e.occurred_at} /></td>
                  <td><Time value={row.received_at} /></td>
                  <td title={e.actor?.name ? `${e.actor.name} (${e.actor.id})` : e.actor?.id}>{e.actor?.id ?? redactedMark(row, 'actor.id')}</td>
                  <td class="mono">{e.action}</td>
                  <td title={targets.map((t) => `${t.type}:${t.id}`).join(', ')}>
                    {target ? `${target.type}:${target.id}` : <span class="muted">—</span>}
                    {targets.length > 1 ? <span class="muted"> +{targets.length - 1}</span> : null}
                  </td>
                  <td class={e.outcome === 'failure' ? 'outcome-failure' : undefined}>{e.outcome}</td>
                  <td title={row.location?.city ? `${row.location.city}, ${row.location.country ?? ''}` : undefined}>
                    {e.origin?.ip ?? redactedMark(row, 'origin.ip')}
                    {place ? <span class="muted"> {place}</span> : null}
                  </td>
                  <td>
                    <a href={href('events', row.ledger, row.index)}>
                      {row.ledger} #{row.index}
                    </a>
                  </td>
                </tr>
              );
            })}
            {!result.loading && !result.error && rows.length === 0 ? (
              <tr>
                <td colSpan={9} class="muted">
                  No events match.
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </div>
      <nav class="pager" aria-label="Result pages">
        <button type="button" onClick={() => go(current.page - 1)} disabled={current.page === 0 || result.loading}>
          Previous page
        </button>
        <span class="pager-status" role="status" aria-live="polite">
          {result.loading ? 'Loading…' : rows.length ? `Rows ${first.toLocaleString()}–${last.toLocaleString()}${total !== undefined ? ` of ${total.toLocaleString()}` : ''}` : ''}
          {tailing ? ' · live' : ''}
        </span>
        <button type="button" onClick={() => go(current.page + 1)} disabled={!result.data?.next || result.loading}>
          Next page
        </button>
      </nav>
    </div>
  );
}

function headerHeight(box: HTMLElement): number {
  return box.querySelector('thead')?.getBoundingClientRect().height ?? 0;
}

function redactedMark(row: SearchEvent, path: string) {
  const why = row.redacted?.[path];
  return <span class="muted">{why ?? '—'}</span>;
}
