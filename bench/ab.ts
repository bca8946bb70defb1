// A/B of the per-task orchestration overhead of two checkouts of this repository, measured in one
// process and alternating between them every round (so both see the same machine load): the built-in
// agents with an instant model and sandbox, in-memory and on-disk stores, 1 and 32 tasks at a time.
// Use it to show that a change does not regress the overhead:
//   git worktree add /tmp/before <commit> && ln -s "$PWD/node_modules" /tmp/before/node_modules
//   npm exec -- node --no-node-snapshot bench/ab.ts "$PWD" /tmp/before [rounds] [stores, default memory,disk]
// Stores: volatile (no persistence), memory (SQLite :memory:), disk (SQLite file).
// Prints per configuration: the median ms/task of A and B, A/B, and every round's figure.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const [rootA, rootB, roundsArg, storesArg] = process.argv.slice(2);
if (!rootA || !rootB) throw new Error('usage: node --no-node-snapshot bench/ab.ts <checkout A> <checkout B> [rounds, default 5] [stores, default memory,disk]');
const stores = (storesArg ?? 'memory,disk').split(',');
for (const s of stores) if (!['volatile', 'memory', 'disk'].includes(s)) throw new Error(`unknown store "${s}": use volatile, memory or disk`);
const rounds = Number(roundsArg ?? 5);
const ANSWERS: Record<string, string> = {
  enhancer: 'spec',
  analyst: '{"complexity":"simple","kind":"code","summary":"s"}',
  implementer: '```js file=src/a.js\nexport const a = 1;\n```\n```js file=src/a.test.js\nimport { a } from "./a.js";\nit("a", () => expect(a).toBe(1));\n```',
};
const instantSandbox = { validate: async () => ({ ok: true as const, tests: [{ name: 'a', ok: true, ms: 0 }], console: [], ms: 0, memoryBytes: 0 }) };
async function load(root: string) {
  return {
    bus: await import(join(root, 'runtime/bus/mod.ts')),
    store: await import(join(root, 'runtime/store/mod.ts')),
    sup: await import(join(root, 'runtime/supervisor/mod.ts')),
    tasks: await import(join(root, 'runtime/tasks/mod.ts')),
    agents: await import(join(root, 'agents/mod.ts')),
    llm: await import(join(root, 'runtime/llm/mod.ts')),
  };
}
async function once(m: any, where: string, concurrency: number, count: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'ab-'));
  const store = where === 'volatile' ? m.store.createVolatileStore() : m.store.openStore(where === 'disk' ? join(dir, 'b.db') : ':memory:');
  const bus = m.bus.createBus();
  const llm = m.llm.createFunctionProvider('instant', (r: any) => ANSWERS[r.role] ?? 'plan');
  const workspace = { writeFiles: async (t: string, f: any[]) => f.map((x) => `${t}/${x.path}`), replaceFiles: async (t: string, f: any[]) => f.map((x) => `${t}/${x.path}`), archive: async () => dir, taskDir: (t: string) => join(dir, t) };
  const supervisor = m.sup.startSupervisor({ bus, plugins: m.agents.builtinAgents.map((plugin: any) => ({ plugin, source: 'agents', builtin: true, config: {} })), capabilities: { llm, sandbox: instantSandbox, workspace, log: () => {} } });
  const manager = m.tasks.createTaskManager({ bus, store, maxRunning: concurrency, workers: concurrency /* its name before maxRunning */ });
  let waiting: any = null;
  manager.onChange((t: any) => { if (t.status === 'failed') waiting?.reject(new Error(t.error?.message)); if (t.status === 'completed' && waiting && --waiting.left === 0) waiting.resolve(); });
  let n = 0;
  const run = (c: number) => new Promise<void>((resolve, reject) => { waiting = { left: c, resolve, reject }; for (let i = 0; i < c; i++) Promise.resolve(manager.submit({ requirement: `t ${n++}`, priority: 5 })).catch(reject); });
  await run(count); // warm
  const t = performance.now();
  let tasks = 0;
  do { await run(count); tasks += count; } while (performance.now() - t < 400);
  const ms = (performance.now() - t) / tasks;
  await manager.stop(); supervisor.stop(); await store.close(); rmSync(dir, { recursive: true, force: true });
  return ms;
}
const A = await load(rootA), B = await load(rootB);
const cfgs = stores.flatMap((w): Array<[string, number, number]> => [[w, 1, 60], [w, 32, 320]]);
const res: Record<string, { a: number[]; b: number[] }> = {};
for (let r = 0; r < rounds; r++) for (const [w, c, k] of cfgs) {
  const key = `${w} c${c}`; res[key] ??= { a: [], b: [] };
  if (r % 2) { res[key].b.push(await once(B, w, c, k)); res[key].a.push(await once(A, w, c, k)); }
  else { res[key].a.push(await once(A, w, c, k)); res[key].b.push(await once(B, w, c, k)); }
}
const med = (x: number[]) => [...x].sort((p, q) => p - q)[Math.floor(x.length / 2)];
for (const [k, v] of Object.entries(res)) console.log(`${k}: A ${med(v.a).toFixed(3)} ms/task, B ${med(v.b).toFixed(3)} ms/task, A/B ${(med(v.a) / med(v.b)).toFixed(2)}  (A ${v.a.map((x) => x.toFixed(2)).join(' ')} | B ${v.b.map((x) => x.toFixed(2)).join(' ')})`);
process.exit(0);
