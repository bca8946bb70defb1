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
export type { ProviderClock, TranscriptProviderOptions } from './_providers.ts';

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

export { createGateway, servable } from './gateway.ts';
export type { Gateway, GatewayOptions } from './gateway.ts';
export { BUILTIN_PROVIDERS, createProviderClients, resolveProviders, usable } from './providers.ts';
export type { AgentCall, ProviderClients, Usage } from './providers.ts';
export { createRetryLoop, DEFAULT_RETRY_POLICY } from './retry.ts';
export type { RetryLoop } from './retry.ts';
export { defaultRouting, loadRouting, parseRouting, resolveAlias, resolveRoute, watchRouting } from './routing.ts';
export type { Routing } from './routing.ts';
export { createCache } from './cache.ts';
export type { LlmCache } from './cache.ts';
export { cacheKey, credentialNamespace } from './_canonical.ts';
export { createUsageLedger, DEFAULT_PRICES } from './usage.ts';
export type { Budgets, UsageLedger } from './usage.ts';
export * from './types.ts';
