/** Fastify hooks (`sealtrail/middleware/fastify`): records each request with an actor as an audit event. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { currentAuditActor, enterAuditContext, record, requestEvent, type AuditActor, type AuditMiddlewareOptions } from './audit.js';

export { setAuditActor, type AuditMiddlewareOptions, type RouteAudit } from './audit.js';

const ACTOR = Symbol('sealtrail.actor');

/** Adds the hooks to `app` (call before registering routes); your authentication calls setAuditActor(). */
export function sealtrailAudit(app: FastifyInstance, options: AuditMiddlewareOptions): void {
  app.addHook('onRequest', async () => {
    enterAuditContext();
  });
  // Read while the request's context is still current; onResponse may run outside it.
  app.addHook('onSend', async (request, _reply, payload) => {
    (request as FastifyRequest & { [ACTOR]?: AuditActor })[ACTOR] = currentAuditActor();
    return payload;
  });
  app.addHook('onResponse', async (request, reply) => {
    const actor = (request as FastifyRequest & { [ACTOR]?: AuditActor })[ACTOR];
    const event = requestEvent(
      {
        method: request.method,
        route: request.routeOptions.url,
        params: (request.params ?? {}) as Record<string, string>,
        status: reply.statusCode,
        socketAddress: request.socket.remoteAddress,
        forwardedFor: request.headers['x-forwarded-for'],
        userAgent: request.headers['user-agent'],
        raw: request,
      },
      actor,
      options,
    );
    record(event, options);
  });
}
