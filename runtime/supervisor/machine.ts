import { assign, enqueueActions, setup, stopChild } from 'xstate';
import type { AnyActorRef } from 'xstate';
import { AgentStatus, errorMessage } from '../protocol/mod.ts';
import type { AgentState } from '../protocol/mod.ts';
import type { AnyAgentPlugin, LoadedPlugin, PluginFailure } from '../plugin/mod.ts';

export const SUPERVISOR_MACHINE_VERSION = 'supervisor@1';

export interface SupervisorPolicy {
  /** First restart delay; doubles per crash in the window, capped at maxBackoffMs. */
  backoffMs: number;
  maxBackoffMs: number;
  /** This many crashes within windowMs mark the agent failed (escalation). */
  maxCrashes: number;
  windowMs: number;
}

export const defaultPolicy: SupervisorPolicy = { backoffMs: 100, maxBackoffMs: 10_000, maxCrashes: 5, windowMs: 60_000 };

export interface SupervisorHooks {
  /** Input for a new actor of `plugin` (its capabilities), for generation `generation`. */
  inputFor(loaded: LoadedPlugin, generation: number): unknown;
  crashed(name: string, error: string, willRestart: boolean): void;
  restarted(name: string): void;
  escalated(name: string, reason: string): void;
}

export interface SupervisorInput {
  plugins: LoadedPlugin[];
  failures: PluginFailure[];
  policy: SupervisorPolicy;
  hooks: SupervisorHooks;
  now: () => number;
}

export interface SupervisorContext {
  agents: Record<string, AgentState>;
  refs: Record<string, AnyActorRef>;
  generations: Record<string, number>;
  crashes: Record<string, number[]>;
  plugins: Record<string, LoadedPlugin>;
  failures: PluginFailure[];
  policy: SupervisorPolicy;
  hooks: SupervisorHooks;
  now: () => number;
}

export type SupervisorEvent =
  | { type: 'agent.work'; name: string; taskId: string | null }
  | { type: 'agent.done'; name: string; ok: boolean; latencyMs: number }
  | { type: 'agent.hung'; name: string; error: string }
  | { type: 'agent.restart'; name: string }
  | { type: 'supervisor.stop' };

type AnySpawn = (logic: unknown, options: { id: string; input: unknown }) => AnyActorRef;

// Loosely typed on purpose: XState's enqueue is generic over the machine's events, and this handles
// both our own 'agent.hung' and XState's 'xstate.error.actor.<id>' (which is not in our union).
interface Enqueue {
  (action: unknown): void;
  assign(values: Partial<SupervisorContext>): void;
  raise(event: SupervisorEvent, options: { delay: number; id: string }): void;
}

function agentState(plugin: AnyAgentPlugin): AgentState {
  return {
    name: plugin.name,
    version: plugin.version,
    role: plugin.role,
    status: AgentStatus.Ready,
    taskId: null,
    done: 0,
    failed: 0,
    restarts: 0,
    lastError: null,
    lastLatencyMs: null,
  };
}

/** `name#generation`: a restarted agent is a new child, so stale error events are recognisable. */
export function childId(name: string, generation: number): string {
  return `${name}#${generation}`;
}

function patch(context: SupervisorContext, name: string, change: Partial<AgentState>): Record<string, AgentState> {
  return { ...context.agents, [name]: { ...context.agents[name], ...change } };
}

/**
 * The root actor. It spawns one child per agent plugin and owns every agent's status and counts, so
 * the dashboard reads one snapshot that cannot drift from what runs. A crashed child (error event or a
 * hang) is restarted after exponential backoff; `maxCrashes` within `windowMs` marks it failed.
 */
export const supervisorMachine = setup({
  types: {
    input: {} as SupervisorInput,
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input, spawn }) => {
    const agents: Record<string, AgentState> = {};
    const refs: Record<string, AnyActorRef> = {};
    const generations: Record<string, number> = {};
    const plugins: Record<string, LoadedPlugin> = {};
    for (const loaded of input.plugins) {
      const name = loaded.plugin.name;
      plugins[name] = loaded;
      agents[name] = agentState(loaded.plugin);
      generations[name] = 1;
      refs[name] = (spawn as unknown as AnySpawn)(loaded.plugin.logic, { id: childId(name, 1), input: input.hooks.inputFor(loaded, 1) as never });
    }
    return { agents, refs, generations, crashes: {}, plugins, failures: input.failures, policy: input.policy, hooks: input.hooks, now: input.now };
  },
  initial: 'running',
  states: {
    running: {
      on: {
        'agent.work': {
          actions: assign({
            agents: ({ context, event }) => patch(context, event.name, { status: AgentStatus.Working, taskId: event.taskId }),
          }),
        },
        'agent.done': {
          actions: assign({
            agents: ({ context, event }) => {
              const agent = context.agents[event.name];
              return patch(context, event.name, {
                status: agent.status === AgentStatus.Working ? AgentStatus.Ready : agent.status,
                taskId: agent.status === AgentStatus.Working ? null : agent.taskId,
                done: agent.done + (event.ok ? 1 : 0),
                failed: agent.failed + (event.ok ? 0 : 1),
                lastLatencyMs: event.latencyMs,
              });
            },
          }),
        },
        'xstate.error.actor.*': { actions: enqueueActions(({ context, event, enqueue }) => crash(context as SupervisorContext, event, enqueue)) },
        'agent.hung': { actions: enqueueActions(({ context, event, enqueue }) => crash(context as SupervisorContext, event, enqueue)) },
        'agent.restart': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const loaded = context.plugins[event.name];
            if (!loaded || context.agents[event.name].status !== AgentStatus.Restarting) return;
            const generation = context.generations[event.name] + 1;
            enqueue.assign(({ spawn }) => ({
              generations: { ...context.generations, [event.name]: generation },
              refs: {
                ...context.refs,
                [event.name]: (spawn as unknown as AnySpawn)(loaded.plugin.logic, {
                  id: childId(event.name, generation),
                  input: context.hooks.inputFor(loaded, generation) as never,
                }),
              },
              agents: patch(context, event.name, { status: AgentStatus.Ready, taskId: null }),
            }));
            enqueue(() => context.hooks.restarted(event.name));
          }),
        },
        'supervisor.stop': { target: 'stopped' },
      },
    },
    stopped: {
      type: 'final',
      entry: enqueueActions(({ context, enqueue }) => {
        for (const ref of Object.values(context.refs)) enqueue(stopChild(ref));
      }),
    },
  },
});

/** A child died (error event) or hung: restart it after backoff, or escalate after too many crashes. */
function crash(context: SupervisorContext, event: { type: string }, enqueueRaw: unknown): void {
  const enqueue = enqueueRaw as Enqueue;
  let name: string;
  let error: string;
  if (event.type === 'agent.hung') {
    ({ name, error } = event as { type: 'agent.hung'; name: string; error: string });
  } else {
    const id = event.type.slice('xstate.error.actor.'.length);
    const [childName, generation] = id.split('#');
    // An error from an older generation was already handled when that generation died.
    if (Number(generation) !== context.generations[childName]) return;
    name = childName;
    error = errorMessage((event as unknown as { error: unknown }).error);
  }
  const agent = context.agents[name];
  if (!agent || agent.status === AgentStatus.Failed || agent.status === AgentStatus.Restarting) return;
  const now = context.now();
  const { policy } = context;
  const recent = [...(context.crashes[name] ?? []).filter((t) => now - t < policy.windowMs), now];
  const ref = context.refs[name];
  if (ref) enqueue(stopChild(ref));
  if (recent.length >= policy.maxCrashes) {
    const reason = `agent ${name} crashed ${recent.length} times within ${Math.round(policy.windowMs / 1000)} s and is marked failed; last error: ${error}`;
    enqueue.assign({
      crashes: { ...context.crashes, [name]: recent },
      agents: patch(context, name, { status: AgentStatus.Failed, taskId: null, lastError: reason }),
    });
    enqueue(() => context.hooks.crashed(name, error, false));
    enqueue(() => context.hooks.escalated(name, reason));
    return;
  }
  const delay = Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** (recent.length - 1));
  enqueue.assign({
    crashes: { ...context.crashes, [name]: recent },
    agents: patch(context, name, { status: AgentStatus.Restarting, restarts: agent.restarts + 1, lastError: error }),
  });
  enqueue(() => context.hooks.crashed(name, error, true));
  enqueue.raise({ type: 'agent.restart', name }, { delay, id: `restart:${name}` });
}
