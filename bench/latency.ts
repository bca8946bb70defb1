// Throughput under model latency (issue 14): a model that answers every call after 1 s, N distinct
// requirements at once. Real model calls dominate a task's time, so N tasks with enough workers should take
// about as long as one task (target: makespan ≤ 1.5 × one task alone), and no longer than the same
// workload on LangGraph.js or Mastra (target: ours / peer ≤ 1.1). Every side calls the same scripted model
// (createFunctionProvider, no cache in between) and validates the generated code in the same real sandbox.
// Quick runs: `npm run bench -- latency --latency-tasks=8 --latency-model-ms=200` (or BENCH_LATENCY_TASKS,
// BENCH_LATENCY_MODEL_MS, BENCH_LATENCY_RUNS); the figures' names and the first note say what ran.
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBus } from '../runtime/bus/mod.ts';
import { openStore } from '../runtime/store/mod.ts';
import { startSupervisor } from '../runtime/supervisor/mod.ts';
import { createTaskManager } from '../runtime/tasks/mod.ts';
import { TASKS_PER_WORKER } from '../runtime/protocol/mod.ts';
import { createFunctionProvider } from '../runtime/llm/mod.ts';
import type { LlmProvider } from '../runtime/llm/mod.ts';
import type { LlmRequest } from '../runtime/plugin/mod.ts';
import { builtinAgents, parseImplementation, VALIDATION_LIMITS } from '../agents/mod.ts';
import { createSandbox, defaultDriver } from '../sandbox/mod.ts';
import type { Sandbox } from '../sandbox/mod.ts';
import { importPeer } from './peers.ts';
import { langGraph, mastra } from './_latency_peers.ts';
import { type Figure, measure, notMeasured, ratio, type Section, stats } from './lib.ts';

// Mastra reports feature usage to a hosted service unless this is set; the bench sends nothing off this machine.
process.env.MASTRA_TELEMETRY_DISABLED = '1';

/** What one run of the section does; the issue's setup is the default. */
interface LatencyConfig {
  /** The batch: `tasks` at `tasks / 2` workers; the wide batch: `2 × tasks` at as many workers. */
  tasks: number;
  /** How long the scripted model takes to answer each call. */
  modelMs: number;
  /** Runs per makespan figure (each run is a whole batch). */
  runs: number;
  /** Runs per one-task figure, after a warm-up task. */
  singleRuns: number;
}

const ISSUE_SETUP: LatencyConfig = { tasks: 32, modelMs: 1000, runs: 1, singleRuns: 3 };

/** `--latency-<name>=N` on the command line, else BENCH_LATENCY_<NAME>, else the issue's setup. */
function latencyConfig(argv: string[] = process.argv, env: NodeJS.ProcessEnv = process.env): LatencyConfig {
  const pick = (flag: string, variable: string, fallback: number, min: number): number => {
    const raw = argv.find((a) => a.startsWith(`--latency-${flag}=`))?.split('=')[1] ?? env[`BENCH_LATENCY_${variable}`];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min) {
      throw new Error(
        `bench latency: --latency-${flag} / BENCH_LATENCY_${variable} is '${raw}'; give a whole number ≥ ${min}`,
      );
    }
    return value;
  };
  return {
    tasks: pick('tasks', 'TASKS', ISSUE_SETUP.tasks, 2),
    modelMs: pick('model-ms', 'MODEL_MS', ISSUE_SETUP.modelMs, 0),
    runs: pick('runs', 'RUNS', ISSUE_SETUP.runs, 1),
    singleRuns: ISSUE_SETUP.singleRuns,
  };
}

/** The scripted model every side calls, counting calls and the most in flight at once. */
export interface ScriptedModel {
  llm: LlmProvider;
  calls(): number;
  /** The most calls in flight at once since the last `resetPeak()`. */
  peak(): number;
  resetPeak(): void;
}

/** The task number inside a bench requirement ("latency task #17: …"). */
const numberOf = (requirement: string | undefined): number => Number(/#(\d+)/.exec(requirement ?? '')?.[1] ?? 0);

/** A valid answer for each role; the implementer's code and test are this task's own (distinct per task). */
function answer(request: LlmRequest): string {
  const n = numberOf(request.meta?.requirement);
  switch (request.role) {
    case 'enhancer':
      return `Export a constant \`value\` equal to ${n}, with a test.`;
    case 'analyst':
      return '{"complexity":"simple","kind":"code","summary":"a module exporting one constant"}';
    case 'implementer':
      return [
        '```js file=src/value.js',
        `export const value = ${n};`,
        '```',
        '```js file=src/value.test.js',
        'import { value } from "./value.js";',
        `it("is ${n}", () => expect(value).toBe(${n}));`,
        '```',
      ].join('\n');
    default:
      return 'plan';
  }
}

function scriptedModel(delayMs: number): ScriptedModel {
  let calls = 0;
  let inFlight = 0;
  let peak = 0;
  const llm = createFunctionProvider(`scripted-${delayMs}ms`, async (request) => {
    calls++;
    peak = Math.max(peak, ++inFlight);
    try {
      await sleep(delayMs);
      return answer(request);
    } finally {
      inFlight--;
    }
  });
  return { llm, calls: () => calls, peak: () => peak, resetPeak: () => (peak = inFlight) };
}

/** Something that runs `count` tasks and resolves with the makespan in ms (first start to last finish). */
export interface Runner {
  run(count: number): Promise<number>;
  close(): Promise<void> | void;
}

let requirementNumber = 0;
/** A requirement no earlier task of this process had (the model's answers follow its number). */
export function nextRequirement(): string {
  const n = ++requirementNumber;
  return `latency task #${n}: export a constant named value equal to ${n}, with a test`;
}

/** Ours: the built-in agents under a supervisor, pools of `workers`, 3 × workers tasks in flight, an in-memory store. */
function orchestrator(model: ScriptedModel, sandbox: Sandbox, workers: number): Runner {
  const store = openStore(':memory:');
  const bus = createBus();
  const dir = join(tmpdir(), 'orch-bench-latency');
  // Nothing is written: the section measures scheduling under latency, not the disk.
  const workspace = {
    writeFiles: async (taskId: string, files: Array<{ path: string }>) => files.map((f) => `${taskId}/${f.path}`),
    replaceFiles: async (taskId: string, files: Array<{ path: string }>) => files.map((f) => `${taskId}/${f.path}`),
    archive: async () => dir,
    taskDir: (taskId: string) => join(dir, taskId),
  };
  // Every role's pool as large as `workers`, as `runtime start --workers N` sizes them.
  const supervisor = startSupervisor({
    bus,
    plugins: builtinAgents.map((plugin) => ({ plugin, source: 'agents', builtin: true, config: {} })),
    capabilities: { llm: model.llm, sandbox, workspace, log: () => {} },
    concurrency: { default: workers },
  });
  // As `runtime start --workers N` admits them: maxTasks defaults to 3 × N (runtime/server/config.ts).
  const manager = createTaskManager({ bus, store, maxRunning: TASKS_PER_WORKER * workers });
  let waiting: { left: number; resolve(): void; reject(e: Error): void } | null = null;
  manager.onChange((task) => {
    if (task.status === 'failed') {
      waiting?.reject(new Error(`bench latency: task ${task.id} failed: ${task.error?.message}`));
    }
    if (task.status === 'completed' && waiting && --waiting.left === 0) waiting.resolve();
  });
  return {
    async run(count) {
      const started = performance.now();
      await new Promise<void>((resolve, reject) => {
        waiting = { left: count, resolve, reject };
        for (let i = 0; i < count; i++) manager.submit({ requirement: nextRequirement(), priority: 5 }).catch(reject);
      });
      return performance.now() - started;
    },
    async close() {
      await manager.stop();
      supervisor.stop();
      await store.close();
    },
  };
}

/** One runner's figures: one task alone (after a warm-up task), then the batch's makespan. */
interface Measured {
  single: Figure;
  batch: Figure;
  callsPerTask: number;
  peak: number;
}

async function measureRunner(
  label: string,
  make: () => Runner,
  model: ScriptedModel,
  cfg: LatencyConfig,
  batch: number,
  at: string,
): Promise<Measured> {
  const runner = make();
  let finished = false;
  try {
    model.resetPeak();
    const callsBefore = model.calls();
    const single = await measure(
      `${label}: one task alone (${at})`,
      's',
      async () => (await runner.run(1)) / 1000,
      cfg.singleRuns,
    );
    const callsPerTask = (model.calls() - callsBefore) / (cfg.singleRuns + 1);
    model.resetPeak();
    const values: number[] = [];
    for (let i = 0; i < cfg.runs; i++) values.push((await runner.run(batch)) / 1000);
    finished = true;
    return {
      single,
      batch: stats(`${label}: makespan of ${batch} tasks (${at})`, 's', values),
      callsPerTask,
      peak: model.peak(),
    };
  } finally {
    // A failure to close after a failed run must not hide why the run failed.
    await Promise.resolve()
      .then(() => runner.close())
      .catch((error) => {
        if (finished) throw error;
        console.error(`bench latency: closing ${label} after a failed run also failed: ${firstLine(error)}`);
      });
  }
}

const firstLine = (error: unknown) => (error instanceof Error ? error.message : String(error)).split('\n')[0];
const loads = () => loadavg().map((l) => l.toFixed(2)).join(' / ');

export async function latencyBench(): Promise<Section> {
  const cfg = latencyConfig();
  const workers = Math.ceil(cfg.tasks / 2);
  const wide = cfg.tasks * 2;
  const figures: Figure[] = [];
  const ratios: Record<string, number> = {};
  const notes: string[] = [];
  const loadAtStart = loads();
  const model = scriptedModel(cfg.modelMs);
  // As `runtime start` sizes it: a worker process per core (capped at --workers there), one run per task at a time.
  const poolSize = availableParallelism();
  const sandbox = createSandbox({ driver: defaultDriver(), poolSize, perTask: 1 });
  const peak = (label: string, m: Measured) =>
    figures.push(stats(`${label}: most model calls in flight at once during the batch`, 'calls', [m.peak]));
  try {
    const ours = await measureRunner(
      'Orchestrator',
      () => orchestrator(model, sandbox, workers),
      model,
      cfg,
      cfg.tasks,
      `workers ${workers}`,
    );
    figures.push(ours.single, ours.batch);
    peak('Orchestrator', ours);
    const oursWide = await measureRunner(
      'Orchestrator',
      () => orchestrator(model, sandbox, wide),
      model,
      cfg,
      wide,
      `workers ${wide}`,
    );
    figures.push(oursWide.single, oursWide.batch);
    peak(`Orchestrator, workers ${wide}`, oursWide);
    ratios.batchVsOneTask = ratio(ours.batch.median, ours.single.median);
    ratios.wideBatchVsOneTask = ratio(oursWide.batch.median, oursWide.single.median);
    notes.push(
      [
        `Makespan / one task alone: **${ratios.batchVsOneTask}×** for ${cfg.tasks} tasks at workers ${workers}`,
        `and **${ratios.wideBatchVsOneTask}×** for ${wide} tasks at workers ${wide} (target ≤ 1.5×).`,
        `Model calls per task (counted): ${ours.callsPerTask}; the most in flight at once during the batches:`,
        `${ours.peak} and ${oursWide.peak} (one instance per role, serving one call at a time, allows at most`,
        `${ours.callsPerTask}). Tasks pipeline: ${TASKS_PER_WORKER} × workers are in flight and each stage's pool serves`,
        `workers calls at once, so ${cfg.tasks} tasks at workers ${workers} pass each model-bound stage in`,
        `${Math.ceil(cfg.tasks / workers)} waves that overlap: the floor is (stages + waves − 1) / stages =`,
        `${((ours.callsPerTask + Math.ceil(cfg.tasks / workers) - 1) / ours.callsPerTask).toFixed(2)}× one task, where the peers, running ${workers}`,
        `tasks at once from start to end, cannot go under ${Math.ceil(cfg.tasks / workers)}×.`,
      ].join(' '),
    );

    const peers: Array<
      {
        label: string;
        key: string;
        load: () => Promise<{ ok: true; make: () => Runner } | { ok: false; reason: string }>;
      }
    > = [
      {
        label: 'LangGraph.js StateGraph',
        key: 'vsLangGraph',
        load: async () => {
          const lg = await importPeer('@langchain/langgraph');
          return lg.ok ? { ok: true, make: () => langGraph(lg.module, model, sandbox, workers) } : lg;
        },
      },
      {
        label: 'Mastra workflow',
        key: 'vsMastra',
        load: async () => {
          const wf = await importPeer('@mastra/core/workflows');
          if (!wf.ok) return wf;
          const zod = await importPeer('zod');
          return zod.ok ? { ok: true, make: () => mastra(wf.module, zod.module, model, sandbox, workers) } : zod;
        },
      },
    ];
    for (const peer of peers) {
      const loaded = await peer.load();
      if (!loaded.ok) {
        figures.push(notMeasured(`${peer.label}: makespan of ${cfg.tasks} tasks`, loaded.reason));
        notes.push(`${peer.label}: not measured — ${loaded.reason}.`);
        continue;
      }
      try {
        const theirs = await measureRunner(peer.label, loaded.make, model, cfg, cfg.tasks, `concurrency ${workers}`);
        figures.push(theirs.single, theirs.batch);
        peak(peer.label, theirs);
        ratios[peer.key] = ratio(ours.batch.median, theirs.batch.median);
        notes.push(
          `Ours / ${peer.label}, makespan of ${cfg.tasks} tasks at ${workers} at once: **${
            ratios[peer.key]
          }×** (target ≤ 1.1×); ` +
            `its makespan / one task alone: ${
              ratio(theirs.batch.median, theirs.single.median)
            }×; model calls per task (counted): ${theirs.callsPerTask}.`,
        );
      } catch (error) {
        const reason = `failed while running: ${firstLine(error)}`;
        figures.push(notMeasured(`${peer.label}: makespan of ${cfg.tasks} tasks`, reason));
        notes.push(`${peer.label}: not measured — ${reason}.`);
      }
    }
  } finally {
    await sandbox.close();
  }
  const issue = cfg.tasks === ISSUE_SETUP.tasks && cfg.modelMs === ISSUE_SETUP.modelMs;
  const setup = issue ? "Ran the issue's setup" : "**Quick run, not the issue's setup**";
  const makespanRuns = cfg.runs === 1 ? 'one run' : `median of ${cfg.runs} runs`;
  notes.unshift(
    [
      `${setup}: ${cfg.tasks} distinct requirements at workers ${workers} and ${wide} at workers ${wide} (ours),`,
      `${cfg.tasks} at ${workers} at once (peers); a scripted model answering every call after ${cfg.modelMs} ms`,
      `(createFunctionProvider, no cache); makespan = first submit to last completion, ${makespanRuns} per batch;`,
      `one task alone = median of ${cfg.singleRuns} runs after a warm-up task, on the same runner.`,
      `Load average (1 / 5 / 15 min) at start ${loadAtStart}, at end ${loads()}, on ${cpus().length} cores.`,
    ].join(' '),
  );
  notes.push(
    [
      'Like with like: every side runs the same five stages with the same work — three model calls',
      '(enhance, analyze, implement; the built-in pipeline asks the model in no other stage for a simple analysis),',
      `the implementer's parser, a real sandbox run of the generated test (one shared ${defaultDriver()} sandbox,`,
      `${poolSize} worker processes, one run per task at a time, the validator's limits), and the list of files`,
      'to write (no disk writes; ours keeps its store in memory, the peers have no checkpointer or storage).',
      'Ours passes `concurrency: { default: workers }` to startSupervisor (a pool of agent instances per role)',
      'and `maxRunning: 3 × workers` to the task manager, as `runtime start --workers N` does;',
      'a supervisor without the concurrency option serves one call per role at a time.',
    ].join(' '),
  );
  return { title: 'Throughput under model latency (vs LangGraph.js and Mastra)', figures, ratios, notes };
}
