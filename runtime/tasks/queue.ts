/** Which queued task runs next: highest priority first, then first submitted. */
export class PriorityQueue {
  #items: Array<{ id: string; priority: number; order: number }> = [];
  #order = 0;

  get size(): number {
    return this.#items.length;
  }

  push(id: string, priority: number): void {
    this.#items.push({ id, priority, order: this.#order++ });
    this.#items.sort((a, b) => b.priority - a.priority || a.order - b.order);
  }

  shift(): string | undefined {
    return this.#items.shift()?.id;
  }

  remove(id: string): void {
    this.#items = this.#items.filter((item) => item.id !== id);
  }

  ids(): string[] {
    return this.#items.map((item) => item.id);
  }
}
