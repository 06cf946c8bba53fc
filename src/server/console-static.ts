/**
 * Serves the web console (console/, built by Vite into dist/console at install) at `/` on the API's own
 * port. Hashed assets are cached for a year; index.html never, so a new build is picked up at once. The
 * pages may load nothing from another host (Content-Security-Policy), which also keeps an injected
 * script from running.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Where the built console is: dist/console beside the sources when run from src/ (tsx), or the sibling
 * of dist/src when run from the compiled dist/. Only a folder named dist/console counts, so the console's
 * sources are never served by mistake.
 */
export function findConsoleBuild(): string | undefined {
  const candidates = [new URL('../../dist/console/', import.meta.url), new URL('../../console/', import.meta.url)].map((url) => fileURLToPath(url));
  return candidates.find((dir) => /[\\/]dist[\\/]console[\\/]?$/.test(dir) && existsSync(`${dir}/index.html`));
}

export async function consoleRoutes(app: FastifyInstance, root: string | undefined): Promise<void> {
  if (!root) {
    app.get('/', { schema: { hide: true } }, async (_request, reply) =>
      reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The sealtrail console is not built here. Run `npm run build` (npm ci runs it) and restart the server.\n'),
    );
    return;
  }
  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    index: ['index.html'],
    wildcard: false,
    cacheControl: false,
    setHeaders: (reply, path) => {
      void reply.header('cache-control', /[\\/]assets[\\/]/.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
}
