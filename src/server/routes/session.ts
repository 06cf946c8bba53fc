/**
 * Console sign-in (src/server/session.ts): POST exchanges an API key for a session cookie, GET tells
 * the console who it is signed in as (and its CSRF token), DELETE signs out. Sign-in and sign-out are
 * recorded in the system ledger like every other access (access-log.ts).
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { formatMicros } from '../../core/time.js';
import { SESSION_COOKIE, type ConsoleSessions } from '../session.js';
import type { Principal } from '../auth.js';
import { BODY_ERRORS, errorResponses, keyedErrors } from '../schemas.js';

const SessionBody = Type.Object(
  {
    key: Type.Object({
      id: Type.String(),
      role: Type.String(),
      ledgers: Type.Array(Type.String()),
      tenants: Type.Array(Type.String()),
    }),
    csrf_token: Type.Union([Type.String(), Type.Null()], { description: 'Send as X-CSRF-Token on every request that changes state; null when the request did not come with a session cookie.' }),
    expires_at: Type.Union([Type.String(), Type.Null()]),
  },
  { description: 'The signed-in key and the session that carries it.' },
);

declare module 'fastify' {
  interface FastifyRequest {
    /** The console session token, when the request was authenticated by its cookie. */
    sessionToken?: string;
    sessionExpiresAtMicros?: number;
  }
}

const keyOf = (principal: Principal) => ({ id: principal.id, role: principal.role, ledgers: principal.ledgers, tenants: principal.tenants });

export async function sessionRoutes(app: FastifyInstance, sessions: ConsoleSessions, options: { secureCookie: boolean }): Promise<void> {
  const setCookie = (reply: FastifyReply, token: string, maxAgeSeconds: number) =>
    reply.setCookie(SESSION_COOKIE, token, { path: '/', httpOnly: true, sameSite: 'strict', secure: options.secureCookie, maxAge: maxAgeSeconds });

  app.post<{ Body: { api_key: string } }>(
    '/session',
    {
      schema: {
        summary: 'Sign in to the console: exchange an API key for an httpOnly session cookie (no bearer token needed).',
        security: [],
        body: Type.Object({ api_key: Type.String({ minLength: 1, maxLength: 512 }) }, { additionalProperties: false }),
        response: { 201: SessionBody, ...errorResponses('INVALID_ARGUMENT', 'UNAUTHENTICATED', 'RATE_LIMITED', 'INTERNAL', 'OVERLOADED', 'LEDGER_INTEGRITY', BODY_ERRORS) },
      },
      config: { public: true, accessClaimedToken: (request) => (request.body as { api_key?: unknown } | undefined)?.api_key },
    },
    async (request, reply) => {
      const opened = await sessions.open(request.body.api_key);
      // The record of this sign-in names the key that signed in.
      request.principal = opened.principal;
      const maxAge = Math.max(1, Math.floor((opened.expiresAtMicros - Date.now() * 1000) / 1_000_000));
      setCookie(reply, opened.token, maxAge);
      return reply.code(201).send({ key: keyOf(opened.principal), csrf_token: opened.csrfToken, expires_at: formatMicros(opened.expiresAtMicros) });
    },
  );

  app.get('/session', { schema: { summary: 'Who the console is signed in as, and the CSRF token of its session.', response: { 200: SessionBody, ...keyedErrors() } } }, async (request) => ({
    key: keyOf(request.principal),
    csrf_token: request.sessionToken ? sessions.csrfTokenFor(request.sessionToken) : null,
    expires_at: request.sessionExpiresAtMicros === undefined ? null : formatMicros(request.sessionExpiresAtMicros),
  }));

  app.delete('/session', { schema: { summary: 'Sign out: end the session and clear its cookie.', response: { 204: Type.Null(), ...keyedErrors('FORBIDDEN') } } }, async (request, reply) => {
    if (request.sessionToken) await sessions.close(request.sessionToken);
    void reply.clearCookie(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'strict', secure: options.secureCookie });
    return reply.code(204).send();
  });
}
