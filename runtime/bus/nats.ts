// The bus transport on NATS (cluster mode): the same five calls as the in-process transport, so the
// bus (mailboxes, ids, timeouts, interceptors) is unchanged on every node.
//
// Wire, under a subject prefix (default "orch"):
//   <prefix>.addr.<kind>.<name>   a request to an address; served with a queue group named after the
//                                 subject, so one serving node (of all that serve it) takes each request
//   <prefix>.topic.<name>         a topic message, to every subscriber on every node
//   <prefix>.inbox.<node>.<id>    frames back to the requesting node: {kind:'taken'} when the receiver's
//                                 mailbox hands the request over, then {kind:'reply', ok, payload | error}
//   <prefix>.cancel               a withdrawn request ({id, error}), to every node: the one running it aborts it
// Payloads are JSON (a Message, or a frame); errors travel as {code, message, details} and arrive as
// the same RuntimeError. Headers carry Orch-Task-Id, Orch-Trace-Id and Orch-Node for tracing tools.
// NATS's "no responders" status (nobody serves the subject anywhere) is E_NO_HANDLER.
import type { Msg, NatsConnection, Subscription as NatsSubscription } from '@nats-io/transport-node';
import { ErrorCode, RuntimeError } from '../protocol/mod.ts';
import type { Address, Message, Topic } from '../protocol/mod.ts';
import type { Transport } from './transport.ts';
import { withdrawnError } from './bus.ts';

export interface NatsTransportOptions {
  /** NATS server URLs, e.g. ['nats://127.0.0.1:4222']. */
  servers: string[];
  /** This node's name (headers, logs); default a random id. */
  node?: string;
  /** Subject prefix, so several clusters can share one NATS: letters, digits, '_' and '-'. Default "orch". */
  prefix?: string;
  /** How long to keep trying to reach a server at start (ms, default 10 s). */
  connectTimeoutMs?: number;
}

export interface NatsTransport extends Transport {
  readonly node: string;
  readonly connection: NatsConnection;
  /** Stops serving and subscribing, lets in-flight publishes go out, and closes the connection. */
  drain(): Promise<void>;
}

type Frame = { kind: 'taken' } | { kind: 'reply'; ok: true; payload: unknown } | { kind: 'reply'; ok: false; error: WireError };
interface WireError { code: string; message: string; details?: Record<string, unknown> }

/** One subject token from any text: what NATS reserves ('.', '*', '>', spaces …) is percent-encoded. */
export function subjectToken(text: string): string {
  return encodeURIComponent(text).replace(/[.*!~'()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `kind:name` → `<prefix>.addr.<kind>.<name>`; `topic:name` → `<prefix>.topic.<name>` ('topic:*' → every topic). */
export function subjectOf(prefix: string, to: Address | Topic): string {
  const at = to.indexOf(':');
  const kind = to.slice(0, at);
  const name = to.slice(at + 1);
  if (kind === 'topic') return name === '*' ? `${prefix}.topic.>` : `${prefix}.topic.${subjectToken(name)}`;
  return `${prefix}.addr.${subjectToken(kind)}.${subjectToken(name)}`;
}

function toWire(error: unknown): WireError {
  if (error instanceof RuntimeError) return { code: error.code, message: error.message, ...(error.details === undefined ? {} : { details: error.details }) };
  return { code: ErrorCode.Handler, message: error instanceof Error ? error.message : String(error) };
}

function fromWire(error: WireError): RuntimeError {
  return new RuntimeError(error.code as ErrorCode, error.message, error.details == null ? undefined : { details: error.details });
}

/**
 * Connects to NATS and returns a bus transport on it. Fails with E_UNAVAILABLE naming the servers and
 * the fix when none answers within `connectTimeoutMs`.
 * @example const transport = await connectNatsTransport({ servers: ['nats://127.0.0.1:4222'], node: 'a' });
 * const bus = createBus({ transport });
 */
export async function connectNatsTransport(options: NatsTransportOptions): Promise<NatsTransport> {
  const prefix = options.prefix ?? 'orch';
  if (!/^[A-Za-z0-9_-]+$/.test(prefix)) {
    throw new RuntimeError(ErrorCode.Invalid, `cluster subject prefix "${prefix}" is not valid: use letters, digits, '_' and '-'`);
  }
  // Loaded here, not at the top: a node without --cluster never loads the NATS client.
  const { connect, headers, nuid } = await import('@nats-io/transport-node');
  const node = options.node ?? nuid.next();
  let connection: NatsConnection;
  try {
    connection = await connect({ servers: options.servers, name: `orchestrator ${node}`, timeout: options.connectTimeoutMs ?? 10_000 });
  } catch (error) {
    throw new RuntimeError(ErrorCode.Unavailable, `cannot reach NATS at ${options.servers.join(', ')} (${error instanceof Error ? error.message : String(error)}): start nats-server there, or fix --cluster / ORCHESTRATOR_CLUSTER`);
  }
  const nc = connection;
  const inbox = `${prefix}.inbox.${subjectToken(node)}`;
  const cancelSubject = `${prefix}.cancel`;

  // Requests this node sent, until their reply (or withdrawal).
  const pending = new Map<string, { to: string; resolve(value: unknown): void; reject(error: unknown): void; taken?: () => void }>();
  // Requests this node is serving, so a cancel from the sender's node can abort them.
  const serving = new Map<string, AbortController>();
  const served = new Map<string, NatsSubscription>();
  const subscriptions = new Set<NatsSubscription>();

  const frames = nc.subscribe(`${inbox}.>`, {
    callback: (_error, msg) => {
      const id = decodeURIComponent(msg.subject.slice(inbox.length + 1));
      const entry = pending.get(id);
      if (!entry) return;
      if (msg.headers?.code === 503) {
        pending.delete(id);
        return entry.reject(new RuntimeError(ErrorCode.NoHandler, `nobody serves "${entry.to}" on the cluster: check the address, or that a node serving it is up`));
      }
      let frame: Frame;
      try {
        frame = msg.json<Frame>();
      } catch {
        return;
      }
      if (frame.kind === 'taken') return entry.taken?.();
      pending.delete(id);
      if (frame.ok) entry.resolve(frame.payload);
      else entry.reject(fromWire(frame.error));
    },
  });
  const cancels = nc.subscribe(cancelSubject, {
    callback: (_error, msg) => {
      try {
        const { id, error } = msg.json<{ id: string; error: WireError }>();
        serving.get(id)?.abort(fromWire(error));
      } catch {
        // Not a cancel frame: nothing to abort.
      }
    },
  });

  function headersFor(message: Message) {
    const h = headers();
    if (message.taskId !== undefined) h.set('Orch-Task-Id', message.taskId);
    h.set('Orch-Trace-Id', message.causationId ?? message.id);
    h.set('Orch-Node', node);
    return h;
  }

  const transport: NatsTransport = {
    name: `nats (${node})`,
    node,
    connection: nc,
    serve(address, receive) {
      if (served.has(address)) {
        throw new RuntimeError(ErrorCode.Conflict, `address "${address}" is already served on this node: stop the old endpoint first or pick another name`);
      }
      const subject = subjectOf(prefix, address);
      const subscription = nc.subscribe(subject, {
        queue: subject,
        callback: (_error, msg: Msg) => {
          const reply = msg.reply;
          if (!reply) return;
          const send = (frame: Frame) => {
            if (!nc.isClosed()) nc.publish(reply, JSON.stringify(frame));
          };
          let message: Message;
          try {
            message = msg.json<Message>();
          } catch (error) {
            return send({ kind: 'reply', ok: false, error: { code: ErrorCode.Invalid, message: `a request to ${address} was not a JSON message (${error instanceof Error ? error.message : String(error)})` } });
          }
          const withdraw = new AbortController();
          serving.set(message.id, withdraw);
          receive(message, withdraw.signal, () => send({ kind: 'taken' })).then(
            (payload) => send({ kind: 'reply', ok: true, payload }),
            (error) => send({ kind: 'reply', ok: false, error: toWire(error) }),
          ).finally(() => serving.delete(message.id));
        },
      });
      served.set(address, subscription);
      return () => {
        if (served.get(address) !== subscription) return;
        served.delete(address);
        subscription.unsubscribe();
      };
    },
    subscribe(topic, receive) {
      const subscription = nc.subscribe(subjectOf(prefix, topic), {
        callback: (_error, msg) => {
          let message: Message;
          try {
            message = msg.json<Message>();
          } catch {
            return;
          }
          receive(message);
        },
      });
      subscriptions.add(subscription);
      return () => {
        subscriptions.delete(subscription);
        subscription.unsubscribe();
      };
    },
    request(message, signal, taken) {
      if (nc.isClosed()) return Promise.reject(new RuntimeError(ErrorCode.Stopped, `the NATS connection of node ${node} is closed: ${message.type} to ${message.to} was not sent`));
      if (signal?.aborted) return Promise.reject(withdrawnError(signal, `${message.type} to ${message.to}`));
      return new Promise((resolve, reject) => {
        const forget = () => signal?.removeEventListener('abort', onAbort);
        const onAbort = () => {
          if (!pending.delete(message.id)) return;
          const error = withdrawnError(signal!, `${message.type} to ${message.to}`);
          // Whichever node took it aborts its work; the others ignore the id.
          if (!nc.isClosed()) nc.publish(cancelSubject, JSON.stringify({ id: message.id, error: toWire(error) }));
          reject(error);
        };
        pending.set(message.id, {
          to: message.to,
          taken,
          resolve: (value) => (forget(), resolve(value)),
          reject: (error) => (forget(), reject(error)),
        });
        signal?.addEventListener('abort', onAbort, { once: true });
        nc.publish(subjectOf(prefix, message.to), JSON.stringify(message), { reply: `${inbox}.${subjectToken(message.id)}`, headers: headersFor(message) });
      });
    },
    publish(message) {
      if (nc.isClosed()) return 0;
      nc.publish(subjectOf(prefix, message.to), JSON.stringify(message), { headers: headersFor(message) });
      // Every subscriber on every node gets it; how many that is, NATS does not say. 1: it went out.
      return 1;
    },
    close() {
      void transport.drain();
    },
    async drain() {
      if (nc.isClosed()) return;
      const stopped = new RuntimeError(ErrorCode.Stopped, `node ${node} left the cluster before the reply came`);
      for (const [id, entry] of pending) {
        pending.delete(id);
        entry.reject(stopped);
      }
      for (const subscription of [...served.values(), ...subscriptions, frames, cancels]) subscription.unsubscribe();
      served.clear();
      subscriptions.clear();
      await nc.drain().catch(() => nc.close());
    },
  };
  return transport;
}
