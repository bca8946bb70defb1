// Bus throughput next to raw XState and an EventEmitter floor, and per-task pipeline overhead with an
// instant provider and sandbox, measured in the same process.
import { EventEmitter } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assign, createActor, setup } from 'xstate';
import { createBus } from '../runtime/bus/mod.ts';
import { openStore } from '../runtime/store/mod.ts';
import { startSupervisor } from '../runtime/supervisor/mod.ts';
import { createTaskManager } from '../runtime/tasks/mod.ts';
import { builtinAgents } from '../agents/mod.ts';
import { createFunctionProvider } from '../runtime/llm/mod.ts';
import { measure, perSecond, ratio, type Section } from './lib.ts';

const N = 200_000;

const counter = setup({ types: { context: {} as { n: number }, events: {} as { type: 'inc' } } }).createMachine({
  context: { n: 0 },
  on: { inc: { actions: assign({ n: ({ context }) => context.n + 1 }) } },
});

function rawXState(): number {
  const actor = createActor(counter).start();
  const t = performance.now();
  for (let i = 0; i < N; i++) actor.send({ type: 'inc' });
  const ms = performance.now() - t;
  if (actor.getSnapshot().context.n !== N) throw new Error('raw XState lost events');
  actor.stop();
  return perSecond(N, ms);
}

function emitter(): number {
  const e = new EventEmitter();
  let n = 0;
  e.on('m', () => n++);
  const t = performance.now();
  for (let i = 0; i < N; i++) e.emit('m', i);
  const ms = performance.now() - t;
  if (n !== N) throw new Error('emitter lost events');
  return perSecond(N, ms);
}

function busPublish(): number {
  const bus = createBus();
  let n = 0;
  bus.subscribe('topic:bench', () => n++);
  const payload = { level: 'info', source: 'bench', text: 'x' } as const;
  const t = performance.now();
  for (let i = 0; i < N; i++) bus.publish('topic:bench', 'log.entry', payload);
  const ms = performance.now() - t;
  if (n !== N) throw new Error(`bus lost deliveries: ${n}/${N}`);
  bus.close();
  return perSecond(N, ms);
}

/** The bus in front of the same XState actor: what routing a message through the bus costs an actor. */
function busIntoActor(): number {
  const bus = createBus();
  const actor = createActor(counter).start();
  bus.subscribe('topic:bench', () => actor.send({ type: 'inc' }));
  const payload = { level: 'info', source: 'bench', text: 'x' } as const;
  const t = performance.now();
  for (let i = 0; i < N; i++) bus.publish('topic:bench', 'log.entry', payload);
  const ms = performance.now() - t;
  if (actor.getSnapshot().context.n !== N) throw new Error('bus → actor lost events');
  actor.stop();
  bus.close();
  return perSecond(N, ms);
}

async function busRequestReply(): Promise<number> {
  const bus = createBus();
  bus.serve('role:enhancer', (m) => ({ prompt: (m.payload as { requirement: string }).requirement }));
  const count = N / 4;
  const t = performance.now();
  for (let i = 0; i < count; i++) await bus.send('role:enhancer', 'enhance.request', { requirement: 'x' });
  const ms = performance.now() - t;
  bus.close();
  return perSecond(count, ms);
}

async function pipelineOverhead(tasks: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'orch-bench-'));
  const store = openStore(join(dir, 'bench.db'));
  const bus = createBus();
  const answers: Record<string, string> = {
    enhancer: 'spec',
    analyst: '{"complexity":"simple","kind":"code","summary":"s"}',
    implementer: '```js file=src/a.js\nexport const a = 1;\n```\n```js file=src/a.test.js\nimport { a } from "./a.js";\nit("a", () => expect(a).toBe(1));\n```',
  };
  const llm = createFunctionProvider('instant', (request) => answers[request.role] ?? 'plan');
  const instantSandbox = { validate: async () => ({ ok: true as const, tests: [{ name: 'a', ok: true, ms: 0 }], console: [], ms: 0, memoryBytes: 0 }) };
  const written: string[] = [];
  const workspace = {
    writeFiles: async (taskId: string, files: Array<{ path: string }>) => files.map((f) => `${taskId}/${f.path}`).map((p) => (written.push(p), p)),
    replaceFiles: async (taskId: string, files: Array<{ path: string }>) => files.map((f) => `${taskId}/${f.path}`).map((p) => (written.push(p), p)),
    archive: async () => dir,
    taskDir: (taskId: string) => join(dir, taskId),
  };
  const supervisor = startSupervisor({ bus, plugins: builtinAgents.map((plugin) => ({ plugin, source: 'agents', builtin: true, config: {} })), capabilities: { llm, sandbox: instantSandbox, workspace, log: () => {} } });
  const manager = createTaskManager({ bus, store, maxRunning: 1 });
  const done = new Promise<void>((resolve) => {
    let completed = 0;
    manager.onChange((task) => {
      if (task.status === 'failed') throw new Error(`bench task failed: ${task.error?.message}`);
      if (task.status === 'completed' && ++completed === tasks) resolve();
    });
  });
  const t = performance.now();
  await Promise.all(Array.from({ length: tasks }, (_, i) => manager.submit({ requirement: `task ${i}`, priority: 5 })));
  await done;
  const ms = performance.now() - t;
  await manager.stop();
  supervisor.stop();
  await store.close();
  return ms / tasks;
}

export async function coreBench(): Promise<Section> {
  const xstate = await measure('raw XState actor.send', 'events/s', rawXState);
  const ee = await measure('EventEmitter emit (floor)', 'events/s', emitter);
  const publish = await measure('bus publish → subscriber', 'deliveries/s', busPublish);
  const intoActor = await measure('bus publish → XState actor.send', 'deliveries/s', busIntoActor);
  const reply = await measure('bus send → reply (awaited, sequential)', 'round trips/s', busRequestReply);
  const task = await measure('pipeline per-task overhead (instant model + sandbox, SQLite on disk)', 'ms/task', () => pipelineOverhead(50));
  const ratios = {
    publishVsXState: ratio(publish.median, xstate.median),
    busIntoActorVsXState: ratio(intoActor.median, xstate.median),
    requestReplyVsXState: ratio(reply.median, xstate.median),
    publishVsEventEmitter: ratio(publish.median, ee.median),
  };
  return {
    title: 'Bus and pipeline',
    figures: [xstate, ee, publish, intoActor, reply, task],
    ratios,
    notes: [
      `Ratios in this run: bus publish / raw XState = **${ratios.publishVsXState}×** (goal ≥ 0.5×); bus publish into an XState actor / raw XState = **${ratios.busIntoActorVsXState}×** (the bus's cost on top of the actor); bus request/reply / raw XState = **${ratios.requestReplyVsXState}×**; bus publish / EventEmitter = ${ratios.publishVsEventEmitter}×.`,
    ],
  };
}
