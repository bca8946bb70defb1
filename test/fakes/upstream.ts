/**
 * A fake LLM provider that speaks the real wire protocols — Anthropic Messages (JSON + SSE),
 * OpenAI chat completions and the OpenAI Responses API — so the official SDKs, Claude Code and
 * Codex accept it. Tests script it with rules (errors, delays, hangs, truncated or malformed
 * streams, tool calls, thinking, compressed bodies); unscripted requests get a default answer that
 * differs on every call, so a test can tell a gateway cache hit (identical body) from a fresh call.
 * It doubles as the benchmark upstream: the unscripted hot path is one JSON.parse and one write.
 *
 * CLI: `node test/fakes/upstream.ts [--port N] [--host H] [--no-record]` prints
 * `{"url":…,"port":…}` and serves until SIGTERM; script it over HTTP at `/__fake/script`, hold and release
 * generation requests at `/__fake/hold` (`{"on": true|false}`).
 * @module
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { parseArgs } from 'node:util';
import * as zlib from 'node:zlib';

/** The wire protocol a request spoke, judged by its path. */
export type FakeProtocol = 'anthropic' | 'openai-chat' | 'openai-responses' | 'other';

/** One request the fake received (control requests under `/__fake/` are not recorded). */
export interface RecordedRequest {
  method: string;
  /** Path with query string, e.g. `/v1/messages?beta=true`. */
  path: string;
  /** Lower-case keys. */
  headers: Record<string, string>;
  /** Parsed JSON after decoding content-encoding; the raw string if not JSON ('' when empty). */
  body: unknown;
  protocol: FakeProtocol;
  /** Epoch milliseconds. */
  at: number;
  /** When the connection's exchange ended (answered, or closed by the client); unset while open. */
  closedAt?: number;
  /** True when the client closed the connection before the answer was complete. */
  aborted?: boolean;
}

/** How to answer. JSON-expressible so the CLI mode can take it over HTTP; fields combine where sensible. */
export interface Behaviour {
  /** >= 400: an error in the provider's own error body shape; < 400: the status of a normal answer. */
  status?: number;
  /** Extra response headers (retry-after, retry-after-ms, x-should-retry, …). */
  headers?: Record<string, string>;
  /** Overrides of the error body's type / message / code (OpenAI only for code). */
  error?: { type?: string; message?: string; code?: string };
  /** Wait before answering (before the first byte of a stream). */
  delayMs?: number;
  /** Wait between SSE events, to observe a gateway passing a stream through as it comes. */
  eventDelayMs?: number;
  /** JSON: send the status and headers at once and the body this much later (a slow body, not slow headers). */
  bodyDelayMs?: number;
  /** Never answer; the connection stays open until the client aborts or the fake closes. */
  hang?: boolean;
  /** Stream: some events, then half an event and the socket destroyed. JSON: half the body, then destroyed. */
  truncate?: boolean;
  /** 200 with a body that is not JSON (stream: an SSE data line that is not JSON). */
  malformed?: boolean;
  /** The answer text (default: `fake answer #<n> to: <last user text>`). */
  text?: string;
  /** A tool call; without `text` the answer is only the call. */
  toolUse?: { name: string; input: Record<string, unknown> };
  /** A thinking block before the answer (Anthropic; chat: reasoning_content; responses: a reasoning item). */
  thinking?: string;
  /** Stream: some deltas, then an error event (Anthropic overloaded_error) and the end of the stream. */
  errorEvent?: boolean;
  /** Compress the response body. */
  encoding?: 'gzip' | 'br' | 'zstd' | 'deflate';
}

/** Which requests a rule answers. Without `path` a rule only answers generation requests (messages, chat, responses). */
export interface RuleMatch {
  protocol?: FakeProtocol;
  /** Equal to the request body's `model`. */
  model?: string;
  /** Substring of the path (with query). */
  path?: string;
  /** Whether the conversation carries a tool result (tool_result block, role tool, function_call_output). */
  hasToolResult?: boolean;
  stream?: boolean;
}

/** A scripted answer: the first rule that matches and has `times` left wins. */
export interface Rule {
  match?: RuleMatch;
  /** Default 1; Infinity (or null over HTTP) for every matching request. */
  times?: number | null;
  respond: Behaviour;
}

/** A running fake upstream. */
export interface FakeUpstream {
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** Appends rules. */
  script(...rules: Rule[]): void;
  /** Clears rules and recorded requests (the answer counter keeps counting). */
  reset(): void;
  /**
   * While held, every generation request waits (before its rule is picked) until the hold is released:
   * a test can fill a queue behind calls that are in flight for as long as it needs, not for a guessed delay.
   */
  hold(on: boolean): void;
  /** Generation requests waiting on the hold right now. */
  readonly held: number;
  close(): Promise<void>;
}

/** Options of {@link startFakeUpstream}. */
export interface FakeUpstreamOptions {
  /** Default 0 (an ephemeral port). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Record requests (default true); a long benchmark may turn it off to keep memory flat. */
  record?: boolean;
}

type Json = Record<string, any>;
type Route = 'messages' | 'count_tokens' | 'chat' | 'responses' | 'models' | 'root' | 'unknown';
type Dialect = 'anthropic' | 'openai';

/** What the model "says": resolved from a behaviour and the request. */
interface Answer {
  thinking?: string;
  text?: string;
  toolUse?: { name: string; input: Record<string, unknown> };
}

/** Per-request facts the renderers need. */
interface Ctx {
  n: number;
  model: string;
  inputTokens: number;
  outputTokens: number;
  created: number;
  includeUsage: boolean;
  instructions: unknown;
}

const ROUTE_RE = /\/v1\/(messages\/count_tokens|messages|chat\/completions|responses|models)\/?$/;
const ROUTE_OF: Record<string, Route> = {
  'messages/count_tokens': 'count_tokens',
  messages: 'messages',
  'chat/completions': 'chat',
  responses: 'responses',
  models: 'models',
};
const PROTOCOL_OF: Record<Route, FakeProtocol> = {
  messages: 'anthropic',
  count_tokens: 'anthropic',
  chat: 'openai-chat',
  responses: 'openai-responses',
  models: 'other',
  root: 'other',
  unknown: 'other',
};

const ANTHROPIC_ERROR_TYPE: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  408: 'timeout_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};
const OPENAI_ERROR: Record<number, [type: string, code: string]> = {
  400: ['invalid_request_error', 'invalid_request'],
  401: ['invalid_request_error', 'invalid_api_key'],
  403: ['permission_error', 'unsupported_country_region_territory'],
  404: ['invalid_request_error', 'not_found'],
  408: ['timeout', 'timeout'],
  409: ['invalid_request_error', 'conflict'],
  413: ['invalid_request_error', 'request_too_large'],
  429: ['requests', 'rate_limit_exceeded'],
  500: ['server_error', 'server_error'],
  502: ['server_error', 'bad_gateway'],
  503: ['server_error', 'service_unavailable'],
  529: ['server_error', 'overloaded'],
};

/**
 * The Anthropic error body: `{"type":"error","error":{"type":…,"message":…},"request_id":…}`.
 * @example
 * anthropicErrorBody(429, undefined, 'req_1'); // { type: 'error', error: { type: 'rate_limit_error', … }, … }
 */
export function anthropicErrorBody(status: number, error: Behaviour['error'], requestId: string): Json {
  const type = error?.type ?? ANTHROPIC_ERROR_TYPE[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
  return { type: 'error', error: { type, message: error?.message ?? defaultMessage(status, type) }, request_id: requestId };
}

/**
 * The OpenAI error body: `{"error":{"message":…,"type":…,"param":null,"code":…}}`.
 * @example
 * openaiErrorBody(429); // { error: { message: …, type: 'requests', param: null, code: 'rate_limit_exceeded' } }
 */
export function openaiErrorBody(status: number, error?: Behaviour['error']): Json {
  const [type, code] = OPENAI_ERROR[status] ?? (status >= 500 ? ['server_error', 'server_error'] : ['invalid_request_error', 'invalid_request']);
  return { error: { message: error?.message ?? defaultMessage(status, type), type: error?.type ?? type, param: null, code: error?.code ?? code } };
}

function defaultMessage(status: number, type: string): string {
  if (status === 429) return 'Rate limit exceeded (fake upstream)';
  if (status === 529) return 'Overloaded';
  return `fake upstream ${status} ${type}`;
}

const sse = (event: string, data: unknown): string => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
const sseData = (data: unknown): string => `data: ${JSON.stringify(data)}\n\n`;

/** Splits s into `parts` pieces of near-equal length (fewer when s is shorter); '' gives none. */
function split(s: string, parts: number): string[] {
  if (s === '') return [];
  const size = Math.max(1, Math.ceil(s.length / parts));
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out;
}

/** The tool input JSON in at least two parts (a JSON text is at least two characters). */
function splitJson(json: string): string[] {
  return split(json, Math.max(2, Math.min(4, Math.ceil(json.length / 16))));
}

function textOf(content: unknown, partTypes: readonly string[]): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let text = '';
  for (const part of content) {
    if (part && partTypes.includes(part.type) && typeof part.text === 'string') text += part.text;
  }
  if (text) return text;
  // a turn of only tool results: their content stands in for the user's words
  for (const part of content) {
    if (part?.type === 'tool_result') text += textOf(part.content, partTypes);
  }
  return text;
}

/** The text of the last user turn, per protocol. */
function lastUserText(route: Route, body: Json): string {
  if (route === 'responses') {
    const input = body.input;
    if (typeof input === 'string') return input;
    if (!Array.isArray(input)) return '';
    for (let i = input.length - 1; i >= 0; i--) {
      const item = input[i];
      if (item?.role === 'user') return textOf(item.content, ['input_text', 'text']);
      if (item?.type === 'function_call_output') return typeof item.output === 'string' ? item.output : JSON.stringify(item.output);
    }
    return '';
  }
  const messages = body.messages;
  if (!Array.isArray(messages)) return '';
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m?.role === 'user') return textOf(m.content, ['text']);
    if (m?.role === 'tool') return textOf(m.content, ['text']);
  }
  return '';
}

function hasToolResult(route: Route, body: Json): boolean {
  if (route === 'responses') return Array.isArray(body.input) && body.input.some((i: Json) => i?.type === 'function_call_output');
  if (!Array.isArray(body.messages)) return false;
  if (route === 'chat') return body.messages.some((m: Json) => m?.role === 'tool');
  return body.messages.some((m: Json) => Array.isArray(m?.content) && m.content.some((b: Json) => b?.type === 'tool_result'));
}

/** The real APIs reject these; a gateway that drops a required field must fail here too. */
function missingField(route: Route, body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'the body must be a JSON object';
  const b = body as Json;
  if (typeof b.model !== 'string') return 'model: Field required';
  if (route === 'messages' && typeof b.max_tokens !== 'number') return 'max_tokens: Field required';
  if ((route === 'messages' || route === 'count_tokens' || route === 'chat') && !Array.isArray(b.messages)) return 'messages: Field required';
  return undefined;
}

// ---------------------------------------------------------------- Anthropic Messages

function anthropicUsage(c: Ctx, output: number): Json {
  return { input_tokens: c.inputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: output, service_tier: 'standard' };
}

const signatureOf = (n: number): string => Buffer.from(`fake-thinking-signature-${n}`).toString('base64');

function anthropicJson(a: Answer, c: Ctx): Json {
  const content: Json[] = [];
  if (a.thinking !== undefined) content.push({ type: 'thinking', thinking: a.thinking, signature: signatureOf(c.n) });
  if (a.text !== undefined) content.push({ type: 'text', text: a.text });
  if (a.toolUse) content.push({ type: 'tool_use', id: `toolu_fake_${c.n}`, name: a.toolUse.name, input: a.toolUse.input });
  return {
    id: `msg_fake_${c.n}`,
    type: 'message',
    role: 'assistant',
    model: c.model,
    content,
    stop_reason: a.toolUse ? 'tool_use' : 'end_turn',
    stop_sequence: null,
    usage: anthropicUsage(c, c.outputTokens),
  };
}

function anthropicFrames(a: Answer, c: Ctx): string[] {
  const f: string[] = [];
  f.push(sse('message_start', { type: 'message_start', message: { ...anthropicJson({}, c), content: [], stop_reason: null, usage: anthropicUsage(c, 1) } }));
  let index = 0;
  const block = (start: Json, deltas: Json[]): void => {
    f.push(sse('content_block_start', { type: 'content_block_start', index, content_block: start }));
    if (index === 0) f.push(sse('ping', { type: 'ping' }));
    for (const delta of deltas) f.push(sse('content_block_delta', { type: 'content_block_delta', index, delta }));
    f.push(sse('content_block_stop', { type: 'content_block_stop', index }));
    index++;
  };
  if (a.thinking !== undefined) {
    const deltas = split(a.thinking, 3).map((thinking) => ({ type: 'thinking_delta', thinking }));
    block({ type: 'thinking', thinking: '', signature: '' }, [...deltas, { type: 'signature_delta', signature: signatureOf(c.n) }]);
  }
  if (a.text !== undefined) block({ type: 'text', text: '' }, split(a.text, 3).map((text) => ({ type: 'text_delta', text })));
  if (a.toolUse) {
    const parts = splitJson(JSON.stringify(a.toolUse.input));
    block(
      { type: 'tool_use', id: `toolu_fake_${c.n}`, name: a.toolUse.name, input: {} },
      parts.map((partial_json) => ({ type: 'input_json_delta', partial_json })),
    );
  }
  const { service_tier: _, ...usage } = anthropicUsage(c, c.outputTokens);
  f.push(sse('message_delta', { type: 'message_delta', delta: { stop_reason: a.toolUse ? 'tool_use' : 'end_turn', stop_sequence: null }, usage }));
  f.push(sse('message_stop', { type: 'message_stop' }));
  return f;
}

// ---------------------------------------------------------------- OpenAI chat completions

function chatUsage(c: Ctx): Json {
  return {
    prompt_tokens: c.inputTokens,
    completion_tokens: c.outputTokens,
    total_tokens: c.inputTokens + c.outputTokens,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

function chatToolCall(a: Answer, c: Ctx): Json {
  return { id: `call_fake_${c.n}`, type: 'function', function: { name: a.toolUse!.name, arguments: JSON.stringify(a.toolUse!.input) } };
}

function chatJson(a: Answer, c: Ctx): Json {
  const message: Json = { role: 'assistant', content: a.text ?? null, refusal: null, annotations: [] };
  if (a.thinking !== undefined) message.reasoning_content = a.thinking;
  if (a.toolUse) message.tool_calls = [chatToolCall(a, c)];
  return {
    id: `chatcmpl-fake${c.n}`,
    object: 'chat.completion',
    created: c.created,
    model: c.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: a.toolUse ? 'tool_calls' : 'stop' }],
    usage: chatUsage(c),
    service_tier: 'default',
    system_fingerprint: 'fp_fake',
  };
}

function chatFrames(a: Answer, c: Ctx): string[] {
  const chunk = (delta: Json, finish: string | null = null): string => {
    const data: Json = {
      id: `chatcmpl-fake${c.n}`,
      object: 'chat.completion.chunk',
      created: c.created,
      model: c.model,
      service_tier: 'default',
      system_fingerprint: 'fp_fake',
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    };
    if (c.includeUsage) data.usage = null;
    return sseData(data);
  };
  const f = [chunk({ role: 'assistant', content: '', refusal: null })];
  if (a.thinking !== undefined) for (const part of split(a.thinking, 3)) f.push(chunk({ reasoning_content: part }));
  if (a.text !== undefined) for (const part of split(a.text, 3)) f.push(chunk({ content: part }));
  if (a.toolUse) {
    const call = chatToolCall(a, c);
    f.push(chunk({ tool_calls: [{ index: 0, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } }] }));
    for (const part of splitJson(call.function.arguments)) f.push(chunk({ tool_calls: [{ index: 0, function: { arguments: part } }] }));
  }
  f.push(chunk({}, a.toolUse ? 'tool_calls' : 'stop'));
  if (c.includeUsage) {
    f.push(sseData({ id: `chatcmpl-fake${c.n}`, object: 'chat.completion.chunk', created: c.created, model: c.model, service_tier: 'default', system_fingerprint: 'fp_fake', choices: [], usage: chatUsage(c) }));
  }
  f.push('data: [DONE]\n\n');
  return f;
}

// ---------------------------------------------------------------- OpenAI Responses

function responsesItems(a: Answer, c: Ctx): Json[] {
  const items: Json[] = [];
  if (a.thinking !== undefined) items.push({ id: `rs_fake_${c.n}`, type: 'reasoning', summary: [{ type: 'summary_text', text: a.thinking }] });
  if (a.text !== undefined) {
    items.push({ id: `msg_fake_${c.n}`, type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: a.text, annotations: [], logprobs: [] }] });
  }
  if (a.toolUse) {
    items.push({ id: `fc_fake_${c.n}`, type: 'function_call', status: 'completed', arguments: JSON.stringify(a.toolUse.input), call_id: `call_fake_${c.n}`, name: a.toolUse.name });
  }
  return items;
}

function responsesJson(a: Answer, c: Ctx, done = true): Json {
  return {
    id: `resp_fake_${c.n}`,
    object: 'response',
    created_at: c.created,
    status: done ? 'completed' : 'in_progress',
    background: false,
    error: null,
    incomplete_details: null,
    instructions: c.instructions ?? null,
    max_output_tokens: null,
    model: c.model,
    output: done ? responsesItems(a, c) : [],
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    service_tier: 'default',
    store: false,
    temperature: 1,
    text: { format: { type: 'text' }, verbosity: 'medium' },
    tool_choice: 'auto',
    tools: [],
    top_p: 1,
    truncation: 'disabled',
    usage: done
      ? {
          input_tokens: c.inputTokens,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens: c.outputTokens,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: c.inputTokens + c.outputTokens,
        }
      : null,
    user: null,
    metadata: {},
  };
}

function responsesFrames(a: Answer, c: Ctx): string[] {
  let seq = 0;
  const f: string[] = [];
  const ev = (type: string, fields: Json): void => {
    f.push(sse(type, { type, sequence_number: seq++, ...fields }));
  };
  const pending = responsesJson(a, c, false);
  ev('response.created', { response: pending });
  ev('response.in_progress', { response: pending });
  responsesItems(a, c).forEach((item, output_index) => {
    const item_id = item.id;
    if (item.type === 'reasoning') {
      ev('response.output_item.added', { output_index, item: { ...item, summary: [] } });
      ev('response.output_item.done', { output_index, item });
    } else if (item.type === 'message') {
      const part = item.content[0];
      ev('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', content: [] } });
      ev('response.content_part.added', { item_id, output_index, content_index: 0, part: { ...part, text: '' } });
      for (const delta of split(part.text, 3)) ev('response.output_text.delta', { item_id, output_index, content_index: 0, delta, logprobs: [] });
      ev('response.output_text.done', { item_id, output_index, content_index: 0, text: part.text, logprobs: [] });
      ev('response.content_part.done', { item_id, output_index, content_index: 0, part });
      ev('response.output_item.done', { output_index, item });
    } else {
      ev('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', arguments: '' } });
      for (const delta of splitJson(item.arguments)) ev('response.function_call_arguments.delta', { item_id, output_index, delta });
      ev('response.function_call_arguments.done', { item_id, output_index, name: item.name, arguments: item.arguments });
      ev('response.output_item.done', { output_index, item });
    }
  });
  ev('response.completed', { response: responsesJson(a, c) });
  return f;
}

// ---------------------------------------------------------------- models

const ANTHROPIC_MODELS = [
  ['claude-opus-4-1-20250805', 'Claude Opus 4.1', '2025-08-05T00:00:00Z'],
  ['claude-sonnet-4-5-20250929', 'Claude Sonnet 4.5', '2025-09-29T00:00:00Z'],
  ['claude-haiku-4-5-20251001', 'Claude Haiku 4.5', '2025-10-01T00:00:00Z'],
] as const;
const OPENAI_MODELS = ['gpt-5', 'gpt-5-codex', 'gpt-5-mini', 'gpt-4.1'] as const;

function modelsBody(dialect: Dialect): Json {
  if (dialect === 'anthropic') {
    const data = ANTHROPIC_MODELS.map(([id, display_name, created_at]) => ({ type: 'model', id, display_name, created_at }));
    return { data, has_more: false, first_id: data[0].id, last_id: data[data.length - 1].id };
  }
  return { object: 'list', data: OPENAI_MODELS.map((id) => ({ id, object: 'model', created: 1754352000, owned_by: 'openai' })) };
}

// ---------------------------------------------------------------- transport

function decode(raw: Buffer, encoding: string | undefined): Buffer {
  if (!encoding || encoding === 'identity') return raw;
  let out = raw;
  // "gzip, br" was applied gzip first: undo in reverse order
  for (const e of encoding.split(',').map((s) => s.trim().toLowerCase()).reverse()) {
    if (e === 'gzip' || e === 'x-gzip') out = zlib.gunzipSync(out);
    else if (e === 'br') out = zlib.brotliDecompressSync(out);
    else if (e === 'zstd') out = zlib.zstdDecompressSync(out);
    else if (e === 'deflate') out = zlib.inflateSync(out);
  }
  return out;
}

function encode(body: string, encoding: Behaviour['encoding']): Buffer {
  const buf = Buffer.from(body);
  if (encoding === 'gzip') return zlib.gzipSync(buf);
  if (encoding === 'br') return zlib.brotliCompressSync(buf);
  if (encoding === 'zstd') return zlib.zstdCompressSync(buf);
  if (encoding === 'deflate') return zlib.deflateSync(buf);
  return buf;
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseBody(text: string): unknown {
  if (text === '') return '';
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function normaliseRule(rule: Rule): Rule {
  if (typeof rule !== 'object' || rule === null || typeof rule.respond !== 'object' || rule.respond === null) {
    throw new Error(`fake upstream: a rule needs a "respond" object, got ${JSON.stringify(rule)}`);
  }
  return { ...rule, times: rule.times === null ? Infinity : (rule.times ?? 1) };
}

/**
 * Starts a fake provider on 127.0.0.1 (ephemeral port by default).
 * @example
 * const fake = await startFakeUpstream();
 * fake.script({ match: { protocol: 'anthropic' }, respond: { status: 429, headers: { 'retry-after': '1' } } });
 * const client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: fake.url, maxRetries: 0 });
 * // … the first Anthropic call gets a 429, later ones the default answer
 * await fake.close();
 */
export async function startFakeUpstream(options: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
  const host = options.host ?? '127.0.0.1';
  const record = options.record ?? true;
  const rules: Rule[] = [];
  const requests: RecordedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let counter = 0;
  let holding = false;
  const waiting = new Set<() => void>();
  const released = (): Promise<void> => new Promise((resolve) => waiting.add(resolve));
  const release = (): void => {
    holding = false;
    for (const resume of waiting) resume();
    waiting.clear();
  };

  const wait = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  function pick(route: Route, path: string, protocol: FakeProtocol, body: unknown): Behaviour | undefined {
    for (const rule of rules) {
      if (!rule.times || rule.times <= 0) continue;
      const m = rule.match ?? {};
      if (m.path === undefined ? route !== 'messages' && route !== 'chat' && route !== 'responses' : !path.includes(m.path)) continue;
      if (m.protocol !== undefined && m.protocol !== protocol) continue;
      const b = (typeof body === 'object' && body !== null ? body : {}) as Json;
      if (m.model !== undefined && b.model !== m.model) continue;
      if (m.stream !== undefined && Boolean(b.stream) !== m.stream) continue;
      if (m.hasToolResult !== undefined && hasToolResult(route, b) !== m.hasToolResult) continue;
      rule.times--;
      return rule.respond;
    }
    return undefined;
  }

  function control(req: IncomingMessage, res: ServerResponse, pathname: string, raw: Buffer): void {
    const reply = (status: number, data: unknown): void => {
      const body = JSON.stringify(data);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    try {
      if (pathname === '/__fake/script' && req.method === 'POST') {
        const parsed = JSON.parse(raw.toString() || '[]');
        const list = (Array.isArray(parsed) ? parsed : [parsed]) as Rule[];
        api.script(...list);
        return reply(200, { ok: true, rules: rules.length });
      }
      if (pathname === '/__fake/requests' && req.method === 'GET') return reply(200, requests);
      if (pathname === '/__fake/hold' && req.method === 'POST') {
        const on = (JSON.parse(raw.toString() || '{}') as { on?: unknown }).on;
        if (typeof on !== 'boolean') throw new Error(`POST /__fake/hold takes {"on": true|false}, got ${raw.toString() || 'an empty body'}`);
        api.hold(on);
        return reply(200, { ok: true, held: api.held });
      }
      if (pathname === '/__fake/reset' && req.method === 'POST') {
        api.reset();
        return reply(200, { ok: true });
      }
      reply(404, { ok: false, message: `no control endpoint ${req.method} ${pathname}; try POST /__fake/script, GET /__fake/requests, POST /__fake/reset, POST /__fake/hold` });
    } catch (error) {
      reply(400, { ok: false, message: String(error) });
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = req.url ?? '/';
    const q = path.indexOf('?');
    const pathname = q < 0 ? path : path.slice(0, q);
    const raw = await readBody(req);
    if (pathname.startsWith('/__fake/')) return control(req, res, pathname, raw);

    const method = req.method ?? 'GET';
    const found = ROUTE_RE.exec(pathname);
    let route: Route = found ? ROUTE_OF[found[1]] : 'unknown';
    if (route === 'models' ? method !== 'GET' : route !== 'unknown' && method !== 'POST') route = 'unknown';
    if ((method === 'HEAD' || method === 'GET') && (pathname === '/' || pathname.endsWith('/api/hello'))) route = 'root';
    const protocol = PROTOCOL_OF[route];
    const headers = flatHeaders(req);
    let body: unknown = '';
    try {
      body = parseBody(decode(raw, headers['content-encoding']).toString());
    } catch {
      body = raw.toString('latin1');
    }
    if (record) {
      const entry: RecordedRequest = { method, path, headers, body, protocol, at: Date.now() };
      requests.push(entry);
      // When the exchange ended, and whether the client hung up first (a cancelled call closes it).
      res.once('close', () => {
        entry.closedAt = Date.now();
        entry.aborted = !res.writableFinished;
      });
    }

    const dialect: Dialect = route === 'messages' || route === 'count_tokens' || headers['anthropic-version'] !== undefined ? 'anthropic' : 'openai';
    const generation = route === 'messages' || route === 'chat' || route === 'responses';
    const n = generation ? ++counter : counter;
    const requestId = `req_fake_${n}`;
    const idHeader = dialect === 'anthropic' ? 'request-id' : 'x-request-id';

    const sendError = (status: number, error: Behaviour['error'], extra?: Record<string, string>): void => {
      const data = dialect === 'anthropic' ? anthropicErrorBody(status, error, requestId) : openaiErrorBody(status, error);
      const text = JSON.stringify(data);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), [idHeader]: requestId, ...extra });
      res.end(text);
    };

    if (route === 'root') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
      return void res.end(method === 'HEAD' ? undefined : '{}');
    }
    if (route === 'unknown') return sendError(404, { message: `Not found: ${method} ${pathname} (fake upstream)` });
    if (!headers['x-api-key'] && !headers['authorization']) {
      return sendError(401, {
        type: dialect === 'anthropic' ? 'authentication_error' : 'invalid_request_error',
        message: dialect === 'anthropic' ? 'x-api-key header is required' : "You didn't provide an API key (fake upstream).",
        code: 'missing_api_key',
      });
    }

    while (holding && generation && !res.destroyed) await released();
    const b = pick(route, path, protocol, body) ?? {};
    if (b.delayMs) await wait(b.delayMs);
    if (b.hang || res.destroyed) return;
    if (b.status !== undefined && b.status >= 400) return sendError(b.status, b.error, b.headers);

    const stream = typeof body === 'object' && body !== null && (body as Json).stream === true && generation;
    const status = b.status ?? 200;
    const head: Record<string, string | number> = {
      'content-type': stream ? 'text/event-stream; charset=utf-8' : 'application/json',
      [idHeader]: requestId,
      ...b.headers,
    };
    if (stream) head['cache-control'] = 'no-cache';

    if (b.malformed) {
      const text = !stream
        ? '{"id": "broken", "content": [ this is not json'
        : route === 'chat'
          ? 'data: {"id": "broken", not json\n\ndata: [DONE]\n\n'
          : `event: ${route === 'messages' ? 'message_start' : 'response.created'}\ndata: {"type": not json\n\n`;
      return send(res, status, head, [text], b);
    }

    if (route === 'models') return send(res, status, head, [JSON.stringify(modelsBody(dialect))], b);
    const invalid = missingField(route, body);
    if (invalid) return sendError(400, { message: invalid });
    const json = body as Json;
    if (route === 'count_tokens') return send(res, status, head, [JSON.stringify({ input_tokens: Math.ceil(raw.length / 4) })], b);

    const text = b.text ?? (b.toolUse ? undefined : `fake answer #${n} to: ${lastUserText(route, json).slice(0, 40)}`);
    const answer: Answer = { thinking: b.thinking, text, toolUse: b.toolUse };
    const outChars = (text?.length ?? 0) + (b.thinking?.length ?? 0) + (b.toolUse ? JSON.stringify(b.toolUse.input).length : 0);
    const ctx: Ctx = {
      n,
      model: json.model,
      inputTokens: Math.max(1, Math.ceil(raw.length / 4)),
      outputTokens: Math.max(1, Math.ceil(outChars / 4)),
      created: Math.floor(Date.now() / 1000),
      includeUsage: json.stream_options?.include_usage === true,
      instructions: json.instructions,
    };
    if (!stream) {
      const data = route === 'messages' ? anthropicJson(answer, ctx) : route === 'chat' ? chatJson(answer, ctx) : responsesJson(answer, ctx);
      return send(res, status, head, [JSON.stringify(data)], b);
    }
    let frames = route === 'messages' ? anthropicFrames(answer, ctx) : route === 'chat' ? chatFrames(answer, ctx) : responsesFrames(answer, ctx);
    if (b.errorEvent) {
      frames = frames.slice(0, Math.max(3, Math.floor(frames.length / 2)));
      if (route === 'messages') frames.push(sse('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' }, request_id: requestId }));
      else if (route === 'chat') frames.push(sseData({ error: { message: 'The server had an error while processing your request.', type: 'server_error', param: null, code: 'server_error' } }));
      else frames.push(sse('error', { type: 'error', code: 'server_error', message: 'The server had an error while processing your request.', param: null, sequence_number: frames.length }));
    }
    return send(res, status, head, frames, b);
  }

  /** Writes the frames (one JSON body, or SSE events) honouring encoding, truncate and eventDelayMs. */
  async function send(res: ServerResponse, status: number, head: Record<string, string | number>, frames: string[], b: Behaviour): Promise<void> {
    if (b.encoding || (b.truncate && frames.length === 1)) {
      const payload = encode(frames.join(''), b.encoding);
      if (b.encoding) head['content-encoding'] = b.encoding;
      head['content-length'] = payload.length;
      res.writeHead(status, head);
      if (!b.truncate) return void res.end(payload);
      return cut(res, payload.subarray(0, Math.max(1, Math.floor(payload.length / 2))));
    }
    if (b.truncate) {
      const keep = Math.max(2, Math.floor(frames.length / 2));
      const next = frames[keep] ?? '';
      res.writeHead(status, head);
      return cut(res, frames.slice(0, keep).join('') + next.slice(0, Math.floor(next.length / 2)));
    }
    if (b.bodyDelayMs && frames.length === 1) {
      head['content-length'] = Buffer.byteLength(frames[0]);
      res.writeHead(status, head);
      res.flushHeaders();
      await wait(b.bodyDelayMs);
      if (!res.destroyed) res.end(frames[0]);
      return;
    }
    if (!b.eventDelayMs || frames.length === 1) {
      if (frames.length === 1) head['content-length'] = Buffer.byteLength(frames[0]);
      res.writeHead(status, head);
      return void res.end(frames.length === 1 ? frames[0] : frames.join(''));
    }
    res.writeHead(status, head);
    for (let i = 0; i < frames.length; i++) {
      if (res.destroyed) return;
      if (i > 0) await wait(b.eventDelayMs);
      res.write(frames[i]);
    }
    res.end();
  }

  /** Flushes part of a body, then kills the socket: no terminal chunk, no terminal event. */
  function cut(res: ServerResponse, part: string | Buffer): void {
    res.write(part, () => setImmediate(() => res.socket?.destroy()));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      process.stderr.write(`fake upstream: ${req.method} ${req.url} failed: ${error instanceof Error ? error.stack : error}\n`);
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify(openaiErrorBody(500, { message: `fake upstream bug: ${error}` })));
      } else res.destroy();
    });
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  // Codex's built-in provider tries a WebSocket on GET /v1/responses first; like the real API we refuse.
  server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    const path = req.url ?? '/';
    if (record) requests.push({ method: req.method ?? 'GET', path, headers: flatHeaders(req), body: '', protocol: path.includes('/responses') ? 'openai-responses' : 'other', at: Date.now() });
    const body = JSON.stringify(openaiErrorBody(426, { type: 'invalid_request_error', message: 'WebSocket upgrade is not supported (fake upstream)', code: 'upgrade_required' }));
    socket.end(`HTTP/1.1 426 Upgrade Required\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;

  const api: FakeUpstream = {
    url: `http://${urlHost}:${port}`,
    port,
    requests,
    script(...list: Rule[]): void {
      for (const rule of list) rules.push(normaliseRule(rule));
    },
    reset(): void {
      rules.length = 0;
      requests.length = 0;
    },
    hold(on: boolean): void {
      if (on) holding = true;
      else release();
    },
    get held(): number {
      return waiting.size;
    },
    close(): Promise<void> {
      release();
      for (const t of timers) clearTimeout(t);
      timers.clear();
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  return api;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' }, 'no-record': { type: 'boolean', default: false } },
  });
  const fake = await startFakeUpstream({ port: Number(values.port), host: values.host, record: !values['no-record'] });
  process.stdout.write(`${JSON.stringify({ url: fake.url, port: fake.port })}\n`);
  const stop = (): void => {
    // A connection that does not let go must not keep a stopped fake alive (and its parent's pipes open).
    setTimeout(() => process.exit(0), 2000).unref();
    void fake.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
