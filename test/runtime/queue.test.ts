// The task queue against a plain sorted list: pushes, shifts and removals in a random order (a fixed
// seed) must give the same next task, the same size and the same order every step.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PriorityQueue } from '../../runtime/tasks/mod.ts';

test('highest priority first, then first submitted; a removed task never runs', () => {
  const queue = new PriorityQueue();
  for (const [id, priority] of [['a', 5], ['b', 9], ['c', 5], ['d', 1], ['e', 9]] as const) queue.push(id, priority);
  queue.remove('c');
  assert.is(queue.size, 4);
  assert.equal(queue.ids(), ['b', 'e', 'a', 'd']);
  assert.equal([queue.shift(), queue.shift(), queue.shift(), queue.shift(), queue.shift()], ['b', 'e', 'a', 'd', undefined]);
});

test('20,000 random operations agree with a sorted list at every step', () => {
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const queue = new PriorityQueue();
  let reference: Array<{ id: string; priority: number; order: number }> = [];
  let order = 0;
  const sorted = () => reference.sort((a, b) => b.priority - a.priority || a.order - b.order);
  for (let i = 0; i < 20_000; i++) {
    const r = random();
    if (r < 0.5) {
      const id = `t${i}`;
      const priority = Math.floor(random() * 5);
      queue.push(id, priority);
      reference.push({ id, priority, order: order++ });
    } else if (r < 0.8) {
      assert.is(queue.shift(), sorted().shift()?.id, `step ${i}: shift`);
    } else if (reference.length) {
      const [gone] = reference.splice(Math.floor(random() * reference.length), 1);
      queue.remove(gone.id);
    }
    assert.is(queue.size, reference.length, `step ${i}: size`);
  }
  assert.equal(queue.ids(), sorted().map((item) => item.id));
});

test.run();
