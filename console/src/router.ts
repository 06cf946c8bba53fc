/**
 * Hash routes (`#/search?q=…`): the server serves one page, and a route survives a reload, a bookmark
 * and a shared link. A route is a path of segments and its query parameters.
 */
import { useEffect, useState } from 'preact/hooks';

export interface Route {
  /** Path segments, decoded: `#/events/web/12` → ['events', 'web', '12']. */
  segments: string[];
  query: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const text = hash.replace(/^#/, '');
  const queryAt = text.indexOf('?');
  const path = queryAt < 0 ? text : text.slice(0, queryAt);
  const segments = path.split('/').filter(Boolean).map((part) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  });
  return { segments, query: new URLSearchParams(queryAt < 0 ? '' : text.slice(queryAt + 1)) };
}

/** The href of a route, for links: href('events', ledger, index) or href('search', { q }). */
export function href(...parts: Array<string | number | Record<string, string | number | undefined>>): string {
  const segments: string[] = [];
  const params = new URLSearchParams();
  for (const part of parts) {
    if (typeof part === 'object') {
      for (const [name, value] of Object.entries(part)) if (value !== undefined && value !== '') params.set(name, String(value));
    } else segments.push(encodeURIComponent(String(part)));
  }
  const search = params.toString();
  return `#/${segments.join('/')}${search ? `?${search}` : ''}`;
}

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (options.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  window.dispatchEvent(new HashChangeEvent('hashchange'));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const update = () => setRoute(parseHash(location.hash));
    window.addEventListener('hashchange', update);
    window.addEventListener('popstate', update);
    return () => {
      window.removeEventListener('hashchange', update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return route;
}
