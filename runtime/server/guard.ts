/**
 * The door of the local server: which requests may reach the API, the dashboard's WebSockets and the
 * LLM proxy at all. A web page in the user's browser can send requests to 127.0.0.1, so the server
 * cannot trust a request just because it arrived on loopback:
 * - DNS rebinding (a foreign name resolving to 127.0.0.1): the Host header must name this machine.
 * - Cross-site WebSocket hijacking: an upgrade needs the per-launch token, whatever its Origin.
 * - CSRF: a state-changing request from a foreign Origin needs the token, and a body must be JSON
 *   (a form or `text/plain` body is what a page can send without asking the server first).
 * - Binding another address than loopback (`--remote`): every request needs the token.
 * The token is written to `<dataDir>/token` (mode 0600) at each start; the CLI reads it there and the
 * served dashboard gets it in its page. The check is plain string work, cheap enough for the proxy.
 * @module
 */
import { timingSafeEqual } from 'node:crypto';
import type { GuardInput, Refusal } from '../adapters/mod.ts';

export type { GuardInput, Refusal };

/** The header (and query parameter `token`) carrying the launch token. */
export const TOKEN_HEADER = 'x-orchestrator-token';

export interface GuardOptions {
  /** The launch token (base64url). */
  token: string;
  /** Host names accepted besides localhost, 127.0.0.1 and ::1 (`--allow-host`). */
  allowedHosts: readonly string[];
  /** Extra origins trusted like the server's own (ORCHESTRATOR_UI_ORIGINS). */
  uiOrigins: readonly string[];
  /** Bound to a non-loopback address: every request needs the token, and any Host is accepted. */
  remote: boolean;
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** True for an address only this machine can reach. */
export function isLoopback(host: string): boolean {
  const name = host.replace(/^\[|\]$/g, '').toLowerCase();
  return name === 'localhost' || name === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/**
 * A Host header (or an origin's authority) split into its name and port, or null when it is not
 * one: a DNS name or IPv4 address, or an IPv6 address in brackets, then an optional numeric port.
 * "localhost:evil.com" and "[::1" are not hosts (400), rather than hosts whose name we guess.
 * @example parseHost('LocalHost:8100'); // { name: 'localhost', port: 8100 }
 */
export function parseHost(value: string): { name: string; port: number | undefined } | null {
  const match = /^(?:\[([0-9a-fA-F:.]{2,45})\]|([A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_.])?))(?::(\d{1,5}))?$/.exec(value.trim());
  if (!match) return null;
  const port = match[3] === undefined ? undefined : Number(match[3]);
  if (port !== undefined && port > 65535) return null;
  return { name: (match[1] ?? match[2]).toLowerCase(), port };
}

/**
 * True when a content-type header's media type is JSON: `application/json` or `application/<x>+json`,
 * parsed (type/subtype before any parameter), never searched: "text/plain; application/json" is
 * text/plain, which a page may send cross-site without asking the server first.
 * @example isJsonMediaType('application/json; charset=utf-8'); // true
 */
export function isJsonMediaType(value: string | null | undefined): boolean {
  if (!value) return false;
  const essence = value.split(';', 1)[0].trim().toLowerCase();
  return essence === 'application/json' || /^application\/[a-z0-9!#$&^_.-]+\+json$/.test(essence);
}

function sameToken(given: string, expected: Buffer): boolean {
  const bytes = Buffer.from(given);
  return bytes.length === expected.length && timingSafeEqual(bytes, expected);
}

/**
 * Builds the check every request goes through before routing. Returns null to let it in.
 * @example const guard = createGuard({ token, allowedHosts: [], uiOrigins: [], remote: false }); guard({ method: 'GET', url: '/ws', header: (n) => req.headers[n], upgrade: true });
 */
export function createGuard(options: GuardOptions): (request: GuardInput) => Refusal | null {
  const expected = Buffer.from(options.token);
  const hosts = new Set([...LOOPBACK_NAMES, ...options.allowedHosts.map((h) => h.toLowerCase())]);
  const origins = new Set(options.uiOrigins);

  function carriesToken(request: GuardInput): boolean {
    const header = request.header(TOKEN_HEADER);
    if (header && sameToken(header, expected)) return true;
    // Not from Authorization or x-api-key: those carry provider keys to the proxy, which forwards
    // a caller's key upstream; the token must never travel there. From the query only on a
    // WebSocket upgrade (a browser cannot set headers there): a token in any other URL ends up in
    // logs, histories and Referer headers, and the proxy forwards queries upstream.
    if (request.upgrade && request.query.includes('token=')) {
      const value = new URLSearchParams(request.query.slice(1)).get('token');
      if (value && sameToken(value, expected)) return true;
    }
    return false;
  }

  // An origin is trusted when it is one of the configured UI origins, or the origin of the request's
  // own Host: the page was served by this server under the name and port the browser used (a tunnel
  // may change the port; the Host check already proved the name is ours). Another local port is
  // another site: a dev server on localhost:3000 is not this dashboard.
  function trustedOrigin(origin: string, host: string | undefined | null): boolean {
    if (origins.has(origin)) return true;
    if (!host) return false;
    const lower = origin.toLowerCase();
    const authority = host.trim().toLowerCase();
    return lower === `http://${authority}` || lower === `https://${authority}`;
  }

  return (request) => {
    const host = request.header('host');
    const parsed = host ? parseHost(host) : null;
    if (host && !parsed) {
      return { status: 400, code: 'E_HOST', message: `Host ${JSON.stringify(host.slice(0, 200))} is not a host name with an optional port: send e.g. "Host: 127.0.0.1:8100"` };
    }
    if (!options.remote) {
      if (!parsed) {
        return { status: 403, code: 'E_HOST', message: 'the request has no Host header: send one naming this server, e.g. "Host: 127.0.0.1:8100"' };
      }
      if (!hosts.has(parsed.name)) {
        return {
          status: 403,
          code: 'E_HOST',
          message: `Host ${JSON.stringify(host!.slice(0, 200))} is not this server's name (a foreign name pointing at 127.0.0.1 is how DNS rebinding attacks work): open http://127.0.0.1 or http://localhost, or accept the name with --allow-host (ORCHESTRATOR_ALLOWED_HOSTS)`,
        };
      }
    }
    if (options.remote) {
      if (carriesToken(request) || isOpen(request)) return null;
      return { status: 401, code: 'E_AUTH', message: `this server listens beyond loopback (--remote), so every request needs the launch token: send it as "${TOKEN_HEADER}: <token>" (or ?token= for a WebSocket), read from <data dir>/token` };
    }
    const origin = request.header('origin');
    if (request.upgrade) {
      if (carriesToken(request)) return null;
      return {
        status: 403,
        code: 'E_AUTH',
        message: `WebSocket ${request.path} needs the launch token${origin ? ` (origin ${JSON.stringify(origin.slice(0, 200))})` : ''}: connect with ?token=<token> from <data dir>/token; the dashboard served by this server does this for you`,
      };
    }
    if (SAFE_METHODS.has(request.method)) return null;
    if (origin !== undefined && origin !== null && !trustedOrigin(origin, request.header('host')) && !carriesToken(request)) {
      return {
        status: 403,
        code: 'E_ORIGIN',
        message: `${request.method} from origin ${JSON.stringify(origin.slice(0, 200))} is refused (a page on another site may not change this server's state): use the dashboard served by this server, list the origin in ORCHESTRATOR_UI_ORIGINS, or send the launch token as "${TOKEN_HEADER}"`,
      };
    }
    const type = request.header('content-type');
    const hasBody = Number(request.header('content-length') ?? 0) > 0 || !!request.header('transfer-encoding');
    if (hasBody && !isJsonMediaType(type)) {
      return {
        status: 415,
        code: 'E_CONTENT_TYPE',
        message: `${request.method} ${request.path} has a body of content-type ${JSON.stringify((type ?? '').slice(0, 200))}: send JSON with "content-type: application/json"`,
      };
    }
    return null;
  };
}

// Open without the token even in remote mode: liveness probes, and the dashboard's static files and
// page (the page carries no token in remote mode; it asks for one, see docs/security.md).
function isOpen(request: GuardInput): boolean {
  if (request.upgrade || !SAFE_METHODS.has(request.method)) return false;
  const path = request.path;
  return path === '/api/health' || path === '/api/hello' || path === '/' || path === '/index.html' || path.startsWith('/ui/') || path === '/favicon.ico';
}
