// Builds the model side of the server from its config: providers, routing (file or default, reloaded
// on change), the one retry loop, the cache, the usage ledger, the agents' provider and the proxy.
import { existsSync } from 'node:fs';
import { ErrorCode, RuntimeError } from '../protocol/mod.ts';
import type { LogLevel } from '../protocol/mod.ts';
import type { Bus } from '../bus/mod.ts';
import type { Store } from '../store/mod.ts';
import { createDemoProvider, createTranscriptProvider, loadTranscripts } from '../llm/mod.ts';
import type { LlmProvider } from '../llm/mod.ts';
import { createCache } from '../llm/cache.ts';
import { createGateway } from '../llm/gateway.ts';
import { createProviderClients, usable } from '../llm/providers.ts';
import { createRetryLoop } from '../llm/retry.ts';
import { defaultRouting, loadRouting, watchRouting, type Routing } from '../llm/routing.ts';
import { createUsageLedger } from '../llm/usage.ts';
import { proxyRoutes } from '../proxy/mod.ts';
import type { ServerConfig } from './config.ts';

const NO_ROUTES = (source: string): Routing => ({ routes: {}, aliases: {}, source });

/**
 * @example
 * const llm = startLlm(config, { store, bus, log, version: '0.2.0' });
 * llm.provider.complete(request); // the agents' model
 */
export function startLlm(config: ServerConfig, deps: { store: Store; bus: Bus; log: (level: LogLevel, text: string) => void; version: string; launchToken?: string }) {
  for (const spec of config.providers) {
    const url = new URL(spec.baseUrl);
    if (config.port !== 0 && /^(127\.0\.0\.1|localhost|\[::1\])$/.test(url.hostname) && Number(url.port) === config.port) {
      throw new RuntimeError(ErrorCode.Invalid, `provider ${spec.name}'s base URL ${spec.baseUrl} points at this server (port ${config.port}): that would loop; unset the base URL variable for the server (runtime launch sets it only for the client)`);
    }
  }
  const clients = createProviderClients(config.providers);
  const names = config.providers.map((p) => p.name);
  let routing: Routing;
  let stopWatching = () => {};
  if (existsSync(config.routingFile)) {
    routing = loadRouting(config.routingFile, names);
    stopWatching = watchRouting(config.routingFile, names, {
      onChange(next) {
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
    provider = createTranscriptProvider({ transcripts: loadTranscripts(config.provider.slice('transcripts:'.length)), label: 'test', delayMs: config.demoDelayMs });
  } else if (config.provider === 'gateway' || config.provider === 'auto') {
    if (!anyUsable) {
      throw new RuntimeError(ErrorCode.Invalid, 'provider is "gateway" but no provider is usable: set ANTHROPIC_API_KEY, OPENAI_API_KEY or DEEPSEEK_API_KEY, or configure a local server under providers in orchestrator.config.json');
    }
    provider = gateway.llm;
  } else {
    throw new RuntimeError(ErrorCode.Invalid, `provider is ${JSON.stringify(config.provider)}: use "auto", "gateway", "demo" or "transcripts:<dir>" (ORCHESTRATOR_PROVIDER)`);
  }

  const proxy = proxyRoutes({ clients, routing: () => routing, retry, cache, usage, bus: deps.bus, version: deps.version, launchToken: deps.launchToken });
  return {
    provider,
    proxy,
    cache,
    usage,
    retry,
    routing: () => routing,
    /** What /api/health and `runtime config` show: never a key, only where it came from. */
    describeProviders: () => config.providers.map((p) => ({ name: p.name, kind: p.kind, baseUrl: p.baseUrl, key: p.keySource === 'none' ? 'none' : `set (${p.keySource})`, usable: usable(p) })),
    stop: () => stopWatching(),
  };
}

export type Llm = ReturnType<typeof startLlm>;
