/**
 * The cache key of a request: a canonical form of its body, with what real clients vary per session
 * (user ids, cache_control breakpoints, billing header suffixes, today's date, cwd and home paths)
 * normalised away, hashed together with the protocol and the upstream target. Also the one-way
 * namespace of a caller credential, so the cache never holds the credential itself.
 * @module
 */
import { createHash } from 'node:crypto';
import { ErrorCode, RuntimeError } from '../protocol/mod.ts';
import type { Protocol } from './types.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const BILLING_HEADER = 'x-anthropic-billing-header:';
// Domain separation: a namespace is never equal to a plain sha256 of the credential.
const NAMESPACE_PREFIX = 'orchestrator/llm-cache/namespace/v1\u0000';
const MAX_DEPTH = 256;

/**
 * sha256 hex of the canonical JSON of `{ protocol, target, body }`, the body normalised first.
 * Object keys are sorted recursively and `undefined` is dropped, so key order never matters.
 * @example
 * const a = cacheKey('anthropic', 'anthropic/claude-sonnet-4-5', { model: 'm', messages: [], metadata: { user_id: 'u1' } });
 * const b = cacheKey('anthropic', 'anthropic/claude-sonnet-4-5', { messages: [], model: 'm', metadata: { user_id: 'u2' } });
 * a === b; // true
 */
export function cacheKey(protocol: Protocol, target: string, body: unknown): string {
  // normaliseForCache returns a key-sorted copy, and body < protocol < target, so this is canonical.
  const canonical = JSON.stringify({ body: normaliseForCache(protocol, body) ?? null, protocol, target });
  return createHash('sha256').update(canonical).digest('hex');
}

/**
 * The body as the cache sees it: a sorted deep copy with per-session noise normalised (the caller's
 * object is never mutated). Exported for tests and for `runtime inspect`.
 * @example
 * normaliseForCache('anthropic', { system: 'Today\'s date is 2026-11-02.', metadata: { user_id: 'x' }, model: 'm' });
 * // { model: 'm', system: "Today's date is <date>" }
 */
export function normaliseForCache(protocol: Protocol, body: unknown): unknown {
  const copy = toJson(body, 0);
  if (!isObject(copy)) return copy;
  switch (protocol) {
    case 'anthropic':
      return normaliseAnthropic(copy);
    case 'openai-chat':
    case 'openai-responses':
      return normaliseOpenAi(copy);
    case 'agent':
      return copy;
    default:
      throw new RuntimeError(
        ErrorCode.Invalid,
        `cache protocol ${JSON.stringify(protocol)} is unknown: use 'anthropic', 'openai-chat', 'openai-responses' or 'agent'`,
      );
  }
}

/**
 * A one-way namespace for a caller credential: the first 32 hex chars of sha256 over a fixed
 * domain-separation prefix and the credential. No credential (undefined or '') gives 'anonymous'.
 * @example
 * credentialNamespace(undefined); // 'anonymous'
 * credentialNamespace('sk-ant-...').length; // 32
 */
export function credentialNamespace(credential: string | undefined): string {
  if (credential === undefined || credential === '') return 'anonymous';
  let namespace = namespaces.get(credential);
  if (namespace === undefined) {
    namespace = createHash('sha256').update(NAMESPACE_PREFIX + credential).digest('hex').slice(0, 32);
    // A few callers send the same credential on every call: remember a bounded number of them.
    if (namespaces.size >= 256) namespaces.clear();
    namespaces.set(credential, namespace);
  }
  return namespace;
}

const namespaces = new Map<string, string>();

// ---------------------------------------------------------------------------------------------
// Canonical JSON

/** A deep, key-sorted JSON copy (undefined and functions dropped from objects, null in arrays). */
function toJson(value: unknown, depth: number): Json | undefined {
  if (depth > MAX_DEPTH) {
    throw new RuntimeError(ErrorCode.Invalid, `cache key: request body nests deeper than ${MAX_DEPTH} levels (or is circular): send a JSON body`);
  }
  if (value === null) return null;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : null;
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'bigint':
      throw new RuntimeError(ErrorCode.Invalid, `cache key: request body holds a bigint (${value}n): send numbers as JSON numbers`);
    default:
      break;
  }
  const withJson = value as { toJSON?: () => unknown };
  if (typeof withJson.toJSON === 'function') return toJson(withJson.toJSON(), depth + 1);
  if (Array.isArray(value)) return value.map((item) => toJson(item, depth + 1) ?? null);
  const out: JsonObject = {};
  for (const key of Object.keys(value as object).sort()) {
    const item = toJson((value as Record<string, unknown>)[key], depth + 1);
    if (item === undefined) continue;
    // A parsed body may carry an own "__proto__" key: keep it as data, never as a prototype.
    if (key === '__proto__') Object.defineProperty(out, key, { value: item, enumerable: true, writable: true, configurable: true });
    else out[key] = item;
  }
  return out;
}

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ---------------------------------------------------------------------------------------------
// Protocol rules (they work on the private copy, so mutating it is safe)

function normaliseAnthropic(body: JsonObject): JsonObject {
  stripCacheControl(body);
  const metadata = body.metadata;
  if (isObject(metadata)) {
    delete metadata.user_id;
    if (Object.keys(metadata).length === 0) delete body.metadata;
  }
  const texts = new TextSlots();
  if (typeof body.system === 'string') {
    texts.add(body, 'system');
  } else if (Array.isArray(body.system)) {
    for (const block of body.system) {
      if (!isObject(block) || typeof block.text !== 'string') continue;
      // The block carries the client version and a per-build hash; only its presence matters.
      if (block.text.startsWith(BILLING_HEADER)) block.text = BILLING_HEADER;
      else texts.add(block, 'text');
    }
  }
  if (Array.isArray(body.messages)) {
    for (const message of body.messages) {
      if (!isObject(message)) continue;
      // Mid-conversation system messages are client context like the system prompt; user turns are
      // only touched where the client injects its own context (Claude Code's <system-reminder>).
      const whole = message.role === 'system';
      if (typeof message.content === 'string') {
        if (whole || isInjectedContext(message.content)) texts.add(message, 'content');
      } else if (Array.isArray(message.content)) {
        for (const block of message.content) {
          if (isObject(block) && typeof block.text === 'string' && (whole || isInjectedContext(block.text))) texts.add(block, 'text');
        }
      }
    }
  }
  texts.normalise();
  return body;
}

// client_metadata: Codex's thread, turn, session and window ids, new every run.
const OPENAI_DROPPED = ['user', 'metadata', 'client_metadata', 'safety_identifier', 'prompt_cache_key', 'prompt_cache_retention', 'store'];

function normaliseOpenAi(body: JsonObject): JsonObject {
  for (const key of OPENAI_DROPPED) delete body[key];
  const streamOptions = body.stream_options;
  if (isObject(streamOptions)) {
    delete streamOptions.include_obfuscation;
    if (Object.keys(streamOptions).length === 0) delete body.stream_options;
  }
  const texts = new TextSlots();
  if (typeof body.instructions === 'string') texts.add(body, 'instructions');
  // chat: messages; responses: input (a string is the user's prompt and stays as is).
  for (const list of [body.messages, body.input]) {
    if (!Array.isArray(list)) continue;
    for (const item of list) {
      if (!isObject(item)) continue;
      // Codex names each input message with a fresh id (msg_<uuid>) every session: not content.
      if (list === body.input && typeof item.id === 'string' && item.id.startsWith('msg_')) delete item.id;
      const whole = item.role === 'system' || item.role === 'developer';
      if (typeof item.content === 'string') {
        if (whole || isInjectedContext(item.content)) texts.add(item, 'content');
      } else if (Array.isArray(item.content)) {
        for (const part of item.content) {
          if (isObject(part) && typeof part.text === 'string' && (whole || isInjectedContext(part.text))) texts.add(part, 'text');
        }
      }
    }
  }
  texts.normalise();
  return body;
}

/** Context a client writes into a user turn on its own (not the user's words). */
function isInjectedContext(text: string): boolean {
  const start = text.trimStart();
  return start.startsWith('<system-reminder>') || start.startsWith('<environment_context>');
}

function stripCacheControl(value: Json): void {
  if (Array.isArray(value)) {
    for (const item of value) stripCacheControl(item);
  } else if (isObject(value)) {
    delete value.cache_control;
    for (const key of Object.keys(value)) stripCacheControl(value[key]);
  }
}

// ---------------------------------------------------------------------------------------------
// System text

/**
 * The string fields of one request that hold client context. Normalised together: a cwd announced
 * in one block ("Working directory: /x") is replaced wherever else it appears in those fields.
 */
class TextSlots {
  private readonly slots: Array<{ owner: JsonObject; field: string }> = [];

  add(owner: JsonObject, field: string): void {
    this.slots.push({ owner, field });
  }

  normalise(): void {
    const cwds = new Set<string>();
    for (const { owner, field } of this.slots) for (const cwd of announcedCwds(owner[field] as string)) cwds.add(cwd);
    // Longest first, so /a/b is replaced before its parent /a.
    const ordered = [...cwds].sort((a, b) => b.length - a.length);
    for (const slot of this.slots) slot.owner[slot.field] = normaliseSystemText(slot.owner[slot.field] as string, ordered);
  }
}

const CWD_LINE = /^([ \t]*(?:[\w-]+[ \t]+)*?(?:working[ \t]+director(?:y|ies)|cwd)[ \t]*[:=][ \t]*)(\S.*?)[ \t]*$/gim;
const CWD_TAG = /(<cwd>)([^<\n]+)(<\/cwd>)/g;
const DATE_LINE = /^([ \t]*(?:the[ \t]+)?(?:today[’']?s[ \t]+date|current[ \t]+date)(?:[ \t]+is|[ \t]*:)[ \t]*)(\S.*?)[ \t]*$/gim;
const ISO_DATE = /\b(?:19|20)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?\b/g;
// The value ends before trailing sentence punctuation ("HOME=/home/u." keeps its period).
const HOME_VAR = /\bHOME=(?:"[^"\n]*"|'[^'\n]*'|\S*?(?=[.,;:!?)]*(?:\s|$)))/g;
const HOME_PATH = /(?:\/home\/[^/\s'"`:;,)<>]+|\/Users\/[^/\s'"`:;,)<>]+|\/root(?![\w.-])|[A-Za-z]:\\Users\\[^\\\s'"`:;,)<>]+)/g;

// Cheap pre-checks: the line patterns cost ~0.4 ms on a 100 KB prompt, a plain scan a few µs.
const MAY_NAME_CWD = /cwd|director/i;
const MAY_NAME_DATE = /date/i;

function announcedCwds(text: string): string[] {
  const found: string[] = [];
  if (MAY_NAME_CWD.test(text)) {
    for (const match of text.matchAll(CWD_LINE)) found.push(match[2]);
    for (const match of text.matchAll(CWD_TAG)) found.push(match[2].trim());
  }
  // A lone "/" would erase every slash of the prompt.
  return found.filter((cwd) => cwd.length > 1 && cwd !== '<cwd>');
}

function normaliseSystemText(text: string, cwds: readonly string[]): string {
  if (text.startsWith(BILLING_HEADER)) {
    // A string system prompt that opens with the billing header: blank that line only.
    const end = text.indexOf('\n');
    return end === -1 ? BILLING_HEADER : BILLING_HEADER + text.slice(end);
  }
  let out = MAY_NAME_DATE.test(text) ? text.replace(DATE_LINE, '$1<date>') : text;
  if (MAY_NAME_CWD.test(out)) out = out.replace(CWD_LINE, '$1<cwd>').replace(CWD_TAG, '$1<cwd>$3');
  for (const cwd of cwds) out = out.split(cwd).join('<cwd>');
  return out.replace(HOME_VAR, 'HOME=<home>').replace(HOME_PATH, '<home>').replace(ISO_DATE, '<date>');
}
