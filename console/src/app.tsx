/**
 * The shell: asks the server who is signed in, shows the sign-in form when no one is (or the session
 * ended), and otherwise the navigation and the page the route names.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, currentSession, onSessionEnded, signOut, type SessionInfo } from './api.js';
import { navigate, useRoute } from './router.js';
import { isTenantScoped, SessionContext, type SessionState } from './session.js';
import { NAVIGATION, PAGES } from './pages/registry.js';
import { SignInPage } from './pages/sign-in.js';
import { ErrorMessage, Loading } from './ui/common.js';
import { VerifierKeyBanner } from './verify/banner.js';

type ShellState = { phase: 'checking' } | { phase: 'signed-out'; notice?: string } | { phase: 'signed-in'; info: SessionInfo } | { phase: 'unreachable'; error: unknown };

export function App() {
  const [state, setState] = useState<ShellState>({ phase: 'checking' });
  const check = () =>
    currentSession(true).then(
      (info) => setState(info ? { phase: 'signed-in', info } : { phase: 'signed-out' }),
      (error: unknown) => setState({ phase: 'unreachable', error }),
    );
  useEffect(() => {
    void check();
    // Only a signed-in shell has a session to lose: a request still in flight when the user signed out
    // answers 401 afterwards, and must not replace "You are signed out." with a session that ended.
    return onSessionEnded((message) =>
      setState((current) => (current.phase === 'signed-in' ? { phase: 'signed-out', notice: `Your session has ended: ${message}` } : current)),
    );
  }, []);

  if (state.phase === 'checking') return <Loading what="the console" />;
  if (state.phase === 'unreachable') {
    return (
      <main class="sign-in" id="main">
        <div class="card">
          <ErrorMessage error={state.error} title="The server did not answer" />
          <button type="button" onClick={() => void check()}>
            Try again
          </button>
        </div>
      </main>
    );
  }
  if (state.phase === 'signed-out') return <SignInPage notice={state.notice} onSignedIn={(info) => setState({ phase: 'signed-in', info })} />;
  return <SignedIn info={state.info} onSignedOut={(notice) => setState({ phase: 'signed-out', notice })} />;
}

function SignedIn({ info, onSignedOut }: { info: SessionInfo; onSignedOut(notice?: string): void }) {
  const route = useRoute();
  const home = isTenantScoped(info.key) ? 'tenant' : 'search';
  const segment = route.segments[0] ?? home;
  const Page = PAGES[segment];
  const session = useMemo<SessionState>(
    () => ({
      key: info.key,
      signOut: async () => {
        try {
          await signOut();
        } catch (error) {
          if (!(error instanceof ApiError && error.status === 401)) throw error;
        }
        onSignedOut('You are signed out.');
      },
    }),
    [info],
  );
  useEffect(() => {
    if (route.segments.length === 0) navigate(`#/${home}`, { replace: true });
  }, [route.segments.length, home]);
  // A session can end on the server (expiry, sign-out elsewhere, the key revoked): look on every move
  // and whenever the tab comes back, so the user learns it before typing into a dead page.
  useEffect(() => {
    void currentSession().catch(() => {});
  }, [route]);
  useEffect(() => {
    const onVisible = () => {
      if (document.visibilityState === 'visible') void currentSession().catch(() => {});
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => document.removeEventListener('visibilitychange', onVisible);
  }, []);
  const items = NAVIGATION.filter((item) => item.visible(info.key));
  return (
    <SessionContext.Provider value={session}>
      <a class="skip-link" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>
        Skip to content
      </a>
      <header class="topbar">
        <span class="brand">sealtrail</span>
        <nav aria-label="Main">
          <ul>
            {items.map((item) => (
              <li key={item.segment}>
                <a href={`#/${item.segment}`} aria-current={segment === item.segment ? 'page' : undefined}>
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class="who" title={`ledgers: ${info.key.ledgers.join(', ')}; tenants: ${info.key.tenants.join(', ')}`}>
          {info.key.id} · {info.key.role}
          {isTenantScoped(info.key) ? ` · ${info.key.tenants.join(', ')}` : ''}
        </span>
        <button type="button" class="link" onClick={() => void session.signOut()}>
          Sign out
        </button>
      </header>
      <VerifierKeyBanner />
      <main id="main" tabIndex={-1}>
        {Page ? <Page route={route} /> : <ErrorMessage error={new Error(`There is no page ${JSON.stringify(segment)} in the console.`)} />}
      </main>
    </SessionContext.Provider>
  );
}
