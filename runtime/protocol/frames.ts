// The /ws wire format: what the server's hub sends and what a dashboard reads. Shared by
// runtime/server/hub.ts and ui/ (which imports only types from runtime/protocol).
import { z } from 'zod';
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

// ---- /ws/inspect: the inspection channel (runtime/server/inspect.ts, ui/src/components/actor-inspector.ts)

/** An actor the inspector can show: the root supervisor, one agent, or one task's pipeline. */
export type InspectActorId = 'supervisor' | `agent:${string}` | `task:${string}`;

/** One state node of a machine definition, flattened: `parent` is the id of the enclosing node. */
export interface InspectStateNode {
  id: string;
  key: string;
  parent: string | null;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** The id of the initial child (compound nodes). */
  initial?: string;
  /** The `src` of each invoked actor. */
  invoke?: string[];
}

/** One transition: `event` is the event type, or `done: <src>` / `error: <src>` / `always` / `after: <ms>`. */
export interface InspectEdge {
  source: string;
  target: string[];
  event: string;
  kind: 'on' | 'done' | 'error' | 'always' | 'after';
  /** The guard's name; 'inline' for an anonymous guard function. */
  guard?: string;
}

/** A machine definition as JSON, derived from the XState machine object. */
export interface InspectMachine {
  id: string;
  /** The machine version the runtime persists (PIPELINE_MACHINE_VERSION, …) when there is one. */
  version?: string;
  root: string;
  nodes: InspectStateNode[];
  edges: InspectEdge[];
}

/** One entry of a task's persisted event log (runtime/store events). */
export interface InspectHistoryEntry {
  seq: number;
  at: number;
  type: string;
  data: unknown;
}

/**
 * One node of the supervision tree (GET /api/actors, the inspector's 'actors' frame): the root, its two
 * subtrees (agents, tasks), the pools and their instances, the running tasks. `actor` is the id to
 * inspect it by, when it can be; `strategy` says what happens when a node of that level fails.
 */
export interface ActorNode {
  id: string;
  kind: 'root' | 'agents' | 'tasks' | 'pool' | 'instance' | 'task';
  status: string;
  actor?: InspectActorId;
  strategy?: string;
  /** What a view shows beside the status: a pool's counts, an instance's task, a task's stage and deadline. */
  detail?: Record<string, string | number | null>;
  children: ActorNode[];
}

export type InspectServerFrame =
  | { type: 'actors'; actors: InspectActorId[]; tree?: ActorNode }
  | { type: 'machine'; actor: InspectActorId; definition: InspectMachine }
  | { type: 'state'; actor: InspectActorId; value: unknown; context: unknown; at: number; event?: { type: string; payload: unknown } }
  | { type: 'history'; actor: InspectActorId; entries: InspectHistoryEntry[] }
  | { type: 'error'; message: string };

/** Frames an inspection client may send on /ws/inspect. */
export const InspectClientFrame = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('subscribe'),
    actor: z.string().regex(/^(supervisor|agent:[\w.-]{1,64}(#\d{1,4})?|task:[\w.-]{1,128})$/, { error: "must be 'supervisor', 'agent:<name>', 'agent:<name>#<n>' or 'task:<id>'" }),
  }),
  z.strictObject({ type: z.literal('unsubscribe') }),
  z.strictObject({ type: z.literal('actors') }),
]);
export type InspectClientFrame = z.infer<typeof InspectClientFrame>;
