/**
 * "Data access" (`#/tenant?tenant=&from=&to=`): who accessed a tenant's records between two dates — the
 * content of the tenant's access certificate (GET /v1/certificates/{tenant}, docs/REPORTS.md), as a paged
 * table with its counts and signed-checkpoint references, the certificate's JSON, HTML and PDF, and each
 * ledger's evidence bundle, verified in the browser before it is saved. A tenant-scoped key reports on
 * its own tenants only (the server enforces it); an all-tenant key chooses the tenant.
 */
import { useEffect, useId, useMemo, useState } from 'preact/hooks';
import { ApiError, saveBlob } from '../api.js';
import { href, navigate } from '../router.js';
import { useSession } from '../session.js';
import { ErrorMessage, Loading, Page, Time, useAsync } from '../ui/common.js';
import { lastMs, TimeRangePicker, type TimeRange } from '../ui/time-range.js';
import { Pager } from './incident/events.js';
import type { PageProps } from './registry.js';
import { certificateFile, fetchVerifiedBundle, knownTenants, loadCertificate, type BundleOutcome, type Certificate, type CertificateLedger, type LoadedCertificate } from './tenant/model.js';
import './tenant/tenant.css';

const DEFAULT_PERIOD_MS = 30 * 86_400_000;
const ACCESS_PAGE = 100;

export function TenantPage({ route }: PageProps) {
  const { key } = useSession();
  const allTenants = key.tenants.includes('*');
  const routeTenant = route.query.get('tenant') ?? '';
  // A key of one tenant needs no choice; otherwise the route (or the form) names it.
  const tenant = routeTenant || (!allTenants && key.tenants.length === 1 ? key.tenants[0]! : '');
  const from = route.query.get('from') ?? '';
  const to = route.query.get('to') ?? '';
  // Without a period in the route: the 30 days before the page was opened.
  const defaultFrom = useMemo(() => lastMs(DEFAULT_PERIOD_MS).from, []);
  const period = { from: from || defaultFrom, to };
  return (
    <Page title="Data access">
      <p class="muted tenant-intro">
        Who accessed a tenant's records: every read, export, creation, change and deletion recorded with that tenant, and every read of the audit log by a key scoped to it, each proven
        against a signed checkpoint.
      </p>
      <TenantForm allTenants={allTenants} tenants={key.tenants} tenant={tenant} period={period} />
      {tenant ? <Accesses tenant={tenant} from={period.from} to={period.to} /> : <p class="muted">Choose a tenant.</p>}
    </Page>
  );
}

function TenantForm({ allTenants, tenants, tenant, period }: { allTenants: boolean; tenants: string[]; tenant: string; period: TimeRange }) {
  const id = useId();
  const [draftTenant, setDraftTenant] = useState(tenant);
  const [draftPeriod, setDraftPeriod] = useState<TimeRange>(period);
  useEffect(() => setDraftTenant(tenant), [tenant]);
  useEffect(() => setDraftPeriod(period), [period.from, period.to]);
  const suggestions = useAsync((signal) => (allTenants ? knownTenants(signal) : Promise.resolve([])), [allTenants]);
  return (
    <form
      class="card tenant-form"
      aria-label="Data access"
      onSubmit={(e) => {
        e.preventDefault();
        const name = draftTenant.trim();
        if (name) navigate(href('tenant', { tenant: name, from: draftPeriod.from, to: draftPeriod.to }));
      }}
    >
      <div class="tenant-choice">
        <label for={`${id}-tenant`}>Tenant</label>
        {allTenants ? (
          <>
            <input id={`${id}-tenant`} list={`${id}-tenants`} value={draftTenant} required maxLength={256} autoComplete="off" onInput={(e) => setDraftTenant(e.currentTarget.value)} />
            <datalist id={`${id}-tenants`}>
              {(suggestions.data ?? []).map((name) => <option key={name} value={name} />)}
            </datalist>
          </>
        ) : (
          <select id={`${id}-tenant`} value={draftTenant} required onChange={(e) => setDraftTenant(e.currentTarget.value)}>
            {tenants.length > 1 && !draftTenant ? <option value="">Choose…</option> : null}
            {tenants.map((name) => <option key={name} value={name}>{name}</option>)}
          </select>
        )}
      </div>
      <TimeRangePicker label="Period" value={draftPeriod} onChange={setDraftPeriod} />
      <button type="submit" class="primary">
        Show accesses
      </button>
    </form>
  );
}

function Accesses({ tenant, from, to }: { tenant: string; from: string; to: string }) {
  // An open end is "now" when the certificate is asked for.
  const state = useAsync((signal) => loadCertificate(tenant, from, to || new Date().toISOString(), signal), [tenant, from, to]);
  const loaded = state.data;
  const stale = loaded && loaded.certificate.tenant !== tenant;
  return (
    <div class="stack tenant-result" aria-busy={state.loading}>
      <ErrorMessage error={state.error} title={state.error instanceof ApiError && state.error.status === 403 ? 'Not allowed' : 'The accesses could not be read'} />
      {state.error instanceof ApiError && state.error.status === 403 ? (
        <p class="muted">Access certificates are made for auditor and admin keys whose scope includes the tenant; ask your administrator for such a key.</p>
      ) : null}
      {!loaded || stale ? state.error ? null : <Loading what={`the accesses to ${tenant}`} /> : <CertificateView loaded={loaded} />}
    </div>
  );
}

function CertificateView({ loaded }: { loaded: LoadedCertificate }) {
  const { certificate } = loaded;
  return (
    <>
      <section class="card" aria-labelledby="tenant-summary">
        <h2 id="tenant-summary">
          {certificate.accesses_total} access{certificate.accesses_total === 1 ? '' : 'es'} to {certificate.tenant}
        </h2>
        <p>
          <Time value={certificate.period.from} /> – <Time value={certificate.period.to} /> (received time), across {certificate.ledgers.length} ledger{certificate.ledgers.length === 1 ? '' : 's'}; made{' '}
          <Time value={certificate.generated_at} /> for {certificate.generated_by} and sealed in the system ledger (SHA-256 <code>{certificate.sha256}</code>).
        </p>
        <Exports loaded={loaded} />
        <LedgerTable certificate={certificate} />
        <p class="muted">
          Reads of the audit log by keys scoped to {certificate.tenant}: {certificate.audit_log_reads.total}
          {certificate.audit_log_reads.keys.length ? ` (keys ${certificate.audit_log_reads.keys.join(', ')})` : ''}.
        </p>
        <details>
          <summary>What this proves and does not prove</summary>
          <h3>Proves</h3>
          <ul>{certificate.proves.map((line) => <li key={line}>{line}</li>)}</ul>
          <h3>Does not prove</h3>
          <ul>{certificate.does_not_prove.map((line) => <li key={line}>{line}</li>)}</ul>
          <p class="muted">{certificate.definition}</p>
        </details>
      </section>
      <AccessTable certificate={certificate} />
    </>
  );
}

function Exports({ loaded }: { loaded: LoadedCertificate }) {
  const { certificate } = loaded;
  const [busy, setBusy] = useState<string | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const base = `sealtrail-certificate-${certificate.tenant}-${certificate.period.from.slice(0, 10)}`;
  const download = async (format: 'html' | 'pdf') => {
    setBusy(format);
    setError(undefined);
    try {
      const { blob, filename } = await certificateFile(certificate.tenant, certificate.period.from, certificate.period.to, format);
      saveBlob(blob, filename ?? `${base}.${format}`);
    } catch (cause) {
      setError(cause);
    } finally {
      setBusy(undefined);
    }
  };
  return (
    <div class="stack">
      <div class="row" role="group" aria-label="Export the certificate">
        <button type="button" onClick={() => saveBlob(new Blob([loaded.text], { type: 'application/json' }), `${base}.json`)}>
          Download JSON
        </button>
        <button type="button" disabled={busy !== undefined} onClick={() => void download('html')}>
          {busy === 'html' ? 'Preparing HTML…' : 'Download HTML'}
        </button>
        <button type="button" disabled={busy !== undefined} onClick={() => void download('pdf')}>
          {busy === 'pdf' ? 'Preparing PDF…' : 'Download PDF'}
        </button>
      </div>
      <p class="muted export-note">JSON is the document shown here, byte for byte. HTML and PDF are made anew by the server for the same period (and sealed again, with their own hash).</p>
      <ErrorMessage error={error} title="The export failed" />
    </div>
  );
}

function LedgerTable({ certificate }: { certificate: Certificate }) {
  return (
    <div class="table-scroll">
      <table>
        <caption>Per ledger: counts, the signed checkpoint they are proven against, and the evidence bundle</caption>
        <thead>
          <tr>
            <th scope="col">Ledger</th>
            <th scope="col">Accesses</th>
            <th scope="col">By category</th>
            <th scope="col">Top actors</th>
            <th scope="col">Checkpoint</th>
            <th scope="col">Evidence</th>
          </tr>
        </thead>
        <tbody>
          {certificate.ledgers.map((ledger) => (
            <tr key={ledger.ledger}>
              <td>{ledger.ledger}</td>
              <td>{ledger.accesses}</td>
              <td>{ledger.by_category.map((c) => `${c.key ?? '—'} ${c.count}`).join(', ') || '—'}</td>
              <td>{ledger.by_actor.slice(0, 5).map((a) => `${a.key ?? '—'} ${a.count}`).join(', ') || '—'}</td>
              <td>
                {ledger.checkpoint ? (
                  <span title={ledger.checkpoint.note}>
                    size {ledger.checkpoint.size}, root <code>{ledger.checkpoint.root.slice(0, 12)}…</code>
                    {ledger.first_covering_checkpoint ? <span class="muted"> (first holding an access: size {ledger.first_covering_checkpoint.size})</span> : null}
                  </span>
                ) : (
                  <span class="muted">none yet</span>
                )}
              </td>
              <td>
                <BundleButton certificate={certificate} ledger={ledger} />
              </td>
            </tr>
          ))}
          {certificate.ledgers.length === 0 ? <tr><td colSpan={6} class="muted">No ledgers in scope.</td></tr> : null}
        </tbody>
      </table>
    </div>
  );
}

function BundleButton({ certificate, ledger }: { certificate: Certificate; ledger: CertificateLedger }) {
  const [state, setState] = useState<{ phase: 'idle' } | { phase: 'busy' } | { phase: 'done'; outcome: BundleOutcome } | { phase: 'error'; error: unknown }>({ phase: 'idle' });
  const run = async () => {
    setState({ phase: 'busy' });
    try {
      const { outcome, blob } = await fetchVerifiedBundle(certificate, ledger);
      if (outcome.ok && blob) saveBlob(blob, outcome.filename);
      setState({ phase: 'done', outcome });
    } catch (error) {
      setState({ phase: 'error', error });
    }
  };
  const disabled = state.phase === 'busy' || !ledger.checkpoint || ledger.accesses === 0;
  return (
    <div class="bundle-cell">
      <button type="button" disabled={disabled} onClick={() => void run()} aria-label={`Download evidence bundle of ${ledger.ledger}`}>
        {state.phase === 'busy' ? 'Verifying bundle…' : 'Download evidence bundle'}
      </button>
      <div aria-live="polite" class="bundle-status">
        {state.phase === 'done' && state.outcome.ok ? (
          <span class="state-verified">
            verified: {state.outcome.verifiedEvents} events against checkpoint {state.outcome.checkpointSize} ({Math.ceil(state.outcome.bytes / 1024)} KiB, saved)
          </span>
        ) : null}
        {state.phase === 'done' && !state.outcome.ok ? (
          <span class="state-failed">
            not saved, the bundle did not verify: {state.outcome.problems.slice(0, 3).join('; ')}
          </span>
        ) : null}
        {state.phase === 'error' ? <ErrorMessage error={state.error} title="The bundle could not be made" /> : null}
        {ledger.accesses === 0 ? <span class="muted">no accesses</span> : null}
      </div>
    </div>
  );
}

function AccessTable({ certificate }: { certificate: Certificate }) {
  const [page, setPage] = useState(0);
  useEffect(() => setPage(0), [certificate]);
  const rows = certificate.accesses;
  const pages = Math.max(1, Math.ceil(rows.length / ACCESS_PAGE));
  const shown = rows.slice(page * ACCESS_PAGE, (page + 1) * ACCESS_PAGE);
  return (
    <section class="card stack" aria-labelledby="tenant-accesses">
      <h2 id="tenant-accesses">Accesses</h2>
      {certificate.truncated ? (
        <p class="notice">
          The document lists the first {rows.length} of {certificate.accesses_total} accesses; the counts above and each evidence bundle hold all of them. Choose a shorter period to list the rest.
        </p>
      ) : null}
      {rows.length === 0 ? (
        <p>No access to {certificate.tenant} was recorded in this period.</p>
      ) : (
        <>
          <Pager page={page} pages={pages} total={rows.length} onPage={setPage} size={ACCESS_PAGE} what="Accesses" />
          <div class="table-scroll">
            <table class="access-table">
              <caption class="sr-only">Accesses to {certificate.tenant}, in index order per ledger</caption>
              <thead>
                <tr>
                  <th scope="col">Received</th>
                  <th scope="col">Occurred</th>
                  <th scope="col">Actor</th>
                  <th scope="col">Action</th>
                  <th scope="col">Resource</th>
                  <th scope="col">Origin</th>
                  <th scope="col">Outcome</th>
                  <th scope="col">Entry</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((row) => (
                  <tr key={`${row.ledger}:${row.index}`}>
                    <td><Time value={row.received_at} /></td>
                    <td><Time value={row.occurred_at} /></td>
                    <td>{row.actor}</td>
                    <td>
                      <code>{row.action}</code> <span class="muted">{row.category}</span>
                    </td>
                    <td><code>{row.resource || '—'}</code></td>
                    <td>{row.origin || <span class="muted">—</span>}</td>
                    <td>{row.outcome}</td>
                    <td><a href={href('events', row.ledger, row.index)}>{row.ledger}#{row.index}</a></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <p class="muted attribution">
            Countries in Origin: <a href="https://db-ip.com" rel="noreferrer noopener" target="_blank">IP Geolocation by DB-IP</a>, licensed under CC BY 4.0.
          </p>
        </>
      )}
    </section>
  );
}
