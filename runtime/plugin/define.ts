import { assign, fromPromise, setup } from 'xstate';
import type { Message, RequestType, ResultOf, MessageMap } from '../protocol/mod.ts';
import { RuntimeError } from '../protocol/mod.ts';
import type { AgentPlugin, Capabilities, StandardSchema } from './contract.ts';

export interface AgentSpec<R extends RequestType, Config> {
  name: string;
  version: string;
  role: string;
  description?: string;
  accepts: readonly R[];
  config?: StandardSchema<Config>;
  /**
   * Does the work for one request. Throw a RuntimeError for a failure the task should see (bad model
   * output, provider down); any other throw is a bug and crashes the agent (restart + redelivery).
   */
  handle(message: Message<R>, caps: Capabilities<Config>): Promise<MessageMap[ResultOf<R>]>;
}

interface AgentContext {
  caps: Capabilities<any>;
  current: Message | null;
}

/**
 * Builds an AgentPlugin whose logic is the standard agent machine: ready → working (one request) →
 * ready. Write `handle`; the machine, replies and crash semantics come for free.
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
      events: {} as Message,
    },
    actors: {
      work: fromPromise<unknown, { message: Message; caps: Capabilities<Config> }>(({ input }) =>
        spec.handle(input.message as Message<R>, input.caps),
      ),
    },
    guards: { accepted: ({ event }) => accepted.has(event.type) },
  }).createMachine({
    id: spec.name,
    context: ({ input }) => ({ caps: input, current: null }),
    initial: 'ready',
    states: {
      ready: {
        on: { '*': { guard: 'accepted', target: 'working', actions: assign({ current: ({ event }) => event }) } },
      },
      working: {
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
  };
}
