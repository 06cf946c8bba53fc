/**
 * The retention policy: the version in force, its rules, an editor for the next version (the server
 * refuses rules under 12 months unless forced, and its message is shown as it is), and a dry-run purge
 * that says what a run would forget now.
 */
import { useEffect, useId, useState } from 'preact/hooks';
import { api } from '../../api.js';
import { ErrorMessage, Loading, Time, useAsync } from '../../ui/common.js';
import { useAction } from './common.js';

interface Rule {
  id: string;
  ledger?: string;
  action?: string;
  category?: string;
  tenant?: string;
  retain: string;
  description?: string;
}

interface Policy {
  version: number | null;
  changed_at: string | null;
  changed_by: string | null;
  rules: Rule[];
  erasure?: { fields?: string[]; metadata?: string[] };
  warnings?: string[];
}

interface PurgeSummary {
  run: string;
  dryRun: boolean;
  at: string;
  policyVersion: number | null;
  rules: Array<{ ledger: string; rule: string; retain: string; cutoff: string; expired: number; purged: number; held: number; ranges: string }>;
  purged: number;
  held: number;
  fieldsRemoved: number;
}

const editable = (policy: Policy) => JSON.stringify({ rules: policy.rules, ...(policy.erasure ? { erasure: policy.erasure } : {}) }, null, 2);

export function RetentionSection() {
  const id = useId();
  const policy = useAsync((signal) => api<Policy>('/retention/policy', { signal }), []);
  const [text, setText] = useState('');
  const [force, setForce] = useState(false);
  const [saved, setSaved] = useState<Policy | undefined>(undefined);
  const [purge, setPurge] = useState<PurgeSummary | undefined>(undefined);
  useEffect(() => {
    if (policy.data) setText(editable(policy.data));
  }, [policy.data]);
  const save = useAction(async () => {
    setSaved(undefined);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (cause) {
      throw new Error(`The policy is not valid JSON: ${(cause as Error).message}`);
    }
    const stored = await api<Policy>('/retention/policy', { method: 'PUT', body, query: { force: force ? 1 : undefined } });
    setSaved(stored);
    setForce(false);
    policy.reload();
  });
  const dryRun = useAction(async () => {
    setPurge(await api<PurgeSummary>('/retention/run', { method: 'POST', query: { dry_run: 1 } }));
  });
  const current = policy.data;
  return (
    <div class="stack">
      <ErrorMessage error={policy.error} title="The policy could not be read" />
      {!current && policy.loading ? <Loading what="the policy" /> : null}
      {current ? (
        <>
          <p>
            {current.version === null ? (
              'No policy is set: nothing ever expires.'
            ) : (
              <>
                Version {current.version}, set <Time value={current.changed_at} /> by <span class="mono">{current.changed_by}</span>.
              </>
            )}{' '}
            Events no rule matches are kept; the most specific rule governs an event (docs/RETENTION.md).
          </p>
          <div class="table-scroll">
            <table class="admin-table">
              <caption class="sr-only">Retention rules in force</caption>
              <thead>
                <tr>
                  <th scope="col">Rule</th>
                  <th scope="col">Ledger</th>
                  <th scope="col">Action</th>
                  <th scope="col">Category</th>
                  <th scope="col">Tenant</th>
                  <th scope="col">Keep for</th>
                </tr>
              </thead>
              <tbody>
                {current.rules.map((rule) => (
                  <tr key={rule.id}>
                    <th scope="row">
                      {rule.id}
                      {rule.description ? <div class="muted">{rule.description}</div> : null}
                    </th>
                    <td>{rule.ledger ?? 'any'}</td>
                    <td>{rule.action ?? 'any'}</td>
                    <td>{rule.category ?? 'any'}</td>
                    <td>{rule.tenant ?? 'any'}</td>
                    <td>{rule.retain}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {current.erasure ? (
            <p class="muted">
              Erased when the subject is the actor: {(current.erasure.fields ?? []).join(', ') || 'no fields'}
              {current.erasure.metadata?.length ? `; metadata ${current.erasure.metadata.join(', ')}` : ''}.
            </p>
          ) : null}
        </>
      ) : null}
      <form
        class="card stack"
        aria-labelledby={`${id}-edit`}
        onSubmit={(e) => {
          e.preventDefault();
          void save.run();
        }}
      >
        <h3 id={`${id}-edit`}>Change the policy</h3>
        <label for={`${id}-policy`}>Policy (JSON)</label>
        <textarea id={`${id}-policy`} class="mono policy-editor" rows={12} spellcheck={false} value={text} onInput={(e) => setText(e.currentTarget.value)} aria-describedby={`${id}-policy-hint`} />
        <span id={`${id}-policy-hint`} class="muted">
          {'{"rules": [{"id", "ledger"?, "action"?, "category"?, "tenant"?, "retain": "400d" | "13m" | "7y" | "forever"}], "erasure"?: {"fields", "metadata"}}'}
        </span>
        <label class="inline">
          <input type="checkbox" checked={force} onChange={(e) => setForce(e.currentTarget.checked)} /> Allow rules under 12 months (force; recorded with the change)
        </label>
        <div>
          <button type="submit" class="primary" disabled={save.busy}>
            Save policy
          </button>
        </div>
        <ErrorMessage error={save.error} title="The policy was not saved" />
        <div role="status" aria-live="polite">
          {saved ? (
            <p class="saved">
              Saved as version {saved.version}.{saved.warnings?.length ? ` Warnings: ${saved.warnings.join('; ')}.` : ''}
            </p>
          ) : null}
        </div>
      </form>
      <section class="card stack" aria-labelledby={`${id}-purge`}>
        <h3 id={`${id}-purge`}>What would a purge forget now?</h3>
        <p class="muted">A dry run takes the same decisions as a real run, legal holds included, then rolls them back. The server purges every hour by itself.</p>
        <div>
          <button type="button" disabled={dryRun.busy} onClick={() => void dryRun.run()}>
            {dryRun.busy ? 'Running the dry run…' : 'Dry-run a purge'}
          </button>
        </div>
        <ErrorMessage error={dryRun.error} title="The dry run failed" />
        {purge ? (
          <div role="status">
            <p>
              Would purge {purge.purged} events ({purge.fieldsRemoved} values); {purge.held} kept by legal holds. Policy version {purge.policyVersion ?? 'none'}.
            </p>
            {purge.rules.length ? (
              <div class="table-scroll">
                <table class="admin-table">
                  <caption class="sr-only">Dry-run purge by rule and ledger</caption>
                  <thead>
                    <tr>
                      <th scope="col">Rule</th>
                      <th scope="col">Ledger</th>
                      <th scope="col">Cutoff</th>
                      <th scope="col">Expired</th>
                      <th scope="col">Would purge</th>
                      <th scope="col">Held</th>
                    </tr>
                  </thead>
                  <tbody>
                    {purge.rules.map((r) => (
                      <tr key={`${r.rule}:${r.ledger}`}>
                        <th scope="row">{r.rule} ({r.retain})</th>
                        <td>{r.ledger}</td>
                        <td><Time value={r.cutoff} /></td>
                        <td>{r.expired}</td>
                        <td>{r.purged}{r.ranges ? <div class="muted mono">{r.ranges}</div> : null}</td>
                        <td>{r.held}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            ) : null}
          </div>
        ) : null}
      </section>
    </div>
  );
}
