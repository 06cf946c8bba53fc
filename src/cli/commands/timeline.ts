/** `sealtrail timeline ACTOR`: one actor's timeline across ledgers, for a terminal or as JSON. */
import { GEO_ATTRIBUTION } from '../../platform/geo.js';
import type { Timeline, TimelineLocation } from '../../timeline/analysis.js';
import { optionalString, SERVER_OPTIONS, serverClient, UsageError, type Command } from '../command.js';
import { countOf, TextTable } from '../table.js';

export const timelineCommand: Command = {
  name: 'timeline',
  summary: "One actor's timeline across ledgers: sealtrail timeline alice --from 2026-11-01 --to 2026-11-08",
  usage: 'timeline ACTOR [--from TIME] [--to TIME] [--ledger L]... [--json]',
  options: {
    ...SERVER_OPTIONS,
    from: { type: 'string', description: 'Start of the window, in event time (RFC 3339 or a date, UTC; default a week before --to).', value: 'TIME' },
    to: { type: 'string', description: 'End of the window, exclusive (RFC 3339 or a date, UTC; default now).', value: 'TIME' },
    ledger: { type: 'string', short: 'l', multiple: true, description: 'Ledger to read (repeat for several; default: all you may read).', value: 'L' },
    json: { type: 'boolean', description: 'Print the timeline as one JSON document (the API answer).' },
  },
  details:
    'Prints the events in event-time order, then sessions, addresses with places, travel between places (km/h, great circle; ' +
    '"implausible" over 1000 km/h and 500 km), authentication runs (3+ failures then a success), the tenants, target types and ' +
    'resources touched ("new" when the 90 days before --from never show them) and other actors seen from the same addresses. ' +
    'At most 10,000 events; narrow the window past that. See docs/REPORTS.md "Actor timelines".',
  async run(args) {
    const [actor, ...rest] = args.positionals;
    if (!actor || rest.length > 0) throw new UsageError('give exactly one ACTOR (the actor id)');
    const ledgers = (args.values.ledger as string[] | undefined) ?? [];
    const from = timeOption(optionalString(args, 'from'), '--from');
    const to = timeOption(optionalString(args, 'to'), '--to');
    const timeline = await serverClient(args).timeline(actor, { ...(from ? { from } : {}), ...(to ? { to } : {}), ...(ledgers.length ? { ledgers } : {}) });
    if (args.values.json) process.stdout.write(`${JSON.stringify(timeline)}\n`);
    else process.stdout.write(formatTimeline(timeline));
    if (!args.values.json && timeline.ips.some((a) => a.location?.country !== undefined)) process.stderr.write(`locations: ${GEO_ATTRIBUTION}\n`);
    return 0;
  },
};

/** A date alone means its midnight UTC; anything else is passed on for the server to check. */
function timeOption(text: string | undefined, flag: string): string | undefined {
  if (text === undefined) return undefined;
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) return `${text}T00:00:00Z`;
  if (!/^\d{4}-\d{2}-\d{2}T/.test(text)) throw new UsageError(`${flag} is a date (2026-11-20) or an RFC 3339 time (2026-11-20T03:00:00Z)`);
  return text;
}

/** "DE Berlin", "private", or "-". */
function place(location: TimelineLocation | undefined): string {
  if (!location) return '-';
  if (location.reserved) return location.reserved;
  return [location.country, location.city].filter(Boolean).join(' ') || '-';
}

const section = (title: string, header: string[], rows: unknown[][], right: number[] = []): string =>
  rows.length === 0 ? '' : `\n${title}\n${new TextTable(header, new Set(right)).format(rows)}`;

const newMark = (firstSeen: boolean) => (firstSeen ? 'new' : '');

/** The whole timeline as plain text sections; empty sections are left out. */
export function formatTimeline(t: Timeline): string {
  const summary = `${t.actor}: ${countOf(t.events.length, 'event')} in ${countOf(t.sessions.length, 'session')}, ${t.from} .. ${t.to}, ledgers ${t.ledgers.join(', ') || '-'}\n`;
  const events = t.events.map((e) => {
    const ev = e.event as Record<string, any>;
    const targets = Array.isArray(ev.targets) ? ev.targets.filter(Boolean) : [];
    const target = targets[0] ? `${targets[0].type}:${targets[0].id}${targets.length > 1 ? ` (+${targets.length - 1})` : ''}` : '-';
    return [e.time, `${e.ledger}#${e.index}`, e.session, ev.action ?? '-', target, ev.outcome ?? '-', ev.origin?.ip ?? '-', place(e.location), ev.tenant ?? '-'];
  });
  return [
    summary,
    section('Events', ['time', 'entry', 'session', 'action', 'target', 'outcome', 'ip', 'place', 'tenant'], events, [2]),
    section('Sessions', ['#', 'session_id', 'start', 'end', 'events', 'ips'], t.sessions.map((s, i) => [i, s.session_id ?? '(by gaps)', s.start, s.end, s.events, s.ips.join(' ') || '-']), [0, 4]),
    section('Addresses', ['ip', 'place', 'events', 'first', 'last'], t.ips.map((a) => [a.ip, place(a.location), a.events, a.first, a.last]), [2]),
    section(
      'Travel',
      ['from', 'to', 'km', 'km/h', 'at', ''],
      t.travel.map((l) => [`${l.from.ip} ${place(l.from.location)}`, `${l.to.ip} ${place(l.to.location)}`, l.distance_km, l.speed_kmh ?? 'same moment', l.to.time, l.implausible ? 'implausible' : '']),
      [2, 3],
    ),
    section(
      'Authentication runs',
      ['failures', 'first failure', 'success', 'ips', 'reasons'],
      t.auth_runs.map((r) => [r.failures, r.first_failure.time, `${r.success.time} ${r.success.ledger}#${r.success.index}`, r.ips.join(' '), r.reasons.join('; ') || '-']),
      [0],
    ),
    section(
      'Systems',
      ['kind', 'name', 'events', 'first', ''],
      [...t.systems.tenants.map((s) => ['tenant', s.tenant, s.events, s.first, newMark(s.first_seen)]), ...t.systems.target_types.map((s) => ['target type', s.type, s.events, s.first, newMark(s.first_seen)])],
      [2],
    ),
    section('Resources', ['target', 'name', 'events', 'first', ''], t.resources.map((r) => [`${r.type}:${r.id}`, r.name ?? '-', r.events, r.first, newMark(r.first_seen)]), [2]),
    section('Other actors at these addresses', ['ip', 'actor', 'events'], t.shared_addresses.flatMap((s) => s.actors.map((a) => [s.ip, a.actor, a.events])), [2]),
    t.history.complete ? '' : '\n(the history before the window was cut short: "new" marks may be wrong)\n',
  ].join('');
}
