/**
 * The /ws wire format as the browser sees it (runtime/server/hub.ts is the server side). ui/ imports
 * runtime/protocol only: types, and the few values it shares with the runtime (the stage list). The
 * folder's package.json declares it free of side effects, so the bundle holds only the values used,
 * never its schemas or zod (test/ui/bundle.test.ts).
 */
import type { AgentState, LlmUsageEvent, LogLevel, MessageMap, TaskView } from '../../runtime/protocol/mod.ts';

export type { AgentState, LlmUsageEvent, LogLevel, TaskView };

export type { HubEvent, HubLogLine, HubState, ServerFrame } from '../../runtime/protocol/mod.ts';
export type { InspectActorId, InspectEdge, InspectHistoryEntry, InspectMachine, InspectServerFrame, InspectStateNode } from '../../runtime/protocol/mod.ts';

/** GET /api/tasks/:id */
export interface TaskDetail extends TaskView {
  prompt: string | null;
  analysis: { complexity: string; summary: string; kind: string } | null;
  plan: string | null;
  report: SandboxReportView | null;
  findings: string[];
  generated: Array<{ path: string; content: string }>;
  stages: Array<{ stage: string; at: number }>;
  messages: Array<{ type: string; from: string; to: string; at: number; summary: string }>;
}

export interface TestResultView {
  name: string;
  ok: boolean;
  ms: number;
  message?: string;
}

export interface SandboxReportView {
  ok: boolean;
  reason?: string;
  message?: string;
  tests?: TestResultView[];
  console?: string[];
  ms?: number;
  memoryBytes?: number;
}
