/**
 * The HTTP baseline: a bare Fastify 5 server with the events route of sealtrail that only parses the
 * JSON body and answers 201. Run as a child process by bench/http.ts; prints its address like `serve`.
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false, bodyLimit: 8 * 1024 * 1024 });

app.post<{ Params: { ledger: string }; Body: unknown }>('/v1/ledgers/:ledger/events', async (request, reply) => {
  const received = Array.isArray(request.body) ? request.body.length : 1;
  return reply.code(201).send({ ledger: request.params.ledger, received });
});

const address = await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`bare fastify listening on ${address}\n`);

process.once('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
