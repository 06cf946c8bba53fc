/**
 * Detection's records in the system ledger. Every alert opened, every alert status change and every
 * change to the rules or the HR feed is written to the store's outbox in the same transaction as the
 * change itself, then appended to `sealtrail-system` under an idempotency key derived from what changed
 * (`alert:<id>:open`, …). A crash between the two leaves the record in the outbox, and the next drain
 * (this process or another) appends it; an append that had in fact landed answers as a duplicate, so
 * the record is sealed exactly once.
 */
import { validateEvent, type AuditEvent } from '../core/event.js';
import { SERVER_WRITER, SYSTEM_LEDGER } from '../core/forgetting.js';
import { formatMicros } from '../core/time.js';
import type { OutboxRecord, StoredAlert } from '../store/detection-state.js';
import { StoreError, type Store } from '../store/store.js';

/** The actor of records the engine makes on its own (an alert opened). */
export const DETECTION_ACTOR = { type: 'system', id: 'sealtrail-detection' } as const;

/** Actions of the records the engine itself seals; never judged (no alert about an alert). */
export const ALERT_ACTION_PREFIX = 'alert.';

export type AlertChange = 'open' | 'acknowledge' | 'close';

const clip = (text: string, max = 1024) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** An event validated now, so that the outbox never holds a record the system ledger would refuse. */
export function outboxRecord(key: string, event: AuditEvent): OutboxRecord {
  return { key, event: JSON.stringify(validateEvent(event)) };
}

/** The record of an alert opened or changed; `by` is the key id that changed it (none: the engine). */
export function alertRecord(alert: StoredAlert, change: AlertChange, by?: string): OutboxRecord {
  const metadata: Record<string, unknown> = {
    rule: alert.rule,
    severity: alert.severity,
    ledger: alert.ledger,
    status: change === 'open' ? 'open' : alert.status,
    first_seen: formatMicros(alert.firstSeenMicros),
  };
  if (change === 'open') {
    metadata.title = clip(alert.title, 256);
    metadata.summary = clip(alert.summary);
    metadata.events = alert.events.slice(0, 20).map((e) => `${e.ledger}/${e.index}`);
    if (alert.actor) metadata.actor = clip(`${alert.actor.type}:${alert.actor.id}`, 300);
  }
  if (change === 'close' && alert.closeReason !== null) metadata.reason = clip(alert.closeReason);
  return outboxRecord(`alert:${alert.id}:${change}`, {
    actor: by === undefined ? { ...DETECTION_ACTOR } : { type: 'api_key', id: by },
    action: `alert.${change}`,
    category: change === 'open' ? 'other' : 'update',
    targets: [{ type: 'alert', id: alert.id }],
    outcome: 'success',
    ...(alert.tenant !== null ? { tenant: alert.tenant } : {}),
    metadata,
  });
}

/**
 * A record of an administrative change to detection (rule enabled, disabled, added, removed; the HR
 * feed replaced). These can repeat, so the key carries a fresh nonce made once, when the change is.
 */
export function adminRecord(action: string, by: string, target: { type: string; id: string } | undefined, metadata: Record<string, unknown>, nonce: string): OutboxRecord {
  return outboxRecord(`${action}:${target?.id ?? ''}:${nonce}`, {
    actor: { type: 'api_key', id: by },
    action,
    category: 'admin',
    ...(target ? { targets: [{ type: target.type, id: clip(target.id, 256) }] } : {}),
    outcome: 'success',
    metadata,
  });
}

/** Appends what waits in the outbox to the system ledger, oldest first; one drain at a time per process. */
export class SystemOutbox {
  private draining: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  /** Set by stop(): a drain or tick in flight then arms nothing further. */
  private stopped = false;
  private systemLedgerReady: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly log: (message: string, error?: unknown) => void = () => {},
  ) {}

  /** Resolves once everything in the outbox when it was called is sealed (or the append failed: retried later). */
  drain(): Promise<void> {
    if (this.draining) {
      this.again = true;
      return this.draining;
    }
    this.draining = this.drainAll().finally(() => {
      this.draining = undefined;
      if (this.again && !this.stopped) {
        this.again = false;
        // Nobody awaits this one: a failure is logged (and retried by the next tick), never left unhandled.
        void this.drain().catch((error: unknown) => this.log('detection outbox drain failed; retrying', error));
      }
    });
    return this.draining;
  }

  /** Drains every `intervalMs`, for records left by a crash or by another process. */
  start(intervalMs = 1000): void {
    this.stopped = false;
    const tick = () => {
      if (this.stopped) return;
      this.timer = setTimeout(() => void this.drain().catch((error: unknown) => this.log('detection outbox drain failed; retrying', error)).finally(tick), intervalMs);
      this.timer.unref?.();
    };
    if (!this.timer) tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.draining?.catch(() => {});
  }

  private async drainAll(): Promise<void> {
    // The server creates it before serving; a store used without one (tools, tests) gets it here.
    this.systemLedgerReady ??= this.store.createLedger(SYSTEM_LEDGER).then(() => {});
    await this.systemLedgerReady.catch((error: unknown) => {
      this.systemLedgerReady = undefined;
      throw error;
    });
    for (;;) {
      const records = await this.store.detection.pendingOutbox(100);
      if (records.length === 0) return;
      await this.seal(records);
      await this.store.detection.removeOutbox(records.map((r) => r.key));
    }
  }

  private async seal(records: OutboxRecord[]): Promise<void> {
    const requests = records.map((record) => ({ event: JSON.parse(record.event) as AuditEvent, writer: SERVER_WRITER, idempotencyKey: record.key }));
    try {
      await this.store.append(SYSTEM_LEDGER, requests);
    } catch (error) {
      // One conflicting record (its key sealed with other content: a bug, or tampering) must not hold
      // back the rest: they are sealed one by one, and the conflicting one is reported and dropped.
      if (!(error instanceof StoreError) || error.code !== 'IDEMPOTENCY_CONFLICT') throw error;
      for (const request of requests) {
        await this.store.append(SYSTEM_LEDGER, [request]).catch((single: unknown) => {
          if (single instanceof StoreError && single.code === 'IDEMPOTENCY_CONFLICT') this.log(`detection record ${request.idempotencyKey} conflicts with a sealed record of the same key; dropped`);
          else throw single;
        });
      }
    }
  }
}
