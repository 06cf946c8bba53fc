/**
 * Console sessions: an API key typed into the sign-in form is exchanged for a random session token held
 * in an httpOnly, SameSite=Strict cookie (Secure under TLS), so page scripts never see a credential. The
 * store keeps only SHA-256 of the token (src/store/session-state.ts), and each request re-checks the key
 * behind it (Authenticator.principalOfSession).
 *
 * CSRF: SameSite=Strict keeps other sites' requests from carrying the cookie; on top of that, a request
 * that changes anything must carry X-CSRF-Token, a value derived from the session token that only the
 * console's own pages learn (from the sign-in answer or GET /v1/session), and a request whose Origin
 * names another host is refused.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Store } from '../store/store.js';
import { ApiError } from './errors.js';
import type { Authenticator, Principal } from './auth.js';

export const SESSION_COOKIE = 'sealtrail_session';
export const CSRF_HEADER = 'x-csrf-token';
/** Default lifetime: one working day; the key's own expiry or revocation ends it sooner. */
export const DEFAULT_SESSION_TTL_MS = 8 * 60 * 60 * 1000;

const SESSION_TOKEN = /^sts_[A-Za-z0-9_-]{43}$/;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface OpenedSession {
  token: string;
  csrfToken: string;
  principal: Principal;
  expiresAtMicros: number;
}

export interface SessionOptions {
  ttlMs?: number;
  /** Clock in µs. */
  now?: () => number;
}

export class ConsoleSessions {
  private readonly ttlMicros: number;
  private readonly now: () => number;
  private lastSweep = 0;

  constructor(
    private readonly store: Store,
    private readonly authenticator: Authenticator,
    options: SessionOptions = {},
  ) {
    this.ttlMicros = (options.ttlMs ?? DEFAULT_SESSION_TTL_MS) * 1000;
    this.now = options.now ?? (() => Date.now() * 1000);
  }

  get ttlSeconds(): number {
    return Math.floor(this.ttlMicros / 1_000_000);
  }

  /** Checks the key exactly as a bearer token is checked, then opens a session acting as it. */
  async open(apiKey: string): Promise<OpenedSession> {
    const principal = await this.authenticator.authenticate(`Bearer ${apiKey}`);
    const token = `sts_${randomBytes(32).toString('base64url')}`;
    const now = this.now();
    const operator = this.authenticator.isOperatorToken(apiKey);
    const key = operator ? undefined : await this.store.getApiKey(principal.id);
    // A session never outlives the key it acts as.
    const expiresAtMicros = Math.min(now + this.ttlMicros, key?.expiresAtMicros ?? Number.MAX_SAFE_INTEGER);
    await this.store.sessions.createSession({
      tokenHash: hashToken(token),
      keyId: principal.id,
      operatorCheck: operator ? (this.authenticator.operatorCheck() ?? null) : null,
      createdAtMicros: now,
      expiresAtMicros,
    });
    await this.sweep(now);
    return { token, csrfToken: csrfTokenFor(token), principal, expiresAtMicros };
  }

  /**
   * The principal of a request carrying the session cookie. Unsafe methods need the CSRF header and a
   * same-host Origin; an unknown, expired or signed-out session is the same 401 as a bad token.
   */
  async resolve(request: FastifyRequest, token: string): Promise<{ principal: Principal; expiresAtMicros: number }> {
    if (!SESSION_TOKEN.test(token)) throw sessionEnded();
    const session = await this.store.sessions.getSession(hashToken(token), this.now());
    if (!session) throw sessionEnded();
    if (!SAFE_METHODS.has(request.method)) requireSameOrigin(request, token);
    const principal = await this.authenticator.principalOfSession(session).catch(() => {
      throw sessionEnded();
    });
    return { principal, expiresAtMicros: session.expiresAtMicros };
  }

  async close(token: string): Promise<void> {
    if (SESSION_TOKEN.test(token)) await this.store.sessions.deleteSession(hashToken(token));
  }

  csrfTokenFor(token: string): string {
    return csrfTokenFor(token);
  }

  /** Expired rows are dropped now and then, on sign-in, rather than by a timer of their own. */
  private async sweep(now: number): Promise<void> {
    if (now - this.lastSweep < 60_000_000) return;
    this.lastSweep = now;
    await this.store.sessions.deleteExpiredSessions(now);
  }
}

function hashToken(token: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(token).digest());
}

function csrfTokenFor(token: string): string {
  return createHash('sha256').update('sealtrail console csrf\n').update(token).digest('base64url');
}

function requireSameOrigin(request: FastifyRequest, token: string): void {
  const presented = request.headers[CSRF_HEADER];
  const expected = Buffer.from(csrfTokenFor(token));
  if (typeof presented !== 'string' || presented.length !== expected.length || !timingSafeEqual(Buffer.from(presented), expected)) {
    throw new ApiError(403, 'FORBIDDEN', `a console request that changes state needs the ${CSRF_HEADER} header of its session`);
  }
  const origin = request.headers.origin;
  if (origin !== undefined && origin !== 'null') {
    let host: string | undefined;
    try {
      host = new URL(origin).host;
    } catch {
      host = undefined;
    }
    if (host === undefined || host !== ownHost(request)) throw new ApiError(403, 'FORBIDDEN', 'a console request from another origin is refused');
  }
}

/** The request's Host as an origin's host reads it (a default port dropped). */
function ownHost(request: FastifyRequest): string | undefined {
  try {
    return new URL(`${request.protocol}://${request.headers.host ?? ''}`).host;
  } catch {
    return undefined;
  }
}

function sessionEnded(): ApiError {
  return new ApiError(401, 'UNAUTHENTICATED', 'the console session has ended (expired, signed out, or its key was revoked); sign in again', {}, {});
}
