/**
 * The detection engine's state in PostgreSQL (migration 12; the contract is
 * src/store/detection-state.ts). Every write is one transaction; a status change locks its alert row
 * (SELECT … FOR UPDATE) so that two processes cannot both apply, and record, the same change.
 */
import type pg from 'pg';
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
import { inTransaction } from './transaction.js';

const INSERT_ALERT = `INSERT INTO alerts (${ALERT_INSERT_COLUMNS}) VALUES (${ALERT_INSERT_COLUMNS.split(',')
  .map((_, i) => `$${i + 1}`)
  .join(', ')}) ON CONFLICT (id) DO NOTHING`;
const MERGE_ALERT = 'UPDATE alerts SET severity = $1, first_seen = $2, last_seen = $3, count = $4, events = $5, summary = $6, finding_keys = $7 WHERE id = $8';
const PUT_OUTBOX = 'INSERT INTO detection_outbox (key, event) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING';

export class PostgresDetectionState implements DetectionStateStore {
  constructor(private readonly pool: pg.Pool) {}

  async loadCursor(ledger: string): Promise<{ evaluated: number; states: Map<string, string> }> {
    // One snapshot: the cursor and the states it was committed with.
    return inTransaction(this.pool, async (client) => {
      await client.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
      const cursor = await client.query<{ evaluated: string }>('SELECT evaluated FROM detection_cursors WHERE ledger = $1', [ledger]);
      const states = await client.query<{ detector: string; state: string }>('SELECT detector, state FROM detection_states WHERE ledger = $1', [ledger]);
      return { evaluated: Number(cursor.rows[0]?.evaluated ?? 0), states: new Map(states.rows.map((row) => [row.detector, row.state])) };
    });
  }

  async cursors(): Promise<DetectionCursor[]> {
    const result = await this.pool.query<{ ledger: string; evaluated: string }>('SELECT ledger, evaluated FROM detection_cursors ORDER BY ledger');
    return result.rows.map((row) => ({ ledger: row.ledger, evaluated: Number(row.evaluated) }));
  }

  async resetCursor(ledger: string, evaluated: number): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      await putCursor(client, ledger, evaluated);
      await client.query('DELETE FROM detection_states WHERE ledger = $1', [ledger]);
    });
  }

  async commitStep(step: DetectionStep): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      if (step.cursor) {
        await putCursor(client, step.ledger, step.cursor.evaluated);
        const { states } = step.cursor;
        if (states.length > 0) {
          await client.query(
            `INSERT INTO detection_states (ledger, detector, state) SELECT $1, d, s FROM unnest($2::text[], $3::text[]) AS t(d, s)
               ON CONFLICT (ledger, detector) DO UPDATE SET state = excluded.state`,
            [step.ledger, states.map((s) => s.detector), states.map((s) => s.state)],
          );
        }
      }
      for (const { alert, opened } of step.alerts) await client.query(opened ? INSERT_ALERT : MERGE_ALERT, opened ? alertColumns(alert) : mergedColumns(alert));
      if (step.findings.length > 0) {
        await client.query(
          'INSERT INTO alert_findings (finding_key, alert_id) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (finding_key) DO NOTHING',
          [step.findings.map((f) => f.key), step.findings.map((f) => f.alertId)],
        );
      }
      for (const record of step.outbox) await client.query(PUT_OUTBOX, [record.key, record.event]);
    });
  }

  async knownFindings(keys: string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const result = await this.pool.query<{ finding_key: string }>('SELECT finding_key FROM alert_findings WHERE finding_key = ANY($1::text[])', [keys]);
    return new Set(result.rows.map((row) => row.finding_key));
  }

  async newestAlert(groupKey: string, tenant: string | null): Promise<StoredAlert | undefined> {
    const result = await this.pool.query<AlertRow>(
      'SELECT * FROM alerts WHERE group_key = $1 AND tenant IS NOT DISTINCT FROM $2 ORDER BY seq DESC LIMIT 1',
      [storedGroupKey(groupKey), tenant],
    );
    return result.rows[0] ? alertFromRow(result.rows[0]) : undefined;
  }

  async getAlert(id: string): Promise<StoredAlert | undefined> {
    const result = await this.pool.query<AlertRow>('SELECT * FROM alerts WHERE id = $1', [id]);
    return result.rows[0] ? alertFromRow(result.rows[0]) : undefined;
  }

  async listAlerts(filter: AlertFilter): Promise<StoredAlert[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (condition: (placeholder: string) => string, value: unknown) => {
      params.push(value);
      where.push(condition(`$${params.length}`));
    };
    if (filter.status) add((p) => `status = ${p}`, filter.status);
    if (filter.severity) add((p) => `severity = ${p}`, filter.severity);
    if (filter.ledger) add((p) => `ledger = ${p}`, filter.ledger);
    if (filter.rule) add((p) => `rule = ${p}`, filter.rule);
    if (filter.actor !== undefined) add((p) => `actor_id = ${p}`, filter.actor);
    if (filter.actorType !== undefined) add((p) => `actor_type = ${p}`, filter.actorType);
    if (filter.beforeSeq !== undefined) add((p) => `seq < ${p}`, filter.beforeSeq);
    if (!filter.ledgers.includes('*')) add((p) => `ledger = ANY(${p}::text[])`, filter.ledgers);
    if (!filter.tenants.includes('*')) add((p) => `tenant = ANY(${p}::text[])`, filter.tenants);
    params.push(filter.limit);
    const sql = `SELECT * FROM alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT $${params.length}`;
    return (await this.pool.query<AlertRow>(sql, params)).rows.map(alertFromRow);
  }

  async changeAlertStatus(id: string, change: StatusChange, record: OutboxRecord): Promise<{ alert: StoredAlert; changed: boolean } | undefined> {
    return inTransaction(this.pool, async (client) => {
      const row = (await client.query<AlertRow>('SELECT * FROM alerts WHERE id = $1 FOR UPDATE', [id])).rows[0];
      if (!row) return undefined;
      if (!change.from.includes(row.status as StatusChange['to'])) return { alert: alertFromRow(row), changed: false };
      const updated = await client.query<AlertRow>(
        'UPDATE alerts SET status = $1, close_reason = $2, changed_at = $3, changed_by = $4 WHERE id = $5 RETURNING *',
        [change.to, change.closeReason ?? null, change.atMicros, change.by, id],
      );
      await client.query(PUT_OUTBOX, [record.key, record.event]);
      return { alert: alertFromRow(updated.rows[0]!), changed: true };
    });
  }

  async pendingOutbox(limit: number): Promise<OutboxRecord[]> {
    return (await this.pool.query<OutboxRecord>('SELECT key, event FROM detection_outbox ORDER BY seq LIMIT $1', [limit])).rows;
  }

  async removeOutbox(keys: string[]): Promise<void> {
    if (keys.length > 0) await this.pool.query('DELETE FROM detection_outbox WHERE key = ANY($1::text[])', [keys]);
  }

  async rules(): Promise<StoredRule[]> {
    const result = await this.pool.query<{ id: string; yaml: string; added_at: string; added_by: string }>('SELECT * FROM detection_rules ORDER BY id');
    return result.rows.map((row) => ({ id: row.id, yaml: row.yaml, addedAtMicros: Number(row.added_at), addedBy: row.added_by }));
  }

  async putRule(rule: StoredRule, record: OutboxRecord): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      await client.query(
        `INSERT INTO detection_rules (id, yaml, added_at, added_by) VALUES ($1, $2, $3, $4)
           ON CONFLICT (id) DO UPDATE SET yaml = excluded.yaml, added_at = excluded.added_at, added_by = excluded.added_by`,
        [rule.id, rule.yaml, rule.addedAtMicros, rule.addedBy],
      );
      await client.query(PUT_OUTBOX, [record.key, record.event]);
    });
  }

  async deleteRule(id: string, record: OutboxRecord): Promise<boolean> {
    return inTransaction(this.pool, async (client) => {
      if ((await client.query('DELETE FROM detection_rules WHERE id = $1', [id])).rowCount === 0) return false;
      await client.query(PUT_OUTBOX, [record.key, record.event]);
      return true;
    });
  }

  async ruleSettings(): Promise<RuleSetting[]> {
    const result = await this.pool.query<{ id: string; enabled: boolean; changed_at: string; changed_by: string }>('SELECT * FROM detection_rule_settings ORDER BY id');
    return result.rows.map((row) => ({ id: row.id, enabled: row.enabled, changedAtMicros: Number(row.changed_at), changedBy: row.changed_by }));
  }

  async putRuleSetting(setting: RuleSetting, record: OutboxRecord): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      await client.query(
        `INSERT INTO detection_rule_settings (id, enabled, changed_at, changed_by) VALUES ($1, $2, $3, $4)
           ON CONFLICT (id) DO UPDATE SET enabled = excluded.enabled, changed_at = excluded.changed_at, changed_by = excluded.changed_by`,
        [setting.id, setting.enabled, setting.changedAtMicros, setting.changedBy],
      );
      await client.query(PUT_OUTBOX, [record.key, record.event]);
    });
  }

  async departures(): Promise<Departure[]> {
    const result = await this.pool.query<{ actor_id: string; ends_at: string }>('SELECT actor_id, ends_at FROM detection_departures ORDER BY actor_id');
    return result.rows.map((row) => ({ actorId: row.actor_id, endsAtMicros: Number(row.ends_at) }));
  }

  async putDepartures(departures: Departure[], record: OutboxRecord): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      await client.query('DELETE FROM detection_departures');
      if (departures.length > 0) {
        await client.query('INSERT INTO detection_departures (actor_id, ends_at) SELECT * FROM unnest($1::text[], $2::bigint[])', [
          departures.map((d) => d.actorId),
          departures.map((d) => d.endsAtMicros),
        ]);
      }
      await client.query(PUT_OUTBOX, [record.key, record.event]);
    });
  }
}

async function putCursor(client: pg.ClientBase, ledger: string, evaluated: number): Promise<void> {
  await client.query(
    `INSERT INTO detection_cursors (ledger, evaluated, updated_at) VALUES ($1, $2, $3)
       ON CONFLICT (ledger) DO UPDATE SET evaluated = excluded.evaluated, updated_at = excluded.updated_at`,
    [ledger, evaluated, Date.now() * 1000],
  );
}
