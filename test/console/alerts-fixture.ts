/**
 * A brute-force-then-success incident for the alerts and administration browser tests: twelve failed
 * logins of one account within three minutes, then a successful one (rules/brute_force_then_success.yml:
 * at least ten failures within ten minutes, then a success within thirty), planted through the API and
 * waited for until detection has judged the whole ledger and the alert is listed.
 */
import { appendEvents, type ServedConsole } from '../helpers/console.js';

export const BRUTE_FORCE_RULE = 'sealtrail-brute-force-then-success';
export const BRUTE_FORCE_TITLE = 'Brute force followed by a successful login';

/** Polls `check` until it answers something truthy (no fixed sleeps: each poll is a real read). */
export async function until<T>(check: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
}

export interface PlantedAlert {
  id: string;
  ledger: string;
  actor: string;
  events: Array<{ ledger: string; index: number }>;
}

/** Detection has judged every ledger up to its size. */
export async function detectionCaughtUp(server: ServedConsole): Promise<void> {
  await until(async () => {
    const detection = await server.api<{ ledgers: Array<{ ledger: string; size: number; evaluated: number }> }>('GET', '/v1/detection');
    return detection.ledgers.every((l) => l.evaluated === l.size);
  }, 'detection to judge every ledger');
}

export async function plantBruteForce(server: ServedConsole, options: { ledger?: string; actor?: string; tenant?: string } = {}): Promise<PlantedAlert> {
  const ledger = options.ledger ?? 'web';
  const actor = options.actor ?? 'mallory';
  const start = Date.now() - 15 * 60_000;
  const at = (ms: number) => new Date(start + ms).toISOString();
  const login = (ms: number, outcome: 'success' | 'failure', n: number) => ({
    id: `${actor}-login-${n}`,
    actor: { type: 'user', id: actor, email: `${actor}@example.com` },
    action: 'auth.login',
    category: 'auth',
    outcome,
    ...(outcome === 'failure' ? { outcome_reason: 'invalid password' } : {}),
    occurred_at: at(ms),
    origin: { ip: '198.51.100.23', user_agent: 'python-requests/2.32' },
    tenant: options.tenant ?? 'acme',
    targets: [{ type: 'account', id: actor }],
  });
  const events = [...Array.from({ length: 12 }, (_, i) => login(i * 15_000, 'failure', i)), login(5 * 60_000, 'success', 12)];
  await appendEvents(server, ledger, events);
  await detectionCaughtUp(server);
  const alert = await until(async () => {
    const listed = await server.api<{ alerts: Array<PlantedAlert & { rule: string; actor: { id: string } | null }> }>('GET', `/v1/alerts?rule=${BRUTE_FORCE_RULE}&ledger=${ledger}`);
    return listed.alerts.find((a) => a.actor?.id === actor);
  }, 'the brute-force alert');
  return { id: alert.id, ledger, actor, events: alert.events };
}
