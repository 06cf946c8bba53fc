/**
 * A webhook receiver for tests: a real HTTP(S) server that verifies every request with the
 * `standardwebhooks` package (as a receiver would), stores the CloudEvents it acknowledged, and answers
 * as a script says (500 then 200, 400, a hang, Retry-After). A request whose signature does not verify
 * is counted and refused, so a test can assert there were none.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export type Answer = { status: number; headers?: Record<string, string>; delayMs?: number } | 'hang';

export interface Receiver {
  url: string;
  /** Every event acknowledged (2xx), in arrival order, as parsed JSON. */
  events: Array<Record<string, any>>;
  /** Raw bodies acknowledged, one per request (what a receiver would store). */
  bodies: string[];
  requests: number;
  badSignatures: number;
  contentTypes: string[];
  /** Decides the answer to the next request; default 200. */
  answer: (request: number) => Answer;
  close(): Promise<void>;
}

export async function startReceiver(secret: string, tls?: { key: string; cert: string }): Promise<Receiver> {
  const webhook = new Webhook(secret);
  const hanging = new Set<http.ServerResponse>();
  const receiver: Receiver = {
    url: '',
    events: [],
    bodies: [],
    requests: 0,
    badSignatures: 0,
    contentTypes: [],
    answer: () => ({ status: 200 }),
    close: async () => {},
  };
  const handler = (request: http.IncomingMessage, response: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const n = receiver.requests++;
      try {
        webhook.verify(body, request.headers as Record<string, string>);
      } catch {
        receiver.badSignatures++;
        response.writeHead(401).end();
        return;
      }
      const answer = receiver.answer(n);
      if (answer === 'hang') {
        hanging.add(response);
        return;
      }
      const settle = () => {
        if (answer.status >= 200 && answer.status < 300) {
          const parsed = JSON.parse(body);
          receiver.events.push(...(Array.isArray(parsed) ? parsed : [parsed]));
          receiver.bodies.push(body);
          receiver.contentTypes.push(String(request.headers['content-type']));
        }
        response.writeHead(answer.status, answer.headers ?? {}).end();
      };
      if (answer.delayMs) setTimeout(settle, answer.delayMs);
      else settle();
    });
  };
  const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  receiver.url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}/hook`;
  receiver.close = async () => {
    for (const response of hanging) response.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return receiver;
}

/** Indexes of the acknowledged events of one ledger, in arrival order. */
export function receivedIndexes(receiver: Receiver, ledger: string): number[] {
  return receiver.events.filter((e) => e.sealtrailledger === ledger).map((e) => Number(e.sealtrailindex));
}

/** Polls until the condition holds; fails naming what was awaited. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
