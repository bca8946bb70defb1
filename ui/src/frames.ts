/**
 * The /ws wire format as the browser sees it (runtime/server/hub.ts is the server side). ui/ imports
 * runtime/protocol only: types, and the few values it shares with the runtime (the stage list). The
 * folder's package.json declares it free of side effects, so the bundle holds only the values used,
 * never its schemas or zod (test/ui/bundle.test.ts).
 */
export type { AgentState, LlmUsageEvent, LogLevel, TaskDetail, TaskView } from '../../runtime/protocol/mod.ts';

export type { HubEvent, HubLogLine, HubState, ServerFrame } from '../../runtime/protocol/mod.ts';
export type { ActorNode, InspectActorId, InspectEdge, InspectHistoryEntry, InspectMachine, InspectServerFrame, InspectStateNode } from '../../runtime/protocol/mod.ts';
