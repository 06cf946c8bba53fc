/** Sign-in: an API key exchanged for an httpOnly session cookie; the key itself is never stored here. */
import { useState } from 'preact/hooks';
import { signIn, type SessionInfo } from '../api.js';
import { ErrorMessage } from '../ui/common.js';

export function SignInPage({ notice, onSignedIn }: { notice?: string; onSignedIn(info: SessionInfo): void }) {
  const [apiKey, setApiKey] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const info = await signIn(apiKey.trim());
      setApiKey('');
      onSignedIn(info);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="sign-in" id="main">
      <form class="card" onSubmit={submit} aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">sealtrail</h1>
        <p class="muted">Sign in with an API key. Its role and scope apply to everything shown; the sign-in is recorded in the system ledger.</p>
        {notice ? (
          <p class="notice" role="status">
            {notice}
          </p>
        ) : null}
        <label for="api-key">API key</label>
        <input id="api-key" name="api-key" type="password" autocomplete="off" spellcheck={false} required value={apiKey} onInput={(e) => setApiKey(e.currentTarget.value)} />
        <ErrorMessage error={error} title="Sign-in failed" />
        <button type="submit" class="primary" disabled={busy || apiKey.trim() === ''}>
          Sign in
        </button>
      </form>
    </main>
  );
}
