import { createActor } from 'xstate';
import type { Actor, ActorOptions, AnyActorLogic, AnyActorRef } from 'xstate';
import { AgentStatus, ErrorCode, RuntimeError, Topics, address } from '../protocol/mod.ts';
import type { ActorNode, AgentState, Clock, Message } from '../protocol/mod.ts';
import { withdrawnError } from '../bus/mod.ts';
import type { Bus, Delivery, Subscription } from '../bus/mod.ts';
import type { AnyAgentPlugin, Capabilities, LoadedPlugin, PluginFailure } from '../plugin/mod.ts';
import { defaultPolicy, instanceId, supervisorMachine } from './machine.ts';
import type { PoolSpec, SupervisorPolicy } from './machine.ts';
import { actorTree } from './tree.ts';
import { createLedger } from './_ledger.ts';
import type { TasksSubtree } from './tree.ts';

/** The capabilities every agent shares; the supervisor adds self, config, reply and fail per instance. */
export type SharedCapabilities = Pick<Capabilities, 'llm' | 'sandbox' | 'workspace' | 'log'>;

/**
 * How many instances serve each role. A plugin's own `concurrency` wins over `default`; `roles`
 * (config `agents.<role>.concurrency`) wins over both, except for a plugin that says 'serial'.
 */
export interface ConcurrencyOptions {
  default?: number;
  roles?: Record<string, number>;
}

export interface SupervisorOptions {
  bus: Bus;
  plugins: LoadedPlugin[];
  failures?: PluginFailure[];
  capabilities: SharedCapabilities;
  policy?: Partial<SupervisorPolicy>;
  concurrency?: ConcurrencyOptions;
  /**
   * A backstop: an instance that holds one request longer than this is treated as crashed (restarted).
   * Every request has its sender's timeout, which withdraws it; this only catches what that misses.
   */
  requestTimeoutMs?: number;
  /** An instance still busy this long after its request was withdrawn is restarted (default 10 s). */
  cancelGraceMs?: number;
}

export interface Supervisor {
  readonly actor: Actor<typeof supervisorMachine>;
  agents(): AgentState[];
  failures(): PluginFailure[];
  servesRole(role: string): boolean;
  /** Called with the pool's new state on every change. */
  onAgentChange(listener: (agent: AgentState) => void): () => void;
  /**
   * Creates an actor of `logic` in the root's tasks subtree: a child of the root actor in its actor
   * system (one inspection stream for the whole tree; the root sees it end). Start it yourself; stop it
   * with `stopChild`. Stopping the root stops the children still running.
   */
  createChild<TLogic extends AnyActorLogic>(logic: TLogic, options?: ActorOptions<TLogic>): Actor<TLogic>;
  /** Stops a child made by createChild; a no-op once it ended. */
  stopChild(child: AnyActorRef): void;
  /** The children made by createChild that have not ended. */
  children(): number;
  /** The whole supervision tree, with the tasks subtree as the task manager reports it. */
  tree(tasks: TasksSubtree): ActorNode;
  stop(): void;
}

const CRASHED = Symbol('crashed');

/** A request handed to an instance, until the instance answers it (even after its sender gave up). */
interface InFlight {
  instance: string;
  generation: number;
  started: number;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  timer: unknown;
}

/**
 * The pool size for a plugin.
 * @example poolSize(plugin, { default: 8, roles: { implementer: 4 } }); // 4 for the implementer
 */
export function poolSize(plugin: AnyAgentPlugin, options: ConcurrencyOptions = {}): number {
  if (plugin.concurrency === 'serial') return 1;
  return options.roles?.[plugin.role] ?? plugin.concurrency ?? options.default ?? 1;
}

/**
 * Starts the root actor and serves every pool on the bus as `agent:<name>` and `role:<role>`, from one
 * mailbox read by as many requests at once as the pool has instances. A request whose instance
 * crashes is redelivered to a restarted or idle sibling; when the pool is marked failed the request
 * (and every queued one) fails with E_AGENT_FAILED and the reason. A withdrawn request (its signal
 * aborts) is answered at once; its instance gets `agent.cancel` and is free again as soon as it
 * acknowledges (defineAgent does at once), or is restarted when it does not within the request timeout.
 * @example const supervisor = startSupervisor({ bus, plugins: loaded, capabilities, concurrency: { default: 4 } });
 */
export function startSupervisor(options: SupervisorOptions): Supervisor {
  const { bus, capabilities } = options;
  const clock: Clock = bus.clock;
  const policy = { ...defaultPolicy, ...options.policy };
  const requestTimeoutMs = options.requestTimeoutMs ?? 6 * 3_600_000;
  const cancelGraceMs = options.cancelGraceMs ?? 10_000;
  const inFlight = new Map<string, InFlight>();
  const waiters = new Map<string, Set<() => void>>();
  const listeners = new Set<(agent: AgentState) => void>();
  let stopped = false;
  const pools: PoolSpec[] = options.plugins.map((loaded) => ({ loaded, size: poolSize(loaded.plugin, options.concurrency) }));
  const specs = new Map(pools.map((spec) => [spec.loaded.plugin.name, spec]));
  const ledger = createLedger(pools);
  const life = () => actor.getSnapshot().context.instances;
  // A pool fails as one (every instance at once, with the reason): its first instance tells.
  const failedPool = (name: string) => {
    const first = life()[instanceId(name, 1)];
    return first.status === AgentStatus.Failed ? first : undefined;
  };
  const view = (spec: PoolSpec) => ledger.view(spec, life());

  // Pools whose view changed since listeners last heard: told once the current job of the microtask
  // queue is done, so requests taken or answered together are one update per pool. Not later: a
  // request served within one turn of the event loop must still show as working (the dashboard's
  // pipeline view follows it). agents() is always current.
  const dirty = new Set<string>();
  function changed(name: string): void {
    if (dirty.size === 0) queueMicrotask(flush);
    dirty.add(name);
  }
  function flush(): void {
    for (const name of dirty) {
      const agent = view(specs.get(name)!);
      bus.publish(Topics.Agents, 'agent.status', agent, { from: 'supervisor:root' });
      for (const listener of listeners) listener(agent);
    }
    dirty.clear();
  }

  function wake(name: string): void {
    const list = waiters.get(name);
    waiters.delete(name);
    for (const resolve of list ?? []) resolve();
  }

  function instanceOf(id: string) {
    return life()[id];
  }

  /** The instance answered `requestId` (or died): it is free again, and its sender (if any) learns. */
  function settle(requestId: string, outcome: { ok: true; value: unknown } | { ok: false; error: unknown }): void {
    const entry = inFlight.get(requestId);
    if (!entry) return;
    inFlight.delete(requestId);
    clock.clearTimeout(entry.timer);
    const instance = stopped ? undefined : instanceOf(entry.instance);
    if (instance?.generation === entry.generation) {
      // A crash frees the instance without counting the request: it is redelivered.
      ledger.finish(entry.instance, !outcome.ok && outcome.error === CRASHED ? null : outcome.ok, clock.now() - entry.started);
      changed(instance.name);
    }
    if (outcome.ok) entry.resolve(outcome.value);
    else entry.reject(outcome.error);
    if (instance) wake(instance.name);
  }

  const actor = createActor(supervisorMachine, {
    clock,
    input: {
      pools,
      failures: options.failures ?? [],
      policy,
      now: () => clock.now(),
      hooks: {
        inputFor(loaded, id, generation): Capabilities {
          const self = address('agent', loaded.plugin.name);
          const mine = (requestId: string) => {
            const entry = inFlight.get(requestId);
            return entry && entry.instance === id && entry.generation === generation;
          };
          return {
            ...capabilities,
            self,
            config: loaded.config,
            clock,
            send: (to, type, payload, o) => bus.send(to, type, payload, { ...o, from: self }),
            publish: (to, type, payload, o) => bus.publish(to, type, payload, { ...o, from: self }),
            reply(requestId, payload) {
              if (mine(requestId)) settle(requestId, { ok: true, value: payload });
            },
            fail(requestId, error) {
              if (mine(requestId)) settle(requestId, { ok: false, error });
            },
          };
        },
        crashed(id, error, willRestart) {
          capabilities.log('error', `agent ${id} crashed: ${error}${willRestart ? '; restarting it with backoff' : ''}`);
          for (const [requestId, entry] of inFlight) if (entry.instance === id) settle(requestId, { ok: false, error: CRASHED });
        },
        restarted(id) {
          capabilities.log('info', `agent ${id} restarted`);
          const instance = instanceOf(id);
          if (instance) wake(instance.name);
        },
        escalated(name, reason) {
          capabilities.log('error', reason);
          const failed = new RuntimeError(ErrorCode.AgentFailed, `${reason}; fix or replace the plugin and restart the server, then retry the task`);
          for (const [requestId, entry] of inFlight) if (instanceOf(entry.instance)?.name === name) settle(requestId, { ok: false, error: failed });
          wake(name);
        },
      },
    },
  });

  // An instance's life changed (crashed, restarted, failed with its pool): its pool's view did.
  let previous = actor.getSnapshot().context.instances;
  actor.subscribe((snapshot) => {
    const instances = snapshot.context.instances;
    if (instances === previous) return;
    for (const [id, instance] of Object.entries(instances)) if (previous[id] !== instance) changed(instance.name);
    previous = instances;
  });
  actor.start();

  /** Resolves when something changed in pool `name` (an instance freed, restarted, failed) or `signal` aborted. */
  function changeIn(name: string, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const list = waiters.get(name) ?? new Set<() => void>();
      const done = () => {
        list.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      list.add(done);
      waiters.set(name, list);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  async function deliver(name: string, message: Message, signal: AbortSignal): Promise<unknown> {
    for (;;) {
      if (signal.aborted) throw withdrawnError(signal, `${message.type} for ${name}`);
      const failed = failedPool(name);
      if (failed) {
        // Counted as a failed request of the pool (on its first instance: no instance took it).
        ledger.refused(name);
        changed(name);
        throw new RuntimeError(ErrorCode.AgentFailed, `${failed.lastError}; fix or replace the plugin and restart the server, then retry the task`);
      }
      const instance = ledger.free(name, life());
      if (!instance) {
        await changeIn(name, signal);
        continue;
      }
      const { id, generation } = instance;
      ledger.take(id, message.id, message.taskId ?? null);
      changed(name);
      // One promise per request: the instance's answer, or the sender withdrawing it, whichever comes first.
      const outcome = new Promise((resolve, reject) => {
        const onAbort = () => {
          const error = withdrawnError(signal, `${message.type} for ${name}`);
          // The sender has its answer now; the instance is told to stop, and is free once it acknowledges,
          // or restarted when it has not within the grace period (a plugin that ignores agent.cancel).
          actor.getSnapshot().context.refs[id]?.send({ type: 'agent.cancel', requestId: message.id, reason: error.message, error });
          const entry = inFlight.get(message.id);
          if (entry) {
            clock.clearTimeout(entry.timer);
            entry.timer = clock.setTimeout(() => {
              if (inFlight.get(message.id) === entry && instanceOf(id)?.generation === generation) {
                actor.send({ type: 'agent.hung', id, error: `still busy ${cancelGraceMs} ms after its ${message.type} was withdrawn (${error.message})` });
              }
            }, cancelGraceMs);
          }
          reject(error);
        };
        const timer = clock.setTimeout(() => {
          if (instanceOf(id)?.generation === generation) {
            actor.send({ type: 'agent.hung', id, error: `no answer to ${message.type} within ${requestTimeoutMs} ms` });
          }
        }, requestTimeoutMs);
        const done = () => signal.removeEventListener('abort', onAbort);
        inFlight.set(message.id, {
          instance: id, generation, started: clock.now(), timer,
          resolve: (value) => (done(), resolve(value)),
          reject: (error) => (done(), reject(error)),
        });
        signal.addEventListener('abort', onAbort, { once: true });
      });
      try {
        actor.getSnapshot().context.refs[id].send(message);
        return await outcome;
      } catch (error) {
        if (error === CRASHED) continue;
        throw error;
      }
    }
  }

  // The tasks subtree: actors created under the root, until they end or are stopped.
  const children = new Set<AnyActorRef>();
  function stopChild(child: AnyActorRef): void {
    if (!children.delete(child)) return;
    actor.send({ type: 'child.stop', ref: child });
  }

  const endpoints: Subscription[] = [];
  for (const { loaded, size } of pools) {
    const { name, role } = loaded.plugin;
    const handler = (message: Message, delivery: Delivery) => deliver(name, message, delivery.signal);
    endpoints.push(bus.serve([address('agent', name), address('role', role)], handler, { concurrency: size }));
  }

  return {
    actor,
    agents: () => pools.map(view),
    failures: () => actor.getSnapshot().context.failures,
    servesRole: (role) => pools.some((spec) => spec.loaded.plugin.role === role && !failedPool(spec.loaded.plugin.name)),
    onAgentChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    createChild(logic, childOptions) {
      const child = createActor(logic, { ...childOptions, parent: actor });
      children.add(child);
      const forget = () => children.delete(child);
      child.subscribe({ complete: forget, error: forget });
      return child;
    },
    stopChild,
    children: () => children.size,
    tree: (tasks) => actorTree(pools.map(view), policy, tasks),
    stop() {
      // Down the tree: the tasks first (they stop where they are), then the pools.
      for (const child of [...children]) stopChild(child);
      stopped = true;
      for (const endpoint of endpoints) endpoint.close();
      actor.send({ type: 'supervisor.stop' });
      actor.stop();
      const error = new RuntimeError(ErrorCode.Stopped, 'the agent stopped: the server is shutting down');
      for (const requestId of [...inFlight.keys()]) settle(requestId, { ok: false, error });
    },
  };
}
