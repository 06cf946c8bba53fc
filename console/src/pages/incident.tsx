// Placeholder until this page is built (issue 15).
import { Page } from '../ui/common.js';
import type { PageProps } from './registry.js';

export function IncidentPage(_props: PageProps) {
  return <Page title="Incident"><p>Not built yet.</p></Page>;
}
