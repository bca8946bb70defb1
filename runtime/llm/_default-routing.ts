// Routes when there is no model-routing.json: built from the providers that can be called.
import { usable } from './providers.ts';
import type { Routing, RouteTarget } from './routing.ts';
import type { Deployment, ProviderSpec } from './types.ts';

const BUILT_IN: Record<string, { main: string; light: string }> = {
  // The newest general models the official SDKs list (2026-11); claude-sonnet-4-5 reaches end of life
  // on 2026-11-30. Route to anything else in model-routing.json.
  anthropic: { main: 'claude-sonnet-5-5', light: 'claude-haiku-5-5' },
  openai: { main: 'gpt-5.5', light: 'gpt-5.4-mini' },
  deepseek: { main: 'deepseek-chat', light: 'deepseek-chat' },
};
/** Roles that do short, cheap work and get the light model. */
const LIGHT_ROLES = ['enhancer', 'analyst'];
/** A local server has no catalogue we know: Ollama gets a common coding model, others their loaded one. */
const LOCAL_MODEL: Record<string, string> = { ollama: 'qwen2.5-coder:7b' };

/**
 * A sensible routing from the providers that can be called (a key, or a local server): the first of
 * anthropic, openai, deepseek, then local servers is primary, the rest are fallbacks in every list.
 * Null when none is usable (the server then runs the demo provider).
 * @example
 * defaultRouting([{ name: 'anthropic', kind: 'anthropic', baseUrl: 'https://api.anthropic.com', keySource: 'ANTHROPIC_API_KEY', apiKey: 'sk-…' }]);
 * // { routes: { default: [anthropic/claude-sonnet-5-5], enhancer: [anthropic/claude-haiku-5-5], analyst: [...] }, aliases: {}, source: 'default routing (ANTHROPIC_API_KEY)' }
 */
export function defaultRouting(providers: readonly ProviderSpec[]): Routing | null {
  const order = [
    ...['anthropic', 'openai', 'deepseek'].flatMap((name) => providers.filter((p) => p.name === name)),
    ...providers.filter((p) => !(p.name in BUILT_IN)),
  ].filter((p) => p.kind !== 'demo' && usable(p));
  if (!order.length) return null;
  const make = (provider: string, model: string): Deployment => ({ id: `${provider}/${model}`, provider, model, params: {} });
  const pick = (p: ProviderSpec, light: boolean): Deployment => {
    const builtIn = BUILT_IN[p.name];
    return make(p.name, builtIn ? (light ? builtIn.light : builtIn.main) : (LOCAL_MODEL[p.name] ?? 'default'));
  };
  const routes: Record<string, RouteTarget> = { default: order.map((p) => pick(p, false)) };
  for (const role of LIGHT_ROLES) routes[role] = order.map((p) => pick(p, true));
  const sources = order.map((p) => (p.keySource && p.keySource !== 'none' && p.keySource !== 'config' ? p.keySource : p.name));
  return { routes, aliases: {}, source: `default routing (${sources.join(', ')})` };
}
