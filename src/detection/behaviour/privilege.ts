/**
 * Privilege escalation on grants (`*.grant`, `*.assign`, `*.grant_*` actions): an actor granting a role
 * to itself (its id among the targets) is critical; a grant by an actor never seen doing anything
 * administrative (no `admin`-category event) is medium, high when the role is admin-level; an
 * admin-level grant by an experienced administrator is low (a record, not an alarm).
 *
 * "Never seen doing anything administrative" needs history: it is judged only once the detector has
 * watched the deployment for `historyMicros` and the actor for `minActorEvents` events over
 * `minActorSpanMicros` (an administrator who grants a role once a month has done other administrative
 * things by then). Self-grants need no history and are judged from the first event.
 */
import type { Detector, DetectorContext, Finding, JudgedEvent, Severity } from '../detector.js';
import {
  DAY,
  actionOf,
  actorKey,
  actorOf,
  categoryOf,
  deploymentLearned,
  emptyTable,
  findingOf,
  metadataOf,
  targetsOf,
  touchEntry,
  type BoundedTable,
  type Target,
} from './common.js';

export interface PrivilegeOptions {
  historyMicros: number;
  /** "Never administrative" means something once the actor has this many events… */
  minActorEvents: number;
  /** …over at least this long. */
  minActorSpanMicros: number;
  /** Role names that are admin-level (matched against target ids and names and metadata.role). */
  adminRoles: RegExp;
  maxActors: number;
}

export const PRIVILEGE_DEFAULTS: PrivilegeOptions = {
  historyMicros: 14 * DAY,
  minActorEvents: 200,
  minActorSpanMicros: 7 * DAY,
  adminRoles: /admin|owner|root|super_?user|superadmin|privileged|global/i,
  maxActors: 50_000,
};

const GRANT = /\.(grant|assign)(_[a-z0-9_]+)?$/;
/** Target types that are what is granted rather than who receives it. */
const PRIVILEGE_TYPES = new Set(['role', 'permission', 'group', 'scope', 'policy']);

interface History {
  firstMicros: number;
  events: number;
  adminActions: number;
}

export interface PrivilegeState {
  startedMicros?: number;
  actors: BoundedTable<History>;
}

export function privilegeDetector(overrides: Partial<PrivilegeOptions> = {}): Detector<PrivilegeState> {
  const options = { ...PRIVILEGE_DEFAULTS, ...overrides };
  const detector: Detector<PrivilegeState> = {
    id: 'behaviour.privilege-escalation',
    title: 'Privilege escalation',
    severity: 'high',
    technique: 'T1098',
    description:
      'Fires when an actor grants a role to itself, or grants a role (above all an admin-level one) without ever having done anything administrative before.',
    learningMicros: 0,
    initialState: () => ({ actors: emptyTable() }),
    judge(e: JudgedEvent, state: PrivilegeState, _context: DetectorContext): Finding[] {
      const actor = actorOf(e);
      const watched = deploymentLearned(state, e.timeMicros, options.historyMicros);
      if (!actor) return [];
      const history = touchEntry(state.actors, actorKey(actor), options.maxActors, () => ({ firstMicros: e.timeMicros, events: 0, adminActions: 0 }));
      history.firstMicros = Math.min(history.firstMicros, e.timeMicros);
      const novice =
        watched && history.adminActions === 0 && history.events >= options.minActorEvents && e.timeMicros - history.firstMicros >= options.minActorSpanMicros;
      history.events++;
      if (categoryOf(e) === 'admin') history.adminActions++;
      if (!GRANT.test(actionOf(e)) || e.event.outcome === 'failure') return [];
      const targets = targetsOf(e);
      const granted = targets.filter((t) => PRIVILEGE_TYPES.has(t.type));
      const admin = isAdminLevel(granted, metadataOf(e).role, options.adminRoles);
      const roles = describeRoles(granted, metadataOf(e).role);
      const self = targets.some((t) => t.id === actor.id && !PRIVILEGE_TYPES.has(t.type));
      let severity: Severity | undefined;
      let summary: string;
      if (self) {
        severity = admin ? 'critical' : 'high';
        summary = `${actor.type} ${actor.id} granted itself ${roles}`;
      } else if (novice) {
        severity = admin ? 'high' : 'medium';
        summary = `${actor.type} ${actor.id}, never seen doing anything administrative since ${new Date(history.firstMicros / 1000).toISOString().slice(0, 10)}, granted ${roles}${grantees(targets)}`;
      } else if (admin) {
        severity = 'low';
        summary = `${actor.type} ${actor.id} granted ${roles}${grantees(targets)}`;
      } else {
        return [];
      }
      return [findingOf(detector, e, { severity, actor, summary, ...(self ? { title: 'A user grants itself a role' } : {}) })];
    },
  };
  return detector;
}

function isAdminLevel(granted: Target[], role: unknown, pattern: RegExp): boolean {
  if (typeof role === 'string' && pattern.test(role)) return true;
  return granted.some((t) => pattern.test(t.id) || (t.name !== undefined && pattern.test(t.name)));
}

function describeRoles(granted: Target[], role: unknown): string {
  const names = granted.map((t) => `${t.type} ${t.id}`);
  if (names.length === 0 && typeof role === 'string') names.push(`role ${role}`);
  return names.length > 0 ? names.join(', ') : 'an unnamed privilege';
}

function grantees(targets: Target[]): string {
  const to = targets.filter((t) => !PRIVILEGE_TYPES.has(t.type)).map((t) => `${t.type} ${t.id}`);
  return to.length > 0 ? ` to ${to.join(', ')}` : '';
}
