/** API key administration (admin only). Tokens are returned once, at creation; only their hash is kept. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { formatMicros } from '../../core/time.js';
import type { ApiKeyRecord, Role } from '../../store/store.js';
import type { AppContext } from '../app.js';
import { KEY_ID, newToken, requireAdmin } from '../auth.js';
import { ApiError } from '../errors.js';
import { ApiKeyBody, BODY_ERRORS, CreatedKeyBody, CreateKeyBody, keyedErrors } from '../schemas.js';
import { keyRecordMetadata, keyRevocationMetadata } from '../../store/verify-records.js';

/**
 * What a key change adds to its access record (key.create, key.revoke): the key's state as the
 * registry and `sealtrail verify` check its row against. Set by the handler once the row is written;
 * the record is sealed before the answer is sent, so a key is never handed out without it.
 */
const sealedChange = new WeakMap<object, Record<string, unknown>>();
const accessMetadata = (request: object) => sealedChange.get(request) ?? {};

export function keyBody(key: ApiKeyRecord) {
  return {
    id: key.id,
    role: key.role,
    ledgers: key.ledgers,
    tenants: key.tenants,
    description: key.description,
    created_at: formatMicros(key.createdAtMicros),
    expires_at: key.expiresAtMicros === null ? null : formatMicros(key.expiresAtMicros),
    revoked_at: key.revokedAtMicros === null ? null : formatMicros(key.revokedAtMicros),
  };
}

export async function keyRoutes(app: FastifyInstance, { store }: AppContext): Promise<void> {
  app.post<{ Body: { role: Role; ledgers: string[]; tenants?: string[]; description?: string; expires_in_seconds?: number } }>(
    '/keys',
    { schema: { summary: 'Create an API key (admin).', body: CreateKeyBody, response: { 201: CreatedKeyBody, ...keyedErrors(BODY_ERRORS, 'FORBIDDEN') } }, config: { accessMetadata } },
    async (request, reply) => {
      requireAdmin(request.principal);
      const now = Date.now() * 1000;
      const { id, token, secretHash } = newToken();
      const record: ApiKeyRecord = {
        id,
        role: request.body.role,
        ledgers: [...new Set(request.body.ledgers)],
        tenants: [...new Set(request.body.tenants ?? ['*'])],
        description: request.body.description ?? '',
        createdAtMicros: now,
        expiresAtMicros: request.body.expires_in_seconds === undefined ? null : now + request.body.expires_in_seconds * 1_000_000,
        revokedAtMicros: null,
        secretHash,
      };
      await store.createApiKey(record);
      sealedChange.set(request, keyRecordMetadata(record));
      return reply.code(201).send({ ...keyBody(record), token });
    },
  );

  app.get('/keys', { schema: { summary: 'List API keys (admin).', response: { 200: Type.Object({ keys: Type.Array(ApiKeyBody) }), ...keyedErrors('FORBIDDEN') } } }, async (request) => {
    requireAdmin(request.principal);
    const keys = (await store.listApiKeys()).map(keyBody);
    request.resultCount = keys.length;
    return { keys };
  });

  app.delete<{ Params: { id: string } }>(
    '/keys/:id',
    {
      schema: { summary: 'Revoke an API key at once (admin).', params: Type.Object({ id: Type.String({ maxLength: 64 }) }), response: { 200: ApiKeyBody, ...keyedErrors('FORBIDDEN', 'NOT_FOUND') } },
      config: { accessMetadata },
    },
    async (request) => {
      requireAdmin(request.principal);
      const { id } = request.params;
      if (!KEY_ID.test(id) || !(await store.revokeApiKey(id, Date.now() * 1000))) {
        throw new ApiError(404, 'NOT_FOUND', `no API key ${JSON.stringify(id)}`);
      }
      const key = (await store.getApiKey(id))!;
      // The time the row holds (an earlier revocation stays as it was).
      if (key.revokedAtMicros !== null) sealedChange.set(request, keyRevocationMetadata(id, key.revokedAtMicros));
      return keyBody(key);
    },
  );
}
