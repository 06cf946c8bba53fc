/** The incident view's sections other than the event list (incident.tsx puts them together). */
import type { ComponentChildren } from 'preact';
import { api } from '../../api.js';
import { href } from '../../router.js';
import { ErrorMessage, Loading, Time, useAsync } from '../../ui/common.js';
import { WorldMap, type MapLine, type MapPoint } from '../../ui/world-map.js';
import {
  FLAG_MIN_DISTANCE_KM,
  FLAG_SPEED_KMH,
  GEO_ATTRIBUTION,
  GEO_ATTRIBUTION_URL,
  GEO_LICENCE,
  hasCoordinates,
  involves,
  isFlagged,
  placeOf,
  type AlertSummary,
  type Timeline,
} from './model.js';

export function Section({ title, id, children, note }: { title: string; id: string; children: ComponentChildren; note?: ComponentChildren }) {
  return (
    <section class="incident-section card" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {note ? <p class="muted section-note">{note}</p> : null}
      {children}
    </section>
  );
}

export function GeoAttribution() {
  return (
    <p class="muted attribution">
      Places: <a href={GEO_ATTRIBUTION_URL} rel="noreferrer noopener" target="_blank">{GEO_ATTRIBUTION}</a>, {GEO_LICENCE} (derived when each event was indexed; not sealed).
    </p>
  );
}

const km = (value: number) => `${Math.round(value).toLocaleString('en-US')} km`;
const speed = (value: number | null) => (value === null ? 'same moment' : `${Math.round(value).toLocaleString('en-US')} km/h`);
const duration = (seconds: number) => (seconds < 120 ? `${Math.round(seconds)} s` : seconds < 7200 ? `${Math.round(seconds / 60)} min` : `${(seconds / 3600).toFixed(1)} h`);

export function PlacesAndTravel({ timeline }: { timeline: Timeline }) {
  const points: MapPoint[] = timeline.ips.flatMap((address) =>
    hasCoordinates(address.location) ? [{ id: address.ip, latitude: address.location.latitude, longitude: address.location.longitude, label: `${address.ip} ${placeOf(address.location)}` }] : [],
  );
  const flaggedIps = new Set(timeline.travel.filter(isFlagged).flatMap((leg) => [leg.from.ip, leg.to.ip]));
  for (const point of points) point.flagged = flaggedIps.has(point.id);
  const lines: MapLine[] = timeline.travel.flatMap((leg, i) =>
    hasCoordinates(leg.from.location) && hasCoordinates(leg.to.location)
      ? [{ id: String(i), from: leg.from.location, to: leg.to.location, label: speed(leg.speed_kmh), flagged: isFlagged(leg) }]
      : [],
  );
  const unplaced = timeline.ips.length - points.length;
  return (
    <Section title="Addresses and travel" id="incident-places">
      <div class="places-grid">
        <WorldMap
          points={points}
          lines={lines}
          label={`Map of ${points.length} located address${points.length === 1 ? '' : 'es'} of ${timeline.actor}${lines.length ? ` and ${lines.length} travel leg${lines.length === 1 ? '' : 's'} between them` : ''}`}
          caption={unplaced > 0 ? `${unplaced} address${unplaced === 1 ? ' has' : 'es have'} no location and ${unplaced === 1 ? 'is' : 'are'} not drawn.` : undefined}
        />
        <div class="stack">
          <div class="table-scroll">
            <table>
              <caption>Addresses</caption>
              <thead>
                <tr><th scope="col">Address</th><th scope="col">Place</th><th scope="col">Events</th><th scope="col">First</th><th scope="col">Last</th></tr>
              </thead>
              <tbody>
                {timeline.ips.map((address) => (
                  <tr key={address.ip}>
                    <td><code>{address.ip}</code></td>
                    <td>{placeOf(address.location) || <span class="muted">unknown</span>}</td>
                    <td>{address.events}</td>
                    <td><Time value={address.first} /></td>
                    <td><Time value={address.last} /></td>
                  </tr>
                ))}
                {timeline.ips.length === 0 ? <tr><td colSpan={5} class="muted">No origin addresses in these events.</td></tr> : null}
              </tbody>
            </table>
          </div>
          <div class="table-scroll">
            <table>
              <caption>Travel between consecutive located events (flagged: over {FLAG_SPEED_KMH} km/h across at least {FLAG_MIN_DISTANCE_KM} km)</caption>
              <thead>
                <tr><th scope="col">From</th><th scope="col">To</th><th scope="col">Distance</th><th scope="col">Time</th><th scope="col">Speed</th><th scope="col">Judgement</th></tr>
              </thead>
              <tbody>
                {timeline.travel.map((leg, i) => {
                  const flagged = isFlagged(leg);
                  return (
                    <tr key={i} class={flagged ? 'travel-flagged' : undefined}>
                      <td><code>{leg.from.ip}</code> {placeOf(leg.from.location)} <a href={href('events', leg.from.ledger, leg.from.index)}>{leg.from.ledger}#{leg.from.index}</a></td>
                      <td><code>{leg.to.ip}</code> {placeOf(leg.to.location)} <a href={href('events', leg.to.ledger, leg.to.index)}>{leg.to.ledger}#{leg.to.index}</a></td>
                      <td>{km(leg.distance_km)}</td>
                      <td>{duration(leg.seconds)}</td>
                      <td>{speed(leg.speed_kmh)}</td>
                      <td>{flagged ? <strong class="state-failed">flagged: impossible travel</strong> : <span class="muted">plausible</span>}</td>
                    </tr>
                  );
                })}
                {timeline.travel.length === 0 ? <tr><td colSpan={6} class="muted">No travel: fewer than two distinct located places.</td></tr> : null}
              </tbody>
            </table>
          </div>
          <GeoAttribution />
        </div>
      </div>
    </Section>
  );
}

const firstSeen = (value: boolean) => (value ? <strong class="first-seen">first seen</strong> : <span class="muted">seen before</span>);

export function SystemsAndResources({ timeline }: { timeline: Timeline }) {
  const note = timeline.history.from
    ? <>"First seen": not in this actor's history from <Time value={timeline.history.from} /> to the window's start.{timeline.history.complete ? '' : ' The history was cut short by a bound, so a mark may be wrong.'}</>
    : 'No history was read: first-seen marks are relative to nothing.';
  return (
    <Section title="Systems and resources touched" id="incident-systems" note={note}>
      <div class="grid-2">
        <div class="table-scroll">
          <table>
            <caption>Systems: tenants and kinds of target</caption>
            <thead>
              <tr><th scope="col">Kind</th><th scope="col">Name</th><th scope="col">Events</th><th scope="col">First in window</th><th scope="col">History</th></tr>
            </thead>
            <tbody>
              {timeline.systems.tenants.map((t) => (
                <tr key={`tenant:${t.tenant}`}><td>tenant</td><td>{t.tenant}</td><td>{t.events}</td><td><Time value={t.first} /></td><td>{firstSeen(t.first_seen)}</td></tr>
              ))}
              {timeline.systems.target_types.map((t) => (
                <tr key={`type:${t.type}`}><td>target type</td><td>{t.type}</td><td>{t.events}</td><td><Time value={t.first} /></td><td>{firstSeen(t.first_seen)}</td></tr>
              ))}
              {timeline.systems.tenants.length + timeline.systems.target_types.length === 0 ? <tr><td colSpan={5} class="muted">None.</td></tr> : null}
            </tbody>
          </table>
        </div>
        <div class="table-scroll">
          <table>
            <caption>Resources: every target touched</caption>
            <thead>
              <tr><th scope="col">Resource</th><th scope="col">Events</th><th scope="col">First in window</th><th scope="col">History</th></tr>
            </thead>
            <tbody>
              {timeline.resources.map((r) => (
                <tr key={`${r.type}:${r.id}`}>
                  <td><code>{r.type}:{r.id}</code>{r.name ? <span class="muted"> {r.name}</span> : null}</td>
                  <td>{r.events}</td>
                  <td><Time value={r.first} /></td>
                  <td>{firstSeen(r.first_seen)}</td>
                </tr>
              ))}
              {timeline.resources.length === 0 ? <tr><td colSpan={4} class="muted">No targets in these events.</td></tr> : null}
            </tbody>
          </table>
        </div>
      </div>
    </Section>
  );
}

export function AuthRuns({ timeline }: { timeline: Timeline }) {
  return (
    <Section title="Failed, then successful authentication" id="incident-auth" note="At least 3 failed authentications in a row, then a success within an hour.">
      {timeline.auth_runs.length === 0 ? (
        <p>No such run in the window.</p>
      ) : (
        <div class="table-scroll">
          <table>
            <thead>
              <tr><th scope="col">Failures</th><th scope="col">First failure</th><th scope="col">Last failure</th><th scope="col">Success</th><th scope="col">Addresses</th><th scope="col">Reasons</th></tr>
            </thead>
            <tbody>
              {timeline.auth_runs.map((run) => (
                <tr key={`${run.success.ledger}:${run.success.index}`}>
                  <td>{run.failures}</td>
                  <td><a href={href('events', run.first_failure.ledger, run.first_failure.index)}><Time value={run.first_failure.time} /></a></td>
                  <td><a href={href('events', run.last_failure.ledger, run.last_failure.index)}><Time value={run.last_failure.time} /></a></td>
                  <td><a href={href('events', run.success.ledger, run.success.index)}><Time value={run.success.time} /></a></td>
                  <td>{run.ips.map((ip) => <code key={ip} class="target">{ip}</code>)}</td>
                  <td>{run.reasons.join('; ') || <span class="muted">—</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}

export function SharedAddresses({ timeline }: { timeline: Timeline }) {
  const shared = timeline.shared_addresses.filter((s) => s.actors.length > 0);
  return (
    <Section title="Other actors at the same addresses" id="incident-shared" note="Seen from one of this actor's addresses in the window (by received time).">
      {shared.length === 0 ? (
        <p>No other actor was seen from these addresses.</p>
      ) : (
        <ul class="shared-list">
          {shared.map((s) => (
            <li key={s.ip}>
              <code>{s.ip}</code>:{' '}
              {s.actors.map((other, i) => (
                <span key={other.actor}>
                  {i > 0 ? ', ' : ''}
                  <a href={href('incident', { actor: other.actor, from: timeline.from, to: timeline.to })}>{other.actor}</a> <span class="muted">({other.events} event{other.events === 1 ? '' : 's'})</span>
                </span>
              ))}
            </li>
          ))}
        </ul>
      )}
    </Section>
  );
}

/** Pages of alerts read to find the actor's: the alerts API has no actor filter, so the newest are read. */
const ALERT_PAGES = 5;
const ALERT_PAGE_SIZE = 1000;

async function alertsOf(actor: string, from: string, to: string, signal: AbortSignal): Promise<{ alerts: AlertSummary[]; read: number; complete: boolean }> {
  const found: AlertSummary[] = [];
  let cursor: string | null = null;
  let read = 0;
  for (let page = 0; page < ALERT_PAGES; page++) {
    const answer: { alerts: AlertSummary[]; next: string | null } = await api('/alerts', { query: { limit: ALERT_PAGE_SIZE, cursor }, signal });
    read += answer.alerts.length;
    found.push(...answer.alerts.filter((alert) => involves(alert, actor, from, to)));
    cursor = answer.next;
    if (cursor === null) return { alerts: found, read, complete: true };
  }
  return { alerts: found, read, complete: false };
}

export function ActorAlerts({ timeline }: { timeline: Timeline }) {
  const state = useAsync((signal) => alertsOf(timeline.actor, timeline.from, timeline.to, signal), [timeline.actor, timeline.from, timeline.to]);
  const result = state.data;
  return (
    <Section title="Alerts involving this actor" id="incident-alerts">
      <ErrorMessage error={state.error} title="Alerts could not be read" />
      {!result ? (
        state.error ? null : <Loading what="alerts" />
      ) : (
        <>
          {result.alerts.length === 0 ? (
            <p>No alert involves {timeline.actor} in this window.</p>
          ) : (
            <ul class="alert-list">
              {result.alerts.map((alert) => (
                <li key={alert.id}>
                  <span class={`severity severity-${alert.severity}`}>{alert.severity}</span> <a href={href('alerts', alert.id)}>{alert.title}</a>{' '}
                  <span class="muted">
                    ({alert.status}, <Time value={alert.first_seen} /> – <Time value={alert.last_seen} />, {alert.rule})
                  </span>
                  <div>{alert.summary}</div>
                </li>
              ))}
            </ul>
          )}
          <p class="muted section-note">
            {result.complete ? `Checked every alert you may read (${result.read}).` : `Checked the ${result.read} most recent alerts you may read; older ones were not searched.`}
          </p>
        </>
      )}
    </Section>
  );
}
