/** The kinds of sink this build can deliver to, by type (src/streams/target.ts). */
import type { SinkType } from '../../store/sink-state.js';
import type { TargetKind } from '../target.js';
import { fileKind } from './file.js';
import { natsKind } from './nats.js';
import { splunkHecKind } from './splunk-hec.js';
import { syslogKind } from './syslog.js';
import { webhookKind } from './webhook.js';

const KINDS = new Map<SinkType, TargetKind<any>>([
  ['webhook', webhookKind],
  ['file', fileKind],
  ['syslog', syslogKind],
  ['splunk_hec', splunkHecKind],
  ['nats', natsKind],
]);

export function targetKind(type: SinkType): TargetKind | undefined {
  return KINDS.get(type);
}
