import { assign, fromPromise, setup } from 'xstate';
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
 * ready. Write `handle`; the machine, replies, cancellation and crash semantics come for free: an
 * `agent.cancel` for the current request answers it E_CANCELLED and leaves `working`, which aborts the
 * request's signal (XState stops the invoked promise) and so the model call under it.
 * @example
 * export default defineAgent({ name: 'shouter', version: '1.0.0', role: 'enhancer', accepts: ['enhance.request'],
 *   async handle(message) { return { prompt: message.payload.requirement.toUpperCase() }; } });
 */
export function defineAgent<R extends RequestType, Config = unknown>(spec: AgentSpec<R, Config>): AgentPlugin<Config> {
  const accepted = new Set<string>(spec.accepts);
  // Per request being handled: aborted with the sender's reason on `agent.cancel` (so a model call
  // learns it was a timeout, not just "aborted"), and by XState when the work stops for any reason.
  const withdrawals = new Map<string, AbortController>();
  const logic = setup({
    types: {
      input: {} as Capabilities<Config>,
      context: {} as AgentContext,
      events: {} as Message | AgentCancelEvent,
    },
    actors: {
      work: fromPromise<unknown, { message: Message; caps: Capabilities<Config> }>(async ({ input, signal }) => {
        const withdrawal = new AbortController();
        const follow = () => withdrawal.abort(signal.reason);
        signal.addEventListener('abort', follow, { once: true });
        withdrawals.set(input.message.id, withdrawal);
        try {
          return await spec.handle(input.message as Message<R>, forRequest(input.caps, withdrawal.signal));
        } finally {
          signal.removeEventListener('abort', follow);
          withdrawals.delete(input.message.id);
        }
      }),
    },
    guards: {
      accepted: ({ event }) => accepted.has(event.type),
      current: ({ context, event }) => event.type === 'agent.cancel' && (event as AgentCancelEvent).requestId === context.current?.id,
    },
  }).createMachine({
    id: spec.name,
    context: ({ input }) => ({ caps: input, current: null }),
    initial: 'ready',
    states: {
      ready: {
        on: { '*': { guard: 'accepted', target: 'working', actions: assign({ current: ({ event }) => event as Message }) } },
      },
      working: {
        on: {
          'agent.cancel': {
            guard: 'current',
            target: 'ready',
            actions: [
              ({ context, event }) => {
                const cancel = event as AgentCancelEvent;
                const error = cancel.error instanceof RuntimeError ? cancel.error : new RuntimeError(ErrorCode.Cancelled, `${spec.name}: ${cancel.reason}`);
                withdrawals.get(context.current!.id)?.abort(error);
                context.caps.fail(context.current!.id, error);
              },
              assign({ current: null }),
            ],
          },
        },
        invoke: {
          src: 'work',
          input: ({ context }) => ({ message: context.current!, caps: context.caps }),
          onDone: {
            target: 'ready',
            actions: [({ context, event }) => context.caps.reply(context.current!.id, event.output), assign({ current: null })],
          },
          onError: {
            target: 'ready',
            actions: [
              ({ context, event }) => {
                // Expected failures are answers; anything else is a defect and must crash the actor.
                if (!(event.error instanceof RuntimeError)) throw event.error;
                context.caps.fail(context.current!.id, event.error);
              },
              assign({ current: null }),
            ],
          },
        },
      },
    },
  });
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
