import type { ActorLogic, AnyActorRef, Snapshot } from 'xstate';
import type { InspectMachine, Message, RequestType, ResultOf, MessageMap } from '../protocol/mod.ts';
import { ErrorCode, RuntimeError } from '../protocol/mod.ts';
import type { AgentCancelEvent, AgentPlugin, Capabilities, StandardSchema } from './contract.ts';

export interface AgentSpec<R extends RequestType, Config> {
  name: string;
  version: string;
  role: string;
  description?: string;
  accepts: readonly R[];
  config?: StandardSchema<Config>;
  /** The pool size this agent asks for (see AgentPlugin.concurrency); 'serial' for one at a time. */
  concurrency?: number | 'serial';
  /**
   * Does the work for one request. Throw a RuntimeError for a failure the task should see (bad model
   * output, provider down); any other throw is a bug and crashes the agent (restart + redelivery).
   * `caps.signal` aborts when the request is withdrawn; every `caps.llm` call and `caps.sandbox` run is already bound to it.
   */
  handle(message: Message<R>, caps: Capabilities<Config>): Promise<MessageMap[ResultOf<R>]>;
}

/** The two states of the standard agent logic. */
type AgentValue = 'ready' | 'working';

/** What the work says when a request's work ended: its answer, or what it threw. */
type Finished = { type: 'agent.finished'; requestId: string } & ({ ok: true; output: unknown } | { ok: false; error: unknown });

type AgentEvent = Message | AgentCancelEvent | Finished | { type: 'xstate.stop' };

/** The snapshot of an agent instance: XState's fields, its state, and the request it serves. */
export type AgentSnapshot = Snapshot<undefined> & {
  value: AgentValue;
  context: {
    caps: Capabilities<any>;
    current: Message | null;
    /** Aborts the current request's work: with the sender's reason on agent.cancel, E_STOPPED on stop. */
    work: AbortController | null;
  };
};

/**
 * The standard agent logic's states and what moves between them: `transition` below follows this
 * table, and the inspector draws it (a request type stands for every type the agent accepts).
 */
const AGENT_STATES: Record<AgentValue, Record<string, AgentValue>> = {
  ready: { '<request>': 'working' },
  working: { 'agent.finished': 'ready', 'agent.cancel': 'ready' },
};

/** The chart of the table, in the inspector's shape. */
function chartOf(id: string, accepts: readonly string[]): InspectMachine {
  const node = (key: AgentValue) => ({ id: `${id}.${key}`, key, parent: id, type: 'atomic' as const });
  return {
    id,
    root: id,
    nodes: [{ id, key: id, parent: null, type: 'compound', initial: `${id}.ready` }, node('ready'), node('working')],
    edges: (Object.keys(AGENT_STATES) as AgentValue[]).flatMap((from) =>
      Object.entries(AGENT_STATES[from]).flatMap(([event, to]) =>
        (event === '<request>' ? accepts : [event]).map((type) => ({ source: `${id}.${from}`, target: [`${id}.${to}`], event: type, kind: 'on' as const })),
      ),
    ),
  };
}

/** The capabilities for one request: its signal, and a model and a sandbox that stop when it aborts. */
function forRequest<Config>(caps: Capabilities<Config>, signal: AbortSignal): Capabilities<Config> {
  return {
    ...caps,
    signal,
    llm: { complete: (request) => caps.llm.complete({ ...request, signal: request.signal ?? signal }) },
    sandbox: { validate: (input) => caps.sandbox.validate({ ...input, signal: input.signal ?? signal }) },
  };
}

/**
 * Builds an AgentPlugin whose logic is the standard agent logic: ready → working (one request) →
 * ready. Write `handle`; replies, cancellation and crash semantics come for free: an `agent.cancel` for
 * the current request answers it E_CANCELLED, aborts the request's signal (and so the model call under
 * it) and returns to ready; stopping the instance aborts it with E_STOPPED.
 *
 * The logic is an XState actor logic written out (two states, three events), not a state machine:
 * an instance takes two events per request, and a machine's macrostep cost twenty times as much
 * (bench/ab.ts). Its chart (`chart`) is drawn from the same table its transition follows.
 * @example
 * export default defineAgent({ name: 'shouter', version: '1.0.0', role: 'enhancer', accepts: ['enhance.request'],
 *   async handle(message) { return { prompt: message.payload.requirement.toUpperCase() }; } });
 */
export function defineAgent<R extends RequestType, Config = unknown>(spec: AgentSpec<R, Config>): AgentPlugin<Config> {
  const accepted = new Set<string>(spec.accepts);
  const ready = (snapshot: AgentSnapshot): AgentSnapshot => ({ ...snapshot, value: 'ready', context: { caps: snapshot.context.caps, current: null, work: null } });

  /** Runs `handle` for `message`; its outcome comes back to `self` as agent.finished. */
  function run(message: Message, caps: Capabilities<Config>, signal: AbortSignal, self: AnyActorRef): void {
    const finished = (outcome: { ok: true; output: unknown } | { ok: false; error: unknown }) =>
      self.send({ type: 'agent.finished', requestId: message.id, ...outcome } satisfies Finished);
    // In a promise, so that a synchronous throw is a failed request like an async one.
    Promise.resolve()
      .then(() => spec.handle(message as Message<R>, forRequest(caps, signal)))
      .then((output) => finished({ ok: true, output }), (error: unknown) => finished({ ok: false, error }));
  }

  /** The error a cancelled request is answered with, and its work aborted with: the sender's own when it is coded. */
  function cancelError(cancel: AgentCancelEvent): RuntimeError {
    return cancel.error instanceof RuntimeError ? cancel.error : new RuntimeError(ErrorCode.Cancelled, `${spec.name}: ${cancel.reason}`);
  }

  const logic: ActorLogic<AgentSnapshot, AgentEvent, Capabilities<Config>> & { chart: InspectMachine } = {
    chart: chartOf(spec.name, spec.accepts),
    getInitialSnapshot: (_scope, input) => ({ status: 'active', output: undefined, error: undefined, value: 'ready', context: { caps: input, current: null, work: null } }),
    transition(snapshot, event, scope) {
      const { caps, current, work } = snapshot.context;
      if (event.type === 'xstate.stop') {
        work?.abort(new RuntimeError(ErrorCode.Stopped, `${spec.name} stopped (restarted after a crash or a hang, or the server is shutting down)`));
        return { ...ready(snapshot), status: 'stopped', output: undefined, error: undefined };
      }
      if (snapshot.value === 'ready') {
        if (!accepted.has(event.type)) return snapshot;
        const message = event as Message;
        const controller = new AbortController();
        run(message, caps, controller.signal, scope.self);
        return { ...snapshot, value: 'working', context: { caps, current: message, work: controller } };
      }
      if ((event as { requestId?: string }).requestId !== current?.id) return snapshot;
      if (event.type === 'agent.cancel') {
        const error = cancelError(event as AgentCancelEvent);
        work?.abort(error);
        caps.fail(current!.id, error);
        return ready(snapshot);
      }
      if (event.type === 'agent.finished') {
        const finished = event as Finished;
        if (finished.ok) caps.reply(current!.id, finished.output);
        // Expected failures are answers; anything else is a defect and crashes the instance.
        else if (finished.error instanceof RuntimeError) caps.fail(current!.id, finished.error);
        else throw finished.error;
        return ready(snapshot);
      }
      return snapshot;
    },
    // Never persisted (an instance starts fresh); this is what a caller asking for it gets.
    getPersistedSnapshot: (snapshot) => ({ ...snapshot, context: { current: snapshot.context.current } }) as unknown as Snapshot<undefined>,
  };

  return {
    name: spec.name,
    version: spec.version,
    role: spec.role,
    description: spec.description,
    accepts: spec.accepts,
    emits: spec.accepts.map((type) => type.replace(/\.request$/, '.result')) as AgentPlugin['emits'],
    config: spec.config,
    logic,
    ...(spec.concurrency === undefined ? {} : { concurrency: spec.concurrency }),
  };
}
