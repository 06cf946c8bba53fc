/**
 * The alerts inbox (#/alerts) and one alert (#/alerts/<id>): filters by status, severity, ledger and rule
 * with cursor paging; acknowledge; close with a reason; the alert's events with their verification
 * state in this browser; one click to an evidence bundle of exactly those events.
 */
import { useEffect, useId, useMemo, useRef, useState } from 'preact/hooks';
import { api, apiBlob, saveBlob } from '../api.js';
import { href, navigate, type Route } from '../router.js';
import { ErrorMessage, Loading, Page, Time, useAsync } from '../ui/common.js';
import { rowKey, useRowVerification, VerificationBadge, type ProvenResult } from '../verify/rows.js';
import { eventsByLedger, indexQuery, listAlerts, SEVERITIES, STATUSES, type Alert, type AlertFilters } from './alerts/model.js';
import type { PageProps } from './registry.js';
import './alerts/alerts.css';

const PAGE_SIZE = 50;

export function AlertsPage({ route }: PageProps) {
  const id = route.segments[1];
  return id ? <AlertDetail id={id} /> : <AlertList route={route} />;
}

function filtersOf(route: Route): AlertFilters {
  const pick = (name: string) => route.query.get(name) || undefined;
  return { status: pick('status'), severity: pick('severity'), ledger: pick('ledger'), rule: pick('rule') };
}

/** Alerts a page shows: `limit` in the route (1–200) or 50. */
function pageSizeOf(route: Route): number {
  const wanted = Number(route.query.get('limit'));
  return Number.isInteger(wanted) && wanted >= 1 && wanted <= 200 ? wanted : PAGE_SIZE;
}

function AlertList({ route }: { route: Route }) {
  const filters = filtersOf(route);
  const limit = pageSizeOf(route);
  const filterKey = JSON.stringify({ ...filters, limit });
  // Cursors of the pages walked so far: the last is the page shown (undefined: the newest).
  const [cursors, setCursors] = useState<Array<string | undefined>>([undefined]);
  useEffect(() => setCursors([undefined]), [filterKey]);
  const cursor = cursors[cursors.length - 1];
  const page = useAsync((signal) => listAlerts(filters, { limit, cursor, signal }), [filterKey, cursor]);
  const setFilter = (name: keyof AlertFilters, value: string) =>
    navigate(href('alerts', { ...filters, [name]: value || undefined, limit: limit === PAGE_SIZE ? undefined : limit }), { replace: true });
  const alerts = page.data?.alerts ?? [];
  return (
    <Page title="Alerts">
      <AlertFiltersForm filters={filters} onChange={setFilter} />
      <ErrorMessage error={page.error} title="The alerts could not be read" />
      <div class="alerts-results" aria-busy={page.loading}>
        <p class="alerts-count muted" role="status" aria-live="polite">
          {page.loading
            ? 'Loading alerts…'
            : alerts.length === 0
              ? cursors.length > 1
                ? 'No more alerts: this was the last page.'
                : 'No alerts match.'
              : `${alerts.length} alert${alerts.length === 1 ? '' : 's'} on page ${cursors.length}${page.data?.next ? '; older ones may follow' : ''}`}
        </p>
        <div class="table-scroll">
          <table>
            <caption class="sr-only">Alerts, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Severity</th>
                <th scope="col">Alert</th>
                <th scope="col">Status</th>
                <th scope="col">Actor</th>
                <th scope="col">Ledger</th>
                <th scope="col">Events</th>
                <th scope="col">Last seen</th>
              </tr>
            </thead>
            <tbody>
              {alerts.map((alert) => (
                <tr key={alert.id}>
                  <td><SeverityTag severity={alert.severity} /></td>
                  <td>
                    <a href={href('alerts', alert.id)}>{alert.title}</a>
                    <div class="muted mono">{alert.rule}</div>
                  </td>
                  <td><StatusTag status={alert.status} /></td>
                  <td class="mono">{alert.actor ? alert.actor.id : <span class="muted">—</span>}</td>
                  <td>{alert.ledger}{alert.tenant ? <div class="muted">tenant {alert.tenant}</div> : null}</td>
                  <td>{alert.events.length}</td>
                  <td><Time value={alert.last_seen} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </div>
      <nav class="row pager" aria-label="Alert pages">
        <button type="button" disabled={cursors.length === 1 || page.loading} onClick={() => setCursors((c) => c.slice(0, -1))}>
          Newer
        </button>
        <span class="muted">Page {cursors.length}</span>
        <button type="button" disabled={!page.data?.next || page.loading} onClick={() => page.data?.next && setCursors((c) => [...c, page.data!.next!])}>
          Older
        </button>
      </nav>
    </Page>
  );
}

function AlertFiltersForm({ filters, onChange }: { filters: AlertFilters; onChange(name: keyof AlertFilters, value: string): void }) {
  const id = useId();
  const ledgers = useAsync((signal) => api<{ ledgers: Array<{ name: string }> }>('/ledgers', { signal }), []);
  const rules = useAsync((signal) => api<{ rules: Array<{ id: string; title: string }> }>('/detection', { signal }).catch(() => ({ rules: [] })), []);
  const [rule, setRule] = useState(filters.rule ?? '');
  useEffect(() => setRule(filters.rule ?? ''), [filters.rule]);
  const ledgerNames = ledgers.data?.ledgers.map((l) => l.name) ?? [];
  if (filters.ledger && !ledgerNames.includes(filters.ledger)) ledgerNames.push(filters.ledger);
  return (
    <form
      class="alert-filters"
      aria-label="Filter alerts"
      onSubmit={(e) => {
        e.preventDefault();
        onChange('rule', rule.trim());
      }}
    >
      <div class="field">
        <label for={`${id}-status`}>Status</label>
        <select id={`${id}-status`} value={filters.status ?? ''} onChange={(e) => onChange('status', e.currentTarget.value)}>
          <option value="">Any status</option>
          {STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
        </select>
      </div>
      <div class="field">
        <label for={`${id}-severity`}>Severity</label>
        <select id={`${id}-severity`} value={filters.severity ?? ''} onChange={(e) => onChange('severity', e.currentTarget.value)}>
          <option value="">Any severity</option>
          {SEVERITIES.map((s) => <option key={s} value={s}>{s}</option>)}
        </select>
      </div>
      <div class="field">
        <label for={`${id}-ledger`}>Ledger</label>
        <select id={`${id}-ledger`} value={filters.ledger ?? ''} onChange={(e) => onChange('ledger', e.currentTarget.value)}>
          <option value="">Every ledger</option>
          {ledgerNames.map((name) => <option key={name} value={name}>{name}</option>)}
        </select>
      </div>
      <div class="field">
        <label for={`${id}-rule`}>Rule</label>
        <input id={`${id}-rule`} list={`${id}-rules`} value={rule} placeholder="any rule" maxLength={256} onInput={(e) => setRule(e.currentTarget.value)} />
        <datalist id={`${id}-rules`}>
          {(rules.data?.rules ?? []).map((r) => <option key={r.id} value={r.id}>{r.title}</option>)}
        </datalist>
      </div>
      <button type="submit">Apply rule</button>
      {filters.status || filters.severity || filters.ledger || filters.rule ? (
        <button type="button" class="link" onClick={() => navigate(href('alerts'), { replace: true })}>
          Clear filters
        </button>
      ) : null}
    </form>
  );
}

export function SeverityTag({ severity }: { severity: Alert['severity'] }) {
  return <span class={`alert-severity alert-severity-${severity}`}>{severity}</span>;
}

export function StatusTag({ status }: { status: Alert['status'] }) {
  return <span class={`alert-status alert-status-${status}`}>{status}</span>;
}

function AlertDetail({ id }: { id: string }) {
  const loaded = useAsync((signal) => api<Alert>(`/alerts/${encodeURIComponent(id)}`, { signal }), [id]);
  const [changed, setChanged] = useState<Alert | undefined>(undefined);
  useEffect(() => setChanged(undefined), [id]);
  const alert = changed?.id === id ? changed : loaded.data;
  if (!alert) {
    return (
      <Page title="Alert">
        <p><a href={href('alerts')}>← All alerts</a></p>
        {loaded.error ? <ErrorMessage error={loaded.error} title="The alert could not be read" /> : <Loading what="the alert" />}
      </Page>
    );
  }
  return (
    <Page title={alert.title}>
      <p><a href={href('alerts')}>← All alerts</a></p>
      <div class="grid-2">
        <section class="card" aria-labelledby="alert-facts">
          <h2 id="alert-facts">What was found</h2>
          <p>{alert.summary}</p>
          <dl class="fields">
            <dt>Status</dt>
            <dd><StatusTag status={alert.status} />{alert.close_reason ? <> — <span class="close-reason">{alert.close_reason}</span></> : null}</dd>
            <dt>Severity</dt>
            <dd><SeverityTag severity={alert.severity} /></dd>
            <dt>Rule</dt>
            <dd class="mono">{alert.rule}</dd>
            <dt>Actor</dt>
            <dd>{alert.actor ? <a href={href('incident', { actor: alert.actor.id, from: alert.first_seen, to: alert.last_seen })}>{alert.actor.type} {alert.actor.id}</a> : '—'}</dd>
            <dt>Ledger</dt>
            <dd>{alert.ledger}</dd>
            <dt>Tenant</dt>
            <dd>{alert.tenant ?? '—'}</dd>
            <dt>First seen</dt>
            <dd><Time value={alert.first_seen} /></dd>
            <dt>Last seen</dt>
            <dd><Time value={alert.last_seen} /></dd>
            <dt>Findings</dt>
            <dd>{alert.count}</dd>
            <dt>Opened</dt>
            <dd><Time value={alert.opened_at} /></dd>
            <dt>Last change</dt>
            <dd>{alert.changed_at ? <><Time value={alert.changed_at} /> by <span class="mono">{alert.changed_by}</span></> : '—'}</dd>
            <dt>Alert id</dt>
            <dd class="mono">{alert.id}</dd>
          </dl>
        </section>
        <AlertWorkflow alert={alert} onChanged={setChanged} />
      </div>
      <AlertEvents alert={alert} />
    </Page>
  );
}

function AlertWorkflow({ alert, onChanged }: { alert: Alert; onChanged(alert: Alert): void }) {
  const id = useId();
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const [notice, setNotice] = useState('');
  const act = async (step: 'acknowledge' | 'close') => {
    setBusy(true);
    setError(undefined);
    setNotice('');
    try {
      const body = step === 'close' ? { reason: reason.trim() } : undefined;
      const updated = await api<Alert>(`/alerts/${encodeURIComponent(alert.id)}/${step}`, { method: 'POST', ...(body ? { body } : {}) });
      onChanged(updated);
      setNotice(step === 'close' ? 'The alert is closed; the change is sealed in the system ledger.' : 'The alert is acknowledged; the change is sealed in the system ledger.');
      if (step === 'close') setReason('');
    } catch (cause) {
      setError(cause);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="card stack" aria-labelledby="alert-workflow">
      <h2 id="alert-workflow">Handle it</h2>
      <p class="muted">Open → acknowledged → closed with a reason. Each step is sealed in the system ledger before the server answers.</p>
      <div class="row">
        <button type="button" class="primary" disabled={busy || alert.status !== 'open'} onClick={() => void act('acknowledge')}>
          Acknowledge
        </button>
        {alert.status === 'acknowledged' ? <span class="muted">acknowledged</span> : null}
      </div>
      {alert.status !== 'closed' ? (
        <form
          class="stack"
          onSubmit={(e) => {
            e.preventDefault();
            if (reason.trim()) void act('close');
          }}
        >
          <label for={`${id}-reason`}>Reason for closing (required)</label>
          <textarea id={`${id}-reason`} required maxLength={1000} rows={3} value={reason} onInput={(e) => setReason(e.currentTarget.value)} aria-describedby={`${id}-reason-hint`} />
          <span id={`${id}-reason-hint`} class="muted">For example: "confirmed with the user, password reset" or "false positive: load test".</span>
          <div>
            <button type="submit" disabled={busy || reason.trim() === ''}>
              Close alert
            </button>
          </div>
        </form>
      ) : (
        <p>Closed{alert.close_reason ? `: ${alert.close_reason}` : ''}.</p>
      )}
      <p role="status" aria-live="polite" class="workflow-notice">{notice}</p>
      <ErrorMessage error={error} title="The server refused" />
    </section>
  );
}

interface SearchAnswer {
  events: Array<ProvenResult & { received_at: string; event: Record<string, any>; redacted?: Record<string, string> }>;
  checkpoint?: string | null;
  next: string | null;
}

function AlertEvents({ alert }: { alert: Alert }) {
  const groups = useMemo(() => eventsByLedger(alert), [alert.id, alert.events.length]);
  const key = [...groups].map(([l, i]) => `${l}:${i.join(',')}`).join(';');
  const found = useAsync(
    async (signal) => {
      const answers = await Promise.all(
        [...groups].map(async ([ledger, indexes]) => {
          const answer = await api<SearchAnswer>(`/ledgers/${encodeURIComponent(ledger)}/events`, {
            query: { q: indexQuery(indexes), proofs: 1, limit: 100, order: 'asc' },
            signal,
          });
          return { ledger, answer };
        }),
      );
      const checkpoints: Record<string, string | null> = {};
      const rows: SearchAnswer['events'] = [];
      for (const { ledger, answer } of answers) {
        checkpoints[ledger] = answer.checkpoint ?? null;
        rows.push(...answer.events.map((e) => ({ ...e, ledger })));
      }
      return { rows, checkpoints };
    },
    [key],
  );
  const rows = found.data?.rows ?? [];
  const states = useRowVerification(rows, found.data?.checkpoints ?? {});
  const byKey = new Map(rows.map((r) => [rowKey(r.ledger, r.index), r]));
  return (
    <section class="alert-events" aria-labelledby="alert-events">
      <div class="page-header">
        <h2 id="alert-events">Its events</h2>
        <div class="page-actions">
          {[...groups].map(([ledger, indexes]) => (
            <BundleButton key={ledger} ledger={ledger} indexes={indexes} several={groups.size > 1} />
          ))}
        </div>
      </div>
      <ErrorMessage error={found.error} title="The events could not be read" />
      <div class="table-scroll">
        <table>
          <caption class="sr-only">The events that raised the alert, oldest first, with their verification in this browser</caption>
          <thead>
            <tr>
              <th scope="col">Event</th>
              <th scope="col">Occurred</th>
              <th scope="col">Received</th>
              <th scope="col">Action</th>
              <th scope="col">Outcome</th>
              <th scope="col">Actor</th>
              <th scope="col">Origin</th>
              <th scope="col">Verification</th>
            </tr>
          </thead>
          <tbody>
            {alert.events.map(({ ledger, index }) => {
              const row = byKey.get(rowKey(ledger, index));
              const event = row?.event ?? {};
              return (
                <tr key={rowKey(ledger, index)}>
                  <td><a href={href('events', ledger, index)}>{ledger} #{index}</a></td>
                  {row ? (
                    <>
                      <td><Time value={event.occurred_at} /></td>
                      <td><Time value={row.received_at} /></td>
                      <td class="mono">{event.action}</td>
                      <td>{event.outcome ?? '—'}</td>
                      <td class="mono">{event.actor?.id ?? '—'}</td>
                      <td class="mono">{event.origin?.ip ?? (row.redacted?.['origin.ip'] ? `(${row.redacted['origin.ip']})` : '—')}</td>
                      <td><VerificationBadge state={states.get(rowKey(ledger, index))} /></td>
                    </>
                  ) : (
                    <td colSpan={7} class="muted">
                      {found.loading ? 'loading…' : 'not in the search index any more (purged, or outside your tenants); open it to see what remains'}
                    </td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function BundleButton({ ledger, indexes, several }: { ledger: string; indexes: number[]; several: boolean }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const [done, setDone] = useState('');
  const mounted = useRef(true);
  useEffect(() => () => void (mounted.current = false), []);
  const download = async () => {
    setBusy(true);
    setError(undefined);
    setDone('');
    try {
      const { blob, filename } = await apiBlob(`/ledgers/${encodeURIComponent(ledger)}/bundle`, { method: 'POST', body: { q: indexQuery(indexes) } });
      const name = filename ?? `${ledger}-alert-bundle.zip`;
      saveBlob(blob, name);
      if (mounted.current) setDone(`${name} (${indexes.length} event${indexes.length === 1 ? '' : 's'}, ${Math.ceil(blob.size / 1024)} KiB): verify it with sealtrail verify-bundle.`);
    } catch (cause) {
      if (mounted.current) setError(cause);
    } finally {
      if (mounted.current) setBusy(false);
    }
  };
  return (
    <div class="bundle">
      <button type="button" class="primary" disabled={busy} onClick={() => void download()}>
        {busy ? 'Preparing the bundle…' : several ? `Download evidence bundle (${ledger})` : 'Download evidence bundle'}
      </button>
      <span role="status" aria-live="polite" class="muted">{done}</span>
      <ErrorMessage error={error} title="The bundle could not be made" />
    </div>
  );
}
