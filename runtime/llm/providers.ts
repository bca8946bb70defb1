/**
 * Real providers for agent calls, through the official SDKs (SDK retries off: the gateway's retry
 * loop is the only one). Anthropic speaks Messages; OpenAI, DeepSeek and local servers (Ollama,
 * llama.cpp, vLLM, LM Studio) speak OpenAI chat completions. Every call streams, so tokens reach the
 * bus as they arrive; a stream that ends without its final event is a 'truncated' failure, never a
 * short answer passed off as complete.
 * @module
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { ErrorCode, RuntimeError, errorMessage, parse, redactText, showValue, z } from '../protocol/mod.ts';
import { runtimeName } from '../adapters/mod.ts';
import type { LlmMessage } from '../plugin/mod.ts';
import { DEFAULT_RETRY_POLICY, MAX_TIMER_MS, retryAfterFrom, shouldRetryFrom } from './retry.ts';
import { UpstreamError } from './types.ts';
import type { Deployment, ProviderKind, ProviderSpec } from './types.ts';

/** The most characters an agent's model call may stream (text, thinking and tool input together). */
export const MAX_ANSWER_CHARS = 4 * 1024 * 1024;

/**
 * The name a provider's `apiKeyEnv` may give: upper-case, ending in _API_KEY, as every provider's own
 * variable does (ANTHROPIC_API_KEY, OPENAI_API_KEY, GROQ_API_KEY, AZURE_OPENAI_API_KEY). The key in
 * that variable is sent to the provider's baseUrl, which the same file sets, so a config file (one a
 * model wrote, say) must not be able to name another secret of the machine (GITHUB_TOKEN, NPM_TOKEN,
 * AWS_SECRET_ACCESS_KEY) and have it sent to a host of its choice.
 * @example PROVIDER_KEY_VARIABLE.test('LOCAL_LLM_API_KEY') // true
 * @example PROVIDER_KEY_VARIABLE.test('GITHUB_TOKEN') // false
 */
export const PROVIDER_KEY_VARIABLE = /^[A-Z][A-Z0-9_]*_API_KEY$/;

const KEY_VARIABLE_RULE =
  'must name an environment variable ending in _API_KEY, such as OPENAI_API_KEY or LOCAL_LLM_API_KEY: the key it holds ' +
  'is sent to this provider, so other secrets (GITHUB_TOKEN, AWS_SECRET_ACCESS_KEY) cannot be named here. If your key is ' +
  'in a variable named otherwise, copy it into one that ends in _API_KEY (e.g. LOCAL_LLM_API_KEY=... in .env) and name that';

/** What the config file may say about providers (orchestrator.config.json → "providers"). */
export const ProvidersConfig = z.record(
  z.string().regex(/^[a-z][a-z0-9-]*$/, 'a provider name is lower-case letters, digits and dashes'),
  z.strictObject({
    kind: z.enum(['anthropic', 'openai']).optional(),
    baseUrl: z.url().optional(),
    /** The environment variable holding the key (never the key itself in a config file): see PROVIDER_KEY_VARIABLE. */
    apiKeyEnv: z.string().regex(PROVIDER_KEY_VARIABLE, { error: KEY_VARIABLE_RULE }).optional(),
  }),
);
export type ProvidersConfig = z.infer<typeof ProvidersConfig>;

interface BuiltIn { kind: ProviderKind; baseUrl: string; keyEnv: string; baseUrlEnv: string }

/** The providers every install knows; their base URLs follow the variables the SDKs themselves read. */
export const BUILTIN_PROVIDERS: Readonly<Record<string, BuiltIn>> = {
  anthropic: { kind: 'anthropic', baseUrl: 'https://api.anthropic.com', keyEnv: 'ANTHROPIC_API_KEY', baseUrlEnv: 'ANTHROPIC_BASE_URL' },
  openai: { kind: 'openai', baseUrl: 'https://api.openai.com/v1', keyEnv: 'OPENAI_API_KEY', baseUrlEnv: 'OPENAI_BASE_URL' },
  deepseek: { kind: 'openai', baseUrl: 'https://api.deepseek.com/v1', keyEnv: 'DEEPSEEK_API_KEY', baseUrlEnv: 'DEEPSEEK_BASE_URL' },
};

/**
 * The configured providers: built-ins (key and base URL from the environment, base URL overridable in
 * config) plus every further name in config as an OpenAI-compatible server. The environment wins over
 * the file, as everywhere in Orchestrator.
 * @example
 * resolveProviders({ ollama: { baseUrl: 'http://127.0.0.1:11434/v1' } }, process.env)
 *   .map((p) => `${p.name} ${p.baseUrl} key from ${p.keySource}`);
 */
export function resolveProviders(config: ProvidersConfig, env: Record<string, string | undefined>): ProviderSpec[] {
  const specs: ProviderSpec[] = [];
  for (const [name, builtIn] of Object.entries(BUILTIN_PROVIDERS)) {
    const entry = config[name] ?? {};
    const keyEnv = entry.apiKeyEnv ?? builtIn.keyEnv;
    const apiKey = env[keyEnv]?.trim() || undefined;
    specs.push({
      name,
      kind: entry.kind ?? builtIn.kind,
      baseUrl: checkUrl(env[builtIn.baseUrlEnv]?.trim() || entry.baseUrl || builtIn.baseUrl, env[builtIn.baseUrlEnv] ? builtIn.baseUrlEnv : `providers.${name}.baseUrl`),
      keySource: apiKey ? keyEnv : 'none',
      apiKey,
    });
  }
  for (const [name, entry] of Object.entries(config)) {
    if (BUILTIN_PROVIDERS[name]) continue;
    if (!entry.baseUrl) {
      throw new RuntimeError(ErrorCode.Invalid, `providers.${name}.baseUrl is missing: a local provider needs its server's URL, e.g. "http://127.0.0.1:11434/v1" for Ollama`);
    }
    const apiKey = entry.apiKeyEnv ? env[entry.apiKeyEnv]?.trim() || undefined : undefined;
    specs.push({ name, kind: entry.kind ?? 'openai', baseUrl: checkUrl(entry.baseUrl, `providers.${name}.baseUrl`), keySource: apiKey ? entry.apiKeyEnv! : 'none', apiKey });
  }
  return specs;
}

/** Parses the "providers" section of a config file; errors name the file and the field. */
export function parseProvidersConfig(value: unknown, where: string): ProvidersConfig {
  return parse(ProvidersConfig, value ?? {}, where);
}

function checkUrl(url: string, where: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RuntimeError(ErrorCode.Invalid, `${where} is ${showValue(url)}: use an http(s) URL such as https://api.anthropic.com`);
  }
  if (parsed.username || parsed.password) {
    throw new RuntimeError(ErrorCode.Invalid, `${where} carries credentials in the URL: put the key in the provider's API key variable instead`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new RuntimeError(ErrorCode.Invalid, `${where} is ${showValue(url)}: only http and https URLs are supported`);
  }
  // A query string would carry a key in every log of the URL, and the API paths are appended after it.
  if (parsed.search || parsed.hash) {
    throw new RuntimeError(ErrorCode.Invalid, `${where} has a query string or fragment: a base URL is scheme, host, port and path (e.g. http://127.0.0.1:11434/v1); put a key in the provider's API key variable (apiKeyEnv) instead`);
  }
  return url.replace(/\/+$/, '');
}

/** Where Node's fetch (undici) keeps the dispatcher all fetches go through; undici's setGlobalDispatcher writes it. */
const GLOBAL_DISPATCHER = Symbol.for('undici.globalDispatcher.1');

/** The fetch options the SDKs take per request (`fetchOptions`). */
type FetchOptions = NonNullable<NonNullable<ConstructorParameters<typeof Anthropic>[0]>['fetchOptions']>;

/** The one method of an undici Dispatcher that fetch calls. */
interface Dispatcher {
  dispatch(options: Record<string, unknown>, handler: unknown): boolean;
}

/**
 * What an SDK request needs so that one attempt is cut by the route's `timeoutMs`, and by nothing
 * earlier: the SDK's own `timeout` (which covers the wait for the response headers only) and the
 * HTTP client's limits. Node's fetch (undici) cuts a request after 300 s without response headers
 * (headersTimeout) or between two chunks of the body (bodyTimeout), whatever the SDK was told;
 * both are per-request dispatch options, so a dispatcher that hands each request to Node's own
 * global one (its keep-alive pools, and a proxy set by NODE_USE_ENV_PROXY or setGlobalDispatcher,
 * stay in use) with both set to `timeoutMs` removes that hidden cut without a dependency. Deno's
 * fetch has neither limit (and ignores `dispatcher`), so there only the SDK's `timeout` is set.
 * The retry loop's own timer starts first and runs end to end, so it is the one that fires.
 * @example
 * client.messages.stream(body, { signal, ...requestTimeouts(900_000) });
 * // Node: { timeout: 900000, fetchOptions: { dispatcher } }, headers and body timeouts 900000 ms
 */
export function requestTimeouts(timeoutMs: number): { timeout: number; fetchOptions: FetchOptions } {
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    const fix = 'use a positive whole number of milliseconds, e.g. 120000';
    throw new RuntimeError(ErrorCode.Invalid, `timeoutMs is ${showValue(timeoutMs)}: ${fix}`);
  }
  // The SDKs insist on an integer; a timer longer than 2^31-1 ms would fire at once.
  const ms = Math.min(Math.ceil(timeoutMs), MAX_TIMER_MS);
  if (runtimeName === 'deno') return { timeout: ms, fetchOptions: {} };
  const dispatcher: Dispatcher = {
    dispatch(options, handler) {
      // Read at each request, not once: undici installs its global dispatcher when fetch first loads.
      const global = (globalThis as Record<symbol, Dispatcher | undefined>)[GLOBAL_DISPATCHER];
      if (!global) throw new Error("Node's fetch has no global dispatcher (Symbol.for('undici.globalDispatcher.1'))");
      return global.dispatch({ ...options, headersTimeout: ms, bodyTimeout: ms }, handler);
    },
  };
  // The SDKs type `dispatcher` as undici's whole Dispatcher class, of which fetch calls only dispatch().
  return { timeout: ms, fetchOptions: { dispatcher } as FetchOptions };
}

/** A provider is usable when it has a key, or is a local server (which needs none). */
export function usable(spec: ProviderSpec): boolean {
  return Boolean(spec.apiKey) || !BUILTIN_PROVIDERS[spec.name];
}

/** Token counts of one call. */
export interface Usage { inputTokens: number; outputTokens: number; cacheReadTokens: number; cacheWriteTokens: number }

/** What an agent call sends: already routed, with the route's parameters applied. */
export interface AgentCall {
  system: string;
  messages: LlmMessage[];
  maxTokens: number;
  temperature?: number;
  topP?: number;
  /** Ask for one JSON object matching this schema (OpenAI: response_format; Anthropic: an instruction). */
  json?: { name: string; schema: Record<string, unknown> };
}

export interface AgentAnswer { text: string; usage: Usage }

type TokenSink = (text: string, kind: 'text' | 'thinking' | 'tool') => void;

/**
 * SDK clients per provider, made once and reused (each keeps its own keep-alive connection pool).
 * @example
 * const clients = createProviderClients(resolveProviders({}, process.env));
 * const answer = await clients.complete(deployment, { system: 'Be brief', messages: [{ role: 'user', content: 'hi' }], maxTokens: 100 }, signal, (t) => process.stdout.write(t));
 */
export function createProviderClients(specs: readonly ProviderSpec[]) {
  const byName = new Map(specs.map((spec) => [spec.name, spec]));
  const anthropic = new Map<string, Anthropic>();
  const openai = new Map<string, OpenAI>();

  function spec(name: string): ProviderSpec {
    const found = byName.get(name);
    if (!found) throw new RuntimeError(ErrorCode.Invalid, `provider "${name}" is not configured: use one of ${[...byName.keys()].join(', ')}, or add it under providers in orchestrator.config.json`);
    return found;
  }

  function anthropicClient(provider: ProviderSpec): Anthropic {
    let client = anthropic.get(provider.name);
    if (!client) {
      // Every request sets its own timeouts (requestTimeouts): the route's timeoutMs, not a client default.
      const options = { apiKey: provider.apiKey ?? null, authToken: null, baseURL: provider.baseUrl, maxRetries: 0 };
      client = new Anthropic(options);
      anthropic.set(provider.name, client);
    }
    return client;
  }

  function openaiClient(provider: ProviderSpec): OpenAI {
    let client = openai.get(provider.name);
    if (!client) {
      // Local servers ignore the key, but the SDK insists on one.
      const apiKey = provider.apiKey ?? 'no-key';
      client = new OpenAI({ apiKey, baseURL: provider.baseUrl, maxRetries: 0, organization: null, project: null });
      openai.set(provider.name, client);
    }
    return client;
  }

  async function complete(deployment: Deployment, call: AgentCall, signal: AbortSignal, onToken: TokenSink): Promise<AgentAnswer> {
    const provider = spec(deployment.provider);
    if (provider.kind === 'demo') throw new RuntimeError(ErrorCode.Invalid, `provider ${provider.name} is the demo provider: it cannot serve ${deployment.id}`);
    if (!usable(provider)) {
      throw new UpstreamError('http', `${deployment.id}: no API key: set ${BUILTIN_PROVIDERS[provider.name]?.keyEnv ?? 'the key variable'}`, { status: 401 });
    }
    // The retry loop hands every attempt its deployment with the timeoutMs in force (route or policy).
    const timeouts = requestTimeouts(deployment.params.timeoutMs ?? DEFAULT_RETRY_POLICY.timeoutMs);
    // A signal of this call only, aborted once it settles: the SDKs combine the caller's signal with
    // their own (AbortSignal.any), and Node keeps such a combination alive until a source aborts
    // (nodejs/node#55328) — with the retry loop's long-lived signal, about 1 KB per call, forever.
    const local = new AbortController();
    const follow = () => local.abort(signal.reason);
    if (signal.aborted) local.abort(signal.reason);
    else signal.addEventListener('abort', follow, { once: true });
    // An upstream that streams without end (a loop, a broken max_tokens) must not fill the server's
    // memory: past the cap the call fails as bad output, which is not retried.
    let streamed = 0;
    const counted: TokenSink = (text, kind) => {
      streamed += text.length;
      if (streamed > MAX_ANSWER_CHARS) {
        throw new RuntimeError(
          ErrorCode.LlmOutput,
          `${deployment.id}: the answer passed ${MAX_ANSWER_CHARS} characters (max_tokens was ${call.maxTokens}); the model is not stopping: lower maxTokens for the role in model-routing.json or pick another model`,
        );
      }
      onToken(text, kind);
    };
    const options: RequestOptions = { signal: local.signal, ...timeouts };
    try {
      return provider.kind === 'anthropic'
        ? await viaAnthropic(anthropicClient(provider), deployment, call, options, counted)
        : await viaOpenAi(openaiClient(provider), provider, deployment, call, options, counted);
    } catch (error) {
      throw toUpstreamError(error, deployment.id, [provider.apiKey]);
    } finally {
      signal.removeEventListener('abort', follow);
      local.abort();
    }
  }

  return { complete, spec, specs: () => [...byName.values()] };
}

export type ProviderClients = ReturnType<typeof createProviderClients>;

/** Per-request options of an SDK call: the abort signal and the attempt's timeouts (requestTimeouts). */
type RequestOptions = { signal: AbortSignal } & ReturnType<typeof requestTimeouts>;

async function viaAnthropic(
  client: Anthropic,
  deployment: Deployment,
  call: AgentCall,
  options: RequestOptions,
  onToken: TokenSink,
): Promise<AgentAnswer> {
  const system = call.json
    ? `${call.system}\n\nAnswer with exactly one JSON object that matches this JSON schema, and nothing else:\n${JSON.stringify(call.json.schema)}`
    : call.system;
  const stream = client.messages.stream(
    {
      model: deployment.model,
      max_tokens: call.maxTokens,
      system,
      messages: call.messages.map((m) => ({ role: m.role, content: m.content })),
      ...(call.temperature === undefined ? {} : { temperature: call.temperature }),
      ...(call.topP === undefined ? {} : { top_p: call.topP }),
    },
    options,
  );
  let sawStop = false;
  for await (const event of stream) {
    if (event.type === 'content_block_delta') {
      if (event.delta.type === 'text_delta') onToken(event.delta.text, 'text');
      else if (event.delta.type === 'thinking_delta') onToken(event.delta.thinking, 'thinking');
      else if (event.delta.type === 'input_json_delta') onToken(event.delta.partial_json, 'tool');
    } else if (event.type === 'message_stop') sawStop = true;
  }
  if (!sawStop) throw new UpstreamError('truncated', `${deployment.id}: the stream ended before message_stop`);
  const message = await stream.finalMessage();
  const text = message.content.flatMap((block) => (block.type === 'text' ? [block.text] : [])).join('');
  const usage = message.usage;
  return {
    text,
    usage: {
      inputTokens: usage.input_tokens ?? 0,
      outputTokens: usage.output_tokens ?? 0,
      cacheReadTokens: usage.cache_read_input_tokens ?? 0,
      cacheWriteTokens: usage.cache_creation_input_tokens ?? 0,
    },
  };
}

async function viaOpenAi(
  client: OpenAI,
  provider: ProviderSpec,
  deployment: Deployment,
  call: AgentCall,
  options: RequestOptions,
  onToken: TokenSink,
): Promise<AgentAnswer> {
  const stream = await client.chat.completions.create(
    {
      model: deployment.model,
      messages: [{ role: 'system', content: call.system }, ...call.messages.map((m) => ({ role: m.role, content: m.content }))],
      stream: true,
      stream_options: { include_usage: true },
      // OpenAI's newer models take max_completion_tokens; compatible servers still read max_tokens.
      ...(provider.name === 'openai' ? { max_completion_tokens: call.maxTokens } : { max_tokens: call.maxTokens }),
      ...(call.temperature === undefined ? {} : { temperature: call.temperature }),
      ...(call.topP === undefined ? {} : { top_p: call.topP }),
      ...(call.json ? { response_format: { type: 'json_schema' as const, json_schema: { name: call.json.name, schema: call.json.schema, strict: false } } } : {}),
    },
    options,
  );
  let text = '';
  let finished = false;
  const usage: Usage = { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 };
  for await (const chunk of stream) {
    for (const choice of chunk.choices ?? []) {
      const delta = choice.delta?.content;
      if (delta) {
        text += delta;
        onToken(delta, 'text');
      }
      if (choice.finish_reason) finished = true;
    }
    if (chunk.usage) {
      usage.inputTokens = chunk.usage.prompt_tokens ?? 0;
      usage.outputTokens = chunk.usage.completion_tokens ?? 0;
      usage.cacheReadTokens = chunk.usage.prompt_tokens_details?.cached_tokens ?? 0;
    }
  }
  if (!finished) throw new UpstreamError('truncated', `${deployment.id}: the stream ended without a finish_reason`);
  return { text, usage };
}

/**
 * Turns what an SDK throws into an UpstreamError the retry loop can classify, keeping the status, the
 * retry headers and (scrubbed) error body.
 */
export function toUpstreamError(error: unknown, deployment: string, secrets: ReadonlyArray<string | undefined>): UpstreamError {
  if (error instanceof UpstreamError) return error;
  if (error instanceof RuntimeError) throw error;
  const apiError = error instanceof Anthropic.APIError || error instanceof OpenAI.APIError ? error : undefined;
  const message = redactText(errorMessage(error), secrets);
  if (error instanceof Anthropic.APIUserAbortError || error instanceof OpenAI.APIUserAbortError) return new UpstreamError('aborted', `${deployment}: aborted`, { cause: error });
  if (error instanceof Anthropic.APIConnectionTimeoutError || error instanceof OpenAI.APIConnectionTimeoutError) return new UpstreamError('timeout', `${deployment}: timed out`, { cause: error });
  if (error instanceof Anthropic.APIConnectionError || error instanceof OpenAI.APIConnectionError) return new UpstreamError('network', `${deployment}: ${message}`, { cause: error });
  if (apiError) {
    const headers: Record<string, string> = {};
    (apiError.headers as Headers | undefined)?.forEach((value: string, key: string) => {
      if (/^(retry-after|retry-after-ms|x-should-retry|request-id|x-request-id)$/.test(key)) headers[key] = value;
    });
    const raw = apiError.error === undefined ? undefined : JSON.stringify(apiError.error);
    const body = raw === undefined ? undefined : redactText(raw, secrets).slice(0, 4096);
    // An `event: error` inside a stream has no HTTP status: take it from the error type.
    const type = (apiError.error as { error?: { type?: string }; type?: string } | undefined)?.error?.type ?? (apiError.error as { type?: string } | undefined)?.type;
    const status = apiError.status ?? (type === 'overloaded_error' ? 529 : type === 'rate_limit_error' ? 429 : type === 'api_error' ? 500 : undefined);
    return new UpstreamError(status === undefined ? 'malformed' : 'http', `${deployment}: ${status ?? ''} ${message}`.replace(/\s+/g, ' '), {
      status,
      retryAfterMs: retryAfterFrom(headers, Date.now()),
      shouldRetry: shouldRetryFrom(headers),
      body,
      headers,
      cause: error,
    });
  }
  if (error instanceof SyntaxError) return new UpstreamError('malformed', `${deployment}: the answer is not valid JSON: ${message}`, { cause: error });
  if (/terminated|ended|premature|incomplete|socket|ECONNRESET/i.test(message)) return new UpstreamError('truncated', `${deployment}: the answer was cut off: ${message}`, { cause: error });
  return new UpstreamError('network', `${deployment}: ${message}`, { cause: error });
}
