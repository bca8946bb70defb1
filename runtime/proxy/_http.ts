// The proxy's HTTP details: provider-shaped errors, the body limit, who is calling, which
// headers cross, and the conversion between web Request/Response and the plain handler shapes.
import { ErrorCode, RuntimeError } from '../protocol/mod.ts';
import { bodyBytes, type PlainRequest, type PlainResponse } from '../adapters/mod.ts';
import type { Protocol } from '../llm/mod.ts';

/** Headers that describe one hop, or carry credentials we replace: never forwarded as they came. */
export const HOP = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-authorization', 'proxy-connection', 'accept-encoding', 'content-encoding', 'x-api-key', 'authorization', 'cookie', 'origin', 'referer']);
/** Upstream response headers a client may act on (retry hints, request ids, rate limits). */
export const PASS_BACK = /^(content-type|request-id|x-request-id|retry-after|retry-after-ms|x-should-retry|anthropic-|openai-|x-ratelimit-)/;

/** A provider-shaped error body, so each client's own error handling understands us. */
export function providerError(protocol: Protocol, status: number, message: string, headers: Record<string, string> = {}): PlainResponse {
  const type =
    status === 400 ? 'invalid_request_error' : status === 401 ? 'authentication_error' : status === 403 ? 'permission_error' : status === 404 ? 'not_found_error' : status === 413 ? 'request_too_large' : status === 429 ? 'rate_limit_error' : status === 529 ? 'overloaded_error' : 'api_error';
  const body = protocol === 'anthropic' ? { type: 'error', error: { type, message } } : { error: { message, type, param: null, code: type } };
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

/**
 * The request body as text. The adapter read it within the proxy's limit, decoding any
 * content-encoding as it streamed (runtime/adapters/_body.ts); this only re-checks the size.
 */
export function readBody(request: PlainRequest, limit: number): string {
  const bytes = request.body;
  if (bytes.byteLength > limit) throw new RuntimeError(ErrorCode.Invalid, `request body is ${bytes.byteLength} bytes, over the proxy's ${limit}-byte limit`, { details: { status: 413 } });
  return new TextDecoder().decode(bytes);
}

/** The caller's credential as sent, and the header style it came in. */
export function credentialOf(request: PlainRequest): { value: string | undefined; style: 'x-api-key' | 'bearer' } {
  const apiKey = request.headers['x-api-key'];
  if (apiKey) return { value: apiKey, style: 'x-api-key' };
  const auth = request.headers.authorization;
  const bearer = auth?.match(/^Bearer\s+(.+)$/i)?.[1];
  return { value: bearer, style: 'bearer' };
}

export function clientName(request: PlainRequest): string {
  const named = request.headers['x-orchestrator-agent'];
  if (named && /^[\w.-]{1,40}$/.test(named)) return named;
  const ua = request.headers['user-agent'] ?? '';
  if (/claude-cli|claude-code/i.test(ua)) return 'claude-code';
  if (/codex/i.test(ua)) return 'codex';
  return 'proxy';
}

export async function toPlainRequest(request: Request): Promise<PlainRequest> {
  const url = new URL(request.url);
  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => (headers[name] = value));
  return { method: request.method, url: url.pathname + url.search, headers, body: await bodyBytes(request) };
}

export function toWebResponse(response: PlainResponse): Response {
  const body = typeof response.body === 'string' || response.body instanceof Uint8Array ? response.body : streamOf(response.body);
  return new Response(body as BodyInit, { status: response.status, headers: response.headers });
}

function streamOf(chunks: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const it = chunks[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await it.next();
      if (next.done) controller.close();
      else controller.enqueue(new Uint8Array(next.value));
    },
    async cancel() {
      await it.return?.();
    },
  });
}
