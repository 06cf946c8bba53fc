/**
 * The incident view (`#/incident?actor=&from=&to=`): one actor's timeline across the ledgers the key may
 * read (GET /v1/actors/{actor}/timeline, docs/REPORTS.md), by event time and grouped in sessions, with
 * its addresses on an offline map and the travel speed between consecutive located events, the systems
 * and resources touched (first-seen marks), failed-then-successful authentication, other actors at the
 * same addresses, and the alerts involving the actor. The event rows carry their browser verification.
 */
import { useEffect, useId, useState } from 'preact/hooks';
import { api } from '../api.js';
import { href, navigate } from '../router.js';
import { ErrorMessage, Loading, Page, Time, useAsync } from '../ui/common.js';
import { TimeRangePicker, type TimeRange } from '../ui/time-range.js';
import type { PageProps } from './registry.js';
import { EventsBySession } from './incident/events.js';
import { isFlagged, type Timeline } from './incident/model.js';
import { ActorAlerts, AuthRuns, PlacesAndTravel, Section, SharedAddresses, SystemsAndResources } from './incident/sections.js';
import './incident/incident.css';

export function IncidentPage({ route }: PageProps) {
  const actor = route.query.get('actor') ?? '';
  const from = route.query.get('from') ?? '';
  const to = route.query.get('to') ?? '';
  return (
    <Page title={actor ? `Incident: ${actor}` : 'Incident'}>
      <IncidentForm actor={actor} range={{ from, to }} />
      {actor ? <IncidentTimeline actor={actor} from={from} to={to} /> : <p class="muted">Name an actor (its <code>actor.id</code>) and a time range to reconstruct what it did.</p>}
    </Page>
  );
}

function IncidentForm({ actor, range }: { actor: string; range: TimeRange }) {
  const id = useId();
  const [draftActor, setDraftActor] = useState(actor);
  const [draftRange, setDraftRange] = useState<TimeRange>(range);
  useEffect(() => setDraftActor(actor), [actor]);
  useEffect(() => setDraftRange(range), [range.from, range.to]);
  return (
    <form
      class="card incident-form"
      role="search"
      aria-label="Incident"
      onSubmit={(e) => {
        e.preventDefault();
        const name = draftActor.trim();
        if (name) navigate(href('incident', { actor: name, from: draftRange.from, to: draftRange.to }));
      }}
    >
      <div class="incident-actor">
        <label for={`${id}-actor`}>Actor</label>
        <input id={`${id}-actor`} value={draftActor} required maxLength={256} autoComplete="off" spellcheck={false} placeholder="svc-backup" onInput={(e) => setDraftActor(e.currentTarget.value)} />
      </div>
      <TimeRangePicker value={draftRange} onChange={setDraftRange} />
      <p class="muted range-note">{draftRange.from ? '' : 'No start: the week before the end. '}{draftRange.to ? '' : 'No end: now.'}</p>
      <button type="submit" class="primary">
        Reconstruct
      </button>
    </form>
  );
}

function IncidentTimeline({ actor, from, to }: { actor: string; from: string; to: string }) {
  const state = useAsync((signal) => api<Timeline>(`/actors/${encodeURIComponent(actor)}/timeline`, { query: { from, to }, signal }), [actor, from, to]);
  const timeline = state.data;
  return (
    <div class="incident stack" aria-busy={state.loading}>
      <ErrorMessage error={state.error} title="The timeline could not be read" />
      {!timeline ? (
        state.error ? null : <Loading what={`the timeline of ${actor}`} />
      ) : (
        <>
          <Summary timeline={timeline} />
          <PlacesAndTravel timeline={timeline} />
          <SystemsAndResources timeline={timeline} />
          <div class="grid-2">
            <AuthRuns timeline={timeline} />
            <SharedAddresses timeline={timeline} />
          </div>
          <ActorAlerts timeline={timeline} />
          <Section title="Timeline" id="incident-events" note="By event time (occurred_at, unless absent or more than five minutes after received_at). Each row links to its entry, proof and checkpoint.">
            <EventsBySession timeline={timeline} />
          </Section>
        </>
      )}
    </div>
  );
}

function Summary({ timeline }: { timeline: Timeline }) {
  const flagged = timeline.travel.filter(isFlagged).length;
  const firstSeen = timeline.resources.filter((r) => r.first_seen).length;
  return (
    <p class="incident-summary" aria-live="polite">
      <strong>{timeline.actor}</strong>: {timeline.events.length} event{timeline.events.length === 1 ? '' : 's'} in {timeline.sessions.length} session{timeline.sessions.length === 1 ? '' : 's'} from{' '}
      {timeline.ips.length} address{timeline.ips.length === 1 ? '' : 'es'}, <Time value={timeline.from} /> – <Time value={timeline.to} />, ledgers {timeline.ledgers.join(', ') || 'none'}.
      {flagged ? <strong class="state-failed"> {flagged} impossible travel leg{flagged === 1 ? '' : 's'}.</strong> : null}
      {firstSeen ? ` ${firstSeen} resource${firstSeen === 1 ? '' : 's'} first seen.` : ''}
      {timeline.auth_runs.length ? ` ${timeline.auth_runs.length} failed-then-successful authentication run${timeline.auth_runs.length === 1 ? '' : 's'}.` : ''}
    </p>
  );
}
