/**
 * The proxy: Anthropic- and OpenAI-compatible endpoints in front of the gateway, so Claude Code,
 * Codex and any SDK get routing, retries, caching and usage accounting. Bodies pass through byte for
 * byte but for `model` (unknown fields and headers such as anthropic-beta reach the upstream);
 * streamed answers are piped to the client as they arrive and cached only when complete.
 * @module
 */
import { ErrorCode, RuntimeError, Topics, errorMessage, redactText } from '../protocol/mod.ts';
import type { Bus } from '../bus/mod.ts';
import type { PlainHandler, PlainRequest, PlainResponse } from '../adapters/mod.ts';
import { cacheKey, credentialNamespace, resolveAlias, retryAfterFrom, servable } from '../llm/mod.ts';
import { UpstreamError, shouldRetryFrom } from '../llm/mod.ts';
import type { CacheEntry, Deployment, LlmCache, Protocol, ProviderClients, ProviderSpec } from '../llm/mod.ts';
import type { RetryLoop, Routing, Usage, UsageLedger } from '../llm/mod.ts';
import { emptyUsage, sseReader, usageFromJson } from './_sse.ts';
import { HOP, PASS_BACK, clientName, credentialOf, providerError, readBody, toPlainRequest, toWebResponse } from './_http.ts';
export { providerError } from './_http.ts';
import { postUpstream, type UpstreamAnswer } from './_upstream.ts';

export interface ProxyDeps {
  clients: ProviderClients;
  routing: () => Routing;
  retry: RetryLoop;
  cache: LlmCache;
  usage: UsageLedger;
  bus?: Pick<Bus, 'publish'>;
  version: string;
  /** Largest request body accepted (default 32 MiB). */
  maxBodyBytes?: number;
  /** A stream that sends nothing for this long is cut (default 300 s). */
  idleTimeoutMs?: number;
  /** This server's launch token: a client may authenticate with it, but it is never a provider key, so it is never forwarded. */
  launchToken?: string;
}

interface Route { method: string; path: RegExp; handle: (request: Request) => Promise<Response> | Response }

const ENDPOINT: Record<Exclude<Protocol, 'agent'>, { kind: ProviderSpec['kind']; defaultProvider: string; upstreamPath: (spec: ProviderSpec) => string }> = {
  anthropic: { kind: 'anthropic', defaultProvider: 'anthropic', upstreamPath: () => '/v1/messages' },
  'openai-chat': { kind: 'openai', defaultProvider: 'openai', upstreamPath: () => '/chat/completions' },
  'openai-responses': { kind: 'openai', defaultProvider: 'openai', upstreamPath: () => '/responses' },
};

/**
 * The proxy's routes, for the server's router.
 * @example
 * const routes = proxyRoutes({ clients, routing: () => routing, retry, cache, usage, bus, version: '0.2.0' });
 */
export function proxyRoutes(deps: ProxyDeps) {
  const limit = deps.maxBodyBytes ?? 32 * 1024 * 1024;
  const idleMs = deps.idleTimeoutMs ?? 300_000;
  const secrets = () => deps.clients.specs().map((s) => s.apiKey);

  function deploymentsFor(protocol: Exclude<Protocol, 'agent'>, model: unknown): Deployment[] {
    if (typeof model !== 'string' || !model) {
      throw new RuntimeError(ErrorCode.Invalid, 'model is missing: name the model in the request body, e.g. "model": "claude-sonnet-4-5"', { details: { status: 400 } });
    }
    const endpoint = ENDPOINT[protocol];
    const aliased = resolveAlias(deps.routing(), model);
    if (aliased) return servable(aliased, deps.clients, `model "${model}"`, endpoint.kind);
    const slash = model.indexOf('/');
    const named = slash > 0 ? deps.clients.specs().find((s) => s.name === model.slice(0, slash)) : undefined;
    const deployment = named
      ? { id: model, provider: named.name, model: model.slice(slash + 1), params: {} }
      : { id: `${endpoint.defaultProvider}/${model}`, provider: endpoint.defaultProvider, model, params: {} };
    const spec = deps.clients.specs().find((s) => s.name === deployment.provider);
    if (!spec) throw new RuntimeError(ErrorCode.Invalid, `provider "${deployment.provider}" is not configured`, { details: { status: 400 } });
    if (spec.kind !== endpoint.kind) {
      throw new RuntimeError(ErrorCode.Invalid, `model "${model}" is served by ${spec.name}, which speaks ${spec.kind}; call its own endpoint instead`, { details: { status: 400 } });
    }
    return [deployment];
  }

  async function handle(protocol: Exclude<Protocol, 'agent'>, request: PlainRequest, pathSuffix?: string): Promise<PlainResponse> {
    const started = performance.now();
    let text: string;
    let body: Record<string, unknown>;
    try {
      text = readBody(request, limit);
      const parsed = JSON.parse(text);
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('the body is not a JSON object');
      body = parsed;
    } catch (error) {
      const status = ((error as RuntimeError).details?.status as number | undefined) ?? 400;
      return providerError(protocol, status, `request body: ${errorMessage(error)}`);
    }
    let deployments: Deployment[];
    try {
      deployments = deploymentsFor(protocol, body.model);
    } catch (error) {
      const status = ((error as RuntimeError).details?.status as number | undefined) ?? 400;
      return providerError(protocol, status, errorMessage(error));
    }
    const sent = credentialOf(request);
    const credential = deps.launchToken && sent.value === deps.launchToken ? { ...sent, value: undefined } : sent;
    const namespace = credentialNamespace(credential.value);
    const stream = body.stream === true;
    const counting = pathSuffix === '/count_tokens';
    const bypass = /no-store|no-cache/.test(request.headers['cache-control'] ?? '') || request.headers['x-orchestrator-cache'] === 'off';
    const key = cacheKey(protocol, `${deployments.map((d) => d.id).join(',')}${pathSuffix ?? ''}`, body);
    const agent = clientName(request);
    const taskId = request.headers['x-orchestrator-task'] ?? undefined;

    if (!bypass) {
      const hit = await deps.cache.get(namespace, key);
      if (hit) {
        const meta = hit.meta as { provider: string; model: string; contentType: string };
        if (!counting) account(agent, taskId, meta.provider, meta.model, emptyUsage(), performance.now() - started, true, 0, true);
        return { status: 200, headers: { 'content-type': meta.contentType, 'x-orchestrator-cache': 'hit', ...(hit.kind === 'sse' ? { 'cache-control': 'no-cache' } : {}) }, body: hit.body };
      }
    }

    const forwardHeaders: Record<string, string> = {};
    for (const name in request.headers) if (!HOP.has(name) && !name.startsWith('x-orchestrator-')) forwardHeaders[name] = request.headers[name];
    forwardHeaders['content-type'] = 'application/json';
    forwardHeaders['accept-encoding'] = 'gzip, br';

    // A model the gateway has no key for runs on the caller's own key: its failures (a 401 for a bad
    // key, a 429 on the caller's quota) are the caller's, so its circuit is the caller's too.
    const missing = deployments.find((d) => !deps.clients.spec(d.provider).apiKey && !credential.value);
    if (missing) {
      return providerError(protocol, 401, `no API key for ${missing.provider}: the gateway has none (set ${missing.provider.toUpperCase()}_API_KEY for the server) and the request carried none (x-api-key or Authorization: Bearer)`);
    }
    const routed = deployments.map((d) => (deps.clients.spec(d.provider).apiKey ? d : { ...d, id: `${d.id}@caller-${namespace.slice(0, 12)}` }));

    let attempts = 0;
    let upstream: { answer: UpstreamAnswer; deployment: Deployment; bodyText?: string; parsed?: Record<string, unknown> };
    try {
      const result = await deps.retry.run(
        routed,
        async (deployment, signal) => {
          const spec = deps.clients.spec(deployment.provider);
          const key_ = (spec.apiKey ?? credential.value)!;
          const headers: Record<string, string> = { ...forwardHeaders };
          if (spec.kind === 'anthropic' && (spec.apiKey || credential.style === 'x-api-key')) headers['x-api-key'] = key_;
          else headers.authorization = `Bearer ${key_}`;
          const outgoing = deployment.model === body.model ? text : JSON.stringify({ ...body, model: deployment.model });
          const q = request.url.indexOf('?');
          const query = protocol === 'anthropic' && q >= 0 ? request.url.slice(q) : '';
          const url = `${spec.baseUrl}${ENDPOINT[protocol].upstreamPath(spec)}${pathSuffix ?? ''}${query}`;
          let answer: UpstreamAnswer & { settled(): void };
          try {
            answer = await postUpstream(url, headers, outgoing, signal);
          } catch (error) {
            const message = `${deployment.id}: ${redactText(errorMessage(error), [key_])}`;
            throw new UpstreamError(signal.aborted ? 'timeout' : 'network', message, { cause: error });
          }
          if (answer.status >= 300) {
            const failure = await upstreamFailure(deployment, answer, [key_, ...secrets()]);
            answer.settled();
            throw failure;
          }
          if (stream && !counting) {
            answer.settled();
            return { answer, deployment };
          }
          let bodyText: string;
          try {
            bodyText = await answer.text();
          } catch (error) {
            throw new UpstreamError(signal.aborted ? 'timeout' : 'truncated', `${deployment.id}: the answer was cut off: ${errorMessage(error)}`);
          } finally {
            answer.settled();
          }
          let parsed: Record<string, unknown>;
          try {
            parsed = JSON.parse(bodyText);
          } catch {
            throw new UpstreamError('malformed', `${deployment.id}: the answer is not valid JSON`);
          }
          return { answer, deployment, bodyText, parsed };
        },
        { onAttempt: () => attempts++ },
      );
      upstream = result.value;
    } catch (error) {
      if (!counting) account(agent, taskId, deployments[0].provider, deployments[0].model, emptyUsage(), performance.now() - started, false, attempts, false);
      return failureResponse(protocol, error);
    }

    const { answer, deployment } = upstream;
    const headers: Record<string, string> = { 'x-orchestrator-cache': bypass ? 'bypass' : 'miss', 'x-orchestrator-model': `${deployment.provider}/${deployment.model}` };
    for (const [name, value] of Object.entries(answer.headers)) if (PASS_BACK.test(name)) headers[name] = value;
    const contentType = answer.headers['content-type'] ?? (stream ? 'text/event-stream' : 'application/json');

    if (upstream.bodyText !== undefined) {
      const parsed = upstream.parsed ?? {};
      if (!counting) account(agent, taskId, deployment.provider, deployment.model, usageFromJson(protocol, parsed), performance.now() - started, false, attempts, true);
      if (!bypass) store(namespace, key, { kind: 'json', body: upstream.bodyText, meta: { status: 200, contentType, provider: deployment.provider, model: deployment.model } });
      return { status: answer.status, headers, body: upstream.bodyText };
    }
    return { status: answer.status, headers, body: relay(protocol, answer, deployment, { namespace, key, contentType, bypass, agent, taskId, started, attempts }) };
  }

  /** Pipes a live SSE answer to the client, reading usage and tokens on the way; caches it only when complete. */
  function relay(
    protocol: Exclude<Protocol, 'agent'>,
    answer: UpstreamAnswer,
    deployment: Deployment,
    ctx: { namespace: string; key: string; contentType: string; bypass: boolean; agent: string; taskId?: string; started: number; attempts: number },
  ): AsyncIterable<Uint8Array> {
    const decoder = new TextDecoder();
    const sse = sseReader(protocol);
    const chunks: string[] = [];
    let idle: ReturnType<typeof setTimeout> | undefined;
    let ended = false;
    const finish = () => {
      clearTimeout(idle);
      const complete = ended && sse.state.complete && !sse.state.failed;
      account(ctx.agent, ctx.taskId, deployment.provider, deployment.model, sse.state.usage, performance.now() - ctx.started, false, ctx.attempts, complete);
      if (complete && !ctx.bypass) {
        store(ctx.namespace, ctx.key, { kind: 'sse', body: chunks.join(''), meta: { status: 200, complete: true, contentType: ctx.contentType, provider: deployment.provider, model: deployment.model } });
      }
    };
    const armIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(() => answer.body.destroy(new Error(`no data from ${deployment.id} for ${idleMs} ms`)), idleMs);
    };
    // The client stops reading (disconnects) → the generator is returned early → finally: not cached,
    // the upstream connection is dropped.
    return (async function* () {
      try {
        armIdle();
        for await (const chunk of answer.body as AsyncIterable<Uint8Array>) {
          armIdle();
          const text = decoder.decode(chunk, { stream: true });
          chunks.push(text);
          const deltas = sse.push(text);
          if (deltas.length && deps.bus) {
            deps.bus.publish(Topics.Tokens, 'llm.token', { agent: ctx.agent, deployment: `${deployment.provider}/${deployment.model}`, text: deltas.join(''), kind: 'text' }, { taskId: ctx.taskId });
          }
          yield chunk;
        }
        const rest = decoder.decode();
        if (rest) chunks.push(rest), sse.push(rest);
        ended = true;
      } finally {
        finish();
        if (!ended) answer.body.destroy();
      }
    })();
  }

  function store(namespace: string, key: string, entry: CacheEntry): void {
    // The answer has gone to the client already: an entry the store refuses is only a later miss.
    void deps.cache.set(namespace, key, entry).catch(() => {});
  }

  function account(agent: string, taskId: string | undefined, provider: string, model: string, used: Usage, ms: number, cached: boolean, attempts: number, ok: boolean): void {
    const event = deps.usage.record({ taskId, agent, provider, model, usage: used, ms, cached, attempts, ok });
    deps.bus?.publish(Topics.Tokens, 'llm.usage', event, { taskId });
  }

  async function upstreamFailure(deployment: Deployment, answer: UpstreamAnswer, keys: ReadonlyArray<string | undefined>): Promise<UpstreamError> {
    const body = redactText(await answer.text().catch(() => ''), keys).slice(0, 4096);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(answer.headers)) if (/^(retry-after|retry-after-ms|x-should-retry|request-id|x-request-id)$/.test(name)) headers[name] = value;
    let detail = '';
    try {
      const parsed = JSON.parse(body);
      detail = parsed?.error?.type ?? parsed?.error?.code ?? '';
      detail = `${detail} ${parsed?.error?.message ?? ''}`.trim();
    } catch {
      detail = body.slice(0, 200);
    }
    return new UpstreamError('http', `${deployment.id}: ${answer.status} ${detail}`.trim(), {
      status: answer.status,
      retryAfterMs: retryAfterFrom(headers, Date.now()),
      shouldRetry: shouldRetryFrom(headers),
      body,
      headers,
    });
  }

  function failureResponse(protocol: Protocol, error: unknown): PlainResponse {
    const cause = error instanceof RuntimeError && error.cause instanceof UpstreamError ? error.cause : error instanceof UpstreamError ? error : undefined;
    const message = redactText(errorMessage(error), secrets());
    const upstreamStatus = cause?.status !== undefined && cause.status >= 400 ? cause.status : undefined;
    if (upstreamStatus && cause?.body) {
      // Relay the upstream's own answer (status, body, retry hints) so the client's retry logic works as against the provider.
      const relayed = cause.body;
      try {
        JSON.parse(relayed);
      } catch {
        return providerError(protocol, upstreamStatus, message, cause.headers);
      }
      return { status: upstreamStatus, headers: { 'content-type': 'application/json', 'x-orchestrator-error': encodeURIComponent(message.slice(0, 300)), ...cause.headers }, body: relayed };
    }
    const status = upstreamStatus ?? (cause?.kind === 'timeout' ? 504 : ((error as RuntimeError)?.details?.status as number | undefined) ?? 502);
    return providerError(protocol, status, message, cause?.headers ?? {});
  }

  function models(request: Request): Response {
    const routing = deps.routing();
    const ids = new Set<string>(Object.keys(routing.aliases));
    for (const route of Object.values(routing.routes)) for (const list of Array.isArray(route) ? [route] : Object.values(route)) for (const d of list ?? []) ids.add(d.model);
    const created = 1_700_000_000;
    if (request.headers.get('anthropic-version')) {
      const data = [...ids].map((id) => ({ type: 'model', id, display_name: id, created_at: new Date(created * 1000).toISOString() }));
      return Response.json({ data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null });
    }
    return Response.json({ object: 'list', data: [...ids].map((id) => ({ id, object: 'model', created, owned_by: 'orchestrator' })) });
  }

  const posts: Array<{ path: RegExp; run: PlainHandler }> = [
    { path: /^(?:\/[^?]*)?\/v1\/messages\/count_tokens$/, run: (r) => handle('anthropic', r, '/count_tokens') },
    { path: /^(?:\/[^?]*)?\/v1\/messages$/, run: (r) => handle('anthropic', r) },
    { path: /^(?:\/[^?]*)?\/v1\/chat\/completions$/, run: (r) => handle('openai-chat', r) },
    { path: /^(?:\/[^?]*)?\/v1\/responses$/, run: (r) => handle('openai-responses', r) },
  ];
  const routes: Route[] = [
    ...posts.map(({ path, run }) => ({ method: 'POST', path, handle: async (request: Request) => toWebResponse(await run(await toPlainRequest(request))) })),
    { method: 'GET', path: /^(?:\/[^?]*)?\/v1\/models$/, handle: models },
    { method: 'GET', path: /^\/api\/hello$/, handle: () => Response.json({ ok: true, name: 'orchestrator', version: deps.version }) },
  ];
  return {
    /** For the server's router (web Request/Response, every runtime). */
    routes,
    /** The same POST endpoints without web Request/Response objects, for adapters that can skip them (Node). */
    plain: (method: string, path: string): PlainHandler | undefined => (method === 'POST' ? posts.find((p) => p.path.test(path))?.run : undefined),
    /** The body limit of a proxy endpoint (the adapter enforces it while reading), or undefined for other paths. */
    bodyLimit: (method: string, path: string): number | undefined => (method === 'POST' && posts.some((p) => p.path.test(path)) ? limit : undefined),
  };
}
