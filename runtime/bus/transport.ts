import { ErrorCode, RuntimeError } from '../protocol/mod.ts';
import type { Address, Message, Topic } from '../protocol/mod.ts';

/**
 * How messages travel between endpoints. The bus owns mailboxes, ids, timeouts and interceptors; a
 * transport only routes. In-process now; a NATS transport implements the same five calls.
 */
export interface Transport {
  readonly name: string;
  /**
   * Registers the one receiver of `address`; E_CONFLICT when it is taken. `signal` aborts when the
   * sender withdraws the request (its task ended, its stage timed out): the receiver stops the work.
   */
  serve(address: Address, receive: (message: Message, signal?: AbortSignal, taken?: () => void) => Promise<unknown>): () => void;
  /** Registers a receiver on `topic`; 'topic:*' receives every topic. */
  subscribe(topic: Topic, receive: (message: Message) => void): () => void;
  /**
   * Delivers a request; resolves with the reply payload. E_NO_HANDLER when nobody serves `message.to`.
   * Aborting `signal` withdraws it: a networked transport sends the receiver a cancel for `message.id`.
   * `taken` is called when the receiver starts on it (a networked transport relays the receiver's
   * acknowledgement; one that cannot tell calls it on delivery).
   */
  request(message: Message, signal?: AbortSignal, taken?: () => void): Promise<unknown>;
  /** Delivers to every subscriber of `message.to`; returns how many received it. */
  publish(message: Message): number;
  close(): void;
}

export function inProcessTransport(): Transport {
  const servers = new Map<string, (message: Message, signal?: AbortSignal, taken?: () => void) => Promise<unknown>>();
  const topics = new Map<string, Array<(message: Message) => void>>();
  let wildcard: Array<(message: Message) => void> = [];

  function remove<T>(list: T[] | undefined, item: T): T[] {
    return (list ?? []).filter((x) => x !== item);
  }

  return {
    name: 'in-process',
    serve(address, receive) {
      if (servers.has(address)) {
        throw new RuntimeError(ErrorCode.Conflict, `address "${address}" is already served: stop the old endpoint first or pick another name`);
      }
      servers.set(address, receive);
      return () => {
        if (servers.get(address) === receive) servers.delete(address);
      };
    },
    subscribe(topic, receive) {
      if (topic === 'topic:*') {
        wildcard = [...wildcard, receive];
        return () => void (wildcard = remove(wildcard, receive));
      }
      topics.set(topic, [...(topics.get(topic) ?? []), receive]);
      return () => void topics.set(topic, remove(topics.get(topic), receive));
    },
    request(message, signal, taken) {
      const receive = servers.get(message.to);
      if (!receive) {
        return Promise.reject(
          new RuntimeError(
            ErrorCode.NoHandler,
            `nobody serves "${message.to}" (message ${message.type}): check the address, or that the plugin serving it loaded`,
          ),
        );
      }
      return receive(message, signal, taken);
    },
    publish(message) {
      // Lists are replaced, never mutated, so iterating a snapshot is safe against (un)subscribes mid-publish.
      const list = topics.get(message.to);
      let count = 0;
      if (list) for (const receive of list) (receive(message), count++);
      for (const receive of wildcard) (receive(message), count++);
      return count;
    },
    close() {
      servers.clear();
      topics.clear();
      wildcard = [];
    },
  };
}
