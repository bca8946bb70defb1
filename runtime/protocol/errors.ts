/**
 * The one coded exception of the runtime. Every message names the thing, the value and the fix;
 * `code` is stable so callers (HTTP, CLI, tests) branch on it, never on the text.
 */
export const ErrorCode = {
  /** A value at a boundary (HTTP body, ws frame, config, plugin field, LLM output) failed its schema. */
  Invalid: 'E_INVALID',
  NotFound: 'E_NOT_FOUND',
  /** Nobody serves the address a message was sent to. */
  NoHandler: 'E_NO_HANDLER',
  Timeout: 'E_TIMEOUT',
  MailboxFull: 'E_MAILBOX_FULL',
  /** An interceptor dropped the message. */
  Dropped: 'E_DROPPED',
  /** The handler threw or replied with an error. */
  Handler: 'E_HANDLER',
  /** The agent serving a role is marked failed by the supervisor. */
  AgentFailed: 'E_AGENT_FAILED',
  PluginLoad: 'E_PLUGIN_LOAD',
  PluginConfig: 'E_PLUGIN_CONFIG',
  Llm: 'E_LLM',
  /** The model's answer did not have the shape the agent needs. */
  LlmOutput: 'E_LLM_OUTPUT',
  /** A per-task cap on tokens, cost or turns was reached. */
  Budget: 'E_BUDGET',
  Path: 'E_PATH',
  /** A filesystem operation failed (permissions, disk full, …): the task fails, the agent does not crash. */
  Io: 'E_IO',
  Conflict: 'E_CONFLICT',
  Unsupported: 'E_UNSUPPORTED',
  Stopped: 'E_STOPPED',
  /** A service the runtime needs is not reachable (the cluster's NATS servers). */
  Unavailable: 'E_UNAVAILABLE',
  /** The caller withdrew the request (task cancelled or failed, stage timed out, server draining). */
  Cancelled: 'E_CANCELLED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class RuntimeError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RuntimeError';
    this.code = code;
    this.details = options?.details;
  }
}

/** Failure as data, for anything that crosses a boundary. */
export interface Failure {
  ok: false;
  reason: string;
  message: string;
}

/** Turns anything thrown into a one-line message (never a stack, never an object dump). */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'string') return error;
  try {
    return JSON.stringify(error);
  } catch {
    return String(error);
  }
}
