/**
 * What the detection tests share: stores of both kinds (two stores on one database stand for two
 * server processes), small detectors whose findings are known exactly, and waiting for the engine.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { portableSigner } from '../../src/core/crypto.js';
import type { AuditEvent } from '../../src/core/event.js';
import type { Detector, Finding, JudgedEvent } from '../../src/detection/detector.js';
import type { RuleLibrary } from '../../src/detection/service.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import type { StoredAlert } from '../../src/store/detection-state.js';
import { createPostgresFixture } from '../helpers/postgres.js';

export interface Harness {
  open(): Promise<Store>;
  destroy(): Promise<void>;
}

export function sqliteHarness(name = 'detection.test'): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'sealtrail-detection-'));
  const signer = portableSigner(nodeSuite.randomBytes(32));
  return {
    open: async () => new SqliteStore({ path: join(dir, 'sealtrail.db'), suite: nodeSuite, signer, name }),
    destroy: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Runs as the restricted service role, so the detection tables' grants are exercised. */
export async function postgresHarness(name = 'detection.test'): Promise<Harness> {
  const fixture = await createPostgresFixture(name);
  const signer = portableSigner(nodeSuite.randomBytes(32));
  return {
    open: () => PostgresStore.open({ url: fixture.serviceUrl, schema: fixture.schema, suite: nodeSuite, signer, name }),
    destroy: () => fixture.drop(),
  };
}

export const HARNESSES = [
  ['SQLite', async () => sqliteHarness()],
  ['PostgreSQL', () => postgresHarness()],
] as const;

const actorOf = (event: JudgedEvent) => event.event.actor as { type: string; id: string };

function finding(detector: Detector, event: JudgedEvent, summary: string, events = [{ ledger: event.ledger, index: event.index }]): Finding {
  return {
    rule: detector.id,
    title: detector.title,
    severity: detector.severity,
    actor: { type: actorOf(event).type, id: actorOf(event).id },
    firstSeenMicros: event.timeMicros,
    lastSeenMicros: event.timeMicros,
    events,
    summary,
    key: `${detector.id}:${event.ledger}:${event.index}`,
  };
}

/** Stateless: every failed login is a finding. */
export function failedLoginDetector(): Detector<null> {
  const detector: Detector<null> = {
    id: 'test-failed-login',
    title: 'Failed login',
    severity: 'medium',
    technique: 'T1110',
    description: 'A login failed.',
    learningMicros: 0,
    initialState: () => null,
    judge: (event) => (event.event.action === 'auth.login' && event.event.outcome === 'failure' ? [finding(detector, event, `login of ${actorOf(event).id} failed`)] : []),
  };
  return detector;
}

/** Stateful: every `every`-th event of an actor is a finding, so a lost or replayed state shows. */
export function everyNthDetector(every = 5): Detector<{ counts: Record<string, number> }> {
  const detector: Detector<{ counts: Record<string, number> }> = {
    id: 'test-every-nth',
    title: `Every ${every}th event of an actor`,
    severity: 'high',
    description: 'Counts events per actor.',
    learningMicros: 0,
    initialState: () => ({ counts: {} }),
    judge: (event, state) => {
      const id = actorOf(event).id;
      const count = (state.counts[id] = (state.counts[id] ?? 0) + 1);
      return count % every === 0 ? [finding(detector, event, `${id}: event ${count}`)] : [];
    },
  };
  return detector;
}

/** Fires on anything in the system ledger: were the engine to judge its own alert records, it would loop. */
export function systemLedgerDetector(): Detector<null> {
  const detector: Detector<null> = {
    id: 'test-system-anything',
    title: 'Anything in the system ledger',
    severity: 'low',
    description: 'Fires on every system-ledger event.',
    learningMicros: 0,
    initialState: () => null,
    judge: (event) => (event.ledger === 'sealtrail-system' ? [{ ...finding(detector, event, String(event.event.action)), actor: { type: 'system', id: String(event.event.action) } }] : []),
  };
  return detector;
}

/** A library of fixed detectors; `compile` understands one toy format so that API rules can be tested. */
export function testLibrary(detectors: Detector[], builtinFiles: Array<{ path: string; text: string }> = []): RuleLibrary {
  return {
    builtinFiles: () => builtinFiles,
    behavioural: () => detectors,
    compile: (files) =>
      files.flatMap((file) => {
        const id = /^id: (\S+)$/m.exec(file.text)?.[1];
        const line = file.text.split('\n').findIndex((l) => l.startsWith('unsupported:'));
        if (line >= 0) throw Object.assign(new Error(`${file.path}:${line + 1}: the feature "unsupported" is not supported`), { line: line + 1 });
        if (!id) return [];
        const action = /^action: (\S+)$/m.exec(file.text)?.[1] ?? 'never';
        const detector: Detector<null> = {
          id,
          title: `rule ${id}`,
          severity: 'low',
          description: 'A toy rule.',
          learningMicros: 0,
          initialState: () => null,
          judge: (event) => (event.event.action === action ? [finding(detector, event, `${action} seen`)] : []),
        };
        return [detector];
      }),
  };
}

export function loginEvent(actor: string, outcome: 'success' | 'failure', tenant = 'acme', extra: Partial<AuditEvent> = {}): AuditEvent {
  return { actor: { type: 'user', id: actor }, action: 'auth.login', category: 'auth', outcome, tenant, ...extra };
}

export async function until(condition: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await answerWithin(condition, deadline, what))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The condition's answer, or an error naming what was awaited once it has not answered by the deadline (a query that never returns). */
async function answerWithin(condition: () => boolean | Promise<boolean>, deadline: number, what: string): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const silent = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer while waiting for ${what}: a store read never returned`)), Math.max(0, deadline - Date.now()) + 1000);
  });
  try {
    return await Promise.race([Promise.resolve(condition()), silent]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits until detection has judged (and committed) every entry of the ledger, and its outbox is empty. */
export async function judgedAll(store: Store, ledger: string): Promise<void> {
  await until(async () => {
    const size = (await store.getLedger(ledger))?.size ?? 0;
    const { evaluated } = await store.detection.loadCursor(ledger);
    return evaluated === size && (await store.detection.pendingOutbox(1)).length === 0;
  }, `detection of ${ledger}`);
}

/** The system ledger's records of detection, as {action, target} pairs. */
export async function alertRecords(store: Store): Promise<Array<{ action: string; target: string }>> {
  const size = (await store.getLedger('sealtrail-system'))?.size ?? 0;
  const records: Array<{ action: string; target: string }> = [];
  for await (const entry of store.entries('sealtrail-system', 0, size)) {
    const action = entry.disclosures.action?.[1];
    if (typeof action === 'string' && action.startsWith('alert.')) records.push({ action, target: (entry.disclosures['targets.0']?.[1] as { id: string } | undefined)?.id ?? '' });
  }
  return records;
}

/** An alert put straight into the store (API tests need one without running detectors). */
export async function plantAlert(store: Store, overrides: Partial<StoredAlert> = {}): Promise<StoredAlert> {
  const at = Date.parse('2026-11-26T02:00:00Z') * 1000;
  const alert: StoredAlert = {
    id: `al_${randomBytes(16).toString('base64url').slice(0, 22)}`,
    groupKey: `planted\u0000${overrides.ledger ?? 'audit'}\u0000user:${overrides.actor?.id ?? 'mallory'}`,
    rule: 'planted',
    title: 'Planted alert',
    severity: 'high',
    ledger: 'audit',
    actor: { type: 'user', id: 'mallory' },
    firstSeenMicros: at,
    lastSeenMicros: at + 60_000_000,
    count: 2,
    events: [{ ledger: overrides.ledger ?? 'audit', index: 0 }],
    summary: 'mallory read payroll at 2 a.m.',
    findingKeys: [`planted:${randomBytes(4).toString('hex')}`],
    tenant: 'acme',
    status: 'open',
    closeReason: null,
    openedAtMicros: Date.now() * 1000,
    changedAtMicros: null,
    changedBy: null,
    ...overrides,
  };
  await store.detection.commitStep({ ledger: alert.ledger, alerts: [{ alert, opened: true }], findings: alert.findingKeys.map((key) => ({ key, alertId: alert.id })), outbox: [] });
  return (await store.detection.getAlert(alert.id))!;
}
