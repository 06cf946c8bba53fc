/**
 * TypeScript client for the sealtrail HTTP API. Uses the platform fetch, so it runs in Node 20+ and in
 * browsers. Receipts and proofs can be checked offline with the core (`verifyEntries`,
 * `verifyCheckpointConsistency`): the client fetches, the core verifies.
 */
import type { AuditEvent } from '../core/event.js';

export interface ReceiptBody {
  ledger: string;
  index: number;
  leaf_hash: string;
  received_at: string;
  tree_size: number;
  checkpoint: string;
  duplicate: boolean;
}

export interface LedgerBody {
  name: string;
  origin: string;
  created_at: string;
  size: number;
}

export interface EntryResponse {
  ledger: string;
  index: number;
  leaf: string;
  leaf_hash: string;
  received_at: string;
  disclosures?: Record<string, [string, unknown]>;
  event?: Record<string, unknown>;
}

export interface ApiKeyBody {
  id: string;
  role: 'writer' | 'reader' | 'auditor' | 'admin';
  ledgers: string[];
  tenants: string[];
  description: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

export interface SearchResult {
  ledger: string;
  index: number;
  received_at: string;
  leaf_hash: string;
  event: Record<string, unknown>;
  proof?: { size: number; hashes: string[] };
}

export interface SearchResponse {
  events: SearchResult[];
  next: string | null;
  checkpoint?: string | null;
}

export interface SearchParams {
  q?: string;
  limit?: number;
  cursor?: string;
  order?: 'asc' | 'desc';
  proofs?: boolean;
}

export class SealtrailApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
    this.name = 'SealtrailApiError';
  }
}

export interface ClientOptions {
  /** Base URL of the server, e.g. http://127.0.0.1:8470 */
  url: string;
  token?: string | undefined;
  fetch?: typeof fetch;
}

function queryString(params: Record<string, string | number | boolean | undefined>): string {
  const pairs = Object.entries(params).filter(([, v]) => v !== undefined && v !== '');
  return pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join('&')}`;
}

export class SealtrailClient {
  private readonly base: string;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: ClientOptions) {
    this.base = options.url.replace(/\/+$/, '');
    this.fetchImpl = options.fetch ?? globalThis.fetch;
  }

  private async request(method: string, path: string, init: { body?: unknown; headers?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { ...init.headers };
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    const response = await this.fetchImpl(`${this.base}${path}`, {
      method,
      headers,
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    });
    if (!response.ok) {
      const text = await response.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Not JSON: keep the text.
      }
      const parsed = body as { error?: string; message?: string };
      throw new SealtrailApiError(
        response.status,
        parsed.error ?? `HTTP_${response.status}`,
        parsed.message ?? `${method} ${path} answered ${response.status}`,
        body,
      );
    }
    return response;
  }

  private async json<T>(method: string, path: string, init?: { body?: unknown; headers?: Record<string, string> }): Promise<T> {
    return (await (await this.request(method, path, init)).json()) as T;
  }

  private async text(path: string): Promise<string> {
    return (await this.request('GET', path)).text();
  }

  createLedger(ledger: string): Promise<LedgerBody> {
    return this.json('PUT', `/v1/ledgers/${encodeURIComponent(ledger)}`);
  }

  listLedgers(): Promise<{ ledgers: LedgerBody[] }> {
    return this.json('GET', '/v1/ledgers');
  }

  /** Appends one event; `idempotencyKey` makes a retry return the first receipt. */
  append(ledger: string, event: AuditEvent, options?: { idempotencyKey?: string }): Promise<ReceiptBody>;
  /** Appends a batch in order; one receipt per event. */
  append(ledger: string, events: AuditEvent[], options?: { idempotencyKey?: string }): Promise<ReceiptBody[]>;
  append(ledger: string, body: AuditEvent | AuditEvent[], options: { idempotencyKey?: string } = {}): Promise<ReceiptBody | ReceiptBody[]> {
    const headers: Record<string, string> = options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {};
    return this.json('POST', `/v1/ledgers/${encodeURIComponent(ledger)}/events`, { body, headers });
  }

  checkpoint(ledger: string, size?: number): Promise<string> {
    return this.text(`/v1/ledgers/${encodeURIComponent(ledger)}/checkpoint${size === undefined ? '' : `?size=${size}`}`);
  }

  entry(ledger: string, index: number): Promise<EntryResponse> {
    return this.json('GET', `/v1/ledgers/${encodeURIComponent(ledger)}/entries/${index}`);
  }

  inclusionProof(ledger: string, index: number, size?: number): Promise<{ index: number; size: number; hashes: string[] }> {
    const query = `index=${index}${size === undefined ? '' : `&size=${size}`}`;
    return this.json('GET', `/v1/ledgers/${encodeURIComponent(ledger)}/proof/inclusion?${query}`);
  }

  consistencyProof(ledger: string, from: number, to?: number): Promise<{ from: number; to: number; hashes: string[] }> {
    const query = `from=${from}${to === undefined ? '' : `&to=${to}`}`;
    return this.json('GET', `/v1/ledgers/${encodeURIComponent(ledger)}/proof/consistency?${query}`);
  }

  /** One page of a ledger's events matching `q` (docs/SEARCH.md). */
  search(ledger: string, params: SearchParams = {}): Promise<SearchResponse> {
    return this.json('GET', `/v1/ledgers/${encodeURIComponent(ledger)}/events${queryString({ ...params, proofs: params.proofs ? '1' : undefined })}`);
  }

  /** One page across several ledgers (default: all the key may read), newest first. */
  searchLedgers(ledgers: string[] | undefined, params: Omit<SearchParams, 'order' | 'proofs'> = {}): Promise<SearchResponse> {
    return this.json('GET', `/v1/events${queryString({ ...params, ledgers: ledgers?.join(',') })}`);
  }

  /** Every match, page after page. */
  async *searchAll(ledger: string, params: Omit<SearchParams, 'cursor'> = {}): AsyncIterable<SearchResult> {
    let cursor: string | undefined;
    do {
      const page = await this.search(ledger, { ...params, ...(cursor ? { cursor } : {}) });
      yield* page.events;
      cursor = page.next ?? undefined;
    } while (cursor);
  }

  stats(ledger: string, by: string, params: { q?: string; limit?: number } = {}): Promise<{ by: string; buckets: Array<{ key: string | null; count: number }> }> {
    return this.json('GET', `/v1/ledgers/${encodeURIComponent(ledger)}/stats${queryString({ ...params, by })}`);
  }

  async verifierKey(): Promise<string> {
    return (await this.text('/v1/verifier-key')).trim();
  }

  createKey(input: {
    role: ApiKeyBody['role'];
    ledgers: string[];
    tenants?: string[];
    description?: string;
    expires_in_seconds?: number;
  }): Promise<ApiKeyBody & { token: string }> {
    return this.json('POST', '/v1/keys', { body: input });
  }

  listKeys(): Promise<{ keys: ApiKeyBody[] }> {
    return this.json('GET', '/v1/keys');
  }

  revokeKey(id: string): Promise<ApiKeyBody> {
    return this.json('DELETE', `/v1/keys/${encodeURIComponent(id)}`);
  }
}
