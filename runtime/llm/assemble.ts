/**
 * The model side, assembled from its config: providers, routing (file or default, reloaded on
 * change), the one retry loop, the cache, the usage ledger, the gateway, and the provider the agents
 * use (the gateway, the demo or test transcripts). The server and the proxy take the parts from here.
 * @module
 */
import { existsSync } from 'node:fs';
import { ErrorCode, RuntimeError } from '../protocol/mod.ts';
import type { LogLevel } from '../protocol/mod.ts';
import type { Bus } from '../bus/mod.ts';
import type { Store } from '../store/mod.ts';
import { createTranscriptProvider } from './_providers.ts';
import { loadTranscripts } from './_transcripts.ts';
import { createCache } from './cache.ts';
import { createGateway } from './gateway.ts';
import { createDemoProvider } from './mod.ts';
import type { LlmProvider } from './mod.ts';
import { createProviderClients, usable } from './providers.ts';
import { createRetryLoop } from './retry.ts';
import { defaultRouting, loadRouting, resolveRoute, unknownRoutedRoles, watchRouting, type Routing } from './routing.ts';
import { stageBudgetMs } from './_budget.ts';
import type { ProviderSpec, RetryPolicy } from './types.ts';
import { createUsageLedger, type Budgets, type Price } from './usage.ts';

/** What the model side is configured by (a part of the server's config). */
export interface LlmConfig {
  /** 'auto' | 'gateway' | 'demo' | 'transcripts:<dir>' (ORCHESTRATOR_PROVIDER). */
  provider: string;
  providers: ProviderSpec[];
  routingFile: string;
  retry: Partial<RetryPolicy>;
  cache: { size: number; ttlSeconds: number; maxBytes: number };
  prices: Record<string, Price>;
  budgets: Budgets;
  demoDelayMs: number;
}

export interface LlmDeps {
  store: Store;
  bus: Bus;
  log: (level: LogLevel, text: string) => void;
}

const NO_ROUTES = (source: string): Routing => ({ routes: {}, aliases: {}, source });

/**
 * @example
 * const llm = createLlm(config, { store, bus, log });
 * await llm.provider.complete(request); // the agents' model
 * proxyRoutes({ ...llm.parts, bus, version }); // the same gateway for Claude Code and the SDKs
 */
export function createLlm(config: LlmConfig, deps: LlmDeps) {
  const clients = createProviderClients(config.providers);
  const names = config.providers.map((p) => p.name);
  let routing: Routing;
  let stopWatching = () => {};
  // The roles the loaded agents serve, once the server knows them (servedRoles): a reload naming another is refused.
  let served: readonly string[] | undefined;
  if (existsSync(config.routingFile)) {
    routing = loadRouting(config.routingFile, names);
    stopWatching = watchRouting(config.routingFile, names, {
      onChange(next) {
        const misrouted = served ? unknownRoutedRoles(next, served) : null;
        if (misrouted) return deps.log('error', `model routing not reloaded, the previous routes stay in force: ${misrouted.message}`);
        routing = next;
        deps.log('info', `model routing reloaded from ${config.routingFile}`);
      },
      onError(error) {
        deps.log('error', `model routing not reloaded, the previous routes stay in force: ${error.message}`);
      },
    });
  } else {
    routing = defaultRouting(config.providers) ?? NO_ROUTES('no provider key set');
  }
  const retry = createRetryLoop({ policy: config.retry });
  const cache = createCache({ maxEntries: config.cache.size, maxBytes: config.cache.maxBytes, ttlSeconds: config.cache.ttlSeconds, store: deps.store });
  const usage = createUsageLedger({ store: deps.store, prices: config.prices });
  const gateway = createGateway({ clients, routing: () => routing, retry, cache, usage, budgets: config.budgets, bus: deps.bus });

  const anyUsable = config.providers.some(usable);
  let provider: LlmProvider;
  if (config.provider === 'demo' || (config.provider === 'auto' && !anyUsable)) {
    provider = createDemoProvider({ delayMs: config.demoDelayMs });
  } else if (config.provider.startsWith('transcripts:')) {
    const dir = config.provider.slice('transcripts:'.length);
    provider = createTranscriptProvider({ transcripts: loadTranscripts(dir), label: 'test', delayMs: config.demoDelayMs });
  } else if (config.provider === 'gateway' || config.provider === 'auto') {
    if (!anyUsable) {
      throw new RuntimeError(ErrorCode.Invalid, 'provider is "gateway" but no provider is usable: set ANTHROPIC_API_KEY, OPENAI_API_KEY or DEEPSEEK_API_KEY, or configure a local server under providers in orchestrator.config.json');
    }
    provider = gateway.llm;
  } else {
    throw new RuntimeError(ErrorCode.Invalid, `provider is ${JSON.stringify(config.provider)}: use "auto", "gateway", "demo" or "transcripts:<dir>" (ORCHESTRATOR_PROVIDER)`);
  }

  /**
   * How long a stage whose agent makes one call to `role`'s model may take: the retry loop's worst
   * case on the role's route (any complexity), or undefined when no route serves it (demo, transcripts).
   */
  function stageTimeoutMs(role: string): number | undefined {
    if (provider !== gateway.llm) return undefined;
    let longest: number | undefined;
    for (const complexity of [undefined, 'simple', 'complex']) {
      try {
        const budget = stageBudgetMs(config.retry, resolveRoute(routing, role, complexity));
        longest = Math.max(longest ?? 0, budget);
      } catch {
        // Not routed for this complexity: another may be.
      }
    }
    return longest;
  }

  return {
    provider,
    stageTimeoutMs,
    /** The task manager's calls into the gateway (a retried task asks afresh; unusable answers leave the cache). */
    tasks: gateway.tasks,
    /** What the proxy is built from: the same clients, routing, retry loop, cache and ledger. */
    parts: { clients, routing: () => routing, retry, cache, usage },
    cache,
    usage,
    retry,
    routing: () => routing,
    /** The roles the loaded agents serve: from now on a routing file that routes another is not reloaded. */
    servedRoles(roles: readonly string[]): void {
      served = roles;
    },
    /** What /api/health and `runtime config` show: never a key, only where it came from. */
    describeProviders: () => config.providers.map((p) => ({ name: p.name, kind: p.kind, baseUrl: p.baseUrl, key: p.keySource === 'none' ? 'none' : `set (${p.keySource})`, usable: usable(p) })),
    stop: () => stopWatching(),
  };
}

export type AssembledLlm = ReturnType<typeof createLlm>;
