// The pipeline and the manager in-process, with agents that are test doubles on the real bus.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createBus, simulatedClock } from '../../runtime/bus/mod.ts';
import { createVolatileStore, openStore } from '../../runtime/store/mod.ts';
import { createTaskManager } from '../../runtime/tasks/mod.ts';
import type { TaskView } from '../../runtime/protocol/mod.ts';

/** Expects `fn` to reject (or throw) with a message matching `pattern`. */
async function rejects(fn: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await fn();
  } catch (error) {
    assert.match((error as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected a rejection matching ${pattern}`);
}

const files = [{ path: 'a.js', content: 'export const a = 1;' }, { path: 'a.test.js', content: 'it("a", () => {});' }];

function setup(report: unknown, options: { maxRunning?: number; gate?: Promise<void>; volatile?: boolean } = {}) {
  const bus = createBus();
  const store = options.volatile ? createVolatileStore() : openStore(':memory:');
  const order: string[] = [];
  let integrated = 0;
  bus.serve('role:enhancer', async (m) => {
    order.push((m.payload as { requirement: string }).requirement);
    await options.gate;
    return { prompt: 'p' };
  });
  bus.serve('role:analyst', () => ({ complexity: 'simple', kind: 'code', summary: 's' }));
  bus.serve('role:implementer', () => ({ files, entry: 'a.js', tests: ['a.test.js'], notes: '' }));
  bus.serve('role:validator', () => ({ report, findings: ['a: expected 1 to be 2'] }));
  bus.serve('role:integrator', () => (integrated++, { dir: '/x', written: ['t/a.js'] }));
  const manager = createTaskManager({ bus, store, maxRunning: options.maxRunning ?? 1, maxIterations: 2 });
  // Resolves with the task's final view, whether it ends after this call or ended before it.
  const finished = (id: string) =>
    new Promise<TaskView>((resolve) => {
      const final = (t: TaskView | null) => t !== null && t.id === id && ['completed', 'failed', 'cancelled'].includes(t.status);
      manager.onChange((t) => final(t) && resolve(t));
      void manager.view(id).then((t) => final(t) && resolve(t!));
    });
  return { bus, store, manager, order, finished, integrated: () => integrated };
}

test('a passing report reaches integrating and completes', async () => {
  const s = setup({ ok: true, tests: [{ name: 'a', ok: true, ms: 1 }], console: [], ms: 1, memoryBytes: 1 });
  const task = await s.manager.submit({ requirement: 'r', priority: 5 });
  const done = await s.finished(task.id);
  assert.is(done.status, 'completed');
  assert.is(s.integrated(), 1);
  const stages = (await s.store.events(task.id)).filter((e) => e.type === 'task.stage').map((e) => (e.data as { to: string }).to);
  assert.equal(stages, ['enhancing', 'analyzing', 'implementing', 'validating', 'integrating', 'completed']);
  await s.manager.stop();
});

test('a task writes one commit per transition: nothing while it is queued (queued → completed: createTask + 6 commits)', async () => {
  const s = setup({ ok: true, tests: [{ name: 'a', ok: true, ms: 1 }], console: [], ms: 1, memoryBytes: 1 });
  const writes: string[] = [];
  for (const name of ['createTask', 'commit', 'updateTask', 'saveSnapshot', 'appendEvent'] as const) {
    const original = s.store[name] as (...args: unknown[]) => Promise<unknown>;
    (s.store as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => (writes.push(name), original(...args));
  }
  const views: string[] = [];
  s.manager.onChange((t) => views.push(t.stage));
  const task = await s.manager.submit({ requirement: 'r', priority: 5 });
  assert.is((await s.finished(task.id)).status, 'completed');
  assert.equal(writes, ['createTask', 'commit', 'commit', 'commit', 'commit', 'commit', 'commit']);
  assert.equal(views, ['queued', 'enhancing', 'analyzing', 'implementing', 'validating', 'integrating', 'completed'], 'one view per state, the queued one included');
  await s.manager.stop();
});

test('a stage timeout counts from when an instance takes the request: tasks queued behind a busy role do not time out waiting', async () => {
  const clock = simulatedClock(1_000_000);
  const bus = createBus({ clock });
  const store = createVolatileStore();
  // One enhancer (a mailbox read one at a time), 600 ms per request, against a 1 s stage timeout: the
  // third task waits 1.2 s for it, more than its stage timeout, and must still pass.
  bus.serve('role:enhancer', () => new Promise((resolve) => clock.setTimeout(() => resolve({ prompt: 'p' }), 600)));
  bus.serve('role:analyst', () => ({ complexity: 'simple', kind: 'code', summary: 's' }));
  bus.serve('role:implementer', () => ({ files, entry: 'a.js', tests: ['a.test.js'], notes: '' }));
  bus.serve('role:validator', () => ({ report: { ok: true, tests: [{ name: 'a', ok: true, ms: 1 }], console: [], ms: 1, memoryBytes: 1 }, findings: [] }));
  bus.serve('role:integrator', () => ({ dir: '/x', written: ['t/a.js'] }));
  const manager = createTaskManager({ bus, store, maxRunning: 3, stageTimeoutMs: 1000, taskDeadlineMs: 60_000 });
  const ids = [];
  for (const r of ['one', 'two', 'three']) ids.push((await manager.submit({ requirement: r, priority: 5 })).id);
  for (let t = 0; t < 40; t++) {
    clock.advance(100);
    for (let i = 0; i < 20; i++) await Promise.resolve();
  }
  const views = await Promise.all(ids.map((id) => manager.view(id)));
  assert.equal(views.map((v) => [v?.status, v?.error?.message ?? null]), [['completed', null], ['completed', null], ['completed', null]]);
  await manager.stop();
});

test('on the volatile store (no persistence) a task completes and its detail shows what each stage produced', async () => {
  const s = setup({ ok: true, tests: [{ name: 'a', ok: true, ms: 1 }], console: [], ms: 1, memoryBytes: 1 }, { volatile: true });
  const task = await s.manager.submit({ requirement: 'r', priority: 5 });
  assert.is((await s.finished(task.id)).status, 'completed');
  const detail = await s.manager.get(task.id);
  assert.is(detail?.prompt, 'p', 'the context comes from the saved (live) snapshot');
  assert.equal(detail?.generated.map((f) => f.path), ['a.js', 'a.test.js']);
  assert.equal(detail?.stages.map((x) => x.stage), ['enhancing', 'analyzing', 'implementing', 'validating', 'integrating', 'completed']);
  await s.manager.stop();
});

for (const [name, report] of [
  ['a failing report', { ok: false, reason: 'tests-failed', message: '1 of 1 tests failed' }],
  ['an "ok" report without test results', { ok: true, console: [] }],
  ['a report that is not a report', { ok: 'yes' }],
] as const) {
  test(`${name} never reaches integrating: the fix loop runs, then the task fails`, async () => {
    const s = setup(report);
    const task = await s.manager.submit({ requirement: 'r', priority: 5 });
    const done = await s.finished(task.id);
    assert.is(done.status, 'failed');
    assert.is(s.integrated(), 0, 'integrator never called');
    assert.is(done.iteration, 2, 'two implementer attempts (maxIterations)');
    assert.match(done.error!.message, /validation failed after 2 attempt\(s\)/);
    await s.manager.stop();
  });
}

test('queued tasks start by priority, then by submission order, one worker at a time', async () => {
  // The first task's enhancer waits until the other three are queued behind it.
  let open!: () => void;
  const s = setup({ ok: true, tests: [{ name: 'a', ok: true, ms: 1 }], console: [], ms: 1, memoryBytes: 1 }, { gate: new Promise<void>((resolve) => (open = resolve)) });
  const first = await s.manager.submit({ requirement: 'first (starts at once)', priority: 1 });
  const low = await s.manager.submit({ requirement: 'low', priority: 2 });
  const high = await s.manager.submit({ requirement: 'high', priority: 9 });
  const high2 = await s.manager.submit({ requirement: 'high, later', priority: 9 });
  assert.equal(s.manager.stats(), { queued: 3, running: 1, maxRunning: 1 });
  open();
  await Promise.all([first, low, high, high2].map((t) => s.finished(t.id)));
  assert.equal(s.order, ['first (starts at once)', 'high', 'high, later', 'low']);
  await s.manager.stop();
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
  const manager = createTaskManager({ bus, store, maxRunning: 1 });
  const task = await manager.submit({ requirement: 'r', priority: 5 });
  await new Promise<void>((resolve) => {
    const off = manager.onChange((t) => t.id === task.id && t.stage === 'integrating' && (off(), resolve()));
  });
  await rejects(() => manager.cancel(task.id), /is integrating .* cannot be cancelled now; wait for it to complete/);
  const done = new Promise<TaskView>((resolve) => manager.onChange((t) => t.id === task.id && t.status === 'completed' && resolve(t)));
  release();
  assert.is((await done).status, 'completed');
  await manager.stop();
});

test('cancel ends a queued task; retry of a running one is refused with the reason', async () => {
  // The running task stays in its first stage (and the other queued) until the checks are done.
  let open!: () => void;
  const s = setup({ ok: true, tests: [{ name: 'a', ok: true, ms: 1 }], console: [], ms: 1, memoryBytes: 1 }, { gate: new Promise<void>((resolve) => (open = resolve)) });
  const running = await s.manager.submit({ requirement: 'a', priority: 5 });
  const queued = await s.manager.submit({ requirement: 'b', priority: 5 });
  assert.is((await s.manager.cancel(queued.id)).status, 'cancelled');
  await rejects(() => s.manager.retry(running.id), /only failed or cancelled tasks can be retried/);
  await rejects(() => s.manager.cancel('t-missing'), /task "t-missing" does not exist/);
  open();
  await s.finished(running.id);
  await rejects(() => s.manager.cancel(running.id), /is completed and cannot be cancelled/);
  assert.is((await s.manager.retry(queued.id)).attempt, 2);
  assert.is((await s.finished(queued.id)).status, 'completed');
  await s.manager.stop();
});

test.run();
