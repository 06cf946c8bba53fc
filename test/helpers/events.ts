/** Realistic sample events for tests. */
import type { AuditEvent } from '../../src/core/event.js';

export function sampleEvent(n = 0): AuditEvent {
  return {
    id: `evt-${n}`,
    actor: { type: 'user', id: `u-${n % 17}`, name: `User ${n % 17}`, email: `user${n % 17}@example.com`, session_id: `s-${n % 5}` },
    action: n % 3 === 0 ? 'file.download' : 'auth.login',
    category: n % 3 === 0 ? 'read' : 'auth',
    targets: [{ type: 'file', id: `f-${n}`, name: `report-${n}.pdf` }],
    occurred_at: '2026-11-26T07:00:00.123Z',
    origin: { ip: `203.0.113.${n % 250}`, user_agent: 'Mozilla/5.0 (X11; Linux x86_64)' },
    outcome: n % 7 === 0 ? 'failure' : 'success',
    ...(n % 7 === 0 ? { outcome_reason: 'invalid password' } : {}),
    tenant: `tenant-${n % 3}`,
    metadata: { request_id: `req-${n}`, bytes: n * 10, tags: ['a', 'b'] },
  };
}
