// The node's REST API /api/v1 (docs/http-api.md), with the admin token as a bearer token.
// One function per route the editor uses; every failure is an ApiError carrying the
// HTTP status and the admin's error code and message (which names the field).
import type {
  ClusterStats,
  LeaderInfo,
  LogTail,
  Members,
  NodeInfo,
  Plugins,
  StopAllResult,
  Summary,
  Template,
  TemplateDetail,
  Worker,
  WorkerChanges,
  WorkerStats,
} from './types';

export class ApiError extends Error {
  constructor(
    readonly status: number, // 0: the node could not be reached
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
  get conflict(): boolean {
    return this.status === 409 || this.status === 412;
  }
}

export interface Reply<T> {
  data: T;
  etag: string | null; // the record's versionstamp, without quotes
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

// "\"00000000000000070000\"" → "00000000000000070000".
export function etagToVersionstamp(etag: string | null): string | null {
  if (!etag) return null;
  const m = /^(?:W\/)?"([^"]*)"$/.exec(etag.trim());
  return m ? m[1] : etag;
}

async function errorFrom(res: Response): Promise<ApiError> {
  let code = 'http_' + res.status;
  let message = `${res.status} ${res.statusText}`.trim();
  try {
    const body = await res.json();
    if (body && typeof body === 'object' && body.error) {
      code = String(body.error.code ?? code);
      message = String(body.error.message ?? message);
    }
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(res.status, code, message);
}

export class Api {
  constructor(
    readonly token: string,
    private readonly base = '',
    private readonly fetchImpl: FetchLike = (input, init) => fetch(input, init),
  ) {}

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { Authorization: `Bearer ${this.token}`, ...extra };
  }

  async request<T>(method: string, path: string, opts: { body?: unknown; ifMatch?: string | null; signal?: AbortSignal } = {}): Promise<Reply<T>> {
    const headers: Record<string, string> = this.headers();
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    if (opts.ifMatch) headers['If-Match'] = `"${opts.ifMatch}"`;
    let res: Response;
    try {
      res = await this.fetchImpl(this.base + path, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: opts.signal,
      });
    } catch (e) {
      if (e instanceof DOMException && e.name === 'AbortError') throw e;
      throw new ApiError(0, 'network', `Cannot reach the node: ${(e as Error).message ?? e}`);
    }
    if (!res.ok) throw await errorFrom(res);
    const text = await res.text();
    const data = (text ? JSON.parse(text) : null) as T;
    return { data, etag: etagToVersionstamp(res.headers.get('ETag')) };
  }

  private async get<T>(path: string): Promise<T> {
    return (await this.request<T>('GET', path)).data;
  }

  node = () => this.get<NodeInfo>('/api/v1/node');
  nodes = () => this.get<Members>('/api/v1/nodes');
  plugins = () => this.get<Plugins>('/api/v1/plugins');
  listWorkers = () => this.get<Worker[]>('/api/v1/workers');
  getWorker = (sid: string) => this.request<Worker>('GET', `/api/v1/workers/${enc(sid)}`);
  createWorker = (args: Record<string, unknown>) => this.request<Worker>('POST', '/api/v1/workers', { body: args });
  updateWorker = (sid: string, changes: WorkerChanges, ifMatch: string | null) =>
    this.request<Worker>('PATCH', `/api/v1/workers/${enc(sid)}`, { body: changes, ifMatch });
  deleteWorker = (sid: string, ifMatch: string | null = null) =>
    this.request<{ sid: string; deleted: boolean }>('DELETE', `/api/v1/workers/${enc(sid)}`, { ifMatch });
  startWorker = (sid: string) => this.request<Worker>('POST', `/api/v1/workers/${enc(sid)}/start`);
  stopWorker = (sid: string) => this.request<Worker>('POST', `/api/v1/workers/${enc(sid)}/stop`);
  stopAll = () => this.request<StopAllResult>('POST', '/api/v1/workers/stop-all').then((r) => r.data);
  leader = (sid: string) => this.get<LeaderInfo>(`/api/v1/workers/${enc(sid)}/leader`);
  workerStats = (sid: string) => this.get<WorkerStats>(`/api/v1/workers/${enc(sid)}/stats`);
  stats = () => this.get<Summary>('/api/v1/stats');
  clusterStats = () => this.get<ClusterStats>('/api/v1/stats?cluster=true');
  templates = () => this.get<Template[]>('/api/v1/templates');
  template = (id: string) => this.get<TemplateDetail>(`/api/v1/templates/${enc(id)}`);
  createFromTemplate = (id: string, overrides: Record<string, unknown>) =>
    this.request<Worker>('POST', `/api/v1/templates/${enc(id)}/workers`, { body: overrides });
  logsTail = (sid: string, lines: number, cursor?: string) =>
    this.get<LogTail>(`/api/v1/workers/${enc(sid)}/logs?` + (cursor ? `cursor=${enc(cursor)}` : `lines=${lines}`));

  // A WebSocket session for the bearer token (POST /api/v1/session), or null when this
  // node does not offer one (404/405, or 400 from a gateway that reads any POST as a
  // WebFIX envelope): the app then polls instead.
  async openSession(): Promise<string | null> {
    try {
      const { data } = await this.request<{ session?: string }>('POST', '/api/v1/session');
      return data && typeof data.session === 'string' ? data.session : null;
    } catch (e) {
      if (e instanceof ApiError && (e.status === 400 || e.status === 404 || e.status === 405)) return null;
      throw e;
    }
  }

  // The live log stream (Server-Sent Events read through fetch, so the Authorization
  // header goes along; EventSource cannot send one). The caller reads res.body.
  async followLogs(sid: string, signal: AbortSignal): Promise<Response> {
    let res: Response;
    try {
      res = await this.fetchImpl(`${this.base}/api/v1/workers/${enc(sid)}/logs?follow=1`, {
        headers: this.headers({ Accept: 'text/event-stream' }),
        signal,
      });
    } catch (e) {
      if (e instanceof DOMException && e.name === 'AbortError') throw e;
      throw new ApiError(0, 'network', `Cannot reach the node: ${(e as Error).message ?? e}`);
    }
    if (!res.ok) throw await errorFrom(res);
    return res;
  }
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

// What the sign-in form says for a failed check of the token.
export function signInMessage(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.status === 401) return 'Wrong admin token: the node refused it. The token is in <data_dir>/admin.token on the node.';
    if (e.status === 0) return 'Cannot reach the node. Is amid running with an http: section?';
    return `The node answered ${e.status}: ${e.message}`;
  }
  return String(e);
}
