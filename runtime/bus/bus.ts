import { ErrorCode, RuntimeError, isAddress, isTopic } from '../protocol/mod.ts';
import type {
  Address,
  Clock,
  Message,
  MessageMap,
  MessageType,
  RequestType,
  ResultOf,
  Topic,
} from '../protocol/mod.ts';
import { Mailbox, Overflow } from './mailbox.ts';
import type { MailboxOptions, MailboxStats } from './mailbox.ts';
import { inProcessTransport } from './transport.ts';
import type { Transport } from './transport.ts';
import { systemClock } from './clock.ts';

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
  /**
   * No reply within this long of the send rejects with E_TIMEOUT (details.limit 'total') and withdraws
   * the request (its signal aborts). The wait in the receiver's mailbox counts.
   */
  timeoutMs?: number;
  /**
   * No reply within this long of the receiver taking the request (its mailbox handing it to the
   * handler: for a pool, an instance is free) rejects with E_TIMEOUT (details.limit 'work') and
   * withdraws it. The wait in the mailbox counts only against `timeoutMs`, so a request queued behind
   * busy instances is not timed out for their work. Default: none.
   */
  workTimeoutMs?: number;
  /**
   * Withdraws the request when it aborts: the promise rejects at once (with the reason when it is a
   * RuntimeError, else E_CANCELLED), a request still queued is never handled, and the handler's signal
   * aborts so the work it started (a model call, a sandbox run) stops.
   */
  signal?: AbortSignal;
}

export interface Subscription {
  readonly mailbox: { readonly size: number; readonly stats: MailboxStats };
  close(): void;
}

/** What a handler learns besides the message: `signal` aborts when the sender withdraws the request. */
export interface Delivery {
  signal: AbortSignal;
}

export type Handler = (message: Message, delivery: Delivery) => unknown;

export interface BusOptions {
  transport?: Transport;
  clock?: Clock;
  ids?: () => string;
  defaultTimeoutMs?: number;
}

export interface Bus {
  readonly clock: Clock;
  /** Serves one address, or several from one mailbox (a pool serves its role and its name). */
  serve(address: Address | readonly Address[], handler: Handler, options?: MailboxOptions): Subscription;
  subscribe(topic: Topic, handler: (message: Message) => void, options?: MailboxOptions): Subscription;
  send<K extends RequestType>(to: Address, type: K, payload: MessageMap[K], options?: SendOptions): Promise<MessageMap[ResultOf<K>]>;
  publish<K extends MessageType>(to: Topic, type: K, payload: MessageMap[K], options?: Omit<SendOptions, 'timeoutMs'>): number;
  intercept(interceptor: Interceptor): () => void;
  close(): void;
}

interface Pending {
  message: Message;
  signal: AbortSignal | undefined;
  /** Tells the sender its request was taken (its work timeout starts). */
  taken: (() => void) | undefined;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

const NEVER = new AbortController().signal;

/** The error a withdrawn request settles with: the abort reason when it is coded, else E_CANCELLED. */
export function withdrawnError(signal: AbortSignal, what: string): RuntimeError {
  const reason = signal.reason;
  if (reason instanceof RuntimeError) return reason;
  const why = reason instanceof Error && reason.name !== 'AbortError' ? `: ${reason.message}` : typeof reason === 'string' ? `: ${reason}` : '';
  return new RuntimeError(ErrorCode.Cancelled, `${what} was cancelled${why}`);
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
    serve(addresses, handler, mailboxOptions) {
      const list: readonly Address[] = typeof addresses === 'string' ? [addresses] : addresses;
      for (const address of list) {
        if (!isAddress(address)) throw new RuntimeError(ErrorCode.Invalid, `cannot serve "${address}": not an address kind:name`);
      }
      const name = list.join(' + ');
      const mailbox = new Mailbox<Pending>(
        name,
        async (pending) => {
          const signal = pending.signal ?? NEVER;
          // Withdrawn while queued: the sender already has its answer, and the work never starts.
          if (signal.aborted) return pending.reject(withdrawnError(signal, pending.message.type));
          pending.taken?.();
          try {
            pending.resolve(await handler(pending.message, { signal }));
          } catch (error) {
            pending.reject(asRuntimeError(error, pending.message));
          }
        },
        mailboxOptions,
      );
      const receive = (message: Message, signal?: AbortSignal, taken?: () => void) =>
        new Promise((resolve, reject) => mailbox.push({ message, signal, taken, resolve, reject }));
      const unserves: Array<() => void> = [];
      try {
        for (const address of list) unserves.push(transport.serve(address, receive));
      } catch (error) {
        for (const unserve of unserves) unserve();
        throw error;
      }
      const close = () => {
        for (const unserve of unserves) unserve();
        endpoints.delete(close);
        for (const pending of mailbox.close()) {
          pending.reject(new RuntimeError(ErrorCode.Stopped, `${name} stopped before it handled ${pending.message.type}`));
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
      const caller = o.signal;
      if (caller?.aborted) return Promise.reject(withdrawnError(caller, `${type} to ${to}`));
      // The request's own signal: aborted by the caller's, by the timeout, or once settled (so a
      // networked transport can forget it); the receiver's work stops when it aborts.
      const withdraw = new AbortController();
      return new Promise((resolve, reject) => {
        let settled = false;
        let workTimer: unknown;
        const settle = (outcome: { ok: true; payload: unknown } | { ok: false; error: RuntimeError }) => {
          if (settled) return;
          settled = true;
          clock.clearTimeout(timer);
          if (workTimer !== undefined) clock.clearTimeout(workTimer);
          caller?.removeEventListener('abort', onAbort);
          if (interceptors.length) reportReply(request, outcome);
          if (outcome.ok) resolve(outcome.payload as MessageMap[ResultOf<typeof type>]);
          else {
            if (!withdraw.signal.aborted) withdraw.abort(outcome.error);
            reject(outcome.error);
          }
        };
        const onAbort = () => settle({ ok: false, error: withdrawnError(caller!, `${type} to ${to}`) });
        const timer = clock.setTimeout(() => {
          settle({ ok: false, error: new RuntimeError(ErrorCode.Timeout, `no reply from ${to} to ${type} within ${timeoutMs} ms`, { details: { limit: 'total', ms: timeoutMs } }) });
        }, timeoutMs);
        const workMs = o.workTimeoutMs;
        const taken = workMs === undefined ? undefined : () => {
          if (settled || workTimer !== undefined) return;
          workTimer = clock.setTimeout(() => {
            settle({ ok: false, error: new RuntimeError(ErrorCode.Timeout, `${to} took ${type} but gave no reply within ${workMs} ms`, { details: { limit: 'work', ms: workMs } }) });
          }, workMs);
        };
        caller?.addEventListener('abort', onAbort, { once: true });
        transport.request(request, withdraw.signal, taken).then(
          (reply) => settle({ ok: true, payload: reply }),
          (error) => settle({ ok: false, error: asRuntimeError(error, request) }),
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
