/**
 * A time range: presets (last hour, day, week, 30 days) or two explicit datetime-local inputs in the
 * viewer's zone. Values are RFC 3339 strings (UTC) or '' for an open end.
 */
import { useId } from 'preact/hooks';

export interface TimeRange {
  from: string;
  to: string;
}

export const PRESETS: Array<{ label: string; ms: number }> = [
  { label: 'Last hour', ms: 3_600_000 },
  { label: 'Last 24 hours', ms: 86_400_000 },
  { label: 'Last 7 days', ms: 7 * 86_400_000 },
  { label: 'Last 30 days', ms: 30 * 86_400_000 },
];

export function lastMs(ms: number, now = Date.now()): TimeRange {
  return { from: new Date(now - ms).toISOString(), to: '' };
}

/** RFC 3339 → the value a datetime-local input shows (local time, minutes). */
export function toLocalInput(value: string): string {
  if (!value) return '';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return '';
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
}

export function fromLocalInput(value: string): string {
  if (!value) return '';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? '' : date.toISOString();
}

export function TimeRangePicker({ value, onChange, label = 'Time range' }: { value: TimeRange; onChange(range: TimeRange): void; label?: string }) {
  const id = useId();
  return (
    <fieldset class="time-range">
      <legend>{label}</legend>
      <div class="presets" role="group" aria-label="Presets">
        {PRESETS.map((preset) => (
          <button type="button" class="chip" key={preset.label} onClick={() => onChange(lastMs(preset.ms))}>
            {preset.label}
          </button>
        ))}
      </div>
      <label for={`${id}-from`}>From</label>
      <input id={`${id}-from`} type="datetime-local" value={toLocalInput(value.from)} onChange={(e) => onChange({ ...value, from: fromLocalInput(e.currentTarget.value) })} />
      <label for={`${id}-to`}>To</label>
      <input id={`${id}-to`} type="datetime-local" value={toLocalInput(value.to)} onChange={(e) => onChange({ ...value, to: fromLocalInput(e.currentTarget.value) })} />
    </fieldset>
  );
}
