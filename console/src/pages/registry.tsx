/**
 * The console's pages by their first route segment. Each page is a component of its own file; the shell
 * (app.tsx) draws the navigation from `NAVIGATION` and renders the page the route names.
 */
import type { FunctionComponent } from 'preact';
import type { Route } from '../router.js';
import type { SignedInKey } from '../api.js';
import { canRead, isFullAdmin } from '../session.js';
import { SearchPage } from './search.js';
import { EventPage } from './event.js';
import { IncidentPage } from './incident.js';
import { AlertsPage } from './alerts.js';
import { AdminPage } from './admin.js';
import { TenantPage } from './tenant.js';

export interface PageProps {
  route: Route;
}

export const PAGES: Record<string, FunctionComponent<PageProps>> = {
  search: SearchPage,
  events: EventPage,
  incident: IncidentPage,
  alerts: AlertsPage,
  admin: AdminPage,
  tenant: TenantPage,
};

export interface NavigationItem {
  segment: string;
  label: string;
  visible(key: SignedInKey): boolean;
}

export const NAVIGATION: NavigationItem[] = [
  { segment: 'search', label: 'Search', visible: canRead },
  { segment: 'incident', label: 'Incident', visible: canRead },
  { segment: 'alerts', label: 'Alerts', visible: canRead },
  { segment: 'tenant', label: 'Data access', visible: canRead },
  { segment: 'admin', label: 'Administration', visible: isFullAdmin },
];
