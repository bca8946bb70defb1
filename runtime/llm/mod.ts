/**
 * Language models. Every provider is an `Llm` (what agents see as `caps.llm`) plus a name, a demo
 * flag and a description for the dashboard:
 * - the gateway (gateway.ts): real providers through the official SDKs (providers.ts), routed per
 *   role by model-routing.json (routing.ts), one retry loop with circuit breakers (retry.ts), a
 *   two-tier cache (cache.ts) and the usage ledger with budgets (usage.ts);
 * - the transcript providers: the bundled demo (labelled DEMO everywhere) and test fixtures;
 * - an in-process function double for unit tests.
 * runtime/proxy serves the same gateway to Claude Code, Codex and the SDKs.
 * @module
 */
import type { Llm } from '../plugin/mod.ts';
import { createTranscriptProvider } from './_providers.ts';
import { loadTranscripts } from './_transcripts.ts';
import type { Transcript } from './_transcripts.ts';

/**
 * A model provider: answers `complete` and describes itself.
 * @example
 * const llm: LlmProvider = createDemoProvider();
 * llm.describe(); // { name: 'demo', demo: true, models: ['demo/csv-parser', ...] }
 */
export interface LlmProvider extends Llm {
  readonly name: string;
  /** True when answers come from the bundled demo transcripts, so every view can label them. */
  readonly demo: boolean;
  describe(): { name: string; demo: boolean; models: string[] };
}

/**
 * A scripted provider over transcripts (see createTranscriptProvider in the examples).
 * @example
 * const llm = createTranscriptProvider({ transcripts: loadTranscripts('test/fixtures'), label: 'test' });
 * await llm.complete({ role: 'analyst', system: '', messages: [], meta: { requirement: 'Write fizzbuzz', attempt: 0 } });
 */
export { createTranscriptProvider } from './_providers.ts';

/**
 * An in-process test double whose answer is computed by a function.
 * @example
 * const llm = createFunctionProvider('fake', (request) => (request.role === 'enhancer' ? 'A precise spec' : '{}'));
 */
export { createFunctionProvider } from './_providers.ts';
export type { TranscriptProviderOptions } from './_providers.ts';

/**
 * Transcript files: schema, loader (errors name the file and field) and requirement normalisation.
 * @example
 * loadTranscripts('test/fixtures/transcripts'); // [{ id, title, requirement, turns }]
 * normaliseRequirement(' Write FizzBuzz. '); // 'write fizzbuzz'
 */
export { TranscriptSchema, loadTranscripts, normaliseRequirement, readTranscript } from './_transcripts.ts';
export type { Transcript } from './_transcripts.ts';

/**
 * The folder of the bundled demo transcripts, next to this module.
 * @example loadTranscripts(DEMO_TRANSCRIPTS_DIR).map((t) => t.id) // ['csv-parser', 'fizzbuzz', 'svg-bar-chart']
 */
export const DEMO_TRANSCRIPTS_DIR: URL = new URL('./transcripts/', import.meta.url);

let bundled: Transcript[] | null = null;

function demoTranscripts(): Transcript[] {
  bundled ??= loadTranscripts(DEMO_TRANSCRIPTS_DIR);
  return bundled;
}

/**
 * The demo provider: answers the sample requirements from the bundled transcripts, labelled demo.
 * @example
 * const llm = createDemoProvider({ delayMs: 400 });
 * const answer = await llm.complete({ role: 'enhancer', system: '', messages: [], meta: { requirement: 'Write a fizzbuzz module with tests' } });
 * answer.demo; // true
 */
export function createDemoProvider(options: { delayMs?: number } = {}): LlmProvider {
  return createTranscriptProvider({ transcripts: demoTranscripts(), label: 'demo', delayMs: options.delayMs });
}

/**
 * The sample requirements the demo can answer (for GET /api/demo).
 * @example demoSamples(); // [{ id: 'csv-parser', title: 'CSV parser', requirement: 'Build a small CSV parser with tests' }, ...]
 */
export function demoSamples(): Array<{ id: string; title: string; requirement: string }> {
  return demoTranscripts().map(({ id, title, requirement }) => ({ id, title, requirement }));
}

/** The model side assembled from config (providers, routing, retry, cache, ledger, gateway, the agents' provider). */
export { createLlm } from './assemble.ts';
export { stageBudgetMs } from './_budget.ts';
export type { AssembledLlm, LlmConfig, LlmDeps } from './assemble.ts';

/** The gateway: routes, retries, caches, records usage; `servable` keeps the deployments a client can serve. */
export { createGateway, servable } from './gateway.ts';
export type { Gateway, GatewayOptions, TaskLifecycle } from './gateway.ts';

/** Providers through the official SDKs: the config schema, the built-ins and their clients. */
export { BUILTIN_PROVIDERS, ProvidersConfig, createProviderClients, resolveProviders } from './providers.ts';
export { usable } from './providers.ts';
export type { AgentCall, ProviderClients, Usage } from './providers.ts';

/** The retry loop and the upstream's own retry hints (`retry-after[-ms]`, `x-should-retry`), read by the proxy too. */
export { createRetryLoop, DEFAULT_RETRY_POLICY, retryAfterFrom, shouldRetryFrom } from './retry.ts';
export type { RetryLoop } from './retry.ts';

/** Model routing (model-routing.json): parse, load, watch, and resolve a role or a model alias to deployments. */
export { defaultRouting, loadRouting, parseRouting, resolveAlias, resolveRoute, unknownRoutedRoles, watchRouting } from './routing.ts';
export type { Routing } from './routing.ts';

/** The two-tier answer cache and its key: canonical request body plus a namespace per credential. */
export { createCache } from './cache.ts';
export type { LlmCache } from './cache.ts';
export { cacheKey, credentialNamespace } from './_canonical.ts';

/** The usage ledger, prices and budgets (with the config schemas the server validates them with). */
export { BudgetsConfig, createUsageLedger, DEFAULT_PRICES, Price, PricesConfig } from './usage.ts';
export type { Budgets, UsageLedger } from './usage.ts';

/** Shared types: providers, deployments, attempts, failures (`UpstreamError`), retry policy, cache entries. */
export * from './types.ts';
