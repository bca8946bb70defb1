import { ErrorCode, RuntimeError, SubmitRequirement, errorMessage, parse } from '../protocol/mod.ts';
import { DEFAULT_BODY_LIMIT, bodyBytes } from '../adapters/mod.ts';
import { isJsonMediaType } from './guard.ts';

/** The API's body limit (the proxy has its own, larger one). */
export const MAX_BODY_BYTES = DEFAULT_BODY_LIMIT;

const STATUS: Record<string, number> = {
  [ErrorCode.Invalid]: 400,
  [ErrorCode.Path]: 400,
  [ErrorCode.NotFound]: 404,
  [ErrorCode.Conflict]: 409,
  [ErrorCode.Stopped]: 503,
  [ErrorCode.Unavailable]: 503,
};

// A promise would serialise as {}: the type refuses one (await it first).
export function json<T>(body: T extends PromiseLike<unknown> ? never : T, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers } });
}

/** One JSON error shape everywhere: { error: { code, message, fields? } }. */
export function errorResponse(error: unknown): Response {
  if (error instanceof RuntimeError) {
    const status = (error.details?.status as number | undefined) ?? STATUS[error.code] ?? 500;
    return json({ error: { code: error.code, message: error.message, ...(error.details?.fields ? { fields: error.details.fields } : {}) } }, status);
  }
  return json({ error: { code: 'E_INTERNAL', message: errorMessage(error) } }, 500);
}

/**
 * Reads a JSON body. The adapter already read it within the path's limit (decoded, counted as it
 * arrived: runtime/adapters/_body.ts); this checks the media type and the API's limit once more for
 * Requests that did not come through an adapter. The errors say what was wrong and what to send.
 */
export async function readJson(request: Request): Promise<unknown> {
  const type = request.headers.get('content-type') ?? '';
  if (!isJsonMediaType(type)) {
    throw new RuntimeError(ErrorCode.Invalid, `content-type is ${JSON.stringify(type.slice(0, 200))}: send a JSON body with content-type: application/json`, { details: { status: 415 } });
  }
  const declared = Number(request.headers.get('content-length') ?? 0);
  if (declared > MAX_BODY_BYTES) tooLarge(declared);
  const bytes = await bodyBytes(request);
  if (bytes.byteLength > MAX_BODY_BYTES) tooLarge(bytes.byteLength);
  const text = new TextDecoder().decode(bytes);
  if (!text.trim()) throw new RuntimeError(ErrorCode.Invalid, 'request body is empty: send JSON such as {"requirement": "a fizzbuzz module with tests", "priority": 5}');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new RuntimeError(ErrorCode.Invalid, `request body is not valid JSON (${errorMessage(error)}): send JSON such as {"requirement": "…", "priority": 5}`);
  }
}

function tooLarge(size: number): never {
  throw new RuntimeError(ErrorCode.Invalid, `request body is ${size} bytes, over the ${MAX_BODY_BYTES}-byte limit: shorten the requirement`, { details: { status: 413 } });
}

export async function readSubmission(request: Request): Promise<SubmitRequirement> {
  return parse(SubmitRequirement, await readJson(request), 'request body');
}


/** A tiny router: first match wins; a known path with another method gets 405 naming the allowed ones. */
export function router(routes: Array<{ method: string; path: RegExp; handle: (request: Request, match: RegExpMatchArray) => Response | Promise<Response> }>) {
  return async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const allowed: string[] = [];
    for (const route of routes) {
      const match = url.pathname.match(route.path);
      if (!match) continue;
      if (route.method !== request.method && !(route.method === 'GET' && request.method === 'HEAD')) {
        allowed.push(route.method);
        continue;
      }
      try {
        return await route.handle(request, match);
      } catch (error) {
        return errorResponse(error);
      }
    }
    if (allowed.length) {
      return json({ error: { code: 'E_METHOD', message: `${request.method} ${url.pathname} is not allowed: use ${allowed.join(' or ')}` } }, 405, { allow: allowed.join(', ') });
    }
    return json({ error: { code: ErrorCode.NotFound, message: `no route for ${request.method} ${url.pathname}: see README.md for the API` } }, 404);
  };
}

/**
 * CORS for pages on other origins that embed the component library (docs/ui.md): only the listed
 * origins (exact) may call /api/*; with none listed, nothing changes.
 * @example const withCors = corsFor(['http://localhost:5173']); await withCors(request, () => routes(request));
 */
export function corsFor(origins: readonly string[]) {
  const allowed = new Set(origins);
  return async (request: Request, respond: () => Promise<Response>): Promise<Response> => {
    const origin = request.headers.get('origin');
    if (!origin || !allowed.has(origin) || !new URL(request.url).pathname.startsWith('/api/')) return respond();
    const cors = { 'access-control-allow-origin': origin, vary: 'origin', 'access-control-allow-methods': 'GET, POST', 'access-control-allow-headers': 'content-type, x-orchestrator-token', 'access-control-max-age': '600' };
    if (request.method === 'OPTIONS') return new Response(null, { status: 204, headers: cors });
    const response = await respond();
    const headers = new Headers(response.headers);
    for (const [name, value] of Object.entries(cors)) headers.set(name, value);
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  };
}
