/**
 * The gateway: one router, one retry loop, one cache and one usage ledger behind both the agents'
 * `caps.llm` and the proxy (runtime/proxy). Routing comes from model-routing.json (reloaded on
 * change) or, without one, from the providers that have keys.
 * @module
 */
import { ErrorCode, RuntimeError, Topics, cutText } from '../protocol/mod.ts';
import type { LlmAttemptEvent, UsageOutcome } from '../protocol/mod.ts';
import { withdrawnError } from '../bus/mod.ts';
import type { Bus } from '../bus/mod.ts';
import type { LlmRequest, LlmResponse } from '../plugin/mod.ts';
import type { LlmProvider } from './mod.ts';
import { credentialNamespace, cacheKey } from './_canonical.ts';
import type { LlmCache } from './cache.ts';
import { usable, type ProviderClients, type Usage } from './providers.ts';
import type { RetryLoop } from './retry.ts';
import { resolveAlias, resolveRoute, type Routing } from './routing.ts';
import type { Budgets, UsageLedger } from './usage.ts';
import type { AttemptRecord, Deployment, ProviderSpec } from './types.ts';


export interface GatewayOptions {
  clients: ProviderClients;
  /** Returns the routing in force (model-routing.json reloads replace it). */
  routing: () => Routing;
  retry: RetryLoop;
  cache: LlmCache;
  usage: UsageLedger;
  budgets: Budgets;
  bus?: Pick<Bus, 'publish'>;
  /** Default max tokens for an agent call when neither the request nor the route sets one. */
  defaultMaxTokens?: number;
}

/**
 * How the task manager tells the gateway what it needs to know about a task: a retried task asks its
 * models afresh; an ended task's budget figures are forgotten, and when it failed because a role's
 * answer was unusable (E_LLM_OUTPUT), that answer leaves the cache.
 */
export interface TaskLifecycle {
  retrying(taskId: string): void;
  ended(taskId: string, unusableRole?: string): void;
}

const codeOf = (reason: unknown) => (reason as { code?: unknown } | null)?.code;
const AGENT_NAMESPACE = credentialNamespace('orchestrator-agents');
const NO_USAGE: Usage = { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 };

/**
 * The deployments that can serve: routed ones whose provider is configured and usable (has a key, or
 * is a local server). Names the route and the fix when none can.
 */
export function servable(deployments: Deployment[], clients: ProviderClients, what: string, kind?: ProviderSpec['kind']): Deployment[] {
  const ok: Deployment[] = [];
  const why: string[] = [];
  for (const d of deployments) {
    const spec = clients.specs().find((s) => s.name === d.provider);
    if (!spec) why.push(`${d.id}: provider "${d.provider}" is not configured`);
    else if (kind && spec.kind !== kind) why.push(`${d.id}: provider "${d.provider}" speaks ${spec.kind}, not ${kind}`);
    else if (!usable(spec)) why.push(`${d.id}: no API key (set ${spec.name.toUpperCase()}_API_KEY)`);
    else ok.push(d);
  }
  if (!ok.length) {
    throw new RuntimeError(ErrorCode.Llm, `no model can serve ${what}: ${why.join('; ')}; fix the route in model-routing.json or set the provider's key`, { details: { status: 503 } });
  }
  return ok;
}

/**
 * @example
 * const gateway = createGateway({ clients, routing: () => routing, retry, cache, usage, budgets: {}, bus });
 * const answer = await gateway.llm.complete({ role: 'implementer', system: '…', messages: [{ role: 'user', content: '…' }], taskId: 't1' });
 */
export function createGateway(options: GatewayOptions) {
  const { clients, retry, cache, usage, bus } = options;

  // A retried task (attempt > 1) asks its models again rather than replaying the cached answers
  // that failed it; the fresh answers replace them in the cache. Forgotten once the task ends.
  const retried = new Set<string>();
  // The cache key each running task last used per role: when the task then fails because that
  // answer was unusable, the answer leaves the cache, so the same prompt from another task asks the
  // model again instead of failing the same way for an hour.
  const lastKeys = new Map<string, Map<string, string>>();
  const noteKey = (request: LlmRequest, key: string): void => {
    if (request.taskId === undefined) return;
    const keys = lastKeys.get(request.taskId) ?? new Map<string, string>();
    keys.set(request.role, key);
    lastKeys.set(request.taskId, keys);
  };

  /** What the task manager tells the gateway about a task's life (it never listens to task events). */
  const tasks: TaskLifecycle = {
    retrying(taskId) {
      retried.add(taskId);
    },
    ended(taskId, unusable) {
      retried.delete(taskId);
      usage.forgetTask(taskId);
      const key = unusable ? lastKeys.get(taskId)?.get(unusable) : undefined;
      lastKeys.delete(taskId);
      // The unusable answer must not be served again. The manager does not wait for this; a store that
      // fails to delete it leaves it to its TTL, and the retry of the task bypasses the cache anyway.
      if (key) void cache.delete(AGENT_NAMESPACE, key).catch(() => {});
    },
  };

  async function complete(request: LlmRequest): Promise<LlmResponse> {
    if (request.signal?.aborted) throw withdrawnError(request.signal, `the ${request.role}'s model call`);
    await usage.checkBudget(request.taskId, options.budgets);
    const deployments = servable(resolveRoute(options.routing(), request.role, request.meta?.complexity), clients, `role "${request.role}"`);
    const first = deployments[0];
    const maxTokens = request.maxTokens ?? first.params.maxTokens ?? options.defaultMaxTokens ?? 8192;
    const canonical = { system: request.system, messages: request.messages, maxTokens, json: request.json ?? null, params: first.params };
    const key = cacheKey('agent', deployments.map((d) => d.id).join(','), canonical);
    const started = performance.now();
    noteKey(request, key);
    const hit = request.taskId !== undefined && retried.has(request.taskId) ? undefined : await cache.get(AGENT_NAMESPACE, key);
    if (hit) {
      const meta = hit.meta as { provider: string; model: string };
      account(request, meta.provider, meta.model, NO_USAGE, performance.now() - started, true, 0, true);
      return { text: hit.body, provider: meta.provider, model: meta.model, usage: { inputTokens: 0, outputTokens: 0 }, ms: performance.now() - started, demo: false, cached: true };
    }
    const publishToken = (deployment: Deployment) => (text: string, kind: 'text' | 'thinking' | 'tool') =>
      bus?.publish(Topics.Tokens, 'llm.token', { agent: request.role, deployment: deployment.id, text, kind }, { taskId: request.taskId });
    let attempts = 0;
    const { signal } = request;
    try {
      const result = await retry.run(
        deployments,
        (deployment, signal) =>
          clients.complete(
            deployment,
            { system: request.system, messages: request.messages, maxTokens: request.maxTokens ?? deployment.params.maxTokens ?? maxTokens, temperature: deployment.params.temperature, topP: deployment.params.topP, json: request.json },
            signal,
            publishToken(deployment),
          ),
        {
          signal,
          onAttempt: (record) => {
            attempts++;
            if (!record.ok) announce(request, record);
          },
        },
      );
      const ms = performance.now() - started;
      const { deployment, value } = result;
      account(request, deployment.provider, deployment.model, value.usage, ms, false, attempts, true);
      await cache.set(AGENT_NAMESPACE, key, { kind: 'text', body: value.text, meta: { provider: deployment.provider, model: deployment.model, usage: value.usage } });
      return { text: value.text, provider: deployment.provider, model: deployment.model, usage: { inputTokens: value.usage.inputTokens, outputTokens: value.usage.outputTokens }, ms, demo: false, cached: false };
    } catch (error) {
      // Withdrawn by its task (cancelled or failed) or its stage (timed out): neither a success nor a
      // provider failure, and the caller gets the task's reason rather than the loop's "aborted".
      const outcome = signal?.aborted ? (codeOf(signal.reason) === ErrorCode.Timeout ? 'timeout' : 'cancelled') : 'failed';
      account(request, first.provider, first.model, NO_USAGE, performance.now() - started, false, attempts, false, outcome);
      if (signal?.aborted) throw withdrawnError(signal, `the ${request.role}'s model call`);
      throw error;
    }
  }

  /** A failed attempt: on the task's event log (via topic:llm.tokens) with its reason, before the loop goes on. */
  function announce(request: LlmRequest, record: AttemptRecord): void {
    const kind = record.kind ?? 'error';
    const error = cutText(record.error ?? kind, 500);
    const status = record.status === undefined ? '' : ` (HTTP ${record.status})`;
    const text = `the ${request.role}'s model call to ${record.deployment}: attempt ${record.attempt} failed after ${(record.ms / 1000).toFixed(1)} s: ${kind}${status}: ${error}`;
    const event: LlmAttemptEvent = { role: request.role, deployment: record.deployment, attempt: record.attempt, kind, ms: Math.round(record.ms), error, text };
    if (record.status !== undefined) event.status = record.status;
    bus?.publish(Topics.Tokens, 'llm.attempt', event, { taskId: request.taskId });
  }

  function account(
    request: LlmRequest, provider: string, model: string, used: Usage, ms: number, cached: boolean, attempts: number, ok: boolean, outcome?: UsageOutcome,
  ): void {
    const event = usage.record({ taskId: request.taskId, agent: request.role, provider, model, usage: used, ms, cached, attempts, ok, outcome });
    bus?.publish(Topics.Tokens, 'llm.usage', event, { taskId: request.taskId });
  }

  const llm: LlmProvider = {
    name: 'gateway',
    demo: false,
    complete,
    describe() {
      const routing = options.routing();
      const models = new Set<string>();
      for (const route of Object.values(routing.routes)) {
        const lists = Array.isArray(route) ? [route] : Object.values(route);
        for (const list of lists) for (const d of list ?? []) models.add(d.id);
      }
      return { name: `gateway (${routing.source})`, demo: false, models: [...models] };
    },
  };

  return { llm, tasks, routing: options.routing, resolveAlias: (model: string) => resolveAlias(options.routing(), model) };
}

export type Gateway = ReturnType<typeof createGateway>;
