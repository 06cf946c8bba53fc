/**
 * Erasure requests (GDPR Art. 17): a dry run first, showing what would be erased, what holds keep and
 * what the erasure cannot reach, with a warning when alerts that are not closed concern the subject
 * (their actor is the subject); then, confirmed, the erasure itself.
 */
import { useId, useState } from 'preact/hooks';
import { api } from '../../api.js';
import { href } from '../../router.js';
import { ErrorMessage, Time } from '../../ui/common.js';
import { openAlertsFor, type Alert } from '../alerts/model.js';
import { useAction } from './common.js';

interface ErasureSummary {
  erasure: string;
  dryRun: boolean;
  events: number;
  fieldsRemoved: number;
  held: number;
  ledgers: Array<{ ledger: string; events: number; held: number; recent: number; fields: string[] }>;
  recentSince: string;
  notReached: Array<{ kind: string; where: string; events?: number; reason: string }>;
}

interface DryRun {
  subject: string;
  reference: string;
  summary: ErasureSummary;
  alerts: Alert[];
  alertsComplete: boolean;
  alertsError?: unknown;
}

export function ErasureSection() {
  const id = useId();
  const [subject, setSubject] = useState('');
  const [reference, setReference] = useState('');
  const [dry, setDry] = useState<DryRun | undefined>(undefined);
  const [confirmed, setConfirmed] = useState(false);
  const [done, setDone] = useState<ErasureSummary | undefined>(undefined);
  const trimmed = subject.trim();
  const runDry = useAction(async () => {
    setDry(undefined);
    setDone(undefined);
    setConfirmed(false);
    const body = { subject: trimmed, ...(reference.trim() ? { reference: reference.trim() } : {}), dry_run: true };
    const [summary, alerts] = await Promise.all([
      api<ErasureSummary>('/erasures', { method: 'POST', body }),
      openAlertsFor(trimmed).then(
        (found) => ({ ...found, error: undefined as unknown }),
        (error: unknown) => ({ alerts: [] as Alert[], complete: false, error }),
      ),
    ]);
    setDry({ subject: trimmed, reference: reference.trim(), summary, alerts: alerts.alerts, alertsComplete: alerts.complete, alertsError: alerts.error });
  });
  const erase = useAction(async () => {
    if (!dry) return;
    const summary = await api<ErasureSummary>('/erasures', { method: 'POST', body: { subject: dry.subject, ...(dry.reference ? { reference: dry.reference } : {}) } });
    setDone(summary);
    setDry(undefined);
    setConfirmed(false);
  });
  const stale = dry !== undefined && (dry.subject !== trimmed || dry.reference !== reference.trim());
  return (
    <div class="stack">
      <p class="muted">
        An erasure removes every value naming the subject from every ledger, the system ledger included; leaves, hashes and proofs stay, and held events are
        left as they are. It cannot be undone. Run the dry run first and read what it names.
      </p>
      <form
        class="card admin-form"
        aria-labelledby={`${id}-title`}
        onSubmit={(e) => {
          e.preventDefault();
          if (trimmed) void runDry.run();
        }}
      >
        <h3 id={`${id}-title`}>Erasure request</h3>
        <div class="field wide">
          <label for={`${id}-subject`}>Subject</label>
          <input id={`${id}-subject`} required maxLength={320} value={subject} placeholder="actor id, name, e-mail or IP address" onInput={(e) => setSubject(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for={`${id}-reference`}>Request reference</label>
          <input id={`${id}-reference`} maxLength={200} value={reference} placeholder="DSR-2026-0042" onInput={(e) => setReference(e.currentTarget.value)} />
        </div>
        <div class="field actions">
          <button type="submit" class="primary" disabled={runDry.busy || trimmed === ''}>
            {runDry.busy ? 'Reading every ledger…' : 'Dry run'}
          </button>
        </div>
        <ErrorMessage error={runDry.error} title="The dry run failed" />
      </form>
      <div aria-live="polite">
        {dry ? <DryRunReport dry={dry} /> : null}
        {dry ? (
          <section class="card stack" aria-labelledby={`${id}-confirm`}>
            <h3 id={`${id}-confirm`}>Erase</h3>
            {stale ? <p class="notice">The subject or reference changed since this dry run: run it again first.</p> : null}
            <label class="inline">
              <input type="checkbox" checked={confirmed} disabled={stale} onChange={(e) => setConfirmed(e.currentTarget.checked)} /> I have read the dry run
              {dry.alerts.length ? ', including the open alerts,' : ''} and want to erase {dry.subject}
            </label>
            <div>
              <button type="button" class="danger" disabled={!confirmed || stale || erase.busy} onClick={() => void erase.run()}>
                {erase.busy ? 'Erasing…' : 'Erase now'}
              </button>
            </div>
            <ErrorMessage error={erase.error} title="Nothing was erased" />
          </section>
        ) : null}
        {done ? (
          <section class="card" role="status" aria-labelledby={`${id}-done`}>
            <h3 id={`${id}-done`}>Erased</h3>
            <p>
              Erasure <span class="mono">{done.erasure}</span>: {done.fieldsRemoved} values removed from {done.events} events; {done.held} held events left
              unchanged. It is recorded in the system ledger as subject.erase.
            </p>
            <NotReached items={done.notReached} />
          </section>
        ) : null}
      </div>
    </div>
  );
}

function DryRunReport({ dry }: { dry: DryRun }) {
  const { summary, alerts } = dry;
  const unheldRecent = summary.ledgers.filter((l) => l.recent > 0);
  return (
    <section class="card stack" aria-labelledby="erasure-dry-run">
      <h3 id="erasure-dry-run">Dry run for {dry.subject}</h3>
      {alerts.length ? (
        <div class="notice" role="alert">
          <strong>
            {dry.subject} has events under {alerts.length} open alert{alerts.length === 1 ? '' : 's'}.
          </strong>{' '}
          An erasure removes the addresses, sessions and user agents an investigation depends on. Place a legal hold first (Legal holds) if they may be
          evidence, then run the dry run again.
          <ul>
            {alerts.map((alert) => (
              <li key={alert.id}>
                <a href={href('alerts', alert.id)}>{alert.title}</a> — {alert.severity}, {alert.status}, {alert.ledger}, last seen <Time value={alert.last_seen} />
              </li>
            ))}
          </ul>
        </div>
      ) : dry.alertsError ? (
        <p class="notice">Open alerts could not be checked: {dry.alertsError instanceof Error ? dry.alertsError.message : String(dry.alertsError)}</p>
      ) : (
        <p class="muted">No open or acknowledged alert has {dry.subject} as its actor{dry.alertsComplete ? '' : ' among the first 20,000 alerts read'}.</p>
      )}
      <p>
        Would erase {summary.fieldsRemoved} values in {summary.events} events; {summary.held} events under legal hold would be left unchanged.
      </p>
      {summary.ledgers.length ? (
        <div class="table-scroll">
          <table class="admin-table">
            <caption class="sr-only">What the erasure would change, per ledger</caption>
            <thead>
              <tr>
                <th scope="col">Ledger</th>
                <th scope="col">To erase</th>
                <th scope="col">Held</th>
                <th scope="col">Recent</th>
                <th scope="col">Fields</th>
              </tr>
            </thead>
            <tbody>
              {summary.ledgers.map((l) => (
                <tr key={l.ledger}>
                  <th scope="row">{l.ledger}</th>
                  <td>{l.events}</td>
                  <td>{l.held}</td>
                  <td>{l.recent}</td>
                  <td class="mono">{l.fields.join(', ')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {unheldRecent.length ? (
        <p class="notice">
          Events received since <Time value={summary.recentSince} /> would be erased ({unheldRecent.map((l) => `${l.ledger} ${l.recent}`).join(', ')}) and no legal hold
          covers them. Recent events may be evidence of an incident still being looked into.
        </p>
      ) : null}
      <NotReached items={summary.notReached} />
    </section>
  );
}

function NotReached({ items }: { items: ErasureSummary['notReached'] }) {
  if (!items.length) return null;
  return (
    <details>
      <summary>What the erasure does not reach ({items.length})</summary>
      <ul>
        {items.map((item, i) => (
          <li key={i}>
            <strong>{item.kind}</strong> {item.where}
            {item.events !== undefined ? ` (${item.events})` : ''}: {item.reason}
          </li>
        ))}
      </ul>
    </details>
  );
}
