import type { AnyActorLogic } from 'xstate';
import type {
  Address,
  Clock,
  LogLevel,
  MessageMap,
  MessageType,
  RequestType,
  ResultOf,
  SandboxReport,
  Topic,
  GeneratedFile,
} from '../protocol/mod.ts';

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
  /**
   * Aborts the call: the upstream connection is closed and no further attempt starts. defineAgent
   * binds every call an agent makes to its request's signal, so a cancelled task stops its model calls.
   */
  signal?: AbortSignal;
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
  /**
   * `owner` (the task id) lets the sandbox cap one task's concurrent runs. Aborting `signal` stops the
   * run (a queued one never starts, a running one's worker is killed) and rejects with its reason;
   * defineAgent binds every run to its request's signal, so a cancelled task frees its sandbox worker.
   */
  validate(input: { files: Record<string, string>; entry: string; tests: string[]; limits?: { memoryMb?: number; timeoutMs?: number }; owner?: string; signal?: AbortSignal }): Promise<SandboxReport>;
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
  readonly clock: Pick<Clock, 'now'>;
  /**
   * Aborts when the request being handled is withdrawn (its task cancelled or failed, its stage timed
   * out, the server draining). Set per request by defineAgent; a raw-logic agent gets the event
   * `agent.cancel` ({ requestId, reason }) instead and should stop and `fail` that request.
   */
  readonly signal?: AbortSignal;
  send<K extends RequestType>(to: Address, type: K, payload: MessageMap[K], options?: { taskId?: string; timeoutMs?: number }): Promise<MessageMap[ResultOf<K>]>;
  publish<K extends MessageType>(to: Topic, type: K, payload: MessageMap[K], options?: { taskId?: string }): number;
  /** Answers the request `requestId` (the agent machine calls it once per request). */
  reply(requestId: string, payload: unknown): void;
  /** Answers the request `requestId` with a failure the task can act on (bad model output, provider down). */
  fail(requestId: string, error: unknown): void;
}

/** The event an instance receives when the request it works on is withdrawn. */
export interface AgentCancelEvent {
  type: 'agent.cancel';
  requestId: string;
  reason: string;
  /** The sender's error (E_CANCELLED, E_TIMEOUT …) when it is in this process. */
  error?: unknown;
}

/**
 * What a drop-in agent plugin default-exports. `logic` is an XState actor logic that receives the
 * request messages it `accepts` as events and answers each through `input.reply` / `input.fail`.
 * A throw inside the logic is a crash: the supervisor restarts that instance and redelivers.
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
  /**
   * How many instances serve the role at once (its pool's size) unless config `agents.<role>.concurrency`
   * says otherwise; 'serial' means exactly one, whatever the config (for a plugin that keeps state
   * between requests). Unset: the server's default (at least `--workers` for the built-in model roles).
   */
  concurrency?: number | 'serial';
}

export type AnyAgentPlugin = AgentPlugin<any>;
