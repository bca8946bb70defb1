import { ErrorCode, RuntimeError } from '../protocol/mod.ts';

export const Overflow = {
  /** Refuse the new message; its sender gets E_MAILBOX_FULL (backpressure, nothing silently lost). */
  Reject: 'reject',
  /** Drop the oldest queued message and count it (for observers that only need the latest). */
  DropOldest: 'drop-oldest',
} as const;
export type Overflow = (typeof Overflow)[keyof typeof Overflow];

export interface MailboxOptions {
  capacity?: number;
  overflow?: Overflow;
}

export interface MailboxStats {
  queued: number;
  processed: number;
  dropped: number;
  rejected: number;
}

/**
 * A bounded FIFO processed one item at a time. `process` may return a promise: the next item waits for
 * it, which is what makes an agent an actor (one message at a time, in order). A synchronous `process`
 * drains in a tight loop, so a publish costs no promise and no timer.
 */
export class Mailbox<T> {
  readonly capacity: number;
  readonly overflow: Overflow;
  #items: T[] = [];
  #head = 0;
  #busy = false;
  #closed = false;
  #process: (item: T) => void | Promise<void>;
  #name: string;
  stats: MailboxStats = { queued: 0, processed: 0, dropped: 0, rejected: 0 };

  constructor(name: string, process: (item: T) => void | Promise<void>, options: MailboxOptions = {}) {
    this.#name = name;
    this.#process = process;
    this.capacity = options.capacity ?? 1000;
    this.overflow = options.overflow ?? Overflow.Reject;
    if (!Number.isInteger(this.capacity) || this.capacity < 1) {
      throw new RuntimeError(ErrorCode.Invalid, `mailbox "${name}": capacity ${this.capacity} is invalid: use an integer >= 1`);
    }
  }

  get size(): number {
    return this.#items.length - this.#head;
  }

  /** Queues an item; returns the item dropped to make room, if any. Throws E_MAILBOX_FULL under 'reject'. */
  push(item: T): T | undefined {
    if (this.#closed) throw new RuntimeError(ErrorCode.Stopped, `mailbox "${this.#name}" is closed: its owner stopped`);
    let dropped: T | undefined;
    if (this.size >= this.capacity) {
      if (this.overflow === Overflow.Reject) {
        this.stats.rejected++;
        throw new RuntimeError(
          ErrorCode.MailboxFull,
          `mailbox "${this.#name}" is full (${this.capacity} queued): the receiver is behind; retry later or raise its capacity`,
        );
      }
      dropped = this.#items[this.#head];
      this.#items[this.#head++] = undefined as T;
      this.stats.dropped++;
    }
    this.#items.push(item);
    this.stats.queued++;
    if (!this.#busy) this.#drain();
    return dropped;
  }

  /** Items not yet processed (e.g. to fail them when the owner is marked failed). */
  takeAll(): T[] {
    const rest = this.#items.slice(this.#head);
    this.#items = [];
    this.#head = 0;
    return rest;
  }

  close(): T[] {
    this.#closed = true;
    return this.takeAll();
  }

  #drain(): void {
    this.#busy = true;
    while (this.#head < this.#items.length) {
      const item = this.#items[this.#head];
      this.#items[this.#head++] = undefined as T;
      if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
        this.#items = this.#items.slice(this.#head);
        this.#head = 0;
      }
      let result: void | Promise<void>;
      try {
        result = this.#process(item);
      } catch {
        // process() owns its errors; a throw here must not wedge the mailbox.
        result = undefined;
      }
      this.stats.processed++;
      if (result && typeof (result as Promise<void>).then === 'function') {
        (result as Promise<void>).then(
          () => this.#drain(),
          () => this.#drain(),
        );
        return;
      }
    }
    if (this.#head > 0) {
      this.#items = [];
      this.#head = 0;
    }
    this.#busy = false;
  }
}
