/**
 * Administration (#/admin/<section>), for admin keys on every ledger and tenant: ledgers and their
 * health, API keys, the retention policy, legal holds, erasure requests and sinks. The shell hides the
 * link from other keys; reached anyway, the page says what it needs (the server would refuse anyway).
 */
import type { FunctionComponent } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { href } from '../router.js';
import { isFullAdmin, useSession } from '../session.js';
import { Page } from '../ui/common.js';
import { ErasureSection } from './admin/erasure.js';
import { HoldsSection } from './admin/holds.js';
import { KeysSection } from './admin/keys.js';
import { LedgersSection } from './admin/ledgers.js';
import { RetentionSection } from './admin/retention.js';
import { SinksSection } from './admin/sinks.js';
import type { PageProps } from './registry.js';
import './admin/admin.css';

const SECTIONS: Array<{ id: string; label: string; Section: FunctionComponent }> = [
  { id: 'ledgers', label: 'Ledgers', Section: LedgersSection },
  { id: 'keys', label: 'Keys', Section: KeysSection },
  { id: 'retention', label: 'Retention', Section: RetentionSection },
  { id: 'holds', label: 'Legal holds', Section: HoldsSection },
  { id: 'erasure', label: 'Erasure', Section: ErasureSection },
  { id: 'sinks', label: 'Sinks', Section: SinksSection },
];

export function AdminPage({ route }: PageProps) {
  const { key } = useSession();
  const wanted = route.segments[1];
  const current = SECTIONS.find((s) => s.id === wanted) ?? SECTIONS[0]!;
  const heading = useRef<HTMLHeadingElement>(null);
  const first = useRef(true);
  // Moving between sections puts the keyboard at the new section's heading (not on the first load).
  useEffect(() => {
    if (first.current) first.current = false;
    else heading.current?.focus();
  }, [current.id]);
  if (!isFullAdmin(key)) {
    return (
      <Page title="Administration">
        <div class="notice" role="alert">
          Administration needs an admin key for every ledger and tenant. You are signed in with {key.id}, a {key.role} key
          {key.ledgers.includes('*') ? '' : ` for ledgers ${key.ledgers.join(', ')}`}
          {key.tenants.includes('*') ? '' : ` and tenants ${key.tenants.join(', ')}`}: sign in with such a key to use this page.
        </div>
      </Page>
    );
  }
  const { Section } = current;
  return (
    <Page title="Administration">
      <nav aria-label="Administration sections" class="admin-nav">
        <ul>
          {SECTIONS.map((s) => (
            <li key={s.id}>
              <a href={href('admin', s.id)} aria-current={s.id === current.id ? 'page' : undefined}>
                {s.label}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <section class="admin-section" aria-labelledby="admin-section-title">
        <h2 id="admin-section-title" tabIndex={-1} ref={heading}>
          {current.label}
        </h2>
        <Section key={current.id} />
      </section>
    </Page>
  );
}
