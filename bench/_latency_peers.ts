// The peers' side of bench/latency.ts: the same five stages (three model calls through the same scripted
// model, the implementer's parser, a sandbox run with the validator's limits, the files an integrator would
// write) as LangGraph.js graph invocations and Mastra workflow runs, `concurrency` at a time.
import { parseImplementation, VALIDATION_LIMITS } from '../agents/mod.ts';
import type { Sandbox } from '../sandbox/mod.ts';
import { nextRequirement, type Runner, type ScriptedModel } from './latency.ts';

/** `count` calls of `one`, `concurrency` at a time (the peers' equivalent of our workers); the makespan in ms. */
async function lanes(count: number, concurrency: number, one: () => Promise<void>): Promise<number> {
  const started = performance.now();
  let next = 0;
  const lane = async () => {
    while (next < count) {
      next++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: Math.min(count, concurrency) }, lane));
  return performance.now() - started;
}

/**
 * The work of each stage on the peers' side, the same as our agents do: three model calls (enhance,
 * analyze, implement) through the same scripted model, the implementer's own parser, a run of the tests in
 * the same sandbox with the validator's limits, and the list of files an integrator would write.
 */
function stageWork(model: ScriptedModel, sandbox: Sandbox) {
  const ask = async (role: string, requirement: string, content: string) =>
    (await model.llm.complete({
      role,
      system: `You are the ${role}.`,
      messages: [{ role: 'user', content }],
      meta: { requirement, attempt: 0 },
    })).text;
  return {
    enhance: async (requirement: string) => (await ask('enhancer', requirement, requirement)).trim(),
    analyze: async (requirement: string, prompt: string) =>
      JSON.parse(await ask('analyst', requirement, prompt)) as { complexity: string },
    implement: async (requirement: string, prompt: string) =>
      parseImplementation(await ask('implementer', requirement, prompt)),
    async validate(implementation: ReturnType<typeof parseImplementation>, owner: string) {
      const files = Object.fromEntries(implementation.files.map((f) => [f.path, f.content]));
      const report = await sandbox.validate({
        files,
        entry: implementation.entry,
        tests: implementation.tests,
        limits: { ...VALIDATION_LIMITS },
        owner,
      });
      if (!report.ok) {
        throw new Error(`bench latency: the peer's validation failed: ${report.reason}: ${report.message}`);
      }
      return report;
    },
    integrate: (implementation: { files: Array<{ path: string }> }) => implementation.files.map((f) => f.path),
  };
}

export type Peer = Record<string, any>;

/** The five stages as LangGraph.js StateGraph nodes, no checkpointer; `concurrency` invocations at a time. */
export function langGraph(lg: Peer, model: ScriptedModel, sandbox: Sandbox, concurrency: number): Runner {
  const { StateGraph, Annotation, START, END } = lg;
  const work = stageWork(model, sandbox);
  const field = () => Annotation();
  const State = Annotation.Root({
    requirement: field(),
    prompt: field(),
    analysis: field(),
    implementation: field(),
    report: field(),
    written: field(),
  });
  type S = { requirement: string; prompt: string; implementation: ReturnType<typeof parseImplementation> };
  const graph: { invoke(input: unknown): Promise<{ written?: string[] }> } = new StateGraph(State)
    .addNode('enhance', async (s: S) => ({ prompt: await work.enhance(s.requirement) }))
    .addNode('analyze', async (s: S) => ({ analysis: await work.analyze(s.requirement, s.prompt) }))
    .addNode('implement', async (s: S) => ({ implementation: await work.implement(s.requirement, s.prompt) }))
    .addNode('validate', async (s: S) => ({ report: await work.validate(s.implementation, s.requirement) }))
    .addNode('integrate', async (s: S) => ({ written: work.integrate(s.implementation) }))
    .addEdge(START, 'enhance')
    .addEdge('enhance', 'analyze')
    .addEdge('analyze', 'implement')
    .addEdge('implement', 'validate')
    .addEdge('validate', 'integrate')
    .addEdge('integrate', END)
    .compile();
  const one = async () => {
    const out = await graph.invoke({ requirement: nextRequirement() });
    if (out.written?.length !== 2) throw new Error('bench latency: a LangGraph.js task did not integrate');
  };
  return { run: (count) => lanes(count, concurrency, one), close: () => {} };
}

/** The five stages as Mastra steps (zod schemas, no storage) chained with `.then`; `concurrency` runs at a time. */
export function mastra(workflows: Peer, zod: Peer, model: ScriptedModel, sandbox: Sandbox, concurrency: number): Runner {
  const { createWorkflow, createStep } = workflows;
  const { z } = zod;
  const work = stageWork(model, sandbox);
  const Implementation = z.object({
    files: z.array(z.object({ path: z.string(), content: z.string() })),
    entry: z.string(),
    tests: z.array(z.string()),
  }).passthrough();
  const Requirement = z.object({ requirement: z.string() });
  const Prompted = Requirement.extend({ prompt: z.string() });
  const Implemented = Requirement.extend({ implementation: Implementation });
  type In<T> = { inputData: T };
  const enhance = createStep({
    id: 'enhance',
    inputSchema: Requirement,
    outputSchema: Prompted,
    execute: async ({ inputData }: In<{ requirement: string }>) => ({
      ...inputData,
      prompt: await work.enhance(inputData.requirement),
    }),
  });
  const analyze = createStep({
    id: 'analyze',
    inputSchema: Prompted,
    outputSchema: Prompted.extend({ analysis: z.object({ complexity: z.string() }).passthrough() }),
    execute: async ({ inputData }: In<{ requirement: string; prompt: string }>) => ({
      ...inputData,
      analysis: await work.analyze(inputData.requirement, inputData.prompt),
    }),
  });
  const implement = createStep({
    id: 'implement',
    inputSchema: Prompted.passthrough(),
    outputSchema: Implemented,
    execute: async ({ inputData }: In<{ requirement: string; prompt: string }>) => ({
      requirement: inputData.requirement,
      implementation: await work.implement(inputData.requirement, inputData.prompt),
    }),
  });
  type Impl = { requirement: string; implementation: ReturnType<typeof parseImplementation> };
  const validate = createStep({
    id: 'validate',
    inputSchema: Implemented,
    outputSchema: Implemented.extend({ ok: z.boolean() }),
    execute: async ({ inputData }: In<Impl>) => ({
      ...inputData,
      ok: (await work.validate(inputData.implementation, inputData.requirement)).ok,
    }),
  });
  const integrate = createStep({
    id: 'integrate',
    inputSchema: Implemented.extend({ ok: z.boolean() }),
    outputSchema: z.object({ written: z.array(z.string()) }),
    execute: async ({ inputData }: In<Impl>) => ({ written: work.integrate(inputData.implementation) }),
  });
  const workflow = createWorkflow({
    id: 'latency',
    inputSchema: Requirement,
    outputSchema: z.object({ written: z.array(z.string()) }),
  })
    .then(enhance).then(analyze).then(implement).then(validate).then(integrate).commit();
  const one = async () => {
    const run = await workflow.createRun();
    const out = await run.start({ inputData: { requirement: nextRequirement() } });
    if (out.status !== 'success' || out.result?.written?.length !== 2) {
      const why = out.error instanceof Error ? out.error.message : String(out.error ?? 'no written files');
      throw new Error(`bench latency: a Mastra run ended ${out.status}: ${why.split('\n')[0]}`);
    }
  };
  return { run: (count) => lanes(count, concurrency, one), close: () => {} };
}

