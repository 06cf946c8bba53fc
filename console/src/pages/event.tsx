// Placeholder until this page is built (issue 15).
import { Page } from '../ui/common.js';
import type { PageProps } from './registry.js';

export function EventPage(_props: PageProps) {
  return <Page title="Event"><p>Not built yet.</p></Page>;
}
