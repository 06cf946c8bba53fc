/**
 * What the store keeps for streams (src/streams/): each sink's definition, its durable cursor per ledger
 * and its dead-letter list. Delivery is at-least-once because a cursor only moves after the receiver
 * acknowledged; a replay bumps the cursor's generation, so a worker that delivered against the old
 * position cannot move the cursor past the replay (its conditional advance finds another generation).
 */

export const SINK_TYPES = ['webhook', 'syslog', 'splunk_hec', 'nats', 'file'] as const;
export type SinkType = (typeof SINK_TYPES)[number];

export interface StoredSink {
  name: string;
  type: SinkType;
  /** The sink's settings as JSON (src/streams/sink.ts SinkDefinition), secrets left out. */
  definition: string;
  /** The secret settings, sealed (src/streams/secrets.ts); null when the kind has none. */
  sealedSecrets: Uint8Array | null;
  paused: boolean;
  createdAtMicros: number;
  createdBy: string;
}

/** What the delivering worker last observed, shared by every process (GET /v1/sinks reads it). */
export interface SinkHealthState {
  lastSuccessMicros: number | null;
  lastErrorMicros: number | null;
  lastError: string | null;
  /** Set while deliveries fail; the transitions are sealed as sink.failing / sink.recovered. */
  failing: boolean;
  /** Set while the lag is over the sink's threshold (sink.lagging / sink.recovered). */
  lagging: boolean;
}

export interface SinkCursor {
  ledger: string;
  /** The next index to deliver: every index below it was acknowledged (or filtered out, or dead-lettered). */
  next: number;
  /** Index of the last record delivered from this ledger; null at the start and after a replay. */
  lastSent: number | null;
  generation: number;
}

export interface DeadLetter {
  id: number;
  sink: string;
  ledger: string;
  /** The batch's range [from, to): the cursor moved past it. */
  from: number;
  to: number;
  /** The indexes of the records in it (the filter may have left others out), ascending. */
  indexes: number[];
  /** The index delivered before the batch (Delivery.previous), so a replay restores the stream's chain. */
  previous: number | null;
  attempts: number;
  error: string;
  createdAtMicros: number;
}

export interface SinkStateStore {
  /** false when a sink of that name exists. */
  createSink(sink: StoredSink): Promise<boolean>;
  getSink(name: string): Promise<(StoredSink & SinkHealthState) | undefined>;
  listSinks(): Promise<Array<StoredSink & SinkHealthState>>;
  /** false when no such sink exists. */
  setSinkPaused(name: string, paused: boolean): Promise<boolean>;
  /** Removes the sink, its cursors and its dead letters; false when no such sink exists. */
  deleteSink(name: string): Promise<boolean>;
  /** Updates the health columns given (the others stay). */
  updateSinkHealth(name: string, health: Partial<SinkHealthState>): Promise<void>;

  cursors(sink: string): Promise<SinkCursor[]>;
  /** Creates the cursor at `next` unless one exists; returns the cursor as stored. */
  ensureCursor(sink: string, ledger: string, next: number): Promise<SinkCursor>;
  /**
   * Moves the cursor to `next` (and lastSent, when records were sent) only if it still has `generation`;
   * false when a replay changed it meanwhile.
   */
  advanceCursor(sink: string, ledger: string, generation: number, next: number, lastSent: number | null): Promise<boolean>;
  /** Sets the cursor to `next` under a new generation (replay); creates it when absent. */
  resetCursor(sink: string, ledger: string, next: number): Promise<SinkCursor>;

  addDeadLetter(letter: Omit<DeadLetter, 'id'>): Promise<number>;
  deadLetters(sink: string, limit?: number): Promise<DeadLetter[]>;
  countDeadLetters(sink: string): Promise<number>;
  getDeadLetter(sink: string, id: number): Promise<DeadLetter | undefined>;
  removeDeadLetter(sink: string, id: number): Promise<boolean>;
}

/** A dead letter's indexes as stored: compact ranges "3-9,12". */
export function formatIndexRanges(indexes: readonly number[]): string {
  const parts: string[] = [];
  let start: number | undefined;
  let previous = -2;
  for (const index of indexes) {
    if (start !== undefined && index === previous + 1) {
      previous = index;
      continue;
    }
    if (start !== undefined) parts.push(start === previous ? `${start}` : `${start}-${previous}`);
    start = previous = index;
  }
  if (start !== undefined) parts.push(start === previous ? `${start}` : `${start}-${previous}`);
  return parts.join(',');
}

export function parseIndexRanges(text: string): number[] {
  if (text === '') return [];
  return text.split(',').flatMap((part) => {
    const [from, to] = part.split('-').map(Number) as [number, number | undefined];
    const out: number[] = [];
    for (let i = from; i <= (to ?? from); i++) out.push(i);
    return out;
  });
}
