/**
 * The gateway's contracts: deployments (a model on a provider), upstream failures, the one retry
 * loop, the cache and routing. Agents reach all of this through `caps.llm`; the proxy through the
 * same router, cache and usage ledger.
 * @module
 */

/** How a provider speaks: Anthropic Messages, OpenAI (chat + responses), or the bundled demo transcripts. */
export type ProviderKind = 'anthropic' | 'openai' | 'demo';

/** The wire protocols the proxy serves and the cache keys by. 'agent' is an agent's own call. */
export type Protocol = 'anthropic' | 'openai-chat' | 'openai-responses' | 'agent';

/**
 * A configured upstream. Built-ins: anthropic, openai, deepseek (OpenAI-compatible); any further
 * name is an OpenAI-compatible local server (Ollama, llama.cpp, vLLM, LM Studio) by base URL.
 * `apiKey` is a secret: never logged, never stored, never sent anywhere but `baseUrl`.
 * @example
 * const p: ProviderSpec = { name: 'ollama', kind: 'openai', baseUrl: 'http://127.0.0.1:11434/v1', apiKey: 'ollama' };
 */
export interface ProviderSpec {
  name: string;
  kind: ProviderKind;
  baseUrl: string;
  /** Where the key came from (for `runtime config` and errors): an env var name, 'config', or 'none'. */
  keySource: string;
  apiKey?: string;
}

/** Per-call parameters a route may set. */
export interface ModelParams {
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  /**
   * The limit of each attempt on this model, end to end: from sending the request to the last byte of
   * the answer (the last SSE event of a stream). The retry loop aborts the attempt when it passes, and
   * the HTTP client's own limits follow it (see requestTimeouts in providers.ts). Overrides the policy's.
   */
  timeoutMs?: number;
}

/**
 * A model on a provider: what routes list and what retries and cooldowns address.
 * @example
 * const d: Deployment = { id: 'anthropic/claude-sonnet-4-5', provider: 'anthropic', model: 'claude-sonnet-4-5', params: { maxTokens: 8000 } };
 */
export interface Deployment {
  /** `${provider}/${model}` */
  id: string;
  provider: string;
  model: string;
  params: ModelParams;
}

/** What went wrong talking to an upstream. */
export type FailureKind = 'http' | 'timeout' | 'network' | 'truncated' | 'malformed' | 'aborted';

/**
 * One failed attempt at an upstream. `body` is the upstream's error body (already free of our secrets,
 * at most 4 KB) so the proxy can relay it; `headers` keeps the retry headers to forward.
 * @example
 * throw new UpstreamError('http', 'anthropic/claude-sonnet-4-5: 429 rate_limit_error', { status: 429, retryAfterMs: 1000 });
 */
export class UpstreamError extends Error {
  readonly kind: FailureKind;
  readonly status: number | undefined;
  /** From retry-after-ms, else retry-after (seconds or an HTTP date). */
  readonly retryAfterMs: number | undefined;
  /** From x-should-retry: true forces a retry, false forbids one, undefined lets the status decide. */
  readonly shouldRetry: boolean | undefined;
  readonly body: string | undefined;
  readonly headers: Record<string, string>;
  constructor(
    kind: FailureKind,
    message: string,
    options: { status?: number; retryAfterMs?: number; shouldRetry?: boolean; body?: string; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UpstreamError';
    this.kind = kind;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
    this.shouldRetry = options.shouldRetry;
    this.body = options.body;
    this.headers = options.headers ?? {};
  }
}

/** The knobs of the one retry loop. */
export interface RetryPolicy {
  /** Attempts per deployment before falling back to the next one (1 = no retry). */
  maxAttempts: number;
  /** Backoff: baseDelayMs * 2^(attempt-1), capped at maxDelayMs, with full jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A retry-after longer than this falls back to the next deployment instead of waiting. */
  maxRetryAfterMs: number;
  /** Per-attempt limit, end to end, streaming or not (a route's params.timeoutMs overrides it). See stageBudgetMs. */
  timeoutMs: number;
  /** Consecutive failures that open a deployment's circuit, and how long it then cools down. */
  failureThreshold: number;
  cooldownMs: number;
}

/** One attempt, for usage accounting, logs and tests ("the number of attempts asserted"). */
export interface AttemptRecord {
  deployment: string;
  /** 1-based, per deployment. */
  attempt: number;
  ok: boolean;
  status?: number;
  kind?: FailureKind;
  /** How long the loop waited before this attempt. */
  waitMs: number;
  ms: number;
  error?: string;
}

/** The health of one deployment as the circuit breaker sees it. */
export interface DeploymentHealth {
  deployment: string;
  state: 'closed' | 'open' | 'half-open';
  consecutiveFailures: number;
  cooldownUntil: number;
}

/** A cached answer: a JSON body, a complete SSE stream (raw text, replayed as is), or an agent's text. */
export interface CacheEntry {
  kind: 'json' | 'sse' | 'text';
  body: string;
  /** Status, content type, provider/model and usage of the original answer: never headers or credentials. */
  meta: Record<string, unknown>;
}

export interface CacheStats {
  hits: number;
  misses: number;
  hitRate: number;
  /** Entries in memory, and the bound. */
  size: number;
  maxSize: number;
  /** Bytes in memory, and the bound. */
  bytes: number;
  maxBytes: number;
  ttlSeconds: number;
  /** The SQLite tier. */
  persistent: { size: number; bytes: number };
}
