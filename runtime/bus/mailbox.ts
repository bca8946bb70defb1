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
  /**
   * How many items are processed at once (default 1: an actor, one message at a time, in order).
   * A pool of N agent instances reads one mailbox with concurrency N.
   */
  concurrency?: number;
}

export interface MailboxStats {
  queued: number;
  processed: number;
  dropped: number;
  rejected: number;
}

/**
 * A bounded FIFO processed `concurrency` items at a time (default one). `process` may return a promise:
 * the next item waits for a free slot, which is what makes an agent an actor (one message at a time, in
 * order) and a pool a set of them. A synchronous `process` drains in a tight loop, so a publish costs no
 * promise and no timer.
 */
export class Mailbox<T> {
  readonly capacity: number;
  readonly overflow: Overflow;
  readonly concurrency: number;
  #items: T[] = [];
  #head = 0;
  #busy = false;
  #inFlight = 0;
  #closed = false;
  #process: (item: T) => void | Promise<void>;
  #name: string;
  stats: MailboxStats = { queued: 0, processed: 0, dropped: 0, rejected: 0 };

  constructor(name: string, process: (item: T) => void | Promise<void>, options: MailboxOptions = {}) {
    this.#name = name;
    this.#process = process;
    this.capacity = options.capacity ?? 1000;
    this.overflow = options.overflow ?? Overflow.Reject;
    this.concurrency = options.concurrency ?? 1;
    if (!(this.concurrency >= 1) || (!Number.isInteger(this.concurrency) && this.concurrency !== Infinity)) {
      throw new RuntimeError(ErrorCode.Invalid, `mailbox "${name}": concurrency ${this.concurrency} is invalid: use an integer >= 1`);
    }
    if (!Number.isInteger(this.capacity) || this.capacity < 1) {
      throw new RuntimeError(ErrorCode.Invalid, `mailbox "${name}": capacity ${this.capacity} is invalid: use an integer >= 1`);
    }
  }

  get size(): number {
    return this.#items.length - this.#head;
  }

  /** Items being processed now (at most `concurrency`). */
  get inFlight(): number {
    return this.#inFlight;
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
    while (this.#head < this.#items.length && this.#inFlight < this.concurrency) {
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
        this.#inFlight++;
        const done = () => {
          this.#inFlight--;
          if (!this.#busy) this.#drain();
        };
        (result as Promise<void>).then(done, done);
      }
    }
    if (this.#head > 0 && this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    }
    this.#busy = false;
  }
}
