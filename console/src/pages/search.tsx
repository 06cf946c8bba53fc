/**
 * Search (`#/search?q=&ledger=&from=&to=`): the query language with key completion and the parser's own
 * errors, a ledger and a time range (sent as `received:` terms of the query), a histogram and facets from
 * the stats API, one page of results at a time with each row's verification state, live tail, saved
 * searches and export. The route holds the search, so a reload, a bookmark or a shared link repeats it.
 */
import { useId, useMemo, useRef, useState } from 'preact/hooks';
import { api } from '../api.js';
import { href, navigate } from '../router.js';
import { ErrorMessage, Page, useAsync } from '../ui/common.js';
import { TimeRangePicker } from '../ui/time-range.js';
import type { PageProps } from './registry.js';
import { ExportPanel } from './search/export.js';
import { FACET_LIMIT, Facets } from './search/facets.js';
import { CHART_HEIGHT, Histogram } from './search/histogram.js';
import {
  checkQuery,
  DAY_MS,
  effectiveQuery,
  FACETS,
  histogramSeries,
  HOUR_MS,
  mergeCounts,
  paramsOf,
  refine,
  SYSTEM_LEDGER,
  type Bucket,
  type FacetBy,
  type SearchParams,
} from './search/model.js';
import { QueryBox } from './search/query-box.js';
import { ResultTable, type ResultScope } from './search/results.js';
import { SavedSearches } from './search/saved.js';
import './search/search.css';

interface LedgerInfo {
  name: string;
  size: number;
}

/** Stats across more ledgers than this are not gathered (one request per ledger and facet). */
const MAX_STATS_LEDGERS = 25;

interface Stats {
  count: number;
  facets: Partial<Record<FacetBy, Bucket[]>>;
  bucketMs: number;
  starts: number[];
  counts: number[];
  /** Ledgers left out of the figures (over MAX_STATS_LEDGERS). */
  skipped: number;
}

type StatsAnswer = { by: string; buckets: Bucket[] };

async function loadStats(q: string, ledgers: string[], params: SearchParams, signal: AbortSignal): Promise<Stats> {
  const counted = ledgers.slice(0, MAX_STATS_LEDGERS);
  const one = counted.length === 1;
  const stats = (by: string, limit: number) =>
    Promise.all(counted.map((ledger) => api<StatsAnswer>(`/ledgers/${encodeURIComponent(ledger)}/stats`, { query: { q, by, limit }, signal }).then((a) => a.buckets)));
  const from = params.from ? Date.parse(params.from) : undefined;
  const to = params.to ? Date.parse(params.to) : undefined;
  const histogram = async (): Promise<{ bucketMs: number; lists: Bucket[][] }> => {
    if (from !== undefined) {
      const hourly = (to ?? Date.now()) - from <= 3 * DAY_MS;
      return { bucketMs: hourly ? HOUR_MS : DAY_MS, lists: await stats(hourly ? 'hour' : 'day', 10_000) };
    }
    const days = await stats('day', 10_000);
    const starts = days.flat().map((b) => Date.parse(`${b.key}T00:00:00Z`)).filter((n) => !Number.isNaN(n));
    if (starts.length && Math.max(...starts) - Math.min(...starts) <= 2 * DAY_MS) return { bucketMs: HOUR_MS, lists: await stats('hour', 10_000) };
    return { bucketMs: DAY_MS, lists: days };
  };
  const [chart, ...facetLists] = await Promise.all([histogram(), ...FACETS.map((f) => stats(f.by, one ? FACET_LIMIT : 50))]);
  const facets: Partial<Record<FacetBy, Bucket[]>> = {};
  FACETS.forEach((f, i) => (facets[f.by] = mergeCounts(facetLists[i]!, FACET_LIMIT)));
  // Outcome is a closed domain (success, failure, or none): its buckets add up to every match.
  const outcomes = facetLists[FACETS.findIndex((f) => f.by === 'outcome')]!;
  const count = outcomes.flat().reduce((sum, b) => sum + b.count, 0);
  const series = histogramSeries(chart.lists, chart.bucketMs, { ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) });
  return { count, facets, bucketMs: chart.bucketMs, ...series, skipped: ledgers.length - counted.length };
}

export function SearchPage({ route }: PageProps) {
  const params = paramsOf(route.query);
  const id = useId();
  // The box's text follows the route when the route's query changes (a facet, a saved search, back),
  // decided during render: an effect would run late and could wipe what the user typed meanwhile.
  const [edit, setEdit] = useState({ route: params.q, text: params.q });
  const draft = edit.route === params.q ? edit.text : params.q;
  const setDraft = (text: string) => setEdit({ route: params.q, text });
  const problem = checkQuery(draft);
  const sent = effectiveQuery(params);
  const sentProblem = checkQuery(sent);
  const [tail, setTail] = useState(false);
  const queryBox = useRef<HTMLDivElement>(null);

  const ledgerList = useAsync((signal) => api<{ ledgers: LedgerInfo[] }>('/ledgers', { signal }).then((a) => a.ledgers.map((l) => l.name).sort()), []);
  const readable = ledgerList.data ?? [];
  const allLedgers = readable.filter((name) => name !== SYSTEM_LEDGER);
  const targets = params.ledger ? [params.ledger] : allLedgers;
  const ready = ledgerList.data !== undefined && !sentProblem;

  const stats = useAsync<Stats | undefined>(
    (signal) => (ready && targets.length ? loadStats(sent, targets, params, signal) : Promise.resolve(undefined)),
    [ready, sent, targets.join(','), params.from, params.to],
  );

  const go = (next: Partial<SearchParams>, options: { replace?: boolean } = {}) => {
    const merged = { ...params, q: checkQuery(draft) ? params.q : draft, ...next };
    navigate(href('search', { q: merged.q, ledger: merged.ledger, from: merged.from, to: merged.to }), options);
  };

  const submit = (e: Event) => {
    e.preventDefault();
    if (problem) {
      queryBox.current?.querySelector('input')?.focus();
      return;
    }
    if (draft === params.q) stats.reload();
    go({ q: draft });
  };

  const scope = useMemo<ResultScope>(() => ({ q: sent, ledger: params.ledger, ledgers: allLedgers }), [sent, params.ledger, allLedgers.join(',')]);
  const data = stats.data;

  return (
    <Page title="Search">
      <form class="search-form" role="search" aria-label="Events" onSubmit={submit}>
        <div class="search-line" ref={queryBox}>
          <QueryBox value={draft} onInput={setDraft} problem={problem} />
          <div class="ledger-choice">
            <label for={`${id}-ledger`}>Ledger</label>
            <select id={`${id}-ledger`} value={params.ledger} onChange={(e) => go({ ledger: e.currentTarget.value })}>
              <option value="">All ledgers</option>
              {allLedgers.map((name) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))}
              {readable.includes(SYSTEM_LEDGER) ? <option value={SYSTEM_LEDGER}>{SYSTEM_LEDGER} (the server's own records)</option> : null}
              {params.ledger && ledgerList.data && !readable.includes(params.ledger) ? <option value={params.ledger}>{params.ledger}</option> : null}
            </select>
          </div>
          <button type="submit" class="primary search-button">
            Search
          </button>
        </div>
        <div class="search-range">
          <TimeRangePicker value={{ from: params.from, to: params.to }} onChange={(range) => go(range)} />
          <button type="button" class="chip" onClick={() => go({ from: '', to: '' })} disabled={!params.from && !params.to}>
            Any time
          </button>
        </div>
        <p class="muted sent-query" id="search-range-note">
          Sent as <code>{sent || '(every event)'}</code> {params.ledger ? `to ${params.ledger}` : 'to every ledger you may read (but the system ledger)'}
        </p>
      </form>
      <ErrorMessage error={ledgerList.error} title="The ledgers could not be listed" />
      {sentProblem && !problem ? <ErrorMessage error={new Error(sentProblem.message)} title="The search with its time range is not valid" /> : null}

      <div class="search-layout">
        <aside class="search-side" aria-label="Refine">
          <Facets facets={data?.facets} loading={stats.loading} onRefine={(key, value) => go({ q: refine(params.q, key, value) })} />
        </aside>
        <div class="search-main">
          <div class="chart-box" style={{ minHeight: `${CHART_HEIGHT + 28}px` }}>
            {data ? <Histogram starts={data.starts} counts={data.counts} bucketMs={data.bucketMs} onNarrow={(from, to) => go({ from: new Date(from).toISOString(), to: new Date(to).toISOString() })} /> : null}
          </div>
          <ErrorMessage error={stats.error} title="Counts could not be read" />
          <div class="result-bar">
            <p class="match-count" role="status" aria-live="polite">
              {data ? `${data.count.toLocaleString()} ${data.count === 1 ? 'match' : 'matches'}${data.skipped ? ` in the first ${MAX_STATS_LEDGERS} ledgers (${data.skipped} more not counted)` : ''}` : stats.loading && ready ? 'Counting…' : ''}
            </p>
            <label class="tail-toggle">
              <input type="checkbox" checked={tail} onChange={(e) => setTail(e.currentTarget.checked)} /> Live tail
            </label>
          </div>
          {ready ? (
            <ResultTable scope={scope} total={data?.count} tail={tail} onNewMatches={() => stats.reload()} />
          ) : (
            <div class="table-box" aria-hidden="true" />
          )}
          <div class="search-tools">
            <ExportPanel ledger={params.ledger} q={sent} />
            <SavedSearches current={params} />
          </div>
          <p class="muted attribution">Countries and places: IP Geolocation by DB-IP (db-ip.com), CC BY 4.0.</p>
        </div>
      </div>
    </Page>
  );
}
