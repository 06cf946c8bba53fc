/**
 * Stream records as CloudEvents 1.0 (JSON event format): `id` is `<ledger>:<index>`, so a receiver can
 * de-duplicate the redeliveries at-least-once delivery allows, and the extension attributes carry what
 * a receiver needs to check its copy (docs/STREAMS.md): the ledger, the index and the leaf hash, the
 * index delivered before it, and — on the last event of each delivery — the signed checkpoint covering
 * it. Indexes travel as strings: a CloudEvents Integer is 32-bit, a ledger index is not.
 */
import { toOcsf } from '../core/export/ocsf.js';
import type { ExportRecord } from '../core/export/record.js';
import type { Delivery, StreamRecord } from './target.js';

export const CLOUDEVENT_TYPE = 'dev.sealtrail.audit.event';
export const STRUCTURED_CONTENT_TYPE = 'application/cloudevents+json';
export const BATCH_CONTENT_TYPE = 'application/cloudevents-batch+json';

export type RecordFormat = 'json' | 'ocsf';

/** A record as the sink's format writes it: the export record (with its location) or its OCSF form. */
export function formatData(record: StreamRecord, format: RecordFormat): Record<string, unknown> {
  if (format === 'ocsf') return toOcsf(record as ExportRecord) as Record<string, unknown>;
  return { ...record };
}

/** The CloudEvents of one delivery, oldest first; the last carries the checkpoint. */
export function deliveryEvents(delivery: Delivery, format: RecordFormat, source: string): Array<Record<string, unknown>> {
  let previous = delivery.previous ?? null;
  return delivery.records.map((record, i) => {
    const event: Record<string, unknown> = {
      specversion: '1.0',
      id: `${record.ledger}:${record.index}`,
      source: `${source}/ledgers/${record.ledger}`,
      type: CLOUDEVENT_TYPE,
      time: record.received_at,
      datacontenttype: 'application/json',
      ...(typeof record.event.action === 'string' ? { subject: record.event.action } : {}),
      sealtrailledger: record.ledger,
      sealtrailindex: String(record.index),
      sealtrailleafhash: record.leaf_hash,
      ...(previous !== null ? { sealtrailprevindex: String(previous) } : {}),
      ...(i === delivery.records.length - 1 ? { sealtrailcheckpoint: delivery.checkpoint.note } : {}),
      data: formatData(record, format),
    };
    previous = record.index;
    return event;
  });
}
