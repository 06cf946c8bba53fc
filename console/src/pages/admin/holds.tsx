/** Legal holds: every hold (active ones with the events they cover), placing one, releasing one with a reason. */
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { api } from '../../api.js';
import { ErrorMessage, Loading, Time, useAsync } from '../../ui/common.js';
import { listField, useAction } from './common.js';

interface Hold {
  id: string;
  ledgers: string[];
  query: string;
  reason: string;
  owner: string;
  created_at: string;
  created_by: string;
  released_at: string | null;
  released_by: string | null;
  release_reason: string | null;
  covers?: Array<{ ledger: string; events: number }>;
}

export function HoldsSection() {
  const holds = useAsync((signal) => api<{ holds: Hold[] }>('/holds', { signal }), []);
  const [notice, setNotice] = useState('');
  const list = (holds.data?.holds ?? []).slice().sort((a, b) => Number(a.released_at !== null) - Number(b.released_at !== null) || b.created_at.localeCompare(a.created_at));
  return (
    <div class="stack">
      <p class="muted">
        A held event is never purged or erased until its hold is released. Place a hold before an erasure when the subject's events may be evidence.
      </p>
      <CreateHold
        onCreated={(hold) => {
          setNotice(`Hold ${hold.id} placed.`);
          holds.reload();
        }}
      />
      <p role="status" aria-live="polite" class="saved">{notice}</p>
      <ErrorMessage error={holds.error} title="The holds could not be read" />
      {!holds.data && holds.loading ? <Loading what="the holds" /> : null}
      {holds.data && list.length === 0 ? <p>No legal holds.</p> : null}
      <ul class="holds">
        {list.map((hold) => (
          <HoldItem
            key={hold.id}
            hold={hold}
            onReleased={() => {
              setNotice(`Hold ${hold.id} released.`);
              holds.reload();
            }}
          />
        ))}
      </ul>
    </div>
  );
}

function HoldItem({ hold, onReleased }: { hold: Hold; onReleased(): void }) {
  const id = useId();
  const [releasing, setReleasing] = useState(false);
  const [reason, setReason] = useState('');
  const reasonField = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (releasing) reasonField.current?.focus();
  }, [releasing]);
  const release = useAction(async () => {
    await api(`/holds/${encodeURIComponent(hold.id)}/release`, { method: 'POST', body: { reason: reason.trim() } });
    setReleasing(false);
    onReleased();
  });
  const active = hold.released_at === null;
  return (
    <li class="card hold" aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>
        <span class="mono">{hold.id}</span> — {active ? 'active' : 'released'}
      </h3>
      <dl class="fields">
        <dt>Reason</dt>
        <dd>{hold.reason}</dd>
        <dt>Owner</dt>
        <dd>{hold.owner}</dd>
        <dt>Ledgers</dt>
        <dd>{hold.ledgers.join(', ')}</dd>
        <dt>Query</dt>
        <dd class="mono">{hold.query || <span class="muted">every event</span>}</dd>
        <dt>Placed</dt>
        <dd><Time value={hold.created_at} /> by <span class="mono">{hold.created_by}</span></dd>
        {active ? (
          <>
            <dt>Covers</dt>
            <dd>{hold.covers?.length ? hold.covers.map((c) => `${c.events} in ${c.ledger}`).join(', ') : 'no events yet'}</dd>
          </>
        ) : (
          <>
            <dt>Released</dt>
            <dd>
              <Time value={hold.released_at} /> by <span class="mono">{hold.released_by}</span>: {hold.release_reason}
            </dd>
          </>
        )}
      </dl>
      {active && !releasing ? (
        <button type="button" onClick={() => setReleasing(true)} aria-label={`Release hold ${hold.id}`}>
          Release…
        </button>
      ) : null}
      {active && releasing ? (
        <form
          class="row"
          onSubmit={(e) => {
            e.preventDefault();
            if (reason.trim()) void release.run();
          }}
        >
          <label for={`${id}-reason`}>Reason for release</label>
          <input id={`${id}-reason`} ref={reasonField} required maxLength={2000} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
          <button type="submit" class="danger" disabled={release.busy || reason.trim() === ''}>
            Confirm release
          </button>
          <button type="button" onClick={() => setReleasing(false)}>
            Cancel
          </button>
        </form>
      ) : null}
      <ErrorMessage error={release.error} title="The hold was not released" />
    </li>
  );
}

function CreateHold({ onCreated }: { onCreated(hold: Hold): void }) {
  const id = useId();
  const [ledgers, setLedgers] = useState('*');
  const [query, setQuery] = useState('');
  const [reason, setReason] = useState('');
  const [owner, setOwner] = useState('');
  const create = useAction(async () => {
    const hold = await api<Hold>('/holds', {
      method: 'POST',
      body: { ledgers: listField(ledgers, ['*']), ...(query.trim() ? { query: query.trim() } : {}), reason: reason.trim(), owner: owner.trim() },
    });
    setQuery('');
    setReason('');
    onCreated(hold);
  });
  return (
    <form
      class="card admin-form"
      aria-labelledby={`${id}-title`}
      onSubmit={(e) => {
        e.preventDefault();
        void create.run();
      }}
    >
      <h3 id={`${id}-title`}>Place a legal hold</h3>
      <div class="field">
        <label for={`${id}-ledgers`}>Hold ledgers</label>
        <input id={`${id}-ledgers`} value={ledgers} maxLength={2000} onInput={(e) => setLedgers(e.currentTarget.value)} aria-describedby={`${id}-ledgers-hint`} />
        <span id={`${id}-ledgers-hint`} class="muted">comma-separated; * for every ledger</span>
      </div>
      <div class="field wide">
        <label for={`${id}-query`}>Hold query</label>
        <input id={`${id}-query`} class="mono" value={query} maxLength={2000} placeholder="actor:alice received:2026-01-01..2026-07-01" onInput={(e) => setQuery(e.currentTarget.value)} aria-describedby={`${id}-query-hint`} />
        <span id={`${id}-query-hint`} class="muted">search syntax; empty holds every event; relative times are pinned when the hold is placed</span>
      </div>
      <div class="field wide">
        <label for={`${id}-reason`}>Hold reason</label>
        <input id={`${id}-reason`} required maxLength={2000} value={reason} placeholder="Acme v. Example, case 26-1234" onInput={(e) => setReason(e.currentTarget.value)} />
      </div>
      <div class="field">
        <label for={`${id}-owner`}>Owner</label>
        <input id={`${id}-owner`} required maxLength={200} value={owner} placeholder="legal@example.com" onInput={(e) => setOwner(e.currentTarget.value)} />
      </div>
      <div class="field actions">
        <button type="submit" class="primary" disabled={create.busy}>
          Place hold
        </button>
      </div>
      <ErrorMessage error={create.error} title="The hold was not placed" />
    </form>
  );
}
