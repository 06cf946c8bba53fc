/**
 * API keys: the list (never a token), creation with role, ledger and tenant scope, description and
 * expiry (the token shown once, with a copy button), and revocation after a confirmation.
 */
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { api } from '../../api.js';
import { useSession } from '../../session.js';
import { ErrorMessage, Loading, Time, useAsync } from '../../ui/common.js';
import { listField, useAction } from './common.js';

interface ApiKey {
  id: string;
  role: string;
  ledgers: string[];
  tenants: string[];
  description: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

const ROLES = [
  { role: 'reader', what: 'reads events and verification material' },
  { role: 'auditor', what: 'reads, and reports and certificates' },
  { role: 'writer', what: 'appends events; reads verification material only' },
  { role: 'admin', what: 'everything, keys and ledgers included' },
];

const EXPIRIES = [
  { label: 'Never', seconds: 0 },
  { label: '1 day', seconds: 86_400 },
  { label: '7 days', seconds: 7 * 86_400 },
  { label: '30 days', seconds: 30 * 86_400 },
  { label: '90 days', seconds: 90 * 86_400 },
  { label: '1 year', seconds: 365 * 86_400 },
];

export function KeysSection() {
  const keys = useAsync((signal) => api<{ keys: ApiKey[] }>('/keys', { signal }), []);
  const [created, setCreated] = useState<(ApiKey & { token: string }) | undefined>(undefined);
  const [showRevoked, setShowRevoked] = useState(false);
  const list = (keys.data?.keys ?? []).slice().sort((a, b) => Number(a.revoked_at !== null) - Number(b.revoked_at !== null) || b.created_at.localeCompare(a.created_at));
  const shown = showRevoked ? list : list.filter((k) => k.revoked_at === null);
  const revokedCount = list.length - list.filter((k) => k.revoked_at === null).length;
  return (
    <div class="stack">
      <CreateKey
        onCreated={(key) => {
          setCreated(key);
          keys.reload();
        }}
      />
      {created ? <NewToken created={created} onDone={() => setCreated(undefined)} /> : null}
      <h3>Keys</h3>
      <ErrorMessage error={keys.error} title="The keys could not be read" />
      {!keys.data && keys.loading ? <Loading what="the keys" /> : null}
      <label class="inline">
        <input type="checkbox" checked={showRevoked} onChange={(e) => setShowRevoked(e.currentTarget.checked)} /> Show revoked keys ({revokedCount})
      </label>
      <div class="table-scroll">
        <table class="admin-table">
          <caption class="sr-only">API keys</caption>
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Role</th>
              <th scope="col">Ledgers</th>
              <th scope="col">Tenants</th>
              <th scope="col">Created</th>
              <th scope="col">Expires</th>
              <th scope="col">State</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((key) => (
              <KeyRow key={key.id} apiKey={key} onRevoked={keys.reload} />
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

function KeyRow({ apiKey, onRevoked }: { apiKey: ApiKey; onRevoked(): void }) {
  const session = useSession();
  const [confirming, setConfirming] = useState(false);
  const confirmButton = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (confirming) confirmButton.current?.focus();
  }, [confirming]);
  const revoke = useAction(async () => {
    await api(`/keys/${encodeURIComponent(apiKey.id)}`, { method: 'DELETE' });
    setConfirming(false);
    onRevoked();
  });
  const expired = apiKey.expires_at !== null && new Date(apiKey.expires_at).getTime() < Date.now();
  const own = apiKey.id === session.key.id;
  return (
    <tr>
      <th scope="row">
        <span class="mono">{apiKey.id}</span>
        {own ? <span class="muted"> (you)</span> : null}
        {apiKey.description ? <div class="muted">{apiKey.description}</div> : null}
      </th>
      <td>{apiKey.role}</td>
      <td>{apiKey.ledgers.join(', ')}</td>
      <td>{apiKey.tenants.join(', ')}</td>
      <td><Time value={apiKey.created_at} /></td>
      <td>{apiKey.expires_at ? <Time value={apiKey.expires_at} /> : 'never'}</td>
      <td>
        {apiKey.revoked_at ? (
          <>revoked <Time value={apiKey.revoked_at} /></>
        ) : expired ? (
          'expired'
        ) : confirming ? (
          <div class="confirm" role="group" aria-label={`Confirm revoking ${apiKey.id}`}>
            <p>
              Revoke {apiKey.id}? Every request and console session using it fails at once; this cannot be undone.
              {own ? ' This is the key you are signed in with: you will be signed out.' : ''}
            </p>
            <div class="row">
              <button type="button" class="danger" ref={confirmButton} disabled={revoke.busy} onClick={() => void revoke.run()}>
                Confirm revoke
              </button>
              <button type="button" onClick={() => setConfirming(false)} disabled={revoke.busy}>
                Cancel
              </button>
            </div>
            <ErrorMessage error={revoke.error} title="Not revoked" />
          </div>
        ) : (
          <>
            active{' '}
            <button type="button" class="danger" aria-label={`Revoke ${apiKey.id}`} onClick={() => setConfirming(true)}>
              Revoke
            </button>
          </>
        )}
      </td>
    </tr>
  );
}

function CreateKey({ onCreated }: { onCreated(key: ApiKey & { token: string }): void }) {
  const id = useId();
  const [role, setRole] = useState('reader');
  const [ledgers, setLedgers] = useState('*');
  const [tenants, setTenants] = useState('*');
  const [description, setDescription] = useState('');
  const [expiry, setExpiry] = useState(90 * 86_400);
  const create = useAction(async () => {
    const body = {
      role,
      ledgers: listField(ledgers, ['*']),
      tenants: listField(tenants, ['*']),
      ...(description.trim() ? { description: description.trim() } : {}),
      ...(expiry > 0 ? { expires_in_seconds: expiry } : {}),
    };
    const key = await api<ApiKey & { token: string }>('/keys', { method: 'POST', body });
    setDescription('');
    onCreated(key);
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
      <h3 id={`${id}-title`}>Create a key</h3>
      <div class="field">
        <label for={`${id}-role`}>Role</label>
        <select id={`${id}-role`} value={role} onChange={(e) => setRole(e.currentTarget.value)} aria-describedby={`${id}-role-what`}>
          {ROLES.map((r) => <option key={r.role} value={r.role}>{r.role}</option>)}
        </select>
        <span id={`${id}-role-what`} class="muted">{ROLES.find((r) => r.role === role)?.what}</span>
      </div>
      <div class="field">
        <label for={`${id}-ledgers`}>Ledgers</label>
        <input id={`${id}-ledgers`} value={ledgers} maxLength={2000} onInput={(e) => setLedgers(e.currentTarget.value)} aria-describedby={`${id}-ledgers-hint`} />
        <span id={`${id}-ledgers-hint`} class="muted">comma-separated; * for every ledger</span>
      </div>
      <div class="field">
        <label for={`${id}-tenants`}>Tenants</label>
        <input id={`${id}-tenants`} value={tenants} maxLength={2000} onInput={(e) => setTenants(e.currentTarget.value)} aria-describedby={`${id}-tenants-hint`} />
        <span id={`${id}-tenants-hint`} class="muted">comma-separated; * for every tenant</span>
      </div>
      <div class="field">
        <label for={`${id}-description`}>Description</label>
        <input id={`${id}-description`} value={description} maxLength={256} placeholder="who or what uses it" onInput={(e) => setDescription(e.currentTarget.value)} />
      </div>
      <div class="field">
        <label for={`${id}-expiry`}>Expires after</label>
        <select id={`${id}-expiry`} value={String(expiry)} onChange={(e) => setExpiry(Number(e.currentTarget.value))}>
          {EXPIRIES.map((x) => <option key={x.seconds} value={String(x.seconds)}>{x.label}</option>)}
        </select>
      </div>
      <div class="field actions">
        <button type="submit" class="primary" disabled={create.busy}>
          Create key
        </button>
      </div>
      <ErrorMessage error={create.error} title="The key was not created" />
    </form>
  );
}

function NewToken({ created, onDone }: { created: ApiKey & { token: string }; onDone(): void }) {
  const id = useId();
  const field = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState('');
  useEffect(() => {
    field.current?.focus();
    field.current?.select();
  }, [created.id]);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(created.token);
      setCopied('Copied to the clipboard.');
    } catch {
      // No clipboard access (an insecure origin, a refused permission): leave it selected to copy by hand.
      field.current?.select();
      setCopied('The browser refused the clipboard: the token is selected, copy it with Ctrl+C.');
    }
  };
  return (
    <section class="card token-once" aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>New key {created.id}</h3>
      <p class="notice" role="alert">
        This token is shown once and will not be shown again: the server keeps only its hash. Store it now.
      </p>
      <label for={`${id}-token`}>Token</label>
      <div class="row">
        <input id={`${id}-token`} class="mono token" readOnly value={created.token} ref={field} onFocus={(e) => e.currentTarget.select()} />
        <button type="button" onClick={() => void copy()}>
          Copy token
        </button>
      </div>
      <p class="muted" role="status" aria-live="polite">{copied}</p>
      <p class="muted">
        {created.role} key for ledgers {created.ledgers.join(', ')}, tenants {created.tenants.join(', ')}
        {created.expires_at ? <>, expires <Time value={created.expires_at} /></> : ', no expiry'}.
      </p>
      <div>
        <button type="button" onClick={onDone}>
          I have stored it
        </button>
      </div>
    </section>
  );
}
