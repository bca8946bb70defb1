import type { Address, Topic } from './address.ts';

/** One generated file: a path relative to the task's folder and its text. */
export interface GeneratedFile {
  path: string;
  content: string;
}

export const Complexity = { Simple: 'simple', Complex: 'complex' } as const;
export type Complexity = (typeof Complexity)[keyof typeof Complexity];

// A sandbox report is the sandbox's own type (sandbox/mod.ts): one definition, named here for the
// runtime, the plugins and the UI (a type-only import: nothing of the sandbox loads with it).
export type { SandboxReport, TestResult } from '../../sandbox/mod.ts';
import type { SandboxReport } from '../../sandbox/mod.ts';

export interface Analysis {
  complexity: Complexity;
  summary: string;
  /** What kind of output the task makes: a module with tests, or a graphic (SVG/HTML) with tests. */
  kind: 'code' | 'graphic';
}

export interface Implementation {
  files: GeneratedFile[];
  /** The module the sandbox runs first. */
  entry: string;
  /** Which of the files are test files. */
  tests: string[];
  notes: string;
}

export interface Feedback {
  iteration: number;
  findings: string[];
  report: SandboxReport;
}

export interface ReviewFinding {
  file: string;
  line: number;
  severity: 'error' | 'warning';
  message: string;
}

/** A task as every view (HTTP, ws, CLI, dashboard) shows it. */
export interface TaskView {
  id: string;
  requirement: string;
  priority: number;
  status: 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
  stage: string;
  iteration: number;
  maxIterations: number;
  attempt: number;
  error: TaskError | null;
  createdAt: number;
  updatedAt: number;
  files: string[];
  /**
   * A running task waits on an agent: which role, since when (epoch ms: its stage began), and the last
   * failed attempt of that stage's model call if one failed (retrying, falling back): what a dashboard
   * card says ("waiting on the implementer · 2 min · attempt 2 after timeout at 301 s").
   */
  waiting?: { role: string; since: number; lastAttempt?: { at: number; deployment: string; attempt: number; kind: string; text: string } };
  /**
   * The last sandbox validation of the current attempt, as it came out: passed or not, how many tests
   * ran and failed, and why not (a sandbox reason such as 'tests-failed'). Absent before the first
   * validation; a fix loop shows here as a failed one while the implementer tries again.
   */
  validation?: { ok: boolean; tests: number; failed: number; reason: string | null };
}

/** Why a task failed: the stage it failed in, a reason a program can act on, and a sentence for people. */
export interface TaskError {
  stage: string;
  /** A sandbox reason ('tests-failed', 'timeout', …) or a runtime error code (E_LLM, E_AGENT_FAILED, …). */
  reason: string;
  message: string;
}

/** A task in full, as GET /api/tasks/:id answers it (the dashboard's task detail, `runtime tasks show`). */
export interface TaskDetail extends TaskView {
  prompt: string | null;
  analysis: Analysis | null;
  plan: string | null;
  report: SandboxReport | null;
  findings: string[];
  generated: GeneratedFile[];
  stages: Array<{ stage: string; at: number }>;
  messages: Array<{ type: string; from: string; to: string; at: number; summary: string }>;
  /** Failed model-call attempts (each before a retry, a fallback or giving up), with their reasons. */
  modelAttempts: Array<{ at: number; role: string; deployment: string; attempt: number; kind: string; text: string }>;
}

export const AgentStatus = {
  Ready: 'ready',
  Working: 'working',
  Restarting: 'restarting',
  Failed: 'failed',
} as const;
export type AgentStatus = (typeof AgentStatus)[keyof typeof AgentStatus];

/** One instance of a pool: an actor running the plugin's logic, serving one request at a time. */
export interface AgentInstanceState {
  /** `<plugin name>#<n>`, n from 1. */
  id: string;
  status: AgentStatus;
  taskId: string | null;
  done: number;
  failed: number;
  restarts: number;
  lastError: string | null;
}

/**
 * A role's pool: one mailbox, `concurrency` instances. `status` sums them up (working while any
 * instance works, failed once the pool is), and the counts say how many are busy, idle and failed.
 */
export interface AgentState {
  name: string;
  version: string;
  role: string;
  status: AgentStatus;
  /** The task of the first busy instance (every busy instance's task is in `instances`). */
  taskId: string | null;
  done: number;
  failed: number;
  restarts: number;
  lastError: string | null;
  lastLatencyMs: number | null;
  concurrency: number;
  busy: number;
  idle: number;
  /** Instances restarting after a crash (backoff) or marked failed with their pool. */
  down: number;
  instances: AgentInstanceState[];
}

export const LogLevel = { Debug: 'debug', Info: 'info', Warn: 'warn', Error: 'error' } as const;
export type LogLevel = (typeof LogLevel)[keyof typeof LogLevel];

/**
 * The catalogue: message type → payload. Namespaced `type`s; `*.request` is sent to a role and answered
 * with the matching `*.result`. Plugins add entries by declaration merging:
 * @example
 * declare module '../../runtime/protocol/mod.ts' {
 *   interface MessageMap { 'license.request': { files: GeneratedFile[] }; 'license.result': { notes: string[] } }
 * }
 */
export interface MessageMap {
  'task.submitted': { requirement: string; priority: number };
  'enhance.request': { requirement: string };
  'enhance.result': { prompt: string };
  'analysis.request': { requirement: string; prompt: string };
  'analysis.result': Analysis;
  'reasoning.request': { requirement: string; prompt: string; analysis: Analysis };
  'reasoning.result': { plan: string };
  'implementation.request': {
    requirement: string;
    prompt: string;
    analysis: Analysis;
    plan: string | null;
    feedback: Feedback | null;
    previous: GeneratedFile[] | null;
  };
  'implementation.result': Implementation;
  'validation.request': { requirement: string; implementation: Implementation };
  'validation.result': { report: SandboxReport; findings: string[] };
  'integration.request': { implementation: Implementation; report: SandboxReport & { ok: true } };
  'integration.result': { dir: string; written: string[] };
  /** Optional stage: sent when an agent serves role 'reviewer'; error findings go back to the implementer. */
  'review.request': { requirement: string; implementation: Implementation };
  'review.result': { findings: ReviewFinding[] };
  'task.updated': TaskView;
  'agent.status': AgentState;
  'log.entry': { level: LogLevel; source: string; text: string };
  /** Streamed model output, published on topic:llm.tokens as it arrives (agent = role, or 'proxy'). */
  'llm.token': { agent: string; deployment: string; text: string; kind: 'text' | 'thinking' | 'tool' };
  /** One finished model call, after usage accounting (published on topic:llm.tokens). */
  'llm.usage': LlmUsageEvent;
  /** A model call's attempt that failed (the loop retries, falls back or gives up), on topic:llm.tokens. */
  'llm.attempt': LlmAttemptEvent;
}

/** One failed attempt of an agent's model call, as the task's event log and the dashboard show it. */
export interface LlmAttemptEvent {
  role: string;
  deployment: string;
  /** 1-based, per deployment. */
  attempt: number;
  /** 'timeout', 'http', 'network', 'aborted', … (runtime/llm FailureKind). */
  kind: string;
  status?: number;
  /** How long the attempt took. */
  ms: number;
  error: string;
  /** One line for people: "the implementer's model call to anthropic/x: attempt 1 failed after 301 s: timeout …". */
  text: string;
}

/** How a model call ended. */
export const UsageOutcome = { Ok: 'ok', Failed: 'failed', Cancelled: 'cancelled', Timeout: 'timeout' } as const;
export type UsageOutcome = (typeof UsageOutcome)[keyof typeof UsageOutcome];

/** What one model call cost: the usage ledger row as the dashboard sees it. */
export interface LlmUsageEvent {
  agent: string;
  deployment: string;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  ms: number;
  cached: boolean;
  attempts: number;
  ok: boolean;
  /** 'cancelled' or 'timeout' when the task withdrew the call (cancelled, failed, its stage timed out). */
  outcome: UsageOutcome;
}

export type MessageType = keyof MessageMap;

export type Message<K extends MessageType = MessageType> = {
  [T in K]: {
    type: T;
    id: string;
    from: Address;
    to: Address | Topic;
    taskId?: string;
    causationId?: string;
    ts: number;
    payload: MessageMap[T];
  };
}[K];

/** The request types whose reply type is the matching `.result`. */
export type RequestType = {
  [K in MessageType]: K extends `${infer P}.request` ? (`${P}.result` extends MessageType ? K : never) : never;
}[MessageType];
export type ResultOf<K extends RequestType> = K extends `${infer P}.request` ? `${P}.result` & MessageType : never;
