/**
 * Ledgers and their health: entries (tree size), age of the latest signed checkpoint, the running
 * server's integrity verification (GET /v1/integrity) and how far detection has judged each ledger.
 */
import { useEffect, useState } from 'preact/hooks';
import { api } from '../../api.js';
import { ErrorMessage, Time, useAsync } from '../../ui/common.js';
import { ageSince, formatAge } from './common.js';

interface Ledger {
  name: string;
  origin: string;
  created_at: string;
  size: number;
  checkpoint_at?: string | null;
}

interface IntegrityLedger {
  ledger: string;
  state: 'verifying' | 'trusted' | 'broken';
  verifiedSize: number;
  sweep?: { position?: number; rounds?: number };
  reason?: string;
  brokenAt?: string;
}

interface Health {
  ledgers: Ledger[];
  integrity: { ok: boolean; monitored?: boolean; ledgers: IntegrityLedger[] };
  detection: Map<string, { size: number; evaluated: number }> | undefined;
  at: number;
}

async function mapLimited<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const at = next++;
      results[at] = await work(items[at]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

async function loadHealth(signal: AbortSignal): Promise<Health> {
  const [listed, integrity, detection] = await Promise.all([
    api<{ ledgers: Ledger[] }>('/ledgers', { signal }),
    api<Health['integrity']>('/integrity', { signal }),
    api<{ ledgers: Array<{ ledger: string; size: number; evaluated: number }> }>('/detection', { signal }).catch(() => undefined),
  ]);
  // The listing has no checkpoint times; one describe per ledger, a few at a time.
  const ledgers = await mapLimited(listed.ledgers, 6, (l) => api<Ledger>(`/ledgers/${encodeURIComponent(l.name)}`, { signal }).catch(() => l));
  return {
    ledgers,
    integrity,
    detection: detection ? new Map(detection.ledgers.map((d) => [d.ledger, d])) : undefined,
    at: Date.now(),
  };
}

export function LedgersSection() {
  const health = useAsync(loadHealth, []);
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 5000);
    return () => clearInterval(timer);
  }, []);
  const data = health.data;
  const integrity = new Map((data?.integrity.ledgers ?? []).map((l) => [l.ledger, l]));
  return (
    <div class="stack">
      <div class="row">
        <button type="button" onClick={health.reload} disabled={health.loading}>
          Refresh
        </button>
        <span class="muted" role="status" aria-live="polite">
          {health.loading ? 'Reading ledger health…' : data ? `${data.ledgers.length} ledgers; ${data.integrity.monitored === false ? 'this server runs no integrity monitor' : data.integrity.ok ? 'every ledger verified up to its head' : 'not every ledger is verified'}` : ''}
        </span>
      </div>
      <ErrorMessage error={health.error} title="Ledger health could not be read" />
      <div class="table-scroll">
        <table class="admin-table">
          <caption class="sr-only">Ledgers and their health</caption>
          <thead>
            <tr>
              <th scope="col">Ledger</th>
              <th scope="col">Entries</th>
              <th scope="col">Latest checkpoint</th>
              <th scope="col">Verification</th>
              <th scope="col">Detection</th>
            </tr>
          </thead>
          <tbody>
            {(data?.ledgers ?? []).map((ledger) => {
              const verified = integrity.get(ledger.name);
              const judged = data?.detection?.get(ledger.name);
              return (
                <tr key={ledger.name}>
                  <th scope="row">
                    {ledger.name}
                    <div class="muted mono">{ledger.origin}</div>
                  </th>
                  <td>{ledger.size.toLocaleString('en')}</td>
                  <td>
                    {ledger.checkpoint_at ? (
                      <>
                        {formatAge(Math.max(0, ageSince(ledger.checkpoint_at, Math.max(now, data?.at ?? 0))))} ago
                        <div class="muted"><Time value={ledger.checkpoint_at} /></div>
                      </>
                    ) : ledger.checkpoint_at === null ? (
                      <span class="muted">none yet</span>
                    ) : (
                      <span class="muted">unknown</span>
                    )}
                  </td>
                  <td>
                    {verified ? (
                      <IntegrityState ledger={verified} size={ledger.size} />
                    ) : (
                      <span class="muted">{data?.integrity.monitored === false ? 'not monitored' : 'not seen by the monitor yet'}</span>
                    )}
                  </td>
                  <td>
                    {judged ? (
                      judged.evaluated >= judged.size ? (
                        <span class="state-verified">judged up to {judged.size.toLocaleString('en')}</span>
                      ) : (
                        <span class="state-pending">{(judged.size - judged.evaluated).toLocaleString('en')} behind</span>
                      )
                    ) : (
                      <span class="muted">—</span>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <p class="muted">
        Verification is the running server's: it re-derives each ledger's tree from the stored entries and checks it against the signed checkpoints and
        the signed-heads journal (docs/SECURITY.md). Run <code>sealtrail verify</code> for a check that does not trust this server.
      </p>
    </div>
  );
}

function IntegrityState({ ledger, size }: { ledger: IntegrityLedger; size: number }) {
  if (ledger.state === 'broken') {
    return (
      <span class="state-failed">
        broken{ledger.brokenAt ? ` at ${ledger.brokenAt}` : ''}: {ledger.reason ?? 'no reason given'}
      </span>
    );
  }
  if (ledger.state === 'verifying') {
    return <span class="state-pending">verifying: {ledger.verifiedSize.toLocaleString('en')} of {size.toLocaleString('en')}</span>;
  }
  return (
    <span class="state-verified" title={ledger.sweep?.rounds !== undefined ? `background re-verification: ${ledger.sweep.rounds} rounds completed` : undefined}>
      verified: {ledger.verifiedSize.toLocaleString('en')} entries{ledger.verifiedSize < size ? ` of ${size.toLocaleString('en')} (the newest being checked)` : ''}
    </span>
  );
}
