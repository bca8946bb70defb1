import { createActor } from 'xstate';
import type { Actor } from 'xstate';
import { AgentStatus, ErrorCode, RuntimeError, Topics, address } from '../protocol/mod.ts';
import type { AgentState, Message } from '../protocol/mod.ts';
import type { Bus, Clock, Subscription } from '../bus/mod.ts';
import type { Capabilities, LoadedPlugin, PluginFailure } from '../plugin/mod.ts';
import { defaultPolicy, supervisorMachine } from './machine.ts';
import type { SupervisorPolicy } from './machine.ts';

/** The capabilities every agent shares; the supervisor adds self, config, reply and fail per agent. */
export type SharedCapabilities = Pick<Capabilities, 'llm' | 'sandbox' | 'workspace' | 'log'>;

export interface SupervisorOptions {
  bus: Bus;
  plugins: LoadedPlugin[];
  failures?: PluginFailure[];
  capabilities: SharedCapabilities;
  policy?: Partial<SupervisorPolicy>;
  /** An agent that holds one request longer than this is treated as crashed (restarted). */
  requestTimeoutMs?: number;
}

export interface Supervisor {
  readonly actor: Actor<typeof supervisorMachine>;
  agents(): AgentState[];
  failures(): PluginFailure[];
  servesRole(role: string): boolean;
  /** Called with the agent's new state on every change. */
  onAgentChange(listener: (agent: AgentState) => void): () => void;
  stop(): void;
}

const CRASHED = Symbol('crashed');

/** A one-at-a-time queue: an agent serves its role and its own address, but one request at a time. */
function serialQueue(): <T>(work: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return (work) => {
    const run = tail.then(work, work);
    tail = run.catch(() => undefined);
    return run;
  };
}

/**
 * Starts the root actor and serves every agent on the bus as `agent:<name>` and `role:<role>`.
 * A request whose agent crashes is redelivered to the restarted agent; when the agent is marked failed
 * the request (and every queued one) fails with E_AGENT_FAILED and the reason.
 * @example const supervisor = startSupervisor({ bus, plugins: loaded, capabilities });
 */
export function startSupervisor(options: SupervisorOptions): Supervisor {
  const { bus, capabilities } = options;
  const clock: Clock = bus.clock;
  const policy = { ...defaultPolicy, ...options.policy };
  const requestTimeoutMs = options.requestTimeoutMs ?? 15 * 60_000;
  const pending = new Map<string, { name: string; resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  const waiters = new Map<string, Array<() => void>>();
  const listeners = new Set<(agent: AgentState) => void>();

  function wake(name: string): void {
    for (const resolve of waiters.get(name) ?? []) resolve();
    waiters.delete(name);
  }

  const actor = createActor(supervisorMachine, {
    clock,
    input: {
      plugins: options.plugins,
      failures: options.failures ?? [],
      policy,
      now: () => clock.now(),
      hooks: {
        inputFor(loaded, generation): Capabilities {
          const self = address('agent', loaded.plugin.name);
          return {
            ...capabilities,
            self,
            config: loaded.config,
            clock,
            send: (to, type, payload, o) => bus.send(to, type, payload, { ...o, from: self }),
            publish: (to, type, payload, o) => bus.publish(to, type, payload, { ...o, from: self }),
            reply(requestId, payload) {
              const entry = pending.get(requestId);
              if (entry && entry.name === loaded.plugin.name && generation === current(loaded.plugin.name).generation) entry.resolve(payload);
            },
            fail(requestId, error) {
              const entry = pending.get(requestId);
              if (entry && entry.name === loaded.plugin.name) entry.reject(error);
            },
          };
        },
        crashed(name, error, willRestart) {
          capabilities.log('error', `agent ${name} crashed: ${error}${willRestart ? '; restarting with backoff' : ''}`);
          for (const entry of pending.values()) if (entry.name === name) entry.reject(CRASHED);
        },
        restarted(name) {
          capabilities.log('info', `agent ${name} restarted`);
          wake(name);
        },
        escalated(name, reason) {
          capabilities.log('error', reason);
          wake(name);
        },
      },
    },
  });

  function current(name: string): { state: AgentState; generation: number } {
    const context = actor.getSnapshot().context;
    return { state: context.agents[name], generation: context.generations[name] };
  }

  let previous = new Map<string, AgentState>();
  actor.subscribe((snapshot) => {
    for (const agent of Object.values(snapshot.context.agents)) {
      if (previous.get(agent.name) === agent) continue;
      bus.publish(Topics.Agents, 'agent.status', agent, { from: 'supervisor:root' });
      for (const listener of listeners) listener(agent);
    }
    previous = new Map(Object.entries(snapshot.context.agents));
  });
  actor.start();

  async function deliver(name: string, message: Message): Promise<unknown> {
    for (;;) {
      const { state, generation } = current(name);
      if (state.status === AgentStatus.Failed) {
        actor.send({ type: 'agent.done', name, ok: false, latencyMs: 0 });
        throw new RuntimeError(ErrorCode.AgentFailed, `${state.lastError}; fix or replace the plugin and restart the server, then retry the task`);
      }
      if (state.status === AgentStatus.Restarting) {
        await new Promise<void>((resolve) => waiters.set(name, [...(waiters.get(name) ?? []), resolve]));
        continue;
      }
      const ref = actor.getSnapshot().context.refs[name];
      const started = clock.now();
      actor.send({ type: 'agent.work', name, taskId: message.taskId ?? null });
      let timer: unknown;
      try {
        const result = await new Promise((resolve, reject) => {
          pending.set(message.id, { name, resolve, reject });
          timer = clock.setTimeout(() => {
            if (current(name).generation === generation) {
              actor.send({ type: 'agent.hung', name, error: `no answer to ${message.type} within ${requestTimeoutMs} ms` });
            }
          }, requestTimeoutMs);
          ref.send(message);
        });
        actor.send({ type: 'agent.done', name, ok: true, latencyMs: clock.now() - started });
        return result;
      } catch (error) {
        if (error === CRASHED) continue;
        actor.send({ type: 'agent.done', name, ok: false, latencyMs: clock.now() - started });
        throw error;
      } finally {
        clock.clearTimeout(timer);
        pending.delete(message.id);
      }
    }
  }

  const endpoints: Subscription[] = [];
  for (const loaded of options.plugins) {
    const { name, role } = loaded.plugin;
    const queue = serialQueue();
    const handler = (message: Message) => queue(() => deliver(name, message));
    endpoints.push(bus.serve(address('agent', name), handler), bus.serve(address('role', role), handler));
  }

  return {
    actor,
    agents: () => Object.values(actor.getSnapshot().context.agents),
    failures: () => actor.getSnapshot().context.failures,
    servesRole: (role) => Object.values(actor.getSnapshot().context.agents).some((a) => a.role === role && a.status !== AgentStatus.Failed),
    onAgentChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stop() {
      for (const endpoint of endpoints) endpoint.close();
      actor.send({ type: 'supervisor.stop' });
      actor.stop();
      for (const entry of pending.values()) entry.reject(new RuntimeError(ErrorCode.Stopped, `agent ${entry.name} stopped: the server is shutting down`));
    },
  };
}

