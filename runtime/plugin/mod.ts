/**
 * The plugin contract: what an agent plugin exports, what it receives (capabilities as actor input),
 * `defineAgent` for the common case, and the loader that turns folders into checked plugins.
 * @module
 */
export type {
  AgentCancelEvent,
  AgentPlugin,
  AnyAgentPlugin,
  Capabilities,
  Llm,
  LlmMessage,
  LlmRequest,
  LlmResponse,
  Log,
  SandboxCapability,
  StandardSchema,
  WorkspaceCapability,
} from './contract.ts';
export { defineAgent } from './define.ts';
export type { AgentSpec } from './define.ts';
export { MAX_CONCURRENCY, checkConfig, checkPlugin, loadPlugins } from './load.ts';
export type { LoadedPlugin, LoadOptions, PluginFailure } from './load.ts';
