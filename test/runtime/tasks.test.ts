// The pipeline and the manager in-process, with agents that are test doubles on the real bus.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createBus } from '../../runtime/bus/mod.ts';
import { openStore } from '../../runtime/store/mod.ts';
import { createTaskManager } from '../../runtime/tasks/mod.ts';
import type { TaskView } from '../../runtime/protocol/mod.ts';

const files = [{ path: 'a.js', content: 'export const a = 1;' }, { path: 'a.test.js', content: 'it("a", () => {});' }];

function setup(report: unknown, options: { workers?: number } = {}) {
  const bus = createBus();
  const store = openStore(':memory:');
  const order: string[] = [];
  let integrated = 0;
  bus.serve('role:enhancer', (m) => (order.push((m.payload as { requirement: string }).requirement), { prompt: 'p' }));
  bus.serve('role:analyst', () => ({ complexity: 'simple', kind: 'code', summary: 's' }));
  bus.serve('role:implementer', () => ({ files, entry: 'a.js', tests: ['a.test.js'], notes: '' }));
  bus.serve('role:validator', () => ({ report, findings: ['a: expected 1 to be 2'] }));
  bus.serve('role:integrator', () => (integrated++, { dir: '/x', written: ['t/a.js'] }));
  const manager = createTaskManager({ bus, store, workers: options.workers ?? 1, maxIterations: 2 });
  const finished = (id: string) =>
    new Promise<TaskView>((resolve) => {
      const check = (t: TaskView) => t.id === id && ['completed', 'failed', 'cancelled'].includes(t.status) && resolve(t);
      manager.onChange(check);
    });
  return { bus, store, manager, order, finished, integrated: () => integrated };
}

test('a passing report reaches integrating and completes', async () => {
  const s = setup({ ok: true, tests: [{ name: 'a', ok: true, ms: 1 }], console: [], ms: 1, memoryBytes: 1 });
  const task = s.manager.submit({ requirement: 'r', priority: 5 });
  const done = await s.finished(task.id);
  assert.is(done.status, 'completed');
  assert.is(s.integrated(), 1);
  const stages = s.store.events(task.id).filter((e) => e.type === 'task.stage').map((e) => (e.data as { to: string }).to);
  assert.equal(stages, ['enhancing', 'analyzing', 'implementing', 'validating', 'integrating', 'completed']);
  s.manager.stop();
});

for (const [name, report] of [
  ['a failing report', { ok: false, reason: 'tests-failed', message: '1 of 1 tests failed' }],
  ['an "ok" report without test results', { ok: true, console: [] }],
  ['a report that is not a report', { ok: 'yes' }],
] as const) {
  test(`${name} never reaches integrating: the fix loop runs, then the task fails`, async () => {
    const s = setup(report);
    const task = s.manager.submit({ requirement: 'r', priority: 5 });
    const done = await s.finished(task.id);
    assert.is(done.status, 'failed');
    assert.is(s.integrated(), 0, 'integrator never called');
    assert.is(done.iteration, 2, 'two implementer attempts (maxIterations)');
    assert.match(done.error!.message, /validation failed after 2 attempt\(s\)/);
    s.manager.stop();
  });
}

test('queued tasks start by priority, then by submission order, one worker at a time', async () => {
  const s = setup({ ok: true, tests: [{ name: 'a', ok: true, ms: 1 }], console: [], ms: 1, memoryBytes: 1 });
  const first = s.manager.submit({ requirement: 'first (starts at once)', priority: 1 });
  const low = s.manager.submit({ requirement: 'low', priority: 2 });
  const high = s.manager.submit({ requirement: 'high', priority: 9 });
  const high2 = s.manager.submit({ requirement: 'high, later', priority: 9 });
  assert.equal(s.manager.stats(), { queued: 3, running: 1, workers: 1 });
  await Promise.all([first, low, high, high2].map((t) => s.finished(t.id)));
  assert.equal(s.order, ['first (starts at once)', 'high', 'high, later', 'low']);
  s.manager.stop();
});

test('a task that is integrating cannot be cancelled: it completes with its files, never "cancelled" with files', async () => {
  const bus = createBus();
  const store = openStore(':memory:');
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  bus.serve('role:enhancer', () => ({ prompt: 'p' }));
  bus.serve('role:analyst', () => ({ complexity: 'simple', kind: 'code', summary: 's' }));
  bus.serve('role:implementer', () => ({ files, entry: 'a.js', tests: ['a.test.js'], notes: '' }));
  bus.serve('role:validator', () => ({ report: { ok: true, tests: [{ name: 'a', ok: true, ms: 1 }], console: [], ms: 1, memoryBytes: 1 }, findings: [] }));
  bus.serve('role:integrator', async () => (await gate, { dir: '/x', written: ['t/a.js'] }));
  const manager = createTaskManager({ bus, store, workers: 1 });
  const task = manager.submit({ requirement: 'r', priority: 5 });
  await new Promise<void>((resolve) => {
    const off = manager.onChange((t) => t.id === task.id && t.stage === 'integrating' && (off(), resolve()));
  });
  assert.throws(() => manager.cancel(task.id), /is integrating .* cannot be cancelled now; wait for it to complete/);
  const done = new Promise<TaskView>((resolve) => manager.onChange((t) => t.id === task.id && t.status === 'completed' && resolve(t)));
  release();
  assert.is((await done).status, 'completed');
  manager.stop();
});

test('cancel ends a queued task; retry of a running one is refused with the reason', async () => {
  const s = setup({ ok: true, tests: [{ name: 'a', ok: true, ms: 1 }], console: [], ms: 1, memoryBytes: 1 });
  const running = s.manager.submit({ requirement: 'a', priority: 5 });
  const queued = s.manager.submit({ requirement: 'b', priority: 5 });
  assert.is(s.manager.cancel(queued.id).status, 'cancelled');
  assert.throws(() => s.manager.retry(running.id), /only failed or cancelled tasks can be retried/);
  assert.throws(() => s.manager.cancel('t-missing'), /task "t-missing" does not exist/);
  await s.finished(running.id);
  assert.throws(() => s.manager.cancel(running.id), /is completed and cannot be cancelled/);
  assert.is(s.manager.retry(queued.id).attempt, 2);
  assert.is((await s.finished(queued.id)).status, 'completed');
  s.manager.stop();
});

test.run();
