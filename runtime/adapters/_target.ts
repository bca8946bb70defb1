/**
 * The request target, made safe to route, once: the guard judges and the router serves the very same
 * path. Routing a path the guard never saw is how "GET /ui/../api/session" once reached the API of a
 * `--remote` server without its token: the guard let /ui/ through, the URL parser behind it resolved
 * the dot segments.
 *
 * What comes out is stable under the WHATWG URL parser (`new URL(path, base).pathname === path`), so
 * building a Request from it cannot change it again:
 * - backslashes become slashes and runs of slashes one slash (what browsers and most routers do);
 * - escapes of unreserved characters are decoded (`%7E` → `~`, `%2e` → `.`), the others are kept,
 *   upper-cased (`%2f` → `%2F`: an encoded slash stays data inside its segment);
 * - characters the URL parser would escape are escaped here already.
 * Refused (400): a target that is not a path, a malformed escape, an escape that is not UTF-8, a
 * control character (raw or escaped), and dot segments (`.`, `..`, `%2e%2e`), which no browser sends
 * (fetch resolves them first). Deno hands us targets its URL parser resolved already; Node the raw one.
 * @module
 */
import type { GuardInput, Refusal } from './types.ts';

/** A normalised request target: `path` starts with '/', `query` is '' or starts with '?'. */
export interface Target {
  path: string;
  query: string;
}

/** Longest request target accepted (Node's own header limit is 16 KiB for the whole head). */
export const MAX_TARGET_LENGTH = 8 * 1024;

const UNRESERVED = /[A-Za-z0-9\-._~]/;
// The WHATWG "path percent-encode set" besides controls and non-ASCII, which are refused or escaped.
const ESCAPED_BY_URL = new Set([' ', '"', '#', '<', '>', '?', '`', '{', '}', '^', '|']);
const HEX = /^[0-9A-Fa-f]{2}$/;

function refuse(status: number, message: string): Refusal {
  return { status, code: status === 414 ? 'E_TARGET_TOO_LONG' : 'E_TARGET', message };
}

function shown(raw: string): string {
  return JSON.stringify(raw.length > 120 ? `${raw.slice(0, 120)}…` : raw);
}

/** Escapes a code unit the way the URL parser would: each UTF-8 byte of a latin1-read character as %XX. */
function escapeChar(char: string): string {
  return `%${char.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`;
}

/** One segment, normalised; a string is the reason it is refused. */
function segment(text: string, raw: string): { value: string } | string {
  let out = '';
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    const code = char.charCodeAt(0);
    if (char === '%') {
      const hex = text.slice(i + 1, i + 3);
      if (!HEX.test(hex)) return `request path ${shown(raw)} has a malformed percent escape "${text.slice(i, i + 3)}": escape '%' itself as %25`;
      const byte = parseInt(hex, 16);
      if (byte < 0x20 || byte === 0x7f) return `request path ${shown(raw)} has an escaped control character (%${hex.toUpperCase()}): such paths name nothing here`;
      bytes.push(byte);
      const decoded = String.fromCharCode(byte);
      out += byte < 0x80 && UNRESERVED.test(decoded) ? decoded : `%${hex.toUpperCase()}`;
      i += 2;
      continue;
    }
    // Node reads the request line as latin1: a character over 0x7e is one raw byte of the target.
    if (code < 0x20 || code === 0x7f) return `request path ${shown(raw)} has a control character: percent-encode it`;
    if (code > 0xff) return `request path ${shown(raw)} has a character that is not a byte: percent-encode it as UTF-8`;
    if (code > 0x7e) {
      bytes.push(code);
      out += escapeChar(char);
      continue;
    }
    bytes.push(code);
    out += ESCAPED_BY_URL.has(char) ? escapeChar(char) : char;
  }
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(bytes));
  } catch {
    return `request path ${shown(raw)} has escapes that are not UTF-8: encode the path as UTF-8`;
  }
  return { value: out };
}

/**
 * The target as the guard and the router will both see it, or a 400/414 refusal naming what is wrong.
 * @example normalizeTarget('//api\\tasks?limit=5'); // { path: '/api/tasks', query: '?limit=5' }
 * @example normalizeTarget('/ui/%2e%2e/api/session'); // { status: 400, code: 'E_TARGET', message: '… dot segment …' }
 */
export function normalizeTarget(raw: string): Target | Refusal {
  if (raw.length > MAX_TARGET_LENGTH) return refuse(414, `request target is ${raw.length} characters, over the ${MAX_TARGET_LENGTH}-character limit`);
  if (!raw.startsWith('/') && !raw.startsWith('\\')) {
    return refuse(400, `request target ${shown(raw)} is not a path: send the path only (origin-form), e.g. "GET /api/health"`);
  }
  const mark = raw.indexOf('?');
  const rawPath = mark < 0 ? raw : raw.slice(0, mark);
  const query = mark < 0 ? '' : raw.slice(mark);
  if (rawPath.includes('#') || /[\x00-\x1f\x7f]/.test(query)) {
    return refuse(400, `request target ${shown(raw)} has a fragment or a control character: send the path and query only`);
  }
  const parts: string[] = [];
  const pieces = rawPath.replaceAll('\\', '/').split('/');
  for (let i = 1; i < pieces.length; i++) {
    const last = i === pieces.length - 1;
    if (pieces[i] === '' && !last) continue; // a run of slashes is one slash
    const checked = segment(pieces[i], raw);
    if (typeof checked === 'string') return refuse(400, checked);
    if (checked.value === '.' || checked.value === '..') {
      return refuse(400, `request path ${shown(raw)} has a dot segment ("${pieces[i]}"): send the path a browser would (it resolves "." and ".." first)`);
    }
    parts.push(checked.value);
  }
  return { path: `/${parts.join('/')}`, query };
}

/**
 * The query without `token` parameters: the launch token is read from the query of a WebSocket
 * upgrade only, and must never reach a route (the proxy forwards a query upstream).
 * @example withoutToken('?beta=true&token=abc'); // '?beta=true'
 */
export function withoutToken(query: string): string {
  if (!query.includes('token')) return query;
  const kept = query.slice(1).split('&').filter((pair) => {
    const name = pair.split('=')[0];
    let decoded: string;
    try {
      decoded = decodeURIComponent(name.replaceAll('+', ' '));
    } catch {
      decoded = name;
    }
    return decoded !== 'token';
  });
  return kept.length ? `?${kept.join('&')}` : '';
}

/** True when the value is a refusal rather than what was asked for. */
export function isRefusal<T extends object>(value: T | Refusal): value is Refusal {
  return typeof (value as Refusal).status === 'number';
}

/** A request the guard let in: its target, and the URL (path and query without `token`) routes see. */
export interface Admitted {
  target: Target;
  url: string;
}

/**
 * The first step of every request and upgrade on every adapter: normalise the target, then ask the
 * guard about that same path. The answer is the URL to route, or the refusal to send.
 * @example const admitted = admit({ method: 'GET', target: req.url, header, upgrade: false }, options.guard);
 */
export function admit(
  request: { method: string; target: string; header: GuardInput['header']; upgrade: boolean },
  guard: ((input: GuardInput) => Refusal | null) | undefined,
): Admitted | Refusal {
  const target = normalizeTarget(request.target);
  if (isRefusal(target)) return target;
  const refusal = guard?.({ method: request.method, path: target.path, query: target.query, header: request.header, upgrade: request.upgrade });
  if (refusal) return refusal;
  return { target, url: target.path + withoutToken(target.query) };
}
