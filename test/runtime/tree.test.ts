// One supervision tree (issue 14, item 1): the task actors are children of the root supervisor's actor,
// in its actor system (one inspection stream sees agents and tasks), the tree as data shows the pools,
// their instances and the running tasks with the instance serving each, and stopping the root stops
// the tasks still running where they are (not failed: they resume at the next start).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AnyActorRef, InspectionEvent } from 'xstate';
import { createBus } from '../../runtime/bus/mod.ts';
import { defineAgent } from '../../runtime/plugin/mod.ts';
import { createVolatileStore } from '../../runtime/store/mod.ts';
import { startSupervisor } from '../../runtime/supervisor/mod.ts';
import { createTaskManager } from '../../runtime/tasks/mod.ts';
import type { ActorNode } from '../../runtime/protocol/mod.ts';

const files = [{ path: 'a.js', content: 'export const a = 1;' }, { path: 'a.test.js', content: 'it("a", () => {});' }];
const passing = { ok: true, tests: [{ name: 'a', ok: true, ms: 1 }], console: [], ms: 1, memoryBytes: 1 };

async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function start() {
  const bus = createBus();
  const store = createVolatileStore();
  const open = new Map<string, () => void>();
  // An enhancer plugin (a pool of 2 under the root) whose requests wait until the test releases them.
  const enhancer = defineAgent({
    name: 'held-enhancer', version: '1.0.0', role: 'enhancer', accepts: ['enhance.request'],
    async handle(message) {
      const requirement = (message.payload as { requirement: string }).requirement;
      await new Promise<void>((resolve) => open.set(requirement, resolve));
      return { prompt: requirement };
    },
  });
  const supervisor = startSupervisor({
    bus,
    plugins: [{ plugin: enhancer, source: 'test', builtin: true, config: {} }],
    capabilities: { log: () => {} } as never,
    concurrency: { default: 2 },
  });
  bus.serve('role:analyst', () => ({ complexity: 'simple', kind: 'code', summary: 's' }));
  bus.serve('role:implementer', () => ({ files, entry: 'a.js', tests: ['a.test.js'], notes: '' }));
  bus.serve('role:validator', () => ({ report: passing, findings: [] }));
  bus.serve('role:integrator', () => ({ dir: '/x', written: ['a.js'] }));
  const tasks = createTaskManager({ bus, store, maxRunning: 4, home: supervisor });
  const seen = new Set<string>();
  supervisor.actor.system.inspect((event: InspectionEvent) => {
    if (event.type === '@xstate.snapshot') seen.add((event.actorRef as AnyActorRef).id);
  });
  return { bus, store, open, supervisor, tasks, seen };
}

const child = (node: ActorNode, id: string): ActorNode => {
  const found = node.children.find((c) => c.id === id);
  if (!found) throw new Error(`no ${id} under ${node.id}: ${node.children.map((c) => c.id).join(', ')}`);
  return found;
};

test('task actors are children of the root, in its actor system; the tree shows pools, instances and running tasks', async () => {
  const t = start();
  const view = await t.tasks.submit({ requirement: 'held', priority: 5 });
  await until('the enhancer holds the request', () => t.open.has('held'));
  assert.is(t.supervisor.children(), 1, 'the running task is a child of the root');

  const tree = t.supervisor.tree(await t.tasks.subtree());
  assert.equal([tree.id, tree.kind, tree.actor, tree.status], ['root', 'root', 'supervisor', 'running']);
  assert.equal(tree.children.map((c) => c.id), ['agents', 'tasks']);
  const pool = child(child(tree, 'agents'), 'pool:held-enhancer');
  assert.equal(pool.detail, { role: 'enhancer', version: '1.0.0', concurrency: 2, busy: 1, idle: 1, down: 0, restarts: 0 });
  assert.match(pool.strategy!, /one for one: a crashed or hung instance restarts alone/);
  assert.equal(pool.children.map((i) => [i.id, i.status, i.detail?.task, i.actor]), [
    ['held-enhancer#1', 'working', view.id, 'agent:held-enhancer'],
    ['held-enhancer#2', 'ready', null, 'agent:held-enhancer#2'],
  ]);
  const tasksNode = child(tree, 'tasks');
  assert.equal([tasksNode.detail?.maxRunning, tasksNode.detail?.running, tasksNode.detail?.queued], [4, 1, 0]);
  const task = child(tasksNode, `task:${view.id}`);
  assert.equal([task.status, task.detail?.stage, task.detail?.servedBy], ['running', 'enhancing', 'held-enhancer#1']);
  assert.type(task.detail?.deadline, 'number');
  assert.ok(t.seen.has(`task:${view.id}`), 'the root system’s inspection stream carries the task actor’s snapshots');
  assert.ok(t.seen.has('held-enhancer#1@1'), '…and the agent instances’');

  t.open.get('held')!();
  await until('the task completes', async () => (await t.tasks.view(view.id))?.status === 'completed');
  await until('its actor has left the tree', () => t.supervisor.children() === 0);
  assert.equal(child(t.supervisor.tree(await t.tasks.subtree()), 'tasks').children, []);
  await t.tasks.stop();
  t.supervisor.stop();
});

test('stopping the root stops the running tasks where they are: not failed, so the next start resumes them', async () => {
  const t = start();
  const view = await t.tasks.submit({ requirement: 'stopped mid-stage', priority: 5 });
  await until('the enhancer holds the request', () => t.open.has('stopped mid-stage'));
  await t.tasks.stop();
  t.supervisor.stop();
  assert.is(t.supervisor.children(), 0);
  const row = await t.store.getTask(view.id);
  assert.equal([row?.status, row?.stage], ['running', 'enhancing'], 'left where it was for the next start');
});

test('a stopped task manager’s actors leave the root at once (writeFailed and stop use stopChild)', async () => {
  const t = start();
  await t.tasks.submit({ requirement: 'one', priority: 5 });
  await t.tasks.submit({ requirement: 'two', priority: 5 });
  await until('both held', () => t.open.has('one') && t.open.has('two'));
  assert.is(t.supervisor.children(), 2);
  await t.tasks.stop();
  assert.is(t.supervisor.children(), 0);
  t.supervisor.stop();
});

test.run();
