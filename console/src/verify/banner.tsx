/**
 * The verifier key banner, under the top bar on every page. The first time, it shows the server's key
 * and offers to pin it; once pinned and matching it stays out of the way; when the server presents a key
 * other than the pinned one it warns loudly (role="alert") with both keys, and nothing reads `verified`
 * until the user re-pins deliberately (a confirmation naming the new key).
 */
import { useState } from 'preact/hooks';
import { loadServerKey, pinKey, usePinState } from './pin.js';
import './verify.css';

export function VerifierKeyBanner() {
  const state = usePinState();
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string>();
  const pin = (key: string) => {
    try {
      pinKey(key);
      setConfirming(false);
      setError(undefined);
    } catch (cause) {
      setError(`the key could not be stored in this browser: ${cause instanceof Error ? cause.message : String(cause)}`);
    }
  };

  if (state.phase === 'loading' || state.phase === 'match') return null;
  if (state.phase === 'unreachable') {
    return (
      <aside class="pin-banner" aria-label="Verifier key">
        <p>
          The server's verifier key could not be read ({state.message}).{' '}
          {state.pinned ? 'Rows are verified with the pinned key.' : 'No key is pinned, so nothing can be verified.'}
        </p>
        <div class="pin-actions">
          <button type="button" onClick={() => void loadServerKey(true)}>
            Try again
          </button>
        </div>
      </aside>
    );
  }
  if (state.phase === 'unpinned') {
    return (
      <aside class="pin-banner" aria-label="Verifier key">
        <p>
          <strong>Pin this deployment's verifier key</strong> to verify what the console shows in this browser. Compare it with the key your
          operators published (the output of <code>sealtrail serve</code> or <code>GET /v1/verifier-key</code>); every row is then checked
          against checkpoints signed by this key, and the console warns if the server ever presents another.
        </p>
        <dl class="pin-keys">
          <dt>Server's key</dt>
          <dd>{state.server}</dd>
        </dl>
        <div class="pin-actions">
          <button type="button" class="primary" onClick={() => pin(state.server)}>
            Pin this key
          </button>
          {error ? <span role="alert">{error}</span> : null}
        </div>
      </aside>
    );
  }
  // mismatch
  return (
    <div class="pin-banner pin-warning" role="alert">
      <p>
        <strong>Warning: the server's verifier key differs from the pinned one.</strong> Nothing is shown as verified. Either this deployment's
        signing key was replaced, or you are not talking to the deployment you pinned. Ask its operators before you pin the new key.
      </p>
      <dl class="pin-keys">
        <dt>Pinned key</dt>
        <dd>{state.pinned}</dd>
        <dt>Server's key</dt>
        <dd>{state.server}</dd>
      </dl>
      <div class="pin-actions">
        {confirming ? (
          <>
            <span>Pin the server's key {state.server.split('+').slice(0, 2).join('+')}… in place of the pinned one?</span>
            <button type="button" class="danger" onClick={() => pin(state.server)}>
              Yes, pin the new key
            </button>
            <button type="button" onClick={() => setConfirming(false)}>
              Keep the pinned key
            </button>
          </>
        ) : (
          <button type="button" onClick={() => setConfirming(true)}>
            Re-pin to the server's key…
          </button>
        )}
        {error ? <span>{error}</span> : null}
      </div>
    </div>
  );
}
