// The /ws wire format: what the server's hub sends and what a dashboard reads. Shared by
// runtime/server/hub.ts and ui/ (which imports only types from runtime/protocol).
import type { AgentState, LlmUsageEvent, LogLevel, MessageMap, TaskView } from './messages.ts';

/** What a dashboard holds: the whole picture, then every change in order. */
export interface HubState {
  demo: boolean;
  agents: Record<string, AgentState>;
  tasks: Record<string, TaskView>;
}

/**
 * State changes (agent, task) and live model output (token, usage). Tokens and usage are a stream for
 * the console and charts, not state: a snapshot does not carry them.
 */
export type HubEvent =
  | { kind: 'agent'; agent: AgentState }
  | { kind: 'task'; task: TaskView }
  | { kind: 'token'; taskId?: string; token: MessageMap['llm.token'] }
  | { kind: 'usage'; taskId?: string; usage: LlmUsageEvent }
  | { kind: 'log'; taskId?: string; log: HubLogLine };

/** One console line: a bus log entry, a message an agent sent or received, or a task's stage change. */
export interface HubLogLine {
  ts: number;
  level: LogLevel;
  /** Who the line is about: an agent name ('enhancer'), 'tasks', 'supervisor', … */
  source: string;
  text: string;
}

export type ServerFrame =
  | { type: 'snapshot'; seq: number; state: HubState }
  | { type: 'update'; seq: number; events: HubEvent[] }
  | { type: 'error'; message: string }
  | { type: 'pong'; id?: string };
