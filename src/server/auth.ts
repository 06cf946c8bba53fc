/**
 * API keys. A token is `st_<id>.<secret>`: the id finds the key record, the 256-bit secret proves
 * possession. Only SHA-256(secret) is stored (a slow password hash buys nothing for a random 256-bit
 * secret), and it is compared in constant time. An operator may also configure one admin token through
 * SEALTRAIL_ADMIN_TOKEN, compared the same way.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ConsoleSession } from '../store/session-state.js';
import type { ApiKeyRecord, Role, Store } from '../store/store.js';
import { ApiError } from './errors.js';
import type { KeyRegistry } from './key-registry.js';

export interface Principal {
  /** Key id, recorded as the `writer` of the events this principal appends. */
  id: string;
  role: Role;
  ledgers: string[];
  /** Tenants within those ledgers; ['*'] for all. */
  tenants: string[];
}

export type Capability = 'append' | 'read' | 'verify' | 'admin';

const CAPABILITIES: Record<Role, ReadonlySet<Capability>> = {
  writer: new Set(['append', 'verify']),
  reader: new Set(['read', 'verify']),
  auditor: new Set(['read', 'verify']),
  admin: new Set(['append', 'read', 'verify', 'admin']),
};

const TOKEN = /^st_([a-z0-9]{4,32})\.([A-Za-z0-9_-]{43})$/;
export const KEY_ID = /^[a-z0-9]{4,32}$/;

export function sha256(data: string | Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

export function newToken(id: string = randomBytes(8).toString('hex')): { id: string; token: string; secretHash: Buffer } {
  const secret = randomBytes(32).toString('base64url');
  return { id, token: `st_${id}.${secret}`, secretHash: sha256(secret) };
}

export interface AuthenticatorOptions {
  /** Clock in µs. */
  now?: () => number;
  /**
   * The sealed key states: a key is accepted only if its row equals them. Without it (tests of the
   * token format alone) rows are trusted as stored.
   */
  registry?: KeyRegistry;
}

export class Authenticator {
  private readonly adminTokenHash: Buffer | undefined;
  private readonly now: () => number;
  private readonly registry: KeyRegistry | undefined;

  constructor(
    private readonly store: Store,
    adminToken: string | undefined,
    options: AuthenticatorOptions = {},
  ) {
    // The operator token is configuration, never stored: there is no row to tamper with or to check.
    this.adminTokenHash = adminToken === undefined ? undefined : sha256(adminToken);
    this.now = options.now ?? (() => Date.now() * 1000);
    this.registry = options.registry;
  }

  /** Resolves the principal for an Authorization header, or throws 401 without saying which part failed. */
  async authenticate(header: string | undefined): Promise<Principal> {
    // The auth scheme name is case-insensitive (RFC 9110 §11.1).
    const token = header && /^bearer /i.test(header) ? header.slice(7).trim() : undefined;
    if (!token || token.length > 512) throw unauthenticated();
    if (this.adminTokenHash && timingSafeEqual(sha256(token), this.adminTokenHash)) {
      return { id: 'admin', role: 'admin', ledgers: ['*'], tenants: ['*'] };
    }
    const match = TOKEN.exec(token);
    if (!match) throw unauthenticated();
    const key = await this.store.getApiKey(match[1]!);
    // Hash even when there is no such key, so timing does not tell whether an id exists.
    const presented = sha256(match[2]!);
    if (!key || !timingSafeEqual(presented, Buffer.from(key.secretHash)) || !isUsable(key, this.now())) {
      throw unauthenticated();
    }
    // A row planted or edited in the database (a key un-expired, say) does not equal its sealed state:
    // the same 401 as any bad token, the detail only in the operator's log and the system ledger.
    if (this.registry && !(await this.registry.matches(key))) throw unauthenticated();
    return { id: key.id, role: key.role, ledgers: key.ledgers, tenants: key.tenants };
  }

  /**
   * What a console session (src/server/session.ts) may do now: the key it was opened with, checked again
   * on every request, so a revoked, expired or tampered key ends its sessions at once; for the operator
   * token, only while the same token is configured.
   */
  async principalOfSession(session: ConsoleSession): Promise<Principal> {
    if (session.operatorCheck) {
      const current = this.operatorCheck();
      if (!current || !timingSafeEqual(current, Buffer.from(session.operatorCheck))) throw unauthenticated();
      return { id: 'admin', role: 'admin', ledgers: ['*'], tenants: ['*'] };
    }
    const key = await this.store.getApiKey(session.keyId);
    if (!key || !isUsable(key, this.now())) throw unauthenticated();
    if (this.registry && !(await this.registry.matches(key))) throw unauthenticated();
    return { id: key.id, role: key.role, ledgers: key.ledgers, tenants: key.tenants };
  }

  /** Whether `token` is the operator token (SEALTRAIL_ADMIN_TOKEN), compared in constant time. */
  isOperatorToken(token: string): boolean {
    return this.adminTokenHash !== undefined && timingSafeEqual(sha256(token), this.adminTokenHash);
  }

  /** A session opened with the operator token keeps SHA-256 of its hash, to tell a later token from it. */
  operatorCheck(): Buffer | undefined {
    return this.adminTokenHash ? sha256(this.adminTokenHash) : undefined;
  }
}

function isUsable(key: ApiKeyRecord, now: number): boolean {
  if (key.revokedAtMicros !== null && key.revokedAtMicros <= now) return false;
  if (key.expiresAtMicros !== null && key.expiresAtMicros <= now) return false;
  return true;
}

function unauthenticated(): ApiError {
  return new ApiError(401, 'UNAUTHENTICATED', 'a valid bearer token is required', {}, { 'www-authenticate': 'Bearer realm="sealtrail"' });
}

export function can(principal: Principal, capability: Capability): boolean {
  return CAPABILITIES[principal.role].has(capability);
}

export function inScope(principal: Principal, ledger: string): boolean {
  return principal.ledgers.includes('*') || principal.ledgers.includes(ledger);
}

/**
 * Checks a capability on a ledger. A ledger outside the key's scope answers exactly like a ledger that
 * does not exist, so a key cannot probe for other tenants' ledgers.
 */
export function requireLedger(principal: Principal, ledger: string, capability: Capability): void {
  if (!inScope(principal, ledger)) throw ledgerNotFound(ledger);
  if (!can(principal, capability)) throw new ApiError(403, 'FORBIDDEN', `the ${principal.role} role cannot ${capability} here`);
}

/** Whether the key may see or write events of `tenant` (undefined: the event names no tenant). */
export function tenantInScope(principal: Principal, tenant: unknown): boolean {
  if (principal.tenants.includes('*')) return true;
  return typeof tenant === 'string' && principal.tenants.includes(tenant);
}

/**
 * Deployment-wide administration (ledgers, keys) needs an admin key for every ledger: an admin key
 * scoped to some ledgers could otherwise mint itself an unscoped one.
 */
export function requireAdmin(principal: Principal): void {
  if (!can(principal, 'admin') || !principal.ledgers.includes('*') || !principal.tenants.includes('*')) {
    throw new ApiError(403, 'FORBIDDEN', 'this needs an admin key for all ledgers');
  }
}

/** Exactly what the store answers for a ledger that does not exist, so scope cannot be probed. */
export function ledgerNotFound(ledger: string): ApiError {
  return new ApiError(404, 'LEDGER_NOT_FOUND', `no ledger named ${JSON.stringify(ledger)}`, { ledger });
}
