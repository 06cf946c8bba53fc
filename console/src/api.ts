/**
 * The console's one way to the server: same-origin fetches carrying the session cookie, the CSRF header
 * on every request that changes state, and the server's own error body turned into an ApiError whose
 * message is shown as it is. A 401 means the session ended: every listener is told, and the shell shows
 * the sign-in form with that message.
 */

export interface SignedInKey {
  id: string;
  role: 'writer' | 'reader' | 'auditor' | 'admin';
  ledgers: string[];
  tenants: string[];
}

export interface SessionInfo {
  key: SignedInKey;
  csrf_token: string | null;
  expires_at: string | null;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

let csrfToken: string | null = null;
const sessionEndedListeners = new Set<(message: string) => void>();

export function onSessionEnded(listener: (message: string) => void): () => void {
  sessionEndedListeners.add(listener);
  return () => sessionEndedListeners.delete(listener);
}

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  body?: unknown;
  signal?: AbortSignal;
  /** A 401 is only this request's failure, not the end of a session (sign-in, the first look). */
  quiet?: boolean;
  /** Query parameters; undefined and empty values are left out. */
  query?: Record<string, string | number | boolean | undefined | null>;
}

export function apiUrl(path: string, query?: RequestOptions['query']): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== '') params.set(name, String(value));
  }
  const search = params.toString();
  return `/v1${path}${search ? `?${search}` : ''}`;
}

async function send(path: string, options: RequestOptions, accept: string): Promise<Response> {
  const method = options.method ?? 'GET';
  const headers: Record<string, string> = { accept };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  let response: Response;
  try {
    response = await fetch(apiUrl(path, options.query), {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: 'same-origin',
      signal: options.signal,
    });
  } catch (cause) {
    if (cause instanceof DOMException && cause.name === 'AbortError') throw cause;
    throw new ApiError(0, 'NETWORK', 'the server could not be reached; check that it is running and try again');
  }
  if (!response.ok) throw await errorOf(response, options.quiet === true);
  return response;
}

async function errorOf(response: Response, quiet: boolean): Promise<ApiError> {
  let body: { error?: string; message?: string } & Record<string, unknown> = {};
  try {
    body = (await response.json()) as typeof body;
  } catch {
    // Not JSON (a proxy's page, say): the status is all there is.
  }
  const error = new ApiError(response.status, body.error ?? `HTTP_${response.status}`, body.message ?? `the server answered ${response.status} ${response.statusText}`, body);
  if (response.status === 401 && !quiet) {
    for (const listener of sessionEndedListeners) listener(error.message);
  }
  return error;
}

/** A JSON request; 204 answers undefined. */
export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const response = await send(path, options, 'application/json');
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

/** A text answer (checkpoints, the verifier key, exports). */
export async function apiText(path: string, options: RequestOptions = {}): Promise<string> {
  return (await send(path, options, 'text/plain, application/json')).text();
}

/** A binary answer (evidence bundles, PDF reports) with the file name the server suggests. */
export async function apiBlob(path: string, options: RequestOptions = {}): Promise<{ blob: Blob; filename: string | undefined }> {
  const response = await send(path, options, '*/*');
  const disposition = response.headers.get('content-disposition') ?? '';
  const filename = /filename="?([^";]+)"?/.exec(disposition)?.[1];
  return { blob: await response.blob(), filename };
}

/** Hands a blob to the browser as a download. */
export function saveBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export async function signIn(apiKey: string): Promise<SessionInfo> {
  const info = await api<SessionInfo>('/session', { method: 'POST', body: { api_key: apiKey }, quiet: true });
  setCsrfToken(info.csrf_token);
  return info;
}

/** Who is signed in; undefined when no one. `first`: the page's opening look, when no session is no news. */
export async function currentSession(first = false): Promise<SessionInfo | undefined> {
  try {
    const info = await api<SessionInfo>('/session', { quiet: first });
    setCsrfToken(info.csrf_token);
    return info;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return undefined;
    throw error;
  }
}

export async function signOut(): Promise<void> {
  try {
    await api<void>('/session', { method: 'DELETE' });
  } finally {
    setCsrfToken(null);
  }
}
