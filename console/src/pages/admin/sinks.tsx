/** Sinks and their lag (GET /v1/sinks): state, events and seconds behind, per ledger cursors, last success and error, dead letters. */
import { api } from '../../api.js';
import { ErrorMessage, Loading, Time, useAsync } from '../../ui/common.js';
import { formatAge } from './common.js';

interface Sink {
  name: string;
  type: string;
  ledgers: string[];
  query: string;
  format: string;
  state: 'delivering' | 'paused' | 'failing' | 'lagging';
  cursors: Array<{ ledger: string; next: number; size: number; lag_events: number; lag_seconds: number }>;
  lag_events: number;
  lag_seconds: number;
  lag_alert_events: number;
  lag_alert_seconds: number;
  last_success_at: string | null;
  last_error_at: string | null;
  last_error: string | null;
  dead_letters: number;
}

const STATE_CLASS: Record<Sink['state'], string> = { delivering: 'state-verified', paused: 'state-pending', failing: 'state-failed', lagging: 'state-failed' };

export function SinksSection() {
  const sinks = useAsync((signal) => api<{ sinks: Sink[] }>('/sinks', { signal }), []);
  const list = sinks.data?.sinks ?? [];
  return (
    <div class="stack">
      <div class="row">
        <button type="button" onClick={sinks.reload} disabled={sinks.loading}>
          Refresh
        </button>
        <span class="muted" role="status" aria-live="polite">{sinks.loading ? 'Reading sinks…' : ''}</span>
      </div>
      <ErrorMessage error={sinks.error} title="The sinks could not be read" />
      {!sinks.data && sinks.loading ? <Loading what="the sinks" /> : null}
      {sinks.data && list.length === 0 ? <p>No sinks. They are created with POST /v1/sinks or the config file (docs/STREAMS.md).</p> : null}
      {list.length ? (
        <div class="table-scroll">
          <table class="admin-table">
            <caption class="sr-only">Sinks and their lag</caption>
            <thead>
              <tr>
                <th scope="col">Sink</th>
                <th scope="col">State</th>
                <th scope="col">Ledgers</th>
                <th scope="col">Lag</th>
                <th scope="col">Last delivery</th>
                <th scope="col">Last error</th>
                <th scope="col">Dead letters</th>
              </tr>
            </thead>
            <tbody>
              {list.map((sink) => (
                <tr key={sink.name}>
                  <th scope="row">
                    {sink.name}
                    <div class="muted">{sink.type}, {sink.format}{sink.query ? <> — <span class="mono">{sink.query}</span></> : null}</div>
                  </th>
                  <td><span class={STATE_CLASS[sink.state]}>{sink.state}</span></td>
                  <td>
                    <details>
                      <summary>{sink.ledgers.join(', ')}</summary>
                      <ul class="plain">
                        {sink.cursors.map((c) => (
                          <li key={c.ledger}>
                            {c.ledger}: next {c.next} of {c.size}, {c.lag_events} behind ({formatAge(c.lag_seconds)})
                          </li>
                        ))}
                      </ul>
                    </details>
                  </td>
                  <td>
                    {sink.lag_events.toLocaleString('en')} events, {formatAge(sink.lag_seconds)}
                    <div class="muted">alerts over {sink.lag_alert_events.toLocaleString('en')} events or {formatAge(sink.lag_alert_seconds)}</div>
                  </td>
                  <td><Time value={sink.last_success_at} /></td>
                  <td>{sink.last_error ? <><Time value={sink.last_error_at} /><div class="state-failed">{sink.last_error}</div></> : <span class="muted">—</span>}</td>
                  <td>{sink.dead_letters}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </div>
  );
}
