/** Express middleware (`sealtrail/middleware/express`): records each request with an actor as an audit event. */
import type { NextFunction, Request, Response } from 'express';
import { currentAuditActor, record, requestEvent, runWithAuditContext, type AuditMiddlewareOptions } from './audit.js';

export { setAuditActor, type AuditMiddlewareOptions, type RouteAudit } from './audit.js';

/** Mount before your routes and your authentication, which calls setAuditActor(). */
export function sealtrailAudit(options: AuditMiddlewareOptions) {
  return (request: Request, response: Response, next: NextFunction): void => {
    runWithAuditContext(() => {
      const actor = () => currentAuditActor();
      let captured: ReturnType<typeof actor>;
      // The actor is read while still inside the request's context; 'finish' may fire outside it.
      const remember = () => (captured ??= actor());
      response.once('finish', () => {
        const route = request.route ? `${request.baseUrl}${String((request.route as { path: unknown }).path)}` : undefined;
        const event = requestEvent(
          {
            method: request.method,
            route,
            params: request.params as Record<string, string>,
            status: response.statusCode,
            socketAddress: request.socket.remoteAddress,
            forwardedFor: request.headers['x-forwarded-for'],
            userAgent: request.headers['user-agent'],
            raw: request,
          },
          captured ?? actor(),
          options,
        );
        record(event, options);
      });
      const originalEnd = response.end.bind(response);
      response.end = ((...args: Parameters<Response['end']>) => {
        remember();
        return originalEnd(...args);
      }) as Response['end'];
      next();
    });
  };
}
