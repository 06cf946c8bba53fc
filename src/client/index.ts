/**
 * TypeScript client for the sealtrail HTTP API. Uses the platform fetch, so it runs in Node 20+ and in
 * browsers. Receipts and proofs can be checked offline with the core (`verifyEntries`,
 * `verifyCheckpointConsistency`): the client fetches, the core verifies.
 */
import type { AuditEvent } from '../core/event.js';
// The timeline's shape is defined by its pure, browser-safe analysis; a type only, nothing is loaded.
import type { Timeline } from '../timeline/analysis.js';

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
  /** Fields removed after sealing, and why. */
  redacted?: Record<string, 'erased' | 'purged'>;
  /** Where origin.ip is, from the server's geolocation database (not sealed). */
  location?: { country?: string; region?: string; city?: string; latitude?: number; longitude?: number; reserved?: string };
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

export interface ExportParams {
  /** Query (docs/SEARCH.md); empty exports every event. */
  q?: string;
  format?: 'jsonl' | 'csv' | 'ocsf' | 'cef' | 'syslog';
  /** syslog only: the IANA private enterprise number in the SD-IDs (default: the server's). */
  enterpriseNumber?: number;
}

export interface ExportResponse {
  /** The export as it arrives; it errors (rather than ending early) if the server aborts mid-way. */
  body: ReadableStream<Uint8Array>;
  contentType: string;
  /** The file name the server suggests (Content-Disposition). */
  filename: string | undefined;
  /** How many events the export holds, when the server knows it up front (X-Sealtrail-Match-Count). */
  matchCount: number | undefined;
  /** The export covers entries below this index (X-Sealtrail-Tree-Size). */
  treeSize: number | undefined;
}

export interface BundleRequest {
  /** Query selecting the events (docs/SEARCH.md); empty selects every event. */
  q?: string;
  /** Field paths or groups whose disclosures are left out. */
  withhold?: string[];
  /** Signed checkpoints the auditor holds; the bundle proves consistency with each. */
  checkpoints?: string[];
  /** Tree size of the stored checkpoint to prove against (default: the latest). */
  size?: number;
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

  /** One actor's timeline across ledgers (docs/REPORTS.md "Actor timelines"); times are RFC 3339. */
  timeline(actor: string, params: { from?: string; to?: string; ledgers?: string[] } = {}): Promise<Timeline> {
    return this.json('GET', `/v1/actors/${encodeURIComponent(actor)}/timeline${queryString({ from: params.from, to: params.to, ledgers: params.ledgers?.join(',') })}`);
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

  /**
   * Streams every event matching `q` in an export format (docs/EXPORT.md). Resolves once the server has
   * accepted the request (errors before the first byte reject as SealtrailApiError); read `body` for the data.
   */
  async exportEvents(ledger: string, params: ExportParams = {}): Promise<ExportResponse> {
    const response = await this.request('GET', `/v1/ledgers/${encodeURIComponent(ledger)}/export${queryString({ q: params.q, format: params.format, enterprise_number: params.enterpriseNumber })}`);
    if (!response.body) throw new SealtrailApiError(response.status, 'EMPTY_RESPONSE', 'the export response has no body', null);
    const count = (name: string) => {
      const value = response.headers.get(name);
      return value !== null && /^\d+$/.test(value) ? Number(value) : undefined;
    };
    return {
      body: response.body,
      contentType: response.headers.get('content-type') ?? '',
      filename: /filename="([^"]+)"/.exec(response.headers.get('content-disposition') ?? '')?.[1],
      matchCount: count('x-sealtrail-match-count'),
      treeSize: count('x-sealtrail-tree-size'),
    };
  }

  stats(ledger: string, by: string, params: { q?: string; limit?: number } = {}): Promise<{ by: string; buckets: Array<{ key: string | null; count: number }> }> {
    return this.json('GET', `/v1/ledgers/${encodeURIComponent(ledger)}/stats${queryString({ ...params, by })}`);
  }

  /**
   * Requests an evidence bundle (docs/FORMAT.md, "Evidence bundles") and returns the zip as a stream.
   * Errors before the first byte throw SealtrailApiError; a failure later ends the stream early, so
   * verify what was received (core `verifyBundle`) before using it.
   */
  async bundle(ledger: string, request: BundleRequest = {}): Promise<ReadableStream<Uint8Array>> {
    const response = await this.request('POST', `/v1/ledgers/${encodeURIComponent(ledger)}/bundle`, { body: request });
    if (!response.body) throw new SealtrailApiError(response.status, 'EMPTY_BODY', 'the server sent no bundle', null);
    return response.body;
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
  // ---- retention, legal holds, erasure (docs/RETENTION.md) ----

  retentionPolicy(): Promise<Record<string, unknown>> {
    return this.json('GET', '/v1/retention/policy');
  }

  /** Replaces the policy; rules under 12 months are refused unless `force`. */
  setRetentionPolicy(policy: unknown, options: { force?: boolean } = {}): Promise<Record<string, unknown>> {
    return this.json('PUT', `/v1/retention/policy${options.force ? '?force=1' : ''}`, { body: policy });
  }

  runRetention(options: { dryRun?: boolean } = {}): Promise<Record<string, unknown>> {
    return this.json('POST', `/v1/retention/run${options.dryRun ? '?dry_run=1' : ''}`);
  }

  listHolds(): Promise<{ holds: Array<Record<string, unknown>> }> {
    return this.json('GET', '/v1/holds');
  }

  createHold(hold: { ledgers?: string[]; query?: string; reason: string; owner: string }): Promise<Record<string, unknown>> {
    return this.json('POST', '/v1/holds', { body: hold });
  }

  releaseHold(id: string, reason: string): Promise<Record<string, unknown>> {
    return this.json('POST', `/v1/holds/${encodeURIComponent(id)}/release`, { body: { reason } });
  }

  /** Erases a data subject's personal values everywhere (admin); the subject travels in the body, never the URL. */
  erase(subject: string, options: { reference?: string; dryRun?: boolean } = {}): Promise<Record<string, unknown>> {
    return this.json('POST', '/v1/erasures', {
      body: { subject, ...(options.reference !== undefined ? { reference: options.reference } : {}), ...(options.dryRun ? { dry_run: true } : {}) },
    });
  }

}

// The batching writer (writer.ts) and its receipt checks; the spool loads only when asked for (Node).
export { BatchingWriter, QueueFullError, WriterClosedError, type BatchingWriterOptions } from './writer.js';
export { ReceiptVerificationError } from './receipts.js';
