import { RuntimeError, ErrorCode } from './errors.ts';

/**
 * Where a message goes. `send` targets an Address (one recipient that replies), `publish` targets a
 * Topic (every subscriber, no reply). Both are `kind:name`, validated so a typo fails at the call,
 * not as a silent undelivered message.
 */
export const AddressKind = {
  Agent: 'agent',
  Role: 'role',
  Task: 'task',
  Supervisor: 'supervisor',
  Server: 'server',
  Client: 'client',
} as const;
export type AddressKind = (typeof AddressKind)[keyof typeof AddressKind];

export type Address = `${AddressKind}:${string}`;
export type Topic = `topic:${string}`;

const ADDRESS = /^(agent|role|task|supervisor|server|client):[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const TOPIC = /^topic:(\*|[a-z0-9][a-z0-9._-]{0,127})$/;

export function isAddress(value: unknown): value is Address {
  return typeof value === 'string' && ADDRESS.test(value);
}

export function isTopic(value: unknown): value is Topic {
  return typeof value === 'string' && TOPIC.test(value);
}

/**
 * Validates and returns an address.
 * @example address('role', 'analyst') // 'role:analyst'
 */
export function address(kind: AddressKind, name: string): Address {
  const value = `${kind}:${name}`;
  if (!isAddress(value)) {
    throw new RuntimeError(
      ErrorCode.Invalid,
      `address "${value}" is invalid: use kind:name with kind one of ${Object.values(AddressKind).join(', ')} and a name of letters, digits, '.', '_' or '-' (at most 128)`,
    );
  }
  return value;
}

/**
 * Validates and returns a topic.
 * @example topic('agents') // 'topic:agents'
 */
export function topic(name: string): Topic {
  const value = `topic:${name}`;
  if (!isTopic(value)) {
    throw new RuntimeError(
      ErrorCode.Invalid,
      `topic "${value}" is invalid: use lower-case letters, digits, '.', '-' (at most 128)`,
    );
  }
  return value;
}

/** The topics the runtime itself publishes on. */
export const Topics = {
  Agents: 'topic:agents',
  Tasks: 'topic:tasks',
  Logs: 'topic:logs',
  Tokens: 'topic:llm.tokens',
} as const satisfies Record<string, Topic>;
