/** Who is signed in, for every page: the key's role and scope decide what the shell offers. */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { SignedInKey } from './api.js';

export interface SessionState {
  key: SignedInKey;
  signOut(): Promise<void>;
}

export const SessionContext = createContext<SessionState | null>(null);

export function useSession(): SessionState {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a signed-in page');
  return session;
}

/** An admin for every ledger and tenant: deployment administration is offered only to such keys. */
export const isFullAdmin = (key: SignedInKey) => key.role === 'admin' && key.ledgers.includes('*') && key.tenants.includes('*');
/** A key limited to some tenants: its home is the tenant access page. */
export const isTenantScoped = (key: SignedInKey) => !key.tenants.includes('*');
/** Roles that may read event contents (writers only append and verify). */
export const canRead = (key: SignedInKey) => key.role !== 'writer';
