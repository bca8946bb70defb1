import type { AnyActorLogic } from 'xstate';
import type { Address, LogLevel, MessageMap, MessageType, RequestType, ResultOf, SandboxReport, Topic, GeneratedFile } from '../protocol/mod.ts';

/** A schema any library can provide (zod, valibot, arktype implement it): https://standardschema.dev */
export interface StandardSchema<Output = unknown> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) =>
      | { readonly value: Output; readonly issues?: undefined }
      | { readonly issues: ReadonlyArray<{ readonly message: string; readonly path?: ReadonlyArray<PropertyKey | { key: PropertyKey }> }> }
      | Promise<unknown>;
  };
}

export interface LlmMessage {
  role: 'user' | 'assistant';
  content: string;
}

export interface LlmRequest {
  /** The agent role asking: routing picks the model by it. */
  role: string;
  system: string;
  messages: LlmMessage[];
  maxTokens?: number;
  taskId?: string;
  /** Ask for one JSON object matching this JSON schema; the agent still validates the answer. */
  json?: { name: string; schema: Record<string, unknown> };
  /**
   * Facts about the call: `complexity` ('simple' | 'complex', from the analyst) lets model-routing.json
   * pick a route; the demo/transcript providers use `requirement` and `attempt` to pick a turn.
   */
  meta?: { requirement?: string; attempt?: number; complexity?: string };
}

export interface LlmResponse {
  text: string;
  provider: string;
  model: string;
  usage: { inputTokens: number; outputTokens: number };
  ms: number;
  /** True when the bundled demo transcripts answered, so every view can label it. */
  demo: boolean;
  /** True when the gateway's cache answered and no model was called. */
  cached?: boolean;
}

export interface Llm {
  complete(request: LlmRequest): Promise<LlmResponse>;
}

export interface SandboxCapability {
  /** `owner` (the task id) lets the sandbox cap one task's concurrent runs. */
  validate(input: { files: Record<string, string>; entry: string; tests: string[]; limits?: { memoryMb?: number; timeoutMs?: number }; owner?: string }): Promise<SandboxReport>;
}

export interface WorkspaceCapability {
  writeFiles(taskId: string, files: GeneratedFile[]): Promise<string[]>;
  /** Writes the batch, then removes every other file of the task folder (an earlier attempt's). */
  replaceFiles(taskId: string, files: GeneratedFile[]): Promise<string[]>;
  archive(taskId: string, manifest: unknown): Promise<string>;
  taskDir(taskId: string): string;
}

export type Log = (level: LogLevel, text: string, taskId?: string) => void;

/**
 * What an agent may touch. It arrives as the actor's `input`, never as a global: a plugin can be
 * tested with a fake of each piece, and cannot reach the server.
 */
export interface Capabilities<Config = unknown> {
  readonly self: Address;
  readonly config: Config;
  readonly llm: Llm;
  readonly sandbox: SandboxCapability;
  readonly workspace: WorkspaceCapability;
  readonly log: Log;
  readonly clock: { now(): number };
  send<K extends RequestType>(to: Address, type: K, payload: MessageMap[K], options?: { taskId?: string; timeoutMs?: number }): Promise<MessageMap[ResultOf<K>]>;
  publish<K extends MessageType>(to: Topic, type: K, payload: MessageMap[K], options?: { taskId?: string }): number;
  /** Answers the request `requestId` (the agent machine calls it once per request). */
  reply(requestId: string, payload: unknown): void;
  /** Answers the request `requestId` with a failure the task can act on (bad model output, provider down). */
  fail(requestId: string, error: unknown): void;
}

/**
 * What a drop-in agent plugin default-exports. `logic` is an XState actor logic that receives the
 * request messages it `accepts` as events and answers each through `input.reply` / `input.fail`.
 * A throw inside the logic is a crash: the supervisor restarts the agent and redelivers.
 */
export interface AgentPlugin<Config = unknown> {
  name: string;
  version: string;
  role: string;
  description?: string;
  accepts: readonly MessageType[];
  emits: readonly MessageType[];
  config?: StandardSchema<Config>;
  logic: AnyActorLogic;
}

export type AnyAgentPlugin = AgentPlugin<any>;
