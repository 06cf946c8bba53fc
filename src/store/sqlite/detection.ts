/**
 * The detection engine's state in the embedded store (SQLite migration 11; the contract is
 * src/store/detection-state.ts). better-sqlite3 is synchronous and each method is one transaction, so a
 * judged step, a status change and their outbox records commit together or not at all.
 */
import type Database from 'better-sqlite3';
import {
  ALERT_INSERT_COLUMNS,
  alertColumns,
  alertFromRow,
  mergedColumns,
  storedGroupKey,
  type AlertFilter,
  type AlertRow,
  type Departure,
  type DetectionCursor,
  type DetectionStateStore,
  type DetectionStep,
  type OutboxRecord,
  type RuleSetting,
  type StatusChange,
  type StoredAlert,
  type StoredRule,
} from '../detection-state.js';

export class SqliteDetectionState implements DetectionStateStore {
  private statements: ReturnType<SqliteDetectionState['prepare']> | undefined;

  /**
   * `offloadStep`: commits a step elsewhere (the store's writer thread, on its own connection), so that
   * writing the detectors' states — hundreds of KB per step, 20–60 ms under the HTTP bench — and waiting
   * for the write lock never hold the event loop. Without it, steps are written here.
   */
  constructor(
    private readonly db: Database.Database,
    private readonly offloadStep?: (step: DetectionStep) => Promise<void>,
  ) {}

  /** Prepared on first use: a read-only open of an older file (verify) has no detection tables to prepare against. */
  private get s() {
    return (this.statements ??= this.prepare());
  }

  private prepare() {
    const db = this.db;
    return {
      cursor: db.prepare<[string], { evaluated: number }>('SELECT evaluated FROM detection_cursors WHERE ledger = ?'),
      states: db.prepare<[string], { detector: string; state: string }>('SELECT detector, state FROM detection_states WHERE ledger = ?'),
      cursors: db.prepare<[], DetectionCursor>('SELECT ledger, evaluated FROM detection_cursors ORDER BY ledger'),
      putCursor: db.prepare(
        `INSERT INTO detection_cursors (ledger, evaluated, updated_at) VALUES (?, ?, ?)
           ON CONFLICT (ledger) DO UPDATE SET evaluated = excluded.evaluated, updated_at = excluded.updated_at`,
      ),
      putState: db.prepare(
        'INSERT INTO detection_states (ledger, detector, state) VALUES (?, ?, ?) ON CONFLICT (ledger, detector) DO UPDATE SET state = excluded.state',
      ),
      dropStates: db.prepare('DELETE FROM detection_states WHERE ledger = ?'),
      insertAlert: db.prepare(`INSERT INTO alerts (${ALERT_INSERT_COLUMNS}) VALUES (${ALERT_INSERT_COLUMNS.split(',').map(() => '?').join(', ')}) ON CONFLICT (id) DO NOTHING`),
      mergeAlert: db.prepare(
        'UPDATE alerts SET severity = ?, first_seen = ?, last_seen = ?, count = ?, events = ?, summary = ?, finding_keys = ? WHERE id = ?',
      ),
      putFinding: db.prepare('INSERT INTO alert_findings (finding_key, alert_id) VALUES (?, ?) ON CONFLICT (finding_key) DO NOTHING'),
      finding: db.prepare<[string], { finding_key: string }>('SELECT finding_key FROM alert_findings WHERE finding_key = ?'),
      putOutbox: db.prepare('INSERT INTO detection_outbox (key, event) VALUES (?, ?) ON CONFLICT (key) DO NOTHING'),
      outbox: db.prepare<[number], OutboxRecord>('SELECT key, event FROM detection_outbox ORDER BY seq LIMIT ?'),
      dropOutbox: db.prepare('DELETE FROM detection_outbox WHERE key = ?'),
      newest: db.prepare<[string, string | null], AlertRow>('SELECT * FROM alerts WHERE group_key = ? AND tenant IS ? ORDER BY seq DESC LIMIT 1'),
      alert: db.prepare<[string], AlertRow>('SELECT * FROM alerts WHERE id = ?'),
      setStatus: db.prepare('UPDATE alerts SET status = ?, close_reason = ?, changed_at = ?, changed_by = ? WHERE id = ?'),
      rules: db.prepare<[], { id: string; yaml: string; added_at: number; added_by: string }>('SELECT * FROM detection_rules ORDER BY id'),
      putRule: db.prepare(
        `INSERT INTO detection_rules (id, yaml, added_at, added_by) VALUES (?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET yaml = excluded.yaml, added_at = excluded.added_at, added_by = excluded.added_by`,
      ),
      dropRule: db.prepare('DELETE FROM detection_rules WHERE id = ?'),
      settings: db.prepare<[], { id: string; enabled: number; changed_at: number; changed_by: string }>('SELECT * FROM detection_rule_settings ORDER BY id'),
      putSetting: db.prepare(
        `INSERT INTO detection_rule_settings (id, enabled, changed_at, changed_by) VALUES (?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET enabled = excluded.enabled, changed_at = excluded.changed_at, changed_by = excluded.changed_by`,
      ),
      departures: db.prepare<[], { actor_id: string; ends_at: number }>('SELECT actor_id, ends_at FROM detection_departures ORDER BY actor_id'),
      dropDepartures: db.prepare('DELETE FROM detection_departures'),
      putDeparture: db.prepare('INSERT INTO detection_departures (actor_id, ends_at) VALUES (?, ?)'),
    };
  }

  async loadCursor(ledger: string): Promise<{ evaluated: number; states: Map<string, string> }> {
    return this.db.transaction(() => ({
      evaluated: this.s.cursor.get(ledger)?.evaluated ?? 0,
      states: new Map(this.s.states.all(ledger).map((row) => [row.detector, row.state])),
    }))();
  }

  async cursors(): Promise<DetectionCursor[]> {
    return this.s.cursors.all();
  }

  async resetCursor(ledger: string, evaluated: number): Promise<void> {
    this.db.transaction(() => {
      this.s.putCursor.run(ledger, evaluated, Date.now() * 1000);
      this.s.dropStates.run(ledger);
    })();
  }

  async commitStep(step: DetectionStep): Promise<void> {
    if (this.offloadStep) return this.offloadStep(step);
    this.commitStepHere(step);
  }

  /** One step in one transaction on this connection (the writer thread calls it for offloaded steps). */
  commitStepHere(step: DetectionStep): void {
    this.db.transaction(() => {
      if (step.cursor) {
        this.s.putCursor.run(step.ledger, step.cursor.evaluated, Date.now() * 1000);
        for (const { detector, state } of step.cursor.states) this.s.putState.run(step.ledger, detector, state);
      }
      for (const { alert, opened } of step.alerts) {
        if (opened) this.s.insertAlert.run(...alertColumns(alert));
        else this.s.mergeAlert.run(...mergedColumns(alert));
      }
      for (const { key, alertId } of step.findings) this.s.putFinding.run(key, alertId);
      for (const record of step.outbox) this.s.putOutbox.run(record.key, record.event);
    })();
  }

  async knownFindings(keys: string[]): Promise<Set<string>> {
    return new Set(keys.filter((key) => this.s.finding.get(key) !== undefined));
  }

  async newestAlert(groupKey: string, tenant: string | null): Promise<StoredAlert | undefined> {
    const row = this.s.newest.get(storedGroupKey(groupKey), tenant);
    return row ? alertFromRow(row) : undefined;
  }

  async getAlert(id: string): Promise<StoredAlert | undefined> {
    const row = this.s.alert.get(id);
    return row ? alertFromRow(row) : undefined;
  }

  async listAlerts(filter: AlertFilter): Promise<StoredAlert[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const equal = (column: string, value: unknown) => {
      where.push(`${column} = ?`);
      params.push(value);
    };
    if (filter.status) equal('status', filter.status);
    if (filter.severity) equal('severity', filter.severity);
    if (filter.ledger) equal('ledger', filter.ledger);
    if (filter.rule) equal('rule', filter.rule);
    if (filter.actor !== undefined) equal('actor_id', filter.actor);
    if (filter.actorType !== undefined) equal('actor_type', filter.actorType);
    if (filter.beforeSeq !== undefined) {
      where.push('seq < ?');
      params.push(filter.beforeSeq);
    }
    if (!filter.ledgers.includes('*')) {
      where.push('ledger IN (SELECT value FROM json_each(?))');
      params.push(JSON.stringify(filter.ledgers));
    }
    if (!filter.tenants.includes('*')) {
      where.push('tenant IN (SELECT value FROM json_each(?))');
      params.push(JSON.stringify(filter.tenants));
    }
    params.push(filter.limit);
    const sql = `SELECT * FROM alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`;
    return this.db.prepare<unknown[], AlertRow>(sql).all(...params).map(alertFromRow);
  }

  async changeAlertStatus(id: string, change: StatusChange, record: OutboxRecord): Promise<{ alert: StoredAlert; changed: boolean } | undefined> {
    return this.db.transaction(() => {
      const row = this.s.alert.get(id);
      if (!row) return undefined;
      if (!change.from.includes(row.status as StatusChange['to'])) return { alert: alertFromRow(row), changed: false };
      this.s.setStatus.run(change.to, change.closeReason ?? null, change.atMicros, change.by, id);
      this.s.putOutbox.run(record.key, record.event);
      return { alert: alertFromRow(this.s.alert.get(id)!), changed: true };
    }).immediate();
  }

  async pendingOutbox(limit: number): Promise<OutboxRecord[]> {
    return this.s.outbox.all(limit);
  }

  async removeOutbox(keys: string[]): Promise<void> {
    this.db.transaction(() => {
      for (const key of keys) this.s.dropOutbox.run(key);
    })();
  }

  async rules(): Promise<StoredRule[]> {
    return this.s.rules.all().map((row) => ({ id: row.id, yaml: row.yaml, addedAtMicros: row.added_at, addedBy: row.added_by }));
  }

  async putRule(rule: StoredRule, record: OutboxRecord): Promise<void> {
    this.db.transaction(() => {
      this.s.putRule.run(rule.id, rule.yaml, rule.addedAtMicros, rule.addedBy);
      this.s.putOutbox.run(record.key, record.event);
    })();
  }

  async deleteRule(id: string, record: OutboxRecord): Promise<boolean> {
    return this.db.transaction(() => {
      if (this.s.dropRule.run(id).changes === 0) return false;
      this.s.putOutbox.run(record.key, record.event);
      return true;
    })();
  }

  async ruleSettings(): Promise<RuleSetting[]> {
    return this.s.settings.all().map((row) => ({ id: row.id, enabled: row.enabled === 1, changedAtMicros: row.changed_at, changedBy: row.changed_by }));
  }

  async putRuleSetting(setting: RuleSetting, record: OutboxRecord): Promise<void> {
    this.db.transaction(() => {
      this.s.putSetting.run(setting.id, setting.enabled ? 1 : 0, setting.changedAtMicros, setting.changedBy);
      this.s.putOutbox.run(record.key, record.event);
    })();
  }

  async departures(): Promise<Departure[]> {
    return this.s.departures.all().map((row) => ({ actorId: row.actor_id, endsAtMicros: row.ends_at }));
  }

  async putDepartures(departures: Departure[], record: OutboxRecord): Promise<void> {
    this.db.transaction(() => {
      this.s.dropDepartures.run();
      for (const departure of departures) this.s.putDeparture.run(departure.actorId, departure.endsAtMicros);
      this.s.putOutbox.run(record.key, record.event);
    })();
  }
}
