// Orchestration overhead next to LangGraph.js: the same five stages (enhance → analyze → implement →
// validate → integrate) with an instant model and a trivial validation, as an Orchestrator task and as
// a LangGraph StateGraph, in the same process and run. Like with like: ours with an in-memory store
// next to LangGraph without a checkpointer, ours on disk (every transition committed, synchronous=FULL)
// next to LangGraph with its SQLite checkpointer (WAL, durability 'sync': saved before the next step).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createBus } from '../runtime/bus/mod.ts';
import { openStore } from '../runtime/store/mod.ts';
import { startSupervisor } from '../runtime/supervisor/mod.ts';
import { createTaskManager } from '../runtime/tasks/mod.ts';
import { builtinAgents } from '../agents/mod.ts';
import { createFunctionProvider } from '../runtime/llm/mod.ts';
import { importPeer } from './peers.ts';
import { measure, notMeasured, perSecond, ratio, type Figure, type Section } from './lib.ts';

const RUNS = 5;
const TASKS = { 1: 60, 32: 320 } as const;
const MEMORY_TASKS = 1000;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const ANSWERS: Record<string, string> = {
  enhancer: 'spec',
  analyst: '{"complexity":"simple","kind":"code","summary":"s"}',
  implementer: '```js file=src/a.js\nexport const a = 1;\n```\n```js file=src/a.test.js\nimport { a } from "./a.js";\nit("a", () => expect(a).toBe(1));\n```',
};
const instantModel = (role: string) => ANSWERS[role] ?? 'plan';
const instantSandbox = { validate: async () => ({ ok: true as const, tests: [{ name: 'a', ok: true, ms: 0 }], console: [], ms: 0, memoryBytes: 0 }) };

/** Something that runs `count` tasks `concurrency` at a time and resolves when all are done. */
interface Runner { run(count: number): Promise<void>; close(): void }

function orchestrator(where: 'disk' | 'memory', concurrency: number): Runner {
  const dir = mkdtempSync(join(tmpdir(), 'orch-bench-orch-'));
  const store = openStore(where === 'disk' ? join(dir, 'bench.db') : ':memory:');
  const bus = createBus();
  const llm = createFunctionProvider('instant', (request) => instantModel(request.role));
  const workspace = {
    writeFiles: async (taskId: string, files: Array<{ path: string }>) => files.map((f) => `${taskId}/${f.path}`),
    archive: async () => dir,
    taskDir: (taskId: string) => join(dir, taskId),
  };
  const supervisor = startSupervisor({ bus, plugins: builtinAgents.map((plugin) => ({ plugin, source: 'agents', builtin: true, config: {} })), capabilities: { llm, sandbox: instantSandbox, workspace, log: () => {} } });
  const manager = createTaskManager({ bus, store, workers: concurrency });
  let waiting: { left: number; resolve(): void; reject(e: Error): void } | null = null;
  manager.onChange((task) => {
    if (task.status === 'failed') waiting?.reject(new Error(`bench task failed: ${task.error?.message}`));
    if (task.status === 'completed' && waiting && --waiting.left === 0) waiting.resolve();
  });
  let n = 0;
  return {
    run: (count) =>
      new Promise<void>((resolve, reject) => {
        waiting = { left: count, resolve, reject };
        for (let i = 0; i < count; i++) manager.submit({ requirement: `task ${n++}`, priority: 5 });
      }),
    close() {
      manager.stop();
      supervisor.stop();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

type Graph = { invoke(input: unknown, config?: unknown): Promise<unknown> };

/** The same five stages as StateGraph nodes doing the same trivial work (model call, parse, validate, write). */
function langGraph(lg: Record<string, any>, checkpointer: unknown, concurrency: number): Runner {
  const { StateGraph, Annotation, START, END } = lg;
  const field = () => Annotation();
  const State = Annotation.Root({ requirement: field(), prompt: field(), analysis: field(), files: field(), report: field(), written: field() });
  const graph: Graph = new StateGraph(State)
    .addNode('enhance', async (s: { requirement: string }) => ({ prompt: `${instantModel('enhancer')}: ${s.requirement}` }))
    .addNode('analyze', async () => ({ analysis: JSON.parse(instantModel('analyst')) }))
    .addNode('implement', async () => ({ files: [...instantModel('implementer').matchAll(/```\w+ file=(\S+)\n([\s\S]*?)```/g)].map((m) => ({ path: m[1], content: m[2] })) }))
    .addNode('validate', async () => ({ report: await instantSandbox.validate() }))
    .addNode('integrate', async (s: { files: Array<{ path: string }> }) => ({ written: s.files.map((f) => f.path) }))
    .addEdge(START, 'enhance')
    .addEdge('enhance', 'analyze')
    .addEdge('analyze', 'implement')
    .addEdge('implement', 'validate')
    .addEdge('validate', 'integrate')
    .addEdge('integrate', END)
    .compile(checkpointer ? { checkpointer } : {});
  let n = 0;
  const one = async () => {
    const id = n++;
    const out = (await graph.invoke({ requirement: `task ${id}` }, checkpointer ? { configurable: { thread_id: `t${id}` }, durability: 'sync' } : {})) as { written?: string[] };
    if (out.written?.length !== 2) throw new Error('LangGraph bench task did not integrate');
  };
  return {
    async run(count) {
      let next = 0;
      const lane = async () => {
        while (next < count) {
          next++;
          await one();
        }
      };
      await Promise.all(Array.from({ length: concurrency }, lane));
    },
    close() {},
  };
}

// better-sqlite3 12.11 on Node 24 aborts the process when GC destroys one of its Database objects
// (Assertion failed in node::RemoveEnvironmentCleanupHook from Database::~Database): every saver
// made here is kept reachable until the process exits.
const keepAlive: unknown[] = [];

/** The SQLite checkpointer loads lazily: its native better-sqlite3 must have been built for this Node. */
async function opensSqlite(peer: Awaited<ReturnType<typeof importPeer>>): Promise<Awaited<ReturnType<typeof importPeer>>> {
  if (!peer.ok) return peer;
  try {
    const dir = mkdtempSync(join(tmpdir(), 'orch-bench-lg-'));
    const probe = (peer.module.SqliteSaver as { fromConnString(path: string): { db: { close(): void } } }).fromConnString(join(dir, 'probe.db'));
    keepAlive.push(probe);
    rmSync(dir, { recursive: true, force: true });
    return peer;
  } catch (error) {
    return { ok: false, reason: `SqliteSaver cannot open a database: ${(error as Error).message.split('\n').slice(0, 2).join(' ')}` };
  }
}

/** ms per task: median of RUNS runs of TASKS[c] tasks each on one warmed-up runner. */
async function perTask(name: string, make: () => Runner, concurrency: 1 | 32): Promise<Figure> {
  const runner = make();
  try {
    return await measure(`${name}, concurrency ${concurrency}`, 'ms/task', async () => {
      const t = performance.now();
      await runner.run(TASKS[concurrency]);
      return (performance.now() - t) / TASKS[concurrency];
    }, RUNS);
  } finally {
    runner.close();
  }
}

/** Heap still held (after GC) and RSS growth after 1,000 tasks at concurrency 32, runner kept alive. */
async function memory(name: string, make: () => Runner): Promise<Figure[]> {
  const runner = make();
  await runner.run(32);
  gc();
  const before = process.memoryUsage();
  await runner.run(MEMORY_TASKS);
  gc();
  const after = process.memoryUsage();
  runner.close();
  const mb = (bytes: number) => +(bytes / 1024 / 1024).toFixed(3);
  const heap = mb(after.heapUsed - before.heapUsed);
  const rss = mb(after.rss - before.rss);
  return [
    { name: `${name}: heap retained per 1,000 tasks (after GC)`, unit: 'MB', median: heap, min: heap, max: heap },
    { name: `${name}: RSS growth per 1,000 tasks`, unit: 'MB', median: rss, min: rss, max: rss },
  ];
}

export async function orchestrationBench(): Promise<Section> {
  const figures: Figure[] = [];
  const ratios: Record<string, number> = {};
  const notes: string[] = [];
  const med = (f: Figure) => f.median;

  const oursMem1 = await perTask('Orchestrator task, in-memory store', () => orchestrator('memory', 1), 1);
  const oursMem32 = await perTask('Orchestrator task, in-memory store', () => orchestrator('memory', 32), 32);
  const oursDisk1 = await perTask('Orchestrator task, SQLite on disk (synchronous=FULL)', () => orchestrator('disk', 1), 1);
  const oursDisk32 = await perTask('Orchestrator task, SQLite on disk (synchronous=FULL)', () => orchestrator('disk', 32), 32);
  figures.push(oursMem1, oursMem32, oursDisk1, oursDisk32);

  const lgPeer = await importPeer('@langchain/langgraph');
  let lg1: Figure | undefined;
  let lg32: Figure | undefined;
  let lgDisk1: Figure | undefined;
  let lgDisk32: Figure | undefined;
  if (!lgPeer.ok) figures.push(notMeasured('LangGraph.js StateGraph', lgPeer.reason));
  else {
    lg1 = await perTask('LangGraph.js StateGraph, no checkpointer', () => langGraph(lgPeer.module, null, 1), 1);
    lg32 = await perTask('LangGraph.js StateGraph, no checkpointer', () => langGraph(lgPeer.module, null, 32), 32);
    figures.push(lg1, lg32);
    const sqlite: Awaited<ReturnType<typeof importPeer>> =
      process.env.BENCH_LANGGRAPH_SQLITE === '1'
        ? await opensSqlite(await importPeer('@langchain/langgraph-checkpoint-sqlite'))
        : { ok: false, reason: 'its better-sqlite3 12.11.1, built for Node 24.21, aborts the process mid-run (Assertion failed in node::RemoveEnvironmentCleanupHook from Database::~Database); BENCH_LANGGRAPH_SQLITE=1 tries it' };
    if (!sqlite.ok) figures.push(notMeasured('LangGraph.js StateGraph + SqliteSaver', sqlite.reason));
    else {
      const dirs: string[] = [];
      const saver = () => {
        const dir = mkdtempSync(join(tmpdir(), 'orch-bench-lg-'));
        dirs.push(dir);
        const made = (sqlite.module.SqliteSaver as { fromConnString(path: string): unknown }).fromConnString(join(dir, 'checkpoints.db'));
        keepAlive.push(made);
        return made;
      };
      lgDisk1 = await perTask('LangGraph.js StateGraph + SqliteSaver on disk (durability sync)', () => langGraph(lgPeer.module, saver(), 1), 1);
      lgDisk32 = await perTask('LangGraph.js StateGraph + SqliteSaver on disk (durability sync)', () => langGraph(lgPeer.module, saver(), 32), 32);
      figures.push(lgDisk1, lgDisk32);
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    }
  }
  for (const [label, f] of [['ours in-memory', oursMem32], ['ours on disk', oursDisk32], ['LangGraph', lg32], ['LangGraph + SQLite', lgDisk32]] as const) {
    if (f) figures.push({ name: `tasks/s at concurrency 32: ${label}`, unit: 'tasks/s', median: perSecond(1, f.median), min: perSecond(1, f.max), max: perSecond(1, f.min) });
  }
  figures.push(...(await memory('Orchestrator, in-memory store', () => orchestrator('memory', 32))));
  figures.push(...(await memory('Orchestrator, SQLite on disk', () => orchestrator('disk', 32))));
  if (lgPeer.ok) figures.push(...(await memory('LangGraph.js, no checkpointer', () => langGraph(lgPeer.module, null, 32))));

  if (lg1 && lg32) {
    ratios.memoryVsLangGraphC1 = ratio(med(oursMem1), med(lg1));
    ratios.memoryVsLangGraphC32 = ratio(med(oursMem32), med(lg32));
    notes.push(
      `Like with like, no persistence: our per-task overhead / LangGraph.js's = **${ratios.memoryVsLangGraphC1}×** at concurrency 1 and **${ratios.memoryVsLangGraphC32}×** at concurrency 32 (goal ≤ 0.5×).`,
    );
  }
  if (lgDisk1 && lgDisk32) {
    ratios.diskVsLangGraphSqliteC1 = ratio(med(oursDisk1), med(lgDisk1));
    ratios.diskVsLangGraphSqliteC32 = ratio(med(oursDisk32), med(lgDisk32));
    notes.push(`With SQLite persistence on both sides: ours / LangGraph.js + SqliteSaver = **${ratios.diskVsLangGraphSqliteC1}×** at concurrency 1 and **${ratios.diskVsLangGraphSqliteC32}×** at concurrency 32.`);
  }
  if (lg1) ratios.diskVsLangGraphNoCheckpointerC1 = ratio(med(oursDisk1), med(lg1));
  notes.push(
    `What differs: each Orchestrator stage is a request/reply over the bus to an agent actor (plugin code: prompt building, parsing), the task is an XState actor whose snapshot, task row and stage event are committed after every transition, and task views are published to listeners; a LangGraph node is a function call with channel bookkeeping. Ours on disk commits each transition in WAL with synchronous=FULL; SqliteSaver uses WAL with better-sqlite3's defaults and, with durability 'sync', writes each checkpoint before the next step. Concurrency 32 means 32 workers for ours (\`createTaskManager({ workers: 32 })\`) and 32 concurrent \`invoke\` loops for LangGraph. Per-task figures: median of ${RUNS} runs of ${TASKS[1]} (concurrency 1) or ${TASKS[32]} (concurrency 32) tasks after a warm-up run. Memory: ${MEMORY_TASKS} tasks after a warm-up, GC before and after, runner kept alive; one run, so min = max, and a figure near zero or below it means nothing retained beyond GC noise (our in-memory store's rows live in SQLite's native memory, which only RSS shows). Mastra's workflow: not measured (not attempted in this increment).`,
  );
  return { title: 'Orchestration overhead (vs LangGraph.js)', figures, ratios, notes };
}
