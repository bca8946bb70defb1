// The chaos engine shared by test/reliability/chaos.test.ts (20 kills in CI) and bench/soak-chaos.ts
// (`npm run soak`, 100 kills): the real server process (`runtime start`) on one data dir, its agents
// calling "Anthropic" and "OpenAI" through the official SDKs at the fake upstream (answers with
// realistic delays, some of them code that fails its tests so the fix loop runs), a stream of
// submissions and retries, and SIGKILLs at seeded random points — aimed at LLM calls, sandbox runs
// (validating), file writes (integrating), or after a random delay. After every kill, with the server
// down, it reads what the crash left: PRAGMA integrity_check on a read-only connection, every
// acknowledged task present, no finished task gone back, temp files only where a task is integrating.
// At the end every task must finish (completed, or failed with a reason), and each completed task's
// folder must hold exactly its final generated files, byte for byte, mirrored by its archive.
import { seeded } from '../helpers/reliability.ts';
import { existsSync, lstatSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { Worker } from 'node:worker_threads';
import { startFakeUpstream, type FakeUpstream, type Rule } from '../fakes/upstream.ts';
import { api, startServer, tempDir, type StartedServer } from '../helpers/server.ts';

const FINAL = new Set(['completed', 'failed', 'cancelled']);
const AIMS = ['llm', 'validating', 'integrating', 'random'] as const;
const LLM_STAGES = new Set(['enhancing', 'analyzing', 'reasoning', 'implementing']);
/** The final run: no task changing for this long while some are open means stuck. */
const STALL_MS = 60_000;
/** A safety limit on a final run that keeps moving without ending. */
const RUN_SAFETY_MS = 10 * 60_000;
/** A temp file of an atomic write (`.<name>.<12 hex>.tmp`) or an archive staging / replaced folder. */
const LEFTOVER = /^\..+\.[0-9a-f]{12}\.(tmp|old)$/;

export interface ChaosOptions {
  kills: number;
  seed: number;
  /** Worker count of the server (`--workers`); default 3. */
  workers?: number;
  /** Progress lines; default none. */
  log?: (line: string) => void;
}

export interface ChaosResult {
  seed: number;
  kills: number;
  /** Where each kill was aimed, and what the tasks were doing when it landed (stages of the last poll). */
  aimed: Record<string, number>;
  landed: Record<string, number>;
  submitted: number;
  /** Cancel requests accepted (only for tasks before implementing), and retries of failed or cancelled tasks. */
  cancelled: number;
  retried: number;
  completed: number;
  failed: number;
  /** Acknowledged task ids missing after a restart. */
  lost: number;
  /** Tasks not finished when the final run drained (or finished without a reason). */
  stuck: number;
  /** Temp or staging files left where no task was integrating, or anywhere at the end. */
  leftovers: number;
  /** Kills that interrupted a file write: a temp file or staging folder of an integrating task, removed by its resume. */
  interruptedWrites: number;
  /** Completed tasks whose workspace or archive differs from the final generated files. */
  mismatched: number;
  /** Completed or failed tasks that later showed another status. */
  regressed: number;
  /** integrity_check results after the kills (read-only, before the restart): how many said ok, of how many. */
  integrityOk: number;
  integrityChecks: number;
  /** integrity_check after the final graceful stop. */
  finalIntegrity: string;
  /** Failed tasks whose workspace folder holds files although they never reached integrating. */
  unvalidatedWrites: number;
  /** Polls that saw more tasks running than maxTasks (3 × `--workers` by default) allows. */
  overWorkers: number;
  /** Failed tasks by their error's reason. */
  failedBy: Record<string, number>;
  /** One line per broken promise, with the task and the detail; empty when all held. */
  problems: string[];
  restartMs: number[];
  wallMs: number;
}

// ---- the fake provider's answers -------------------------------------------------------------

const calc = (n: number, body: string) => `// answer ${n}\nexport function add(a, b) {\n  if (typeof a !== 'number' || typeof b !== 'number') throw new TypeError('add: numbers only');\n  ${body}\n}\n`;
const calcTest = (n: number) =>
  `// answer ${n}\nimport { add } from '../src/calc.js';\n\ndescribe('add', () => {\n  it('adds', () => {\n    expect(add(2, 3)).toBe(5);\n  });\n  it('refuses text', () => {\n    expect(() => add('2', 3)).toThrow();\n  });\n});\n`;
const block = (path: string, content: string) => `\`\`\`js file=${path}\n${content}\`\`\``;

/** Three shapes of answer: two passing sets with different files, and one that fails its tests. */
function implementation(n: number, kind: 'a' | 'b' | 'broken'): string {
  if (kind === 'broken') return `Attempt ${n}.\n\n${block('src/calc.js', calc(n, 'return a - b;'))}\n\n${block('test/calc.test.js', calcTest(n))}`;
  if (kind === 'a') return `Attempt ${n}.\n\n${block('src/calc.js', calc(n, 'return a + b;'))}\n\n${block('test/calc.test.js', calcTest(n))}`;
  const format = `// answer ${n}\nimport { add } from './calc.js';\n\nexport function sumLine(a, b) {\n  return \`\${a} + \${b} = \${add(a, b)}\`;\n}\n`;
  const formatTest = `// answer ${n}\nimport { sumLine } from '../src/format.js';\n\ndescribe('sumLine', () => {\n  it('formats', () => {\n    expect(sumLine(2, 3)).toBe('2 + 3 = 5');\n  });\n});\n`;
  return `Attempt ${n}.\n\n${block('src/calc.js', calc(n, 'return a + b;'))}\n\n${block('src/format.js', format)}\n\n${block('test/format.test.js', formatTest)}`;
}

/** The upstream's script: per-role models (see routing), delays so kills land mid-call, seeded answer kinds. */
function script(fake: FakeUpstream, random: () => number, implementerAnswers: number): void {
  const rules: Rule[] = [
    { match: { model: 'chaos-enhance' }, times: Infinity, respond: { delayMs: 120, text: 'Export add(a, b) from src/calc.js returning the sum of two numbers; throw a TypeError for anything else. Test both.' } },
    { match: { model: 'chaos-plan' }, times: Infinity, respond: { delayMs: 100, text: '1. validate the arguments\n2. add them\n3. test the sum and the refusal' } },
  ];
  for (let i = 0; i < implementerAnswers; i++) {
    const complexity = random() < 0.3 ? 'complex' : 'simple';
    rules.push({ match: { model: 'chaos-analyse' }, respond: { delayMs: 100, text: JSON.stringify({ complexity, kind: 'code', summary: 'add two numbers, with tests' }) } });
    const roll = random();
    rules.push({ match: { model: 'chaos-impl' }, respond: { delayMs: 200, text: implementation(i, roll < 0.4 ? 'a' : roll < 0.7 ? 'b' : 'broken') } });
  }
  rules.push(
    { match: { model: 'chaos-analyse' }, times: Infinity, respond: { delayMs: 100, text: '{"complexity":"simple","kind":"code","summary":"add two numbers"}' } },
    { match: { model: 'chaos-impl' }, times: Infinity, respond: { delayMs: 200, text: implementation(implementerAnswers, 'a') } },
  );
  fake.script(...rules);
}

// ---- what is on disk ---------------------------------------------------------------------------

interface Entry {
  rel: string;
  abs: string;
  dir: boolean;
}

/** Everything under `dir` (files and folders, dot-names included, links not followed). */
function everything(dir: string, prefix = ''): Entry[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: Entry[] = [];
  for (const name of names.sort()) {
    const abs = join(dir, name);
    const rel = prefix ? `${prefix}/${name}` : name;
    const stat = lstatSync(abs);
    out.push({ rel, abs, dir: stat.isDirectory() });
    if (stat.isDirectory()) out.push(...everything(abs, rel));
  }
  return out;
}

function filesOf(dir: string): Map<string, string> {
  return new Map(everything(dir).filter((e) => !e.dir).map((e) => [e.rel, readFileSync(e.abs, 'utf8')]));
}

interface DbTask {
  id: string;
  status: string;
  stage: string;
  error: string | null;
}

/** The database as the crash left it, read through a read-only connection (the server is down). */
function readDatabase(path: string): { integrity: string; journal: string; tasks: Map<string, DbTask> } {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const integrity = (db.prepare('PRAGMA integrity_check').all() as Array<{ integrity_check: string }>).map((r) => r.integrity_check).join('; ');
    const journal = String((db.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode);
    const rows = db.prepare('SELECT id, status, stage, error FROM tasks').all() as unknown as DbTask[];
    return { integrity, journal, tasks: new Map(rows.map((r) => [r.id, { ...r }])) };
  } finally {
    db.close();
  }
}

/** Which task a leftover in the workspace or the archive belongs to. */
function ownerOf(root: 'workspace' | 'archive', entry: Entry): string {
  if (root === 'workspace') return entry.rel.split('/')[0];
  // Archive staging folders are `.<taskId>.<hex>.tmp|old` at the top; inside them, the folder's task.
  const top = entry.rel.split('/')[0];
  return top.startsWith('.') ? top.slice(1).replace(/\.[0-9a-f]{12}\.(tmp|old)$/, '') : top;
}

// ---- the run -----------------------------------------------------------------------------------

/**
 * Runs `kills` kill/restart cycles on one data dir, then a final run without kills until every task
 * is finished, and reports what held. Never throws for a broken promise: each one is a line in
 * `problems` (the caller asserts it is empty), so one run reports everything it found.
 * @example const result = await runChaos({ kills: 20, seed: 42 }); assert.equal(result.problems, []);
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const started = Date.now();
  const random = seeded(options.seed);
  const log = options.log ?? (() => {});
  const result: ChaosResult = {
    seed: options.seed,
    kills: 0,
    aimed: {},
    landed: {},
    submitted: 0,
    cancelled: 0,
    retried: 0,
    completed: 0,
    failed: 0,
    lost: 0,
    stuck: 0,
    leftovers: 0,
    interruptedWrites: 0,
    mismatched: 0,
    regressed: 0,
    integrityOk: 0,
    integrityChecks: 0,
    finalIntegrity: 'not run',
    unvalidatedWrites: 0,
    overWorkers: 0,
    failedBy: {},
    problems: [],
    restartMs: [],
    wallMs: 0,
  };
  const problem = (line: string) => {
    result.problems.push(line);
    log(`PROBLEM ${line}`);
  };

  const fake = await startFakeUpstream({ record: false });
  script(fake, random, options.kills * 12 + 40);
  const dir = tempDir('orch-chaos-');
  const dataDir = join(dir, 'data');
  const paths = { db: join(dataDir, 'orchestrator.db'), workspace: join(dataDir, 'workspace'), archive: join(dataDir, 'completed_archive') };
  writeFileSync(join(dir, 'orchestrator.config.json'), JSON.stringify({ retry: { baseDelayMs: 5, maxDelayMs: 20, failureThreshold: 1_000_000 } }));
  writeFileSync(
    join(dir, 'model-routing.json'),
    JSON.stringify({ routes: { default: ['anthropic/chaos-plan'], enhancer: ['anthropic/chaos-enhance'], analyst: ['openai/chaos-analyse'], implementer: ['anthropic/chaos-impl'] } }),
  );
  const env = {
    ANTHROPIC_API_KEY: 'sk-ant-chaos-test-key',
    OPENAI_API_KEY: 'sk-openai-chaos-test-key',
    ANTHROPIC_BASE_URL: fake.url,
    OPENAI_BASE_URL: `${fake.url}/v1`,
    ORCHESTRATOR_CONFIG: join(dir, 'orchestrator.config.json'),
    ORCHESTRATOR_ROUTING: join(dir, 'model-routing.json'),
  };
  const workers = options.workers ?? 3;
  const args = ['--workers', String(workers)];
  // The default maxTasks (docs/cli.md): 3 tasks in flight per worker, the rest queued.
  const maxTasks = 3 * workers;
  const start = async (): Promise<StartedServer> => {
    const t0 = Date.now();
    const server = await startServer({ dataDir, env, args });
    result.restartMs.push(Date.now() - t0);
    return server;
  };

  /** Every id a 202 acknowledged, and the last final status seen per task. */
  const acknowledged = new Set<string>();
  const finalSeen = new Map<string, string>();
  let requirementNo = 0;
  let server: StartedServer | null = null;
  let lastOutput = '';

  const list = async (s: StartedServer): Promise<Array<{ id: string; status: string; stage: string; updatedAt: number }>> => {
    const { body } = await api(s, '/api/tasks?limit=1000');
    const tasks: Array<{ id: string; status: string; stage: string; updatedAt: number }> = body.tasks ?? [];
    const running = tasks.filter((t) => t.status === 'running');
    if (running.length > maxTasks) {
      result.overWorkers++;
      problem(`${running.length} tasks running at once with --workers ${workers} (at most ${maxTasks}): ${running.map((t) => `${t.id} (${t.stage})`).join(', ')}`);
    }
    return tasks;
  };

  /** Checks after a kill, on what the crash left (the server is down). */
  const afterKill = (n: number) => {
    result.integrityChecks++;
    let db;
    try {
      db = readDatabase(paths.db);
    } catch (error) {
      problem(`kill ${n}: the database could not be read after the crash: ${(error as Error).message}`);
      return;
    }
    if (db.integrity === 'ok') result.integrityOk++;
    else problem(`kill ${n}: PRAGMA integrity_check says "${db.integrity}"`);
    if (db.journal !== 'wal') problem(`kill ${n}: journal_mode is ${db.journal}, not wal`);
    for (const id of acknowledged) {
      const row = db.tasks.get(id);
      if (!row) {
        result.lost++;
        problem(`kill ${n}: task ${id} was acknowledged (202) but is not in the database`);
        continue;
      }
      const before = finalSeen.get(id);
      if (before && before !== row.status && row.status !== 'queued') {
        // queued: the task was retried, which the engine itself asked for.
        result.regressed++;
        problem(`kill ${n}: task ${id} was ${before} and is now ${row.status} (${row.stage})`);
      }
      if (FINAL.has(row.status)) finalSeen.set(id, row.status);
    }
    let interrupted = false;
    for (const [root, base] of [['workspace', paths.workspace], ['archive', paths.archive]] as const) {
      for (const entry of everything(base)) {
        const name = entry.rel.split('/').at(-1)!;
        if (!LEFTOVER.test(name)) continue;
        const owner = db.tasks.get(ownerOf(root, entry));
        // An interrupted write of a task that is still integrating is expected: its resume removes it
        // (the final check proves it did).
        if (owner?.stage === 'integrating') {
          interrupted = true;
          continue;
        }
        result.leftovers++;
        problem(`kill ${n}: ${root}/${entry.rel} was left behind, and its task is ${owner ? `${owner.status} (${owner.stage})` : 'unknown'}`);
      }
    }
    if (interrupted) result.interruptedWrites++;
  };

  try {
    for (let n = 1; n <= options.kills; n++) {
      server = await start();
      lastOutput = server.output();
      // New work: one to three submissions, and now and then a retry of a failed task.
      const count = 1 + Math.floor(random() * 3);
      for (let i = 0; i < count; i++) {
        const response = await api(server, '/api/requirements', { body: { requirement: `Chaos requirement #${++requirementNo}: export add(a, b) with tests`, priority: 1 + Math.floor(random() * 10) } });
        if (response.status !== 202) problem(`cycle ${n}: submission refused with ${response.status}: ${JSON.stringify(response.body)}`);
        else {
          acknowledged.add(response.body.taskId);
          result.submitted++;
        }
      }
      // Now and then: cancel a task that has not reached its files yet, retry a failed or cancelled one.
      const roll0 = random();
      if (roll0 < 0.15) {
        const early = (await list(server)).filter((t) => ['queued', 'enhancing', 'analyzing'].includes(t.stage));
        if (early.length) {
          const target = early[Math.floor(random() * early.length)];
          const response = await api(server, `/api/tasks/${target.id}/cancel`, { method: 'POST', body: {} });
          // 409: it finished a stage in between and cannot be cancelled any more; that is fine.
          if (response.status === 200) result.cancelled++;
          else if (response.status !== 409) problem(`cycle ${n}: cancel of ${target.id} answered ${response.status}: ${JSON.stringify(response.body)}`);
        }
      } else if (roll0 < 0.45) {
        const ended = (await list(server)).filter((t) => t.status === 'failed' || t.status === 'cancelled');
        if (ended.length) {
          const target = ended[Math.floor(random() * ended.length)];
          const response = await api(server, `/api/tasks/${target.id}/retry`, { method: 'POST', body: {} });
          if (response.status === 202) {
            result.retried++;
            finalSeen.delete(target.id);
          } else problem(`cycle ${n}: retry of ${target.id} refused with ${response.status}: ${JSON.stringify(response.body)}`);
        }
      }

      // Aim, in turn: during an LLM call, a sandbox run, a file write, or after a random delay (which
      // also lands on store commits, startup and resume); the timing within each is seeded.
      const aim = AIMS[(n - 1) % AIMS.length];
      result.aimed[aim] = (result.aimed[aim] ?? 0) + 1;
      let stages: string[] = [];
      if (aim === 'random') {
        const deadline = Date.now() + Math.floor(random() * 1500);
        while (Date.now() < deadline) {
          stages = (await list(server)).filter((t) => t.status === 'running').map((t) => t.stage);
          await new Promise((r) => setTimeout(r, 20));
        }
        // Every other time, a submission is in flight when the kill lands (its commit may or may not
        // have happened): if the 202 arrived, the task must survive like any other.
        if (random() < 0.5) {
          const requirement = `Chaos requirement #${++requirementNo}: export add(a, b) with tests`;
          void api(server, '/api/requirements', { body: { requirement, priority: 5 } }).then(
            (response) => {
              if (response.status === 202) {
                acknowledged.add(response.body.taskId);
                result.submitted++;
              }
            },
            () => {},
          );
          await new Promise((r) => setTimeout(r, Math.floor(random() * 8)));
        }
      } else {
        const want = (stage: string) => (aim === 'llm' ? LLM_STAGES.has(stage) : stage === aim);
        const extra = Math.floor(random() * (aim === 'llm' ? 150 : aim === 'validating' ? 30 : 25));
        const deadline = Date.now() + 6000;
        let hit = false;
        while (Date.now() < deadline) {
          stages = (await list(server)).filter((t) => t.status === 'running').map((t) => t.stage);
          if (stages.some(want)) {
            hit = true;
            break;
          }
          await new Promise((r) => setTimeout(r, 5));
        }
        if (!hit) result.aimed[`${aim} (missed)`] = (result.aimed[`${aim} (missed)`] ?? 0) + 1;
        if (extra) await new Promise((r) => setTimeout(r, extra));
      }
      for (const stage of stages.length ? new Set(stages) : ['idle']) result.landed[stage] = (result.landed[stage] ?? 0) + 1;
      lastOutput = server.output();
      await server.kill();
      server = null;
      result.kills++;
      afterKill(n);
      log(`kill ${n}/${options.kills}: aimed ${aim}, running stages [${stages.join(', ')}], ${acknowledged.size} tasks so far`);
    }

    // The final run: no kills; everything must finish. A task is stuck when the run stops moving (no
    // task changes for STALL_MS), not when a busy machine is slow; RUN_SAFETY_MS only bounds a run that
    // moves forever.
    server = await start();
    const finalStarted = Date.now();
    let views = await list(server);
    let signature = '';
    let movedAt = Date.now();
    while (Date.now() - finalStarted < RUN_SAFETY_MS && views.some((t) => !FINAL.has(t.status))) {
      const now = views.map((t) => `${t.status}/${t.stage}/${t.updatedAt}`).join();
      if (now !== signature) [signature, movedAt] = [now, Date.now()];
      if (Date.now() - movedAt > STALL_MS) break;
      await new Promise((r) => setTimeout(r, 100));
      views = await list(server);
    }
    const byId = new Map(views.map((t) => [t.id, t]));
    for (const id of acknowledged) {
      const view = byId.get(id);
      if (!view) {
        result.lost++;
        problem(`end: task ${id} was acknowledged but GET /api/tasks does not list it`);
        continue;
      }
      if (!FINAL.has(view.status)) {
        result.stuck++;
        problem(`end: task ${id} is still ${view.status} (${view.stage}) after the final run`);
        continue;
      }
      const detail = (await api(server, `/api/tasks/${id}`)).body;
      if (detail.status === 'failed') {
        result.failed++;
        result.failedBy[detail.error?.reason ?? 'none'] = (result.failedBy[detail.error?.reason ?? 'none'] ?? 0) + 1;
        if (!detail.error?.reason || !detail.error?.message) {
          result.stuck++;
          problem(`end: task ${id} failed without a reason: ${JSON.stringify(detail.error)}`);
        }
        const left = filesOf(join(paths.workspace, id));
        if (detail.error?.stage !== 'integrating' && left.size) {
          result.unvalidatedWrites++;
          problem(`end: task ${id} failed in ${detail.error?.stage} but its folder holds ${[...left.keys()].join(', ')}`);
        }
        continue;
      }
      if (detail.status === 'cancelled') {
        // Cancelled before implementing (the engine never cancels later): nothing may have been written.
        const left = filesOf(join(paths.workspace, id));
        if (left.size) {
          result.unvalidatedWrites++;
          problem(`end: task ${id} was cancelled before implementing but its folder holds ${[...left.keys()].join(', ')}`);
        }
        continue;
      }
      if (detail.status !== 'completed') continue;
      result.completed++;
      const expected = new Map<string, string>(detail.generated.map((f: { path: string; content: string }) => [f.path, f.content]));
      const workspace = filesOf(join(paths.workspace, id));
      const archive = filesOf(join(paths.archive, id));
      const manifest = archive.has('manifest.json') ? JSON.parse(archive.get('manifest.json')!) : null;
      archive.delete('manifest.json');
      const same = (a: Map<string, string>, b: Map<string, string>) => a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
      const written = [...expected.keys()].map((p) => `${id}/${p}`).sort();
      if (!same(workspace, expected)) {
        result.mismatched++;
        problem(`end: task ${id}: workspace holds [${[...workspace.keys()].join(', ')}], the final generated files are [${[...expected.keys()].join(', ')}]${[...workspace].some(([k, v]) => expected.has(k) && expected.get(k) !== v) ? ' (some content differs)' : ''}`);
      } else if (!same(archive, expected) || JSON.stringify([...(manifest?.files ?? [])].sort()) !== JSON.stringify(written) || JSON.stringify([...detail.files].sort()) !== JSON.stringify(written)) {
        result.mismatched++;
        problem(`end: task ${id}: archive [${[...archive.keys()].join(', ')}] / manifest ${JSON.stringify(manifest?.files)} / task files ${JSON.stringify(detail.files)} do not match the workspace`);
      }
    }
    for (const [root, base] of [['workspace', paths.workspace], ['archive', paths.archive]] as const) {
      for (const entry of everything(base)) {
        if (!LEFTOVER.test(entry.rel.split('/').at(-1)!)) continue;
        result.leftovers++;
        problem(`end: ${root}/${entry.rel} was left behind after every task finished`);
      }
    }
    lastOutput = server.output();
    await server.stop();
    server = null;
    result.finalIntegrity = readDatabase(paths.db).integrity;
    if (result.finalIntegrity !== 'ok') problem(`end: PRAGMA integrity_check says "${result.finalIntegrity}"`);
  } catch (error) {
    problem(`the run stopped: ${(error as Error).stack ?? error}\n--- server output ---\n${(server?.output() ?? lastOutput).slice(-4000)}`);
  } finally {
    if (server) await server.kill();
    await fake.close();
    result.wallMs = Date.now() - started;
  }
  if (result.problems.length && existsSync(dataDir)) log(`data dir kept for inspection: ${dataDir}`);
  else rmSync(dir, { recursive: true, force: true });
  return result;
}

/** The figure lines a run prints (the soak quotes these). */
export function describeRun(r: ChaosResult): string[] {
  const sorted = [...r.restartMs].sort((a, b) => a - b);
  return [
    `seed ${r.seed}: ${r.kills} SIGKILLs, ${r.submitted} tasks submitted, ${r.cancelled} cancelled, ${r.retried} retried; ${r.completed} completed, ${r.failed} failed with a reason (${Object.entries(r.failedBy).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'})`,
    `aimed at: ${Object.entries(r.aimed).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `running stages when the kill landed: ${Object.entries(r.landed).sort().map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `lost ${r.lost}, stuck ${r.stuck}, regressed ${r.regressed}, leftover temp files ${r.leftovers}, completed tasks with other files than their final set ${r.mismatched}, unvalidated writes ${r.unvalidatedWrites}, polls with more than maxTasks running ${r.overWorkers}`,
    `kills that interrupted a file write (temp file or archive staging left, removed on resume): ${r.interruptedWrites}`,
    `integrity_check ok after ${r.integrityOk}/${r.integrityChecks} kills; after the final stop: ${r.finalIntegrity}`,
    `restart (spawn to listening) median ${sorted[Math.floor(sorted.length / 2)] ?? 0} ms, max ${sorted.at(-1) ?? 0} ms; wall ${(r.wallMs / 1000).toFixed(1)} s`,
  ];
}

// Runs in each writer thread: opens its own store on the shared file and commits task + event +
// snapshot transactions (each a BEGIN IMMEDIATE … COMMIT at synchronous=FULL), collecting errors.
const WRITER = `
const { workerData, parentPort } = require('node:worker_threads');
import(workerData.storeUrl).then(async ({ openStore }) => {
  const store = openStore(workerData.path);
  const errors = [];
  for (let i = 0; i < workerData.commits; i++) {
    const id = 'w' + workerData.writer + '-' + i;
    try {
      // One commit: the row, its event and its snapshot, as a submission writes them.
      await store.createTask(
        { id, requirement: 'concurrent writer', priority: 5, createdAt: Date.now() },
        { events: [{ ts: Date.now(), type: 'task.submitted', data: { i } }], snapshot: { machineVersion: 'pipeline@1', snapshot: { value: 'queued', i }, updatedAt: Date.now() } },
      );
    } catch (error) {
      errors.push(String(error && error.message));
    }
  }
  await store.close();
  parentPort.postMessage(errors);
});
`;

/**
 * `writers` threads, each with its own store connection on the file at `path` (created and migrated
 * already), commit `commits` transactions at once. Returns every error a writer saw and the wall time.
 * @example const { errors } = await concurrentWriters(path, 4, 250); // errors: [] when busy_timeout holds
 */
export async function concurrentWriters(path: string, writers: number, commits: number): Promise<{ errors: string[]; ms: number }> {
  const storeUrl = new URL('../../runtime/store/mod.ts', import.meta.url).href;
  const started = Date.now();
  const errors = await Promise.all(
    Array.from({ length: writers }, (_, writer) => new Promise<string[]>((resolve, reject) => {
      const worker = new Worker(WRITER, { eval: true, workerData: { storeUrl, path, writer, commits } });
      worker.once('message', resolve);
      worker.once('error', reject);
    })),
  );
  return { errors: errors.flat(), ms: Date.now() - started };
}
