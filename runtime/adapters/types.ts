/** A connected WebSocket peer, the same on every runtime. */
export interface WsPeer {
  send(text: string): void;
  close(code?: number, reason?: string): void;
  /** Bytes queued and not yet sent: a slow client is dropped rather than buffered without bound. */
  readonly buffered: number;
}

export interface WsHandlers {
  open(peer: WsPeer): void;
  message(peer: WsPeer, text: string): void;
  close(peer: WsPeer): void;
}

/** A request without web objects: lower-case header names, the whole body read. */
export interface PlainRequest {
  method: string;
  /** Path and query, e.g. '/v1/messages?beta=true'. */
  url: string;
  headers: Record<string, string>;
  body: Uint8Array;
}

/** A response without web objects: a whole body, or chunks as they come (a stream). */
export interface PlainResponse {
  status: number;
  headers: Record<string, string>;
  body: string | Uint8Array | AsyncIterable<Uint8Array>;
}

export type PlainHandler = (request: PlainRequest) => Promise<PlainResponse>;

/** What a request guard sees: the same on every runtime and on the plain and web paths. */
export interface GuardInput {
  method: string;
  /** The normalised path (`_target.ts`): exactly the path the router will serve. */
  path: string;
  /** The query as sent, '' or '?…'; routes never see its `token` parameter. */
  query: string;
  /** A header by lower-case name. */
  header(name: string): string | undefined | null;
  /** A WebSocket upgrade. */
  upgrade: boolean;
}

/** A refused request: the status and a JSON error naming what was wrong and the fix. */
export interface Refusal {
  status: number;
  code: string;
  message: string;
}

/**
 * The body of a refusal: readable as our own error shape ({ error: { code, message } }), as an
 * Anthropic error ({ type: 'error', error: { type, message } }) and as an OpenAI one (error.type, code).
 * @example refusalBody({ status: 403, code: 'E_HOST', message: '…' })
 */
export function refusalBody(refusal: Refusal): string {
  const type = refusal.status === 401 ? 'authentication_error' : refusal.status === 403 ? 'permission_error'
    : refusal.status === 413 ? 'request_too_large' : refusal.status === 503 ? 'overloaded_error' : 'invalid_request_error';
  return JSON.stringify({ type: 'error', error: { type, code: refusal.code, message: refusal.message } });
}

export interface ServeOptions {
  port: number;
  host: string;
  /** Paths that accept a WebSocket upgrade. */
  wsPaths: string[];
  wsMaxPayload: number;
  fetch(request: Request): Promise<Response>;
  /**
   * Hot paths an adapter may serve without building web Request/Response objects (the LLM proxy:
   * they cost a fair part of its latency budget). Returns the handler for a method and path, or
   * undefined to use `fetch`. Adapters that cannot skip them simply ignore it.
   */
  plain?: (method: string, path: string) => PlainHandler | undefined;
  /** Runs before anything else for every request and upgrade; a refusal is answered as is. */
  guard?: (request: GuardInput) => Refusal | null;
  /**
   * The most bytes a request body to this path may have, raw and decoded (`_body.ts` enforces it
   * while reading). Default: 64 KiB.
   */
  bodyLimit?: (method: string, path: string) => number;
  /** One set of handlers for every ws path, or one per path (a path without handlers is refused). */
  ws: WsHandlers | Record<string, WsHandlers>;
}

/**
 * The handlers serving a ws path: the single set, or the path's own; undefined when none serves it.
 * @example const handlers = wsHandlersFor(options.ws, '/ws/inspect');
 */
export function wsHandlersFor(ws: ServeOptions['ws'], path: string): WsHandlers | undefined {
  if (typeof (ws as WsHandlers).open === 'function') return ws as WsHandlers;
  return Object.hasOwn(ws, path) ? (ws as Record<string, WsHandlers>)[path] : undefined;
}

export interface RunningServer {
  readonly port: number;
  readonly host: string;
  close(): Promise<void>;
}

/**
 * Bodies the adapter already read (decoded, within the path's limit: `_body.ts`), keyed by their
 * Request. Routes read them from here, never from the Request's own stream.
 */
export const bufferedBodies: WeakMap<Request, Uint8Array> = new WeakMap();

/**
 * The request body as bytes: the copy the adapter read and checked; a Request that did not come
 * through an adapter (a unit test) is read from its stream.
 * @example const bytes = await bodyBytes(request);
 */
export async function bodyBytes(request: Request): Promise<Uint8Array> {
  return bufferedBodies.get(request) ?? new Uint8Array(await request.arrayBuffer());
}

/** The API's body limit when `ServeOptions.bodyLimit` says nothing else. */
export const DEFAULT_BODY_LIMIT = 64 * 1024;
