import { assign, fromCallback, sendTo, setup } from 'xstate';
import type { Message, RequestType, ResultOf, MessageMap } from '../protocol/mod.ts';
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

interface AgentContext {
  caps: Capabilities<any>;
  current: Message | null;
}

/** What the worker says when a request's work ended: its answer, or what it threw. */
type Finished = { type: 'agent.finished'; requestId: string } & ({ ok: true; output: unknown } | { ok: false; error: unknown });
/** What the machine tells its worker: start a request's work, or abort it. */
type WorkerEvent = { type: 'run'; message: Message } | { type: 'abort'; requestId: string; error: RuntimeError };

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
 * Builds an AgentPlugin whose logic is the standard agent machine: ready → working (one request) →
 * ready, with a worker child that runs `handle`. Write `handle`; the machine, replies, cancellation and
 * crash semantics come for free: an `agent.cancel` for the current request answers it E_CANCELLED,
 * aborts the request's signal (and so the model call under it) and leaves `working`; stopping the
 * instance aborts it too.
 * @example
 * export default defineAgent({ name: 'shouter', version: '1.0.0', role: 'enhancer', accepts: ['enhance.request'],
 *   async handle(message) { return { prompt: message.payload.requirement.toUpperCase() }; } });
 */
export function defineAgent<R extends RequestType, Config = unknown>(spec: AgentSpec<R, Config>): AgentPlugin<Config> {
  const accepted = new Set<string>(spec.accepts);
  const logic = setup({
    types: {
      input: {} as Capabilities<Config>,
      context: {} as AgentContext,
      events: {} as Message | AgentCancelEvent | Finished,
    },
    actors: {
      // One per instance, for its whole life (not one actor per request: that was a fifth of a stage's
      // orchestration cost). Runs `handle`, answers with agent.finished; each request's signal aborts
      // on `abort` (with the sender's reason, so a model call learns it was a timeout, not just
      // "aborted") and when the instance stops (restart, shutdown).
      worker: fromCallback<WorkerEvent, Capabilities<Config>>(({ input, receive, sendBack }) => {
        const running = new Map<string, AbortController>();
        receive((event) => {
          if (event.type === 'abort') return void running.get(event.requestId)?.abort(event.error);
          const { message } = event;
          const withdrawal = new AbortController();
          running.set(message.id, withdrawal);
          const finished = (outcome: { ok: true; output: unknown } | { ok: false; error: unknown }) => {
            running.delete(message.id);
            sendBack({ type: 'agent.finished', requestId: message.id, ...outcome });
          };
          // Called in a promise so that a synchronous throw is a failed request like an async one.
          Promise.resolve()
            .then(() => spec.handle(message as Message<R>, forRequest(input, withdrawal.signal)))
            .then((output) => finished({ ok: true, output }), (error: unknown) => finished({ ok: false, error }));
        });
        return () => {
          const stopped = new RuntimeError(ErrorCode.Stopped, `${spec.name} stopped (restarted after a crash, or the server is shutting down)`);
          for (const withdrawal of running.values()) withdrawal.abort(stopped);
        };
      }),
    },
    guards: {
      accepted: ({ event }) => accepted.has(event.type),
      current: ({ context, event }) => (event as AgentCancelEvent | Finished).requestId === context.current?.id,
    },
  }).createMachine({
    id: spec.name,
    context: ({ input }) => ({ caps: input, current: null }),
    invoke: { id: 'worker', src: 'worker', input: ({ context }) => context.caps },
    initial: 'ready',
    states: {
      ready: {
        on: { '*': { guard: 'accepted', target: 'working', actions: assign({ current: ({ event }) => event as Message }) } },
      },
      working: {
        entry: sendTo('worker', ({ context }) => ({ type: 'run', message: context.current! }) satisfies WorkerEvent),
        on: {
          'agent.cancel': {
            guard: 'current',
            target: 'ready',
            actions: [
              sendTo('worker', ({ context, event }) => ({ type: 'abort', requestId: context.current!.id, error: cancelError(event as AgentCancelEvent) }) satisfies WorkerEvent),
              ({ context, event }) => context.caps.fail(context.current!.id, cancelError(event as AgentCancelEvent)),
              assign({ current: null }),
            ],
          },
          'agent.finished': {
            guard: 'current',
            target: 'ready',
            actions: [
              ({ context, event }) => {
                const finished = event as Finished;
                if (finished.ok) return context.caps.reply(context.current!.id, finished.output);
                // Expected failures are answers; anything else is a defect and must crash the actor.
                if (!(finished.error instanceof RuntimeError)) throw finished.error;
                context.caps.fail(context.current!.id, finished.error);
              },
              assign({ current: null }),
            ],
          },
        },
      },
    },
  });

  /** The error a cancelled request is answered with, and its work aborted with: the sender's own when it is coded. */
  function cancelError(cancel: AgentCancelEvent): RuntimeError {
    return cancel.error instanceof RuntimeError ? cancel.error : new RuntimeError(ErrorCode.Cancelled, `${spec.name}: ${cancel.reason}`);
  }

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
