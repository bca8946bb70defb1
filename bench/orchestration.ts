// Orchestration overhead next to the tools users would pick instead: the same five stages (enhance →
// analyze → implement → validate → integrate) with an instant model and a trivial validation, as an
// Orchestrator task, as a LangGraph.js StateGraph and as a Mastra workflow, in the same process and run.
// Like with like: ours with an in-memory store next to LangGraph without a checkpointer and a Mastra
// workflow without storage; ours on disk (every transition committed, WAL, synchronous=FULL) next to
// LangGraph with its SQLite checkpointer (WAL, synchronous=FULL set here, durability 'sync': saved
// before the next step) and Mastra with its LibSQL store (a snapshot per step). A peer that does not
// install, load or run gets a "not measured: <reason>" row, never a guess.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createBus } from '../runtime/bus/mod.ts';
import { createVolatileStore, openStore } from '../runtime/store/mod.ts';
import { startSupervisor } from '../runtime/supervisor/mod.ts';
import { createTaskManager } from '../runtime/tasks/mod.ts';
import { builtinAgents } from '../agents/mod.ts';
import { createFunctionProvider } from '../runtime/llm/mod.ts';
import { importPeer } from './peers.ts';
import { measure, notMeasured, perSecond, ratio, stats, type Figure, type Section } from './lib.ts';

const RUNS = 5;
const TASKS = { 1: 60, 32: 320 } as const;
const MEMORY_TASKS = 1000;
const MEMORY_ROUNDS = 5;
// A run repeats its batch until this much time has passed: Mastra's 60 tasks take ~10 ms, too short to time on a busy machine.
const MIN_RUN_MS = 250;

// Mastra's Mastra class reports feature usage to a hosted analytics service unless this is set; the
// bench sends nothing off this machine.
process.env.MASTRA_TELEMETRY_DISABLED = '1';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const ANSWERS: Record<string, string> = {
  enhancer: 'spec',
  analyst: '{"complexity":"simple","kind":"code","summary":"s"}',
  implementer: '```js file=src/a.js\nexport const a = 1;\n```\n```js file=src/a.test.js\nimport { a } from "./a.js";\nit("a", () => expect(a).toBe(1));\n```',
};
const instantModel = (role: string) => ANSWERS[role] ?? 'plan';
const instantSandbox = { validate: async () => ({ ok: true as const, tests: [{ name: 'a', ok: true, ms: 0 }], console: [], ms: 0, memoryBytes: 0 }) };
const parseFiles = (text: string) => [...text.matchAll(/```\w+ file=(\S+)\n([\s\S]*?)```/g)].map((m) => ({ path: m[1], content: m[2] }));

/**
 * Something that runs `count` tasks `concurrency` at a time and resolves when all are done;
 * `dbBytes` is the size of its SQLite database (page_count × page_size), when it has one.
 */
interface Runner { run(count: number): Promise<void>; close(): Promise<void> | void; dbBytes?(): number | Promise<number> }
type Peer = Record<string, any>;
type PeerResult = { ok: true; module: Peer } | { ok: false; reason: string };
/** page_count × page_size through `row(sql)`, which returns a PRAGMA's one row. */
async function pageBytes(row: (sql: string) => Record<string, unknown> | Promise<Record<string, unknown>>): Promise<number> {
  const value = async (sql: string) => Number(Object.values(await row(sql))[0]);
  return (await value('PRAGMA page_count')) * (await value('PRAGMA page_size'));
}
const firstLine = (error: unknown) => (error instanceof Error ? error.message : String(error)).split('\n')[0];

/** `count` calls of `one`, `concurrency` at a time (the peers' equivalent of our worker pool). */
async function lanes(count: number, concurrency: number, one: (id: number) => Promise<void>, start: { n: number }): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) {
      next++;
      await one(start.n++);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

/** Ours: 'disk' is the default store (SQLite file), 'memory' SQLite ':memory:', 'volatile' no persistence at all. */
function orchestrator(where: 'disk' | 'memory' | 'volatile', concurrency: number): Runner {
  const dir = mkdtempSync(join(tmpdir(), 'orch-bench-orch-'));
  const store = where === 'volatile' ? createVolatileStore() : openStore(where === 'disk' ? join(dir, 'bench.db') : ':memory:');
  const bus = createBus();
  const llm = createFunctionProvider('instant', (request) => instantModel(request.role));
  const workspace = {
    writeFiles: async (taskId: string, files: Array<{ path: string }>) => files.map((f) => `${taskId}/${f.path}`),
    replaceFiles: async (taskId: string, files: Array<{ path: string }>) => files.map((f) => `${taskId}/${f.path}`),
    archive: async () => dir,
    taskDir: (taskId: string) => join(dir, taskId),
  };
  const supervisor = startSupervisor({ bus, plugins: builtinAgents.map((plugin) => ({ plugin, source: 'agents', builtin: true, config: {} })), capabilities: { llm, sandbox: instantSandbox, workspace, log: () => {} } });
  const manager = createTaskManager({ bus, store, maxRunning: concurrency });
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
        for (let i = 0; i < count; i++) manager.submit({ requirement: `task ${n++}`, priority: 5 }).catch(reject);
      }),
    ...(store.persistent ? { dbBytes: async () => (await store.info()).bytes } : {}),
    async close() {
      await manager.stop();
      supervisor.stop();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The same five stages as StateGraph nodes doing the same trivial work (model call, parse, validate, write). */
function langGraph(lg: Peer, saver: { checkpointer: unknown; close(): void; dbBytes(): number } | null, concurrency: number): Runner {
  const { StateGraph, Annotation, START, END } = lg;
  const field = () => Annotation();
  const State = Annotation.Root({ requirement: field(), prompt: field(), analysis: field(), files: field(), report: field(), written: field() });
  const graph: { invoke(input: unknown, config?: unknown): Promise<unknown> } = new StateGraph(State)
    .addNode('enhance', async (s: { requirement: string }) => ({ prompt: `${instantModel('enhancer')}: ${s.requirement}` }))
    .addNode('analyze', async () => ({ analysis: JSON.parse(instantModel('analyst')) }))
    .addNode('implement', async () => ({ files: parseFiles(instantModel('implementer')) }))
    .addNode('validate', async () => ({ report: await instantSandbox.validate() }))
    .addNode('integrate', async (s: { files: Array<{ path: string }> }) => ({ written: s.files.map((f) => f.path) }))
    .addEdge(START, 'enhance')
    .addEdge('enhance', 'analyze')
    .addEdge('analyze', 'implement')
    .addEdge('implement', 'validate')
    .addEdge('validate', 'integrate')
    .addEdge('integrate', END)
    .compile(saver ? { checkpointer: saver.checkpointer } : {});
  const one = async (id: number) => {
    const out = (await graph.invoke({ requirement: `task ${id}` }, saver ? { configurable: { thread_id: `t${id}` }, durability: 'sync' } : {})) as { written?: string[] };
    if (out.written?.length !== 2) throw new Error('LangGraph bench task did not integrate');
  };
  const start = { n: 0 };
  return { run: (count) => lanes(count, concurrency, one, start), close: () => saver?.close(), ...(saver ? { dbBytes: () => saver.dbBytes() } : {}) };
}

/**
 * LangGraph's SqliteSaver on a fresh file, set to synchronous=FULL like our store (it sets WAL itself on
 * first use); `mode()` is what SQLite reports on its connection.
 */
function sqliteSaver(peer: Peer): { checkpointer: unknown; close(): void; dbBytes(): number; mode(): string } {
  const dir = mkdtempSync(join(tmpdir(), 'orch-bench-lg-'));
  const saver = (peer.SqliteSaver as { fromConnString(path: string): { db: { pragma(s: string, o?: { simple: boolean }): unknown; close(): void } } }).fromConnString(join(dir, 'checkpoints.db'));
  saver.db.pragma('synchronous = FULL');
  const get = (name: string) => saver.db.pragma(name, { simple: true });
  return {
    checkpointer: saver,
    mode: () => `journal_mode=${get('journal_mode')}, synchronous=${get('synchronous')}`,
    dbBytes: () => Number(get('page_count')) * Number(get('page_size')),
    close() {
      saver.db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface MastraPeers { workflows: Peer; zod: Peer; core: Peer; libsql: PeerResult; client: PeerResult }

/** The same five stages as Mastra steps (createStep with zod schemas, validated by Mastra as it runs them), chained with `.then`. */
function mastraPipeline(peers: MastraPeers): { createRun(): Promise<{ start(a: { inputData: unknown }): Promise<any> }> } {
  const { createWorkflow, createStep } = peers.workflows;
  const { z } = peers.zod;
  const File = z.object({ path: z.string(), content: z.string() });
  const Files = z.object({ files: z.array(File) });
  const Report = z.object({ ok: z.boolean(), tests: z.array(z.object({ name: z.string(), ok: z.boolean(), ms: z.number() })) }).passthrough();
  const Written = z.object({ written: z.array(z.string()) });
  const enhance = createStep({ id: 'enhance', inputSchema: z.object({ requirement: z.string() }), outputSchema: z.object({ prompt: z.string() }), execute: async ({ inputData }: { inputData: { requirement: string } }) => ({ prompt: `${instantModel('enhancer')}: ${inputData.requirement}` }) });
  const analyze = createStep({ id: 'analyze', inputSchema: z.object({ prompt: z.string() }), outputSchema: z.object({ analysis: z.object({ complexity: z.string(), kind: z.string(), summary: z.string() }) }), execute: async () => ({ analysis: JSON.parse(instantModel('analyst')) }) });
  const implement = createStep({ id: 'implement', inputSchema: z.object({ analysis: z.object({ complexity: z.string() }).passthrough() }), outputSchema: Files, execute: async () => ({ files: parseFiles(instantModel('implementer')) }) });
  const validate = createStep({ id: 'validate', inputSchema: Files, outputSchema: z.object({ files: z.array(File), report: Report }), execute: async ({ inputData }: { inputData: { files: unknown[] } }) => ({ files: inputData.files, report: await instantSandbox.validate() }) });
  const integrate = createStep({ id: 'integrate', inputSchema: z.object({ files: z.array(File), report: Report }), outputSchema: Written, execute: async ({ inputData }: { inputData: { files: Array<{ path: string }> } }) => ({ written: inputData.files.map((f) => f.path) }) });
  return createWorkflow({ id: 'pipeline', inputSchema: z.object({ requirement: z.string() }), outputSchema: Written }).then(enhance).then(analyze).then(implement).then(validate).then(integrate).commit();
}

/**
 * The Mastra pipeline, `concurrency` runs at a time: on its own (no Mastra instance, so no storage), or
 * registered with a Mastra instance whose storage is a LibSQLStore on a fresh file. `describe` reads
 * the journal and sync modes SQLite reports on the store's connection.
 */
async function mastra(peers: MastraPeers, storage: 'none' | 'libsql', concurrency: number): Promise<Runner & { describe(): Promise<string> }> {
  let workflow = mastraPipeline(peers);
  let close = async () => {};
  let describe = async () => 'no storage';
  let dbBytes: (() => Promise<number>) | undefined;
  if (storage === 'libsql') {
    if (!peers.libsql.ok) throw new Error(peers.libsql.reason);
    if (!peers.client.ok) throw new Error(peers.client.reason);
    const dir = mkdtempSync(join(tmpdir(), 'orch-bench-mastra-'));
    const client = peers.client.module.createClient({ url: `file:${join(dir, 'mastra.db')}` });
    const store = new peers.libsql.module.LibSQLStore({ id: 'bench', client });
    const instance = new peers.core.Mastra({ workflows: { pipeline: workflow }, storage: store, logger: false });
    await store.init();
    workflow = instance.getWorkflow('pipeline');
    const pragma = async (name: string) => Object.values((await client.execute(`PRAGMA ${name}`)).rows[0] ?? {})[0];
    describe = async () => `journal_mode=${await pragma('journal_mode')}, synchronous=${await pragma('synchronous')}`;
    dbBytes = () => pageBytes(async (sql) => (await client.execute(sql)).rows[0] ?? {});
    close = async () => {
      client.close();
      rmSync(dir, { recursive: true, force: true });
    };
  }
  const one = async (id: number) => {
    const run = await workflow.createRun();
    const out = await run.start({ inputData: { requirement: `task ${id}` } });
    if (out.status !== 'success' || out.result?.written?.length !== 2) throw new Error(`Mastra bench run ended ${out.status}: ${firstLine(out.error ?? 'no written files')}`);
  };
  const start = { n: 0 };
  return { run: (count) => lanes(count, concurrency, one, start), close, describe, ...(dbBytes ? { dbBytes } : {}) };
}

/** ms per task: median of RUNS runs on one warmed-up runner, each run batches of TASKS[c] tasks for at least MIN_RUN_MS. */
async function perTask(name: string, make: () => Runner | Promise<Runner>, concurrency: 1 | 32): Promise<Figure> {
  const runner = await make();
  try {
    return await measure(`${name}, concurrency ${concurrency}`, 'ms/task', async () => {
      const t = performance.now();
      let tasks = 0;
      do {
        await runner.run(TASKS[concurrency]);
        tasks += TASKS[concurrency];
      } while (performance.now() - t < MIN_RUN_MS);
      return (performance.now() - t) / tasks;
    }, RUNS);
  } finally {
    await runner.close();
  }
}

/** Full GCs until the heap stops shrinking (at most 5), with a turn of the event loop between them for weak callbacks. */
async function settledHeap(): Promise<number> {
  let last = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    const used = process.memoryUsage().heapUsed;
    if (used >= last) return used;
    last = used;
  }
  return last;
}

/**
 * What a runner keeps per 1,000 more completed tasks at concurrency 32, runner kept alive, median (min–max)
 * of MEMORY_ROUNDS rounds after a warm-up run: the JS heap (heapUsed after forced GC, minus the same before
 * the round) and, for a runner with SQLite, its database's growth (page_count × page_size).
 */
async function memory(name: string, make: () => Runner | Promise<Runner>): Promise<Figure[]> {
  const runner = await make();
  try {
    await runner.run(TASKS[32]);
    const heap: number[] = [];
    const db: number[] = [];
    const mb = (bytes: number) => +(bytes / 1024 / 1024).toFixed(3);
    for (let round = 0; round < MEMORY_ROUNDS; round++) {
      const dbBefore = await runner.dbBytes?.();
      const before = await settledHeap();
      await runner.run(MEMORY_TASKS);
      heap.push(mb((await settledHeap()) - before));
      if (dbBefore !== undefined) db.push(mb((await runner.dbBytes!()) - dbBefore));
    }
    const rows = [stats(`${name}: JS heap retained per 1,000 tasks`, 'MB', heap)];
    if (db.length) rows.push(stats(`${name}: SQLite database growth per 1,000 tasks`, 'MB', db));
    return rows;
  } finally {
    await runner.close();
  }
}

/** Runs a peer's measurement; a failure becomes a "not measured" row with the error, never a silent gap. */
async function attempt<T>(label: string, what: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; row: Figure; reason: string }> {
  try {
    return { ok: true, value: await what() };
  } catch (error) {
    const reason = `failed while running: ${firstLine(error)}`;
    return { ok: false, row: notMeasured(label, reason), reason };
  }
}

async function loadMastra(): Promise<{ ok: true; peers: MastraPeers } | { ok: false; reason: string }> {
  const workflows = await importPeer('@mastra/core/workflows');
  if (!workflows.ok) return workflows;
  const core = await importPeer('@mastra/core');
  if (!core.ok) return core;
  const zod = await importPeer('zod');
  if (!zod.ok) return zod;
  // The store is only needed for the persisted rows: without it the storage-free rows still run.
  return { ok: true, peers: { workflows: workflows.module, core: core.module, zod: zod.module, libsql: await importPeer('@mastra/libsql'), client: await importPeer('@libsql/client') } };
}

export async function orchestrationBench(): Promise<Section> {
  const figures: Figure[] = [];
  const ratios: Record<string, number> = {};
  const notes: string[] = [];
  const notMeasuredNotes: string[] = [];
  const med = (f: Figure) => f.median;
  // Label → [concurrency 1, concurrency 32] for the tasks/s rows and the ratios.
  const measured = new Map<string, [Figure, Figure]>();

  const oursVolatile: [Figure, Figure] = [await perTask('Orchestrator task, no persistence (volatile store)', () => orchestrator('volatile', 1), 1), await perTask('Orchestrator task, no persistence (volatile store)', () => orchestrator('volatile', 32), 32)];
  const oursMem: [Figure, Figure] = [await perTask('Orchestrator task, in-memory store', () => orchestrator('memory', 1), 1), await perTask('Orchestrator task, in-memory store', () => orchestrator('memory', 32), 32)];
  const oursDisk: [Figure, Figure] = [await perTask('Orchestrator task, SQLite on disk (synchronous=FULL)', () => orchestrator('disk', 1), 1), await perTask('Orchestrator task, SQLite on disk (synchronous=FULL)', () => orchestrator('disk', 32), 32)];
  figures.push(...oursVolatile, ...oursMem, ...oursDisk);
  measured.set('ours, no persistence', oursVolatile).set('ours, in-memory store', oursMem).set('ours, SQLite on disk', oursDisk);

  /** Both concurrencies of one peer variant, or its "not measured" row and note. */
  const pair = async (label: string, short: string, peer: string, make: (c: 1 | 32) => Runner | Promise<Runner>): Promise<[Figure, Figure] | undefined> => {
    const got = await attempt(label, async () => [await perTask(label, () => make(1), 1), await perTask(label, () => make(32), 32)] as [Figure, Figure]);
    if (!got.ok) {
      figures.push(got.row);
      notMeasuredNotes.push(`${peer}: not measured — ${got.reason}.`);
      return undefined;
    }
    figures.push(...got.value);
    measured.set(short, got.value);
    return got.value;
  };
  const skip = (label: string, peer: string, reason: string) => {
    figures.push(notMeasured(label, reason));
    notMeasuredNotes.push(`${peer}: not measured — ${reason}.`);
  };

  const lgPeer = await importPeer('@langchain/langgraph');
  let lg: [Figure, Figure] | undefined;
  let lgDisk: [Figure, Figure] | undefined;
  let lgMode = '';
  if (!lgPeer.ok) skip('LangGraph.js StateGraph', 'LangGraph.js', lgPeer.reason);
  else {
    lg = await pair('LangGraph.js StateGraph, no checkpointer', 'LangGraph.js, no checkpointer', 'LangGraph.js', (c) => langGraph(lgPeer.module, null, c));
    const sqlite = await importPeer('@langchain/langgraph-checkpoint-sqlite');
    if (!sqlite.ok) skip('LangGraph.js StateGraph + SqliteSaver', 'LangGraph.js with SqliteSaver', sqlite.reason);
    else {
      lgDisk = await pair('LangGraph.js StateGraph + SqliteSaver on disk (durability sync)', 'LangGraph.js + SqliteSaver', 'LangGraph.js with SqliteSaver', (c) => {
        const saver = sqliteSaver(sqlite.module);
        const runner = langGraph(lgPeer.module, saver, c);
        return { ...runner, close: () => ((lgMode = saver.mode()), runner.close()) };
      });
    }
  }

  const mastraPeer = await loadMastra();
  let ma: [Figure, Figure] | undefined;
  let maDisk: [Figure, Figure] | undefined;
  let maMode = '';
  if (!mastraPeer.ok) skip('Mastra workflow', 'Mastra', mastraPeer.reason);
  else {
    ma = await pair('Mastra workflow, no storage', 'Mastra, no storage', 'Mastra', (c) => mastra(mastraPeer.peers, 'none', c));
    maDisk = await pair('Mastra workflow + LibSQLStore on disk', 'Mastra + LibSQLStore', 'Mastra with LibSQLStore', async (c) => {
      const runner = await mastra(mastraPeer.peers, 'libsql', c);
      return { ...runner, close: async () => ((maMode = await runner.describe()), await runner.close()) };
    });
  }

  for (const [label, [c1, c32]] of measured) {
    for (const [c, f] of [[1, c1], [32, c32]] as const) figures.push({ name: `tasks/s at concurrency ${c}: ${label}`, unit: 'tasks/s', median: perSecond(1, f.median), min: perSecond(1, f.max), max: perSecond(1, f.min) });
  }

  figures.push(...(await memory('Orchestrator, no persistence (volatile store, keeps every task in the heap)', () => orchestrator('volatile', 32))));
  figures.push(...(await memory('Orchestrator, in-memory store (SQLite :memory:)', () => orchestrator('memory', 32))));
  figures.push(...(await memory('Orchestrator, SQLite on disk', () => orchestrator('disk', 32))));
  const memoryOf = async (label: string, make: () => Runner | Promise<Runner>) => {
    const got = await attempt(`${label}: memory per 1,000 tasks`, () => memory(label, make));
    figures.push(...(got.ok ? got.value : [got.row]));
  };
  if (lgPeer.ok && lg) await memoryOf('LangGraph.js, no checkpointer', () => langGraph(lgPeer.module, null, 32));
  if (lgPeer.ok && lgDisk) {
    const sqlite = await importPeer('@langchain/langgraph-checkpoint-sqlite');
    if (sqlite.ok) await memoryOf('LangGraph.js + SqliteSaver', () => langGraph(lgPeer.module, sqliteSaver(sqlite.module), 32));
  }
  if (mastraPeer.ok && ma) await memoryOf('Mastra, no storage', () => mastra(mastraPeer.peers, 'none', 32));
  if (mastraPeer.ok && maDisk) await memoryOf('Mastra + LibSQLStore', () => mastra(mastraPeer.peers, 'libsql', 32));

  const behind: string[] = [];
  const compare = (key: string, ours: [Figure, Figure], theirs: [Figure, Figure] | undefined, sentence: string, peer: string) => {
    if (!theirs) return;
    const [c1, c32] = [ratio(med(ours[0]), med(theirs[0])), ratio(med(ours[1]), med(theirs[1]))];
    ratios[`${key}C1`] = c1;
    ratios[`${key}C32`] = c32;
    const goals: Record<string, string> = { volatileVsLangGraph: ' (goal ≤ 0.5×)', volatileVsMastra: ' (goal < 3×)', diskVsLangGraphSqlite: ' (goal ≤ 0.7×)', diskVsMastraLibsql: ' (goal ≤ 0.7×)' };
    const goal = goals[key] ?? '';
    notes.push(`${sentence} = **${c1}×** at concurrency 1 and **${c32}×** at concurrency 32${goal}.`);
    if (c1 > 1 || c32 > 1) behind.push(`${peer} (${c1}× / ${c32}×)`);
  };
  compare('volatileVsLangGraph', oursVolatile, lg, 'Like with like, no persistence: our per-task overhead (volatile store) / LangGraph.js StateGraph without a checkpointer', 'LangGraph.js without a checkpointer');
  compare('volatileVsMastra', oursVolatile, ma, 'No persistence: our per-task overhead (volatile store) / a Mastra workflow without storage', 'Mastra without storage');
  compare('memoryVsMastra', oursMem, ma, 'SQLite in memory (every transition still serialised and written) / a Mastra workflow without storage', 'Mastra without storage, against our SQLite :memory: store');
  compare('diskVsLangGraphSqlite', oursDisk, lgDisk, 'With SQLite persistence on both sides: ours on disk / LangGraph.js + SqliteSaver', 'LangGraph.js + SqliteSaver');
  compare('diskVsMastraLibsql', oursDisk, maDisk, 'With SQLite persistence on both sides: ours on disk / Mastra + LibSQLStore', 'Mastra + LibSQLStore');
  if (lg) ratios.diskVsLangGraphNoCheckpointerC1 = ratio(med(oursDisk[0]), med(lg[0]));
  if (behind.length) {
    notes.push(
      `Where we are behind (ratio above 1 at concurrency 1 / 32): ${behind.join(', ')}. Why: an Orchestrator stage is not a function call. Each stage is a request/reply over the bus to an agent pool whose instance is an XState actor (two events per request) running plugin code (prompt building, output parsing and validation, the file-path policy); the task is an XState machine that invokes each stage as a child actor, and its snapshot, task row and stage event go to the store after every transition (serialised to SQLite even with \`:memory:\`; kept as objects by the volatile store), and every change is published as a task view to listeners (the dashboard, the API). A LangGraph node or a Mastra step is an async function call plus the framework's own bookkeeping (channels; zod validation of each step's input and output). On disk every one of those commits waits for an fsync on both sides (synchronous=FULL), so the on-disk rows mostly count fsyncs per task and swing with whatever else uses the disk.`,
    );
  }
  notes.push(
    `Setup: concurrency 32 means 32 tasks in flight for ours (\`createTaskManager({ maxRunning: 32 })\`) and 32 concurrent \`invoke\` / \`createRun().start()\` loops for the peers. Ours on disk commits each transition in WAL with synchronous=FULL. SqliteSaver (@langchain/langgraph-checkpoint-sqlite 1.0.4 on better-sqlite3 13.2.0, an npm override: the 12.x it asks for aborts Node 24 when GC frees a statement — node::ObjectWrap's destructor asserts in RemoveEnvironmentCleanupHook) defaults to WAL with better-sqlite3's synchronous=NORMAL; the bench sets FULL to match ours (${lgMode || 'not run'}), and durability 'sync' writes each checkpoint before the next step. The Mastra workflow (@mastra/core 1.71.0) without storage is not registered with a Mastra instance, so nothing is persisted; with storage it is registered with a Mastra instance whose LibSQLStore (@mastra/libsql 1.23.1, a local file) writes the run's whole snapshot 12 times per five-step run (counted on this version: as the run is created and around each step) (${maMode || 'not run'}, as SQLite reports on the store's connection). Mastra's telemetry is switched off (MASTRA_TELEMETRY_DISABLED=1). Per-task figures: median (min–max) of ${RUNS} runs after a warm-up run, a run being batches of ${TASKS[1]} (concurrency 1) or ${TASKS[32]} (concurrency 32) tasks repeated for at least ${MIN_RUN_MS} ms; tasks/s = 1000 / ms per task.`,
  );
  notes.push(
    `Memory per ${MEMORY_TASKS.toLocaleString('en-US')} tasks: what a runner still holds after ${MEMORY_TASKS.toLocaleString('en-US')} more completed tasks at concurrency 32, the runner kept alive; median (min–max) of ${MEMORY_ROUNDS} rounds after a warm-up run. "JS heap retained" is process.memoryUsage().heapUsed after forced full GCs (repeated until the heap stops shrinking) minus the same before the round: retention (history kept per task, caches, leaks), not the working set while tasks run; near zero or below it means nothing retained beyond GC noise. "SQLite database growth" is page_count × page_size after minus before: for our in-memory store (\`:memory:\`) that is native memory outside the JS heap (task rows, stage events, snapshots kept for the task history); for the on-disk stores it is the file's growth, with memory bounded by SQLite's page cache. RSS is not reported: allocator reuse made it swing by ± 1–2 MB between runs, more than what is measured.`,
  );
  notes.push(...notMeasuredNotes);
  return { title: 'Orchestration overhead (vs LangGraph.js and Mastra)', figures, ratios, notes };
}
