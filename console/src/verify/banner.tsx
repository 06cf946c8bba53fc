/**
 * The verifier key banner, under the top bar on every page. The first time, it shows the server's key
 * and offers to pin it; once pinned and matching it stays out of the way; when the server presents a key
 * other than the pinned one it warns loudly (role="alert") with both keys, and nothing reads `verified`
 * until the user re-pins deliberately (a confirmation naming the new key). Under it, one more alert per
 * ledger whose checkpoint contradicts the one this browser verified before (consistency.ts), with a
 * confirmed way to forget the remembered checkpoint.
 */
import { useState } from 'preact/hooks';
import { conflicts, describeDate, forgetLedger, useConsistency, type Standing } from './consistency.js';
import { loadServerKey, pinKey, usePinState, verifyingKey } from './pin.js';
import './verify.css';

export function VerifierKeyBanner() {
  const state = usePinState();
  useConsistency();
  const verifying = verifyingKey(state);
  const inconsistent = 'key' in verifying ? conflicts(verifying.key) : [];
  const keyBanner = <KeyBanner />;
  if (inconsistent.length === 0) return keyBanner;
  return (
    <>
      {keyBanner}
      {inconsistent.map((conflict) => (
        <ConsistencyWarning key={conflict.ledger} verifierKey={(verifying as { key: string }).key} conflict={conflict} />
      ))}
    </>
  );
}

/**
 * A checkpoint that contradicts the one this browser verified before: the log may have been rolled back
 * or forked. Loud (role="alert"), and the remembered checkpoint is forgotten only on a confirmed request.
 */
function ConsistencyWarning({ verifierKey, conflict }: { verifierKey: string; conflict: Extract<Standing, { status: 'inconsistent' }> }) {
  const [confirming, setConfirming] = useState(false);
  const { ledger, remembered, size } = conflict;
  return (
    <div class="pin-banner pin-warning" role="alert">
      <p>
        <strong>Warning: the log of ledger {ledger} may have been rolled back or forked.</strong> The server's checkpoint of size {size} is not
        consistent with the checkpoint of size {remembered.size} this browser verified on {describeDate(remembered.verifiedAt)}, so every row
        verified against it reads failed. Keep a copy of what you see and ask the deployment's operators; forget the remembered checkpoint only if
        you know why the log was rebuilt.
      </p>
      <dl class="pin-keys">
        <dt>Remembered</dt>
        <dd>
          size {remembered.size}, root {remembered.root}
        </dd>
        <dt>Why</dt>
        <dd>{conflict.reason.replace(/^checkpoint: /, '')}</dd>
      </dl>
      <div class="pin-actions">
        {confirming ? (
          <>
            <span>
              Forget the checkpoint of size {remembered.size} of ledger {ledger}? The next one this browser verifies becomes the one remembered.
            </span>
            <button type="button" class="danger" onClick={() => forgetLedger(verifierKey, ledger)}>
              Yes, forget it
            </button>
            <button type="button" onClick={() => setConfirming(false)}>
              Keep it
            </button>
          </>
        ) : (
          <button type="button" onClick={() => setConfirming(true)}>
            Forget the remembered checkpoint of {ledger}…
          </button>
        )}
      </div>
    </div>
  );
}

function KeyBanner() {
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
