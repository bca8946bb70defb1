import { assign, enqueueActions, setup, stopChild } from 'xstate';
import type { AnyActorRef } from 'xstate';
import { AgentStatus, errorMessage } from '../protocol/mod.ts';
import type { Clock } from '../protocol/mod.ts';
import type { LoadedPlugin, PluginFailure } from '../plugin/mod.ts';

export const SUPERVISOR_MACHINE_VERSION = 'supervisor@4';

export interface SupervisorPolicy {
  /** First restart delay of an instance; doubles per crash of that instance in the window, capped at maxBackoffMs. */
  backoffMs: number;
  maxBackoffMs: number;
  /**
   * Restart intensity of a pool: this many crashes of its instances within windowMs mark the whole pool
   * failed and escalate to the root (OTP's one-for-one supervisor with max restarts per period).
   */
  maxCrashes: number;
  windowMs: number;
}

export const defaultPolicy: SupervisorPolicy = { backoffMs: 100, maxBackoffMs: 10_000, maxCrashes: 5, windowMs: 60_000 };

export interface SupervisorHooks {
  /** Input for a new actor of `loaded` (its capabilities), for instance `id` in generation `generation`. */
  inputFor(loaded: LoadedPlugin, id: string, generation: number): unknown;
  crashed(id: string, error: string, willRestart: boolean): void;
  restarted(id: string): void;
  escalated(name: string, reason: string): void;
}

/** One pool to start: a loaded plugin and how many instances serve its role. */
export interface PoolSpec {
  loaded: LoadedPlugin;
  size: number;
}

export interface SupervisorInput {
  pools: PoolSpec[];
  failures: PluginFailure[];
  policy: SupervisorPolicy;
  hooks: SupervisorHooks;
  now: Clock['now'];
}

/**
 * An instance's life: up (`ready`; whether it serves a request now is the ledger's, _ledger.ts),
 * restarting after a crash, or failed with its pool.
 */
export interface Instance {
  /** `name#n`. */
  id: string;
  /** The plugin (pool) it belongs to. */
  name: string;
  generation: number;
  status: typeof AgentStatus.Ready | typeof AgentStatus.Restarting | typeof AgentStatus.Failed;
  restarts: number;
  lastError: string | null;
}

export interface SupervisorContext {
  instances: Record<string, Instance>;
  refs: Record<string, AnyActorRef>;
  /** Crash times per instance (its backoff) and per pool (its restart intensity). */
  crashes: Record<string, number[]>;
  pools: Record<string, PoolSpec>;
  failures: PluginFailure[];
  policy: SupervisorPolicy;
  hooks: SupervisorHooks;
  now: Clock['now'];
}

export type SupervisorEvent =
  | { type: 'agent.hung'; id: string; error: string }
  | { type: 'agent.restart'; id: string }
  /** Stops a child created under the root with `parent` (a task actor): only its parent may. */
  | { type: 'child.stop'; ref: AnyActorRef }
  | { type: 'supervisor.stop' };

type AnySpawn = (logic: unknown, options: { id: string; input: unknown }) => AnyActorRef;

// Loosely typed on purpose: XState's enqueue is generic over the machine's events, and this handles
// both our own 'agent.hung' and XState's 'xstate.error.actor.<id>' (which is not in our union).
interface Enqueue {
  (action: unknown): void;
  assign(values: Partial<SupervisorContext>): void;
  raise(event: SupervisorEvent, options: { delay: number; id: string }): void;
}

/** `name#n`: the instance's id in views and logs. */
export function instanceId(name: string, n: number): string {
  return `${name}#${n}`;
}

/** `name#n@generation`: a restarted instance is a new child, so stale error events are recognisable. */
export function childId(id: string, generation: number): string {
  return `${id}@${generation}`;
}

/** The context after `change` to instance `id`. */
function patch(context: Pick<SupervisorContext, 'instances'>, id: string, change: Partial<Instance>): Pick<SupervisorContext, 'instances'> {
  return { instances: { ...context.instances, [id]: { ...context.instances[id], ...change } } };
}

/**
 * The root actor. Its agents subtree: pools (one per agent plugin, one mailbox each) and their
 * instances (children running the plugin's logic). Its tasks subtree: one actor per running task,
 * created by the task manager with this actor as `parent` (one actor system: one inspection stream),
 * stopped through `child.stop`; a task that fails, fails alone (the manager records why). It owns every
 * instance's life (generation, restarts, last error, a failed pool); which request an instance serves
 * now is the ledger's (_ledger.ts), kept beside it off the hot path. A crashed instance (error event
 * or a hang) restarts alone after exponential backoff while its siblings keep serving; `maxCrashes`
 * crashes in a pool within `windowMs` mark the pool failed (escalation to the root, which logs it and
 * keeps every other pool running).
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
    const instances: Record<string, Instance> = {};
    const refs: Record<string, AnyActorRef> = {};
    const pools: Record<string, PoolSpec> = {};
    for (const spec of input.pools) {
      const name = spec.loaded.plugin.name;
      pools[name] = spec;
      for (let n = 1; n <= spec.size; n++) {
        const id = instanceId(name, n);
        instances[id] = { id, name, generation: 1, status: AgentStatus.Ready, restarts: 0, lastError: null };
        refs[id] = (spawn as unknown as AnySpawn)(spec.loaded.plugin.logic, { id: childId(id, 1), input: input.hooks.inputFor(spec.loaded, id, 1) });
      }
    }
    return { instances, refs, crashes: {}, pools, failures: input.failures, policy: input.policy, hooks: input.hooks, now: input.now };
  },
  initial: 'running',
  states: {
    running: {
      on: {
        'xstate.error.actor.*': { actions: enqueueActions(({ context, event, enqueue }) => crash(context as SupervisorContext, event, enqueue)) },
        'agent.hung': { actions: enqueueActions(({ context, event, enqueue }) => crash(context as SupervisorContext, event, enqueue)) },
        'agent.restart': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const instance = context.instances[event.id];
            if (!instance || instance.status !== AgentStatus.Restarting) return;
            const { loaded } = context.pools[instance.name];
            const generation = instance.generation + 1;
            enqueue.assign(({ spawn }) => ({
              refs: {
                ...context.refs,
                [event.id]: (spawn as unknown as AnySpawn)(loaded.plugin.logic, {
                  id: childId(event.id, generation),
                  input: context.hooks.inputFor(loaded, event.id, generation),
                }),
              },
              ...patch(context, event.id, { status: AgentStatus.Ready, generation }),
            }));
            enqueue(() => context.hooks.restarted(event.id));
          }),
        },
        'child.stop': { actions: enqueueActions(({ event, enqueue }) => enqueue(stopChild(event.ref))) },
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

/** An instance died (error event) or hung: restart it alone after backoff, or fail its pool past the intensity. */
function crash(context: SupervisorContext, event: { type: string }, enqueueRaw: unknown): void {
  const enqueue = enqueueRaw as Enqueue;
  let id: string;
  let error: string;
  if (event.type === 'agent.hung') {
    ({ id, error } = event as { type: 'agent.hung'; id: string; error: string });
  } else {
    const child = event.type.slice('xstate.error.actor.'.length);
    const at = child.lastIndexOf('@');
    // Not an instance (`name#n@generation`): a task actor of the tasks subtree, which its manager fails alone.
    if (at < 0) return;
    id = child.slice(0, at);
    // An error from an older generation was already handled when that generation died.
    if (Number(child.slice(at + 1)) !== context.instances[id]?.generation) return;
    error = errorMessage((event as unknown as { error: unknown }).error);
  }
  const instance = context.instances[id];
  if (!instance || instance.status === AgentStatus.Failed || instance.status === AgentStatus.Restarting) return;
  const now = context.now();
  const { policy } = context;
  const within = (times: number[] | undefined) => [...(times ?? []).filter((t) => now - t < policy.windowMs), now];
  const own = within(context.crashes[id]);
  const pool = within(context.crashes[instance.name]);
  const crashes = { ...context.crashes, [id]: own, [instance.name]: pool };
  const ref = context.refs[id];
  if (ref) enqueue(stopChild(ref));
  if (pool.length >= policy.maxCrashes) {
    const reason = `agent ${instance.name} crashed ${pool.length} times within ${Math.round(policy.windowMs / 1000)} s and is marked failed; last error: ${error}`;
    let next: Pick<SupervisorContext, 'instances'> = context;
    for (const member of Object.values(context.instances)) {
      if (member.name !== instance.name) continue;
      if (member.id !== id && context.refs[member.id]) enqueue(stopChild(context.refs[member.id]));
      next = patch(next, member.id, { status: AgentStatus.Failed, lastError: reason });
    }
    enqueue.assign({ crashes, ...next });
    enqueue(() => context.hooks.crashed(id, error, false));
    enqueue(() => context.hooks.escalated(instance.name, reason));
    return;
  }
  const delay = Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** (own.length - 1));
  enqueue.assign({ crashes, ...patch(context, id, { status: AgentStatus.Restarting, restarts: instance.restarts + 1, lastError: error }) });
  enqueue(() => context.hooks.crashed(id, error, true));
  enqueue.raise({ type: 'agent.restart', id }, { delay, id: `restart:${id}` });
}
