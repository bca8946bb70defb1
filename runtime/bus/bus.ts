import { ErrorCode, RuntimeError, isAddress, isTopic } from '../protocol/mod.ts';
import type { Address, Message, MessageMap, MessageType, RequestType, ResultOf, Topic } from '../protocol/mod.ts';
import { Mailbox, Overflow } from './mailbox.ts';
import type { MailboxOptions, MailboxStats } from './mailbox.ts';
import { inProcessTransport } from './transport.ts';
import type { Transport } from './transport.ts';
import { systemClock } from './clock.ts';
import type { Clock } from './clock.ts';

/**
 * Observes, rewrites or drops messages. Return the message (or a new one) to pass it on, `null` to
 * drop it, nothing to leave it alone. The inspector and the log hang off this chain.
 */
export interface Interceptor {
  name: string;
  onSend?(message: Message): Message | null | void;
  onPublish?(message: Message): Message | null | void;
  onReply?(request: Message, outcome: { ok: true; payload: unknown } | { ok: false; error: RuntimeError }): void;
}

export interface SendOptions {
  from?: Address;
  taskId?: string;
  causationId?: string;
  timeoutMs?: number;
}

export interface Subscription {
  readonly mailbox: { readonly size: number; readonly stats: MailboxStats };
  close(): void;
}

export type Handler = (message: Message) => unknown;

export interface BusOptions {
  transport?: Transport;
  clock?: Clock;
  ids?: () => string;
  defaultTimeoutMs?: number;
}

export interface Bus {
  readonly clock: Clock;
  serve(address: Address, handler: Handler, options?: MailboxOptions): Subscription;
  subscribe(topic: Topic, handler: (message: Message) => void, options?: MailboxOptions): Subscription;
  send<K extends RequestType>(to: Address, type: K, payload: MessageMap[K], options?: SendOptions): Promise<MessageMap[ResultOf<K>]>;
  publish<K extends MessageType>(to: Topic, type: K, payload: MessageMap[K], options?: Omit<SendOptions, 'timeoutMs'>): number;
  intercept(interceptor: Interceptor): () => void;
  close(): void;
}

interface Pending {
  message: Message;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

function asRuntimeError(error: unknown, message: Message): RuntimeError {
  if (error instanceof RuntimeError) return error;
  const text = error instanceof Error ? error.message : String(error);
  return new RuntimeError(ErrorCode.Handler, `${message.to} failed on ${message.type}: ${text}`, { cause: error });
}

function makeIds(): () => string {
  const prefix = Math.random().toString(36).slice(2, 8);
  let n = 0;
  return () => `${prefix}-${(n++).toString(36)}`;
}

/**
 * Creates a bus: `send` is request/reply to one address, `publish` is fan-out to a topic.
 * @example
 * const bus = createBus();
 * bus.serve('role:analyst', (m) => ({ complexity: 'simple', summary: 'ok', kind: 'code' }));
 * const analysis = await bus.send('role:analyst', 'analysis.request', { requirement: 'x', prompt: 'x' });
 */
export function createBus(options: BusOptions = {}): Bus {
  const transport = options.transport ?? inProcessTransport();
  const clock = options.clock ?? systemClock;
  const nextId = options.ids ?? makeIds();
  const defaultTimeoutMs = options.defaultTimeoutMs ?? 30_000;
  let interceptors: Interceptor[] = [];
  const endpoints = new Set<() => void>();

  function envelope(to: Address | Topic, type: MessageType, payload: unknown, o: SendOptions): Message {
    const message = { type, id: nextId(), from: o.from ?? 'server:bus', to, ts: clock.now(), payload } as Message;
    if (o.taskId !== undefined) message.taskId = o.taskId;
    if (o.causationId !== undefined) message.causationId = o.causationId;
    return message;
  }

  /** Runs the chain; returns the (possibly rewritten) message, or the name of the interceptor that dropped it. */
  function intervene(message: Message, hook: 'onSend' | 'onPublish'): Message | string {
    let current = message;
    for (const interceptor of interceptors) {
      const fn = interceptor[hook];
      if (!fn) continue;
      const out = fn.call(interceptor, current);
      if (out === null) return interceptor.name;
      if (out) current = out;
    }
    return current;
  }

  function reportReply(request: Message, outcome: Parameters<NonNullable<Interceptor['onReply']>>[1]): void {
    for (const interceptor of interceptors) interceptor.onReply?.(request, outcome);
  }

  return {
    clock,
    serve(address, handler, mailboxOptions) {
      if (!isAddress(address)) throw new RuntimeError(ErrorCode.Invalid, `cannot serve "${address}": not an address kind:name`);
      const mailbox = new Mailbox<Pending>(
        address,
        async (pending) => {
          try {
            pending.resolve(await handler(pending.message));
          } catch (error) {
            pending.reject(asRuntimeError(error, pending.message));
          }
        },
        mailboxOptions,
      );
      const unserve = transport.serve(address, (message) => new Promise((resolve, reject) => mailbox.push({ message, resolve, reject })));
      const close = () => {
        unserve();
        endpoints.delete(close);
        for (const pending of mailbox.close()) {
          pending.reject(new RuntimeError(ErrorCode.Stopped, `${address} stopped before it handled ${pending.message.type}`));
        }
      };
      endpoints.add(close);
      return { mailbox, close };
    },
    subscribe(topicName, handler, mailboxOptions) {
      if (!isTopic(topicName)) throw new RuntimeError(ErrorCode.Invalid, `cannot subscribe to "${topicName}": not a topic topic:name`);
      const mailbox = new Mailbox<Message>(topicName, handler, { capacity: 10_000, overflow: Overflow.DropOldest, ...mailboxOptions });
      const unsubscribe = transport.subscribe(topicName, (message) => void mailbox.push(message));
      const close = () => {
        unsubscribe();
        endpoints.delete(close);
        mailbox.close();
      };
      endpoints.add(close);
      return { mailbox, close };
    },
    send(to, type, payload, o = {}) {
      if (!isAddress(to)) {
        return Promise.reject(new RuntimeError(ErrorCode.Invalid, `cannot send ${type} to "${to}": not an address kind:name`));
      }
      let request = envelope(to, type, payload, o);
      if (interceptors.length) {
        const out = intervene(request, 'onSend');
        if (typeof out === 'string') {
          return Promise.reject(new RuntimeError(ErrorCode.Dropped, `${type} to ${to} was dropped by the interceptor "${out}"`));
        }
        request = out;
      }
      const timeoutMs = o.timeoutMs ?? defaultTimeoutMs;
      return new Promise((resolve, reject) => {
        let settled = false;
        const timer = clock.setTimeout(() => {
          if (settled) return;
          settled = true;
          const error = new RuntimeError(ErrorCode.Timeout, `no reply from ${to} to ${type} within ${timeoutMs} ms`);
          if (interceptors.length) reportReply(request, { ok: false, error });
          reject(error);
        }, timeoutMs);
        transport.request(request).then(
          (reply) => {
            if (settled) return;
            settled = true;
            clock.clearTimeout(timer);
            if (interceptors.length) reportReply(request, { ok: true, payload: reply });
            resolve(reply as MessageMap[ResultOf<typeof type>]);
          },
          (error) => {
            if (settled) return;
            settled = true;
            clock.clearTimeout(timer);
            const runtimeError = asRuntimeError(error, request);
            if (interceptors.length) reportReply(request, { ok: false, error: runtimeError });
            reject(runtimeError);
          },
        );
      });
    },
    publish(to, type, payload, o = {}) {
      if (!isTopic(to)) throw new RuntimeError(ErrorCode.Invalid, `cannot publish ${type} to "${to}": not a topic topic:name`);
      const message = envelope(to, type, payload, o);
      if (!interceptors.length) return transport.publish(message);
      const out = intervene(message, 'onPublish');
      return typeof out === 'string' ? 0 : transport.publish(out);
    },
    intercept(interceptor) {
      interceptors = [...interceptors, interceptor];
      return () => void (interceptors = interceptors.filter((x) => x !== interceptor));
    },
    close() {
      for (const close of [...endpoints]) close();
      transport.close();
    },
  };
}
