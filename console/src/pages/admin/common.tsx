/** Pieces the administration sections share: an action's busy and error state, list fields, ages. */
import { useRef, useState } from 'preact/hooks';

export interface Action<A extends unknown[]> {
  busy: boolean;
  error: unknown;
  run(...args: A): Promise<void>;
  clear(): void;
}

/** Runs a server call, keeping whether it is running and what it failed with (shown by ErrorMessage). */
export function useAction<A extends unknown[]>(work: (...args: A) => Promise<void>): Action<A> {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const running = useRef(false);
  return {
    busy,
    error,
    clear: () => setError(undefined),
    async run(...args: A) {
      if (running.current) return;
      running.current = true;
      setBusy(true);
      setError(undefined);
      try {
        await work(...args);
      } catch (cause) {
        setError(cause);
      } finally {
        running.current = false;
        setBusy(false);
      }
    },
  };
}

/** "a, b , c" → ['a', 'b', 'c']; empty → the fallback. */
export function listField(text: string, fallback: string[] = []): string[] {
  const items = text.split(',').map((s) => s.trim()).filter(Boolean);
  return items.length ? [...new Set(items)] : fallback;
}

/** Seconds as "4 s", "3 min", "2 h 5 min", "3 d 4 h". */
export function formatAge(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  if (seconds < 90) return `${Math.round(seconds)} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

export const ageSince = (time: string | null | undefined, now = Date.now()) => (time ? (now - new Date(time).getTime()) / 1000 : Number.NaN);
