interface Item {
  id: string;
  priority: number;
  order: number;
}

/** Whether `a` runs before `b`: higher priority first, then first submitted. */
const before = (a: Item, b: Item) => a.priority > b.priority || (a.priority === b.priority && a.order < b.order);

/**
 * Which queued task runs next: highest priority first, then first submitted. A binary heap: a burst of
 * thousands of submissions costs O(log n) each (it was a sort per push). `remove` marks the entry and
 * the heap drops it when it reaches the top (or rebuilds itself once removed entries outnumber the rest).
 * @example const q = new PriorityQueue(); q.push('a', 1); q.push('b', 9); q.shift(); // 'b'
 */
export class PriorityQueue {
  #heap: Item[] = [];
  /** The entry of every id still queued (a removed one is no longer here, though its item may still be in the heap). */
  #live = new Map<string, Item>();
  #order = 0;

  get size(): number {
    return this.#live.size;
  }

  push(id: string, priority: number): void {
    this.remove(id);
    this.#insert({ id, priority, order: this.#order++ });
  }

  #insert(item: Item): void {
    this.#live.set(item.id, item);
    const heap = this.#heap;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  shift(): string | undefined {
    while (this.#heap.length) {
      const top = this.#pop();
      if (this.#live.get(top.id) === top) {
        this.#live.delete(top.id);
        return top.id;
      }
    }
    return undefined;
  }

  remove(id: string): void {
    if (!this.#live.delete(id)) return;
    // Removed entries wait in the heap until they reach the top; never let them outnumber the live ones.
    if (this.#heap.length > 2 * this.#live.size + 64) {
      this.#heap = [];
      const live = [...this.#live.values()];
      this.#live.clear();
      for (const item of live.sort((a, b) => a.order - b.order)) this.#insert(item);
    }
  }

  /** The queued ids in the order they will run. */
  ids(): string[] {
    return [...this.#live.values()].sort((a, b) => (before(a, b) ? -1 : 1)).map((item) => item.id);
  }

  #pop(): Item {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let first = i;
        if (left < heap.length && before(heap[left], heap[first])) first = left;
        if (right < heap.length && before(heap[right], heap[first])) first = right;
        if (first === i) break;
        [heap[i], heap[first]] = [heap[first], heap[i]];
        i = first;
      }
    }
    return top;
  }
}
