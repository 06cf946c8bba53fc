/**
 * The pinned verifier key: the one key the console verifies with. The user pins the deployment's key
 * once (GET /v1/verifier-key is public); it is kept in localStorage under a name that carries the server's
 * origin, so two deployments served from different origins never share a pin. When the server later
 * presents another key, nothing is verified until the user re-pins deliberately: verification never uses
 * the key the server just sent, only the pinned one.
 */
import { useEffect, useState } from 'preact/hooks';
import { apiText } from '../api.js';
import { forgetKey } from './consistency.js';

/** localStorage name of the pinned key for this origin (tests and operators may set it directly). */
export const pinStorageName = (origin = location.origin) => `sealtrail.verifier-key@${origin}`;

/** What the console knows about the two keys. */
export type PinState =
  | { phase: 'loading'; pinned: string | null }
  /** The server's key could not be read; verification still uses the pinned key if there is one. */
  | { phase: 'unreachable'; pinned: string | null; message: string }
  | { phase: 'unpinned'; pinned: null; server: string }
  | { phase: 'match'; pinned: string; server: string }
  | { phase: 'mismatch'; pinned: string; server: string };

/** The shape of a verifier key (`name+keyid+base64`), checked before anything is stored. */
const VERIFIER_KEY = /^[^\s+]{1,200}\+[0-9a-f]{8}\+[A-Za-z0-9+/]{43,48}={0,2}$/;

export function isVerifierKeyText(text: string): boolean {
  return VERIFIER_KEY.test(text);
}

function readPinned(): string | null {
  try {
    const value = localStorage.getItem(pinStorageName());
    return value && isVerifierKeyText(value) ? value : null;
  } catch {
    return null; // storage disabled: nothing is pinned, and the banner offers to pin.
  }
}

let serverKey: string | undefined;
let serverError: string | undefined;
let fetching: Promise<void> | undefined;
const listeners = new Set<() => void>();

function notify(): void {
  for (const listener of listeners) listener();
}

export function currentPinState(): PinState {
  const pinned = readPinned();
  if (serverError !== undefined) return { phase: 'unreachable', pinned, message: serverError };
  if (serverKey === undefined) return { phase: 'loading', pinned };
  if (pinned === null) return { phase: 'unpinned', pinned: null, server: serverKey };
  return pinned === serverKey ? { phase: 'match', pinned, server: serverKey } : { phase: 'mismatch', pinned, server: serverKey };
}

/** Reads the server's key (once per page load unless asked again). */
export function loadServerKey(force = false): Promise<void> {
  if (fetching && !force) return fetching;
  lastLoad = Date.now();
  fetching = apiText('/verifier-key', { quiet: true }).then(
    (text) => {
      const key = text.trim();
      if (!isVerifierKeyText(key)) {
        serverKey = undefined;
        serverError = 'the server answered something that is not a verifier key';
      } else {
        serverKey = key;
        serverError = undefined;
      }
      notify();
    },
    (error: unknown) => {
      serverKey = undefined;
      serverError = error instanceof Error ? error.message : String(error);
      notify();
    },
  );
  return fetching;
}

/** Pins `key` (the server's, shown to the user and chosen by a click), forgetting its remembered checkpoints. */
export function pinKey(key: string): void {
  if (!isVerifierKeyText(key)) throw new Error('not a verifier key');
  localStorage.setItem(pinStorageName(), key);
  // A key pinned anew starts a fresh memory of checkpoints: nothing verified before is carried over.
  forgetKey(key);
  notify();
}

export function unpinKey(): void {
  localStorage.removeItem(pinStorageName());
  notify();
}

/** A key replaced while the page stays open is noticed on the next move, at most once a minute. */
const RECHECK_MS = 60_000;
let lastLoad = 0;

if (typeof window !== 'undefined') {
  // Another tab that pins or unpins changes this one too.
  window.addEventListener('storage', (event) => {
    if (event.key === null || event.key === pinStorageName()) notify();
  });
  window.addEventListener('hashchange', () => {
    if (Date.now() - lastLoad > RECHECK_MS) void loadServerKey(true);
  });
}

export function usePinState(): PinState {
  const [state, setState] = useState(currentPinState);
  useEffect(() => {
    const update = () => setState(currentPinState());
    listeners.add(update);
    void loadServerKey();
    update();
    return () => {
      listeners.delete(update);
    };
  }, []);
  return state;
}

/** The key to verify with, or why there is none. Only the pinned key, and only while the server agrees. */
export function verifyingKey(state: PinState): { key: string } | { pending: true } | { reason: string } {
  switch (state.phase) {
    case 'loading':
      return { pending: true };
    case 'unpinned':
      return { reason: 'no verifier key is pinned (pin it in the banner above)' };
    case 'mismatch':
      return { reason: "the server's verifier key differs from the pinned one" };
    case 'unreachable':
      return state.pinned ? { key: state.pinned } : { reason: `no verifier key is pinned, and the server's could not be read: ${state.message}` };
    case 'match':
      return { key: state.pinned };
  }
}
