// @serial (1,000 tasks through the server load both cores for about a minute)
// Fail closed (issue 7, item 2), against the real server process (`runtime start`, test/helpers/server.ts)
// whose agents call "Anthropic" (and "OpenAI") through the official SDKs, streamed, against the fake
// upstream; the real gateway, parsers, validator, isolated-vm sandbox workers, integrator, workspace
// and SQLite store do the rest (the data dirs sit on tmpfs so fsyncs do not set the pace). Proves, with
// the figures of docs/RELIABILITY.md:
// - 1,000 hostile model answers (./_hostile.ts: bad JSON, wrong schema, empty, giant up to 4 MB, code
//   failing its tests, no tests, a module that throws on import, sandbox escapes and harness tampering,
//   prompt injection; seeded, evenly spread) give 0 tasks completed without a passing sandbox report:
//   every completed task's stored report passes AND an independent sandbox passes its stored files
//   again, and its workspace and archive folders hold exactly those files; every other task failed with
//   the reason its answer deserves (none stuck, none with files). The analyst's answers are hostile
//   first (220 tasks), then the implementer's (780); the other roles answer normally. Each answer is
//   served once, in the order the requests arrive, and mapped back to its task by the marker in the
//   request. ORCHESTRATOR_MAX_ITERATIONS=1, so each task gets exactly one hostile answer.
// - The parse path stays bounded: no giant answer takes the server's event loop for long.
// - With its sandbox workers SIGKILLed as they start, validating tasks fail with the sandbox's reason
//   after their fix loop, never pass; once the workers may live, the same server completes a task.
// - With every provider down (529 on every attempt, no answer within the timeout, nothing listening on
//   the port) tasks fail with E_LLM naming each model's attempts (test/e2e/gateway.test.ts covers 500
//   and 503 on one route).
// - A drop-in validator plugin's "ok" without a passing test run never gets code integrated.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { startFakeUpstream, type FakeUpstream, type RecordedRequest } from '../fakes/upstream.ts';
import { allTasks, api, startServer, tempDir, type StartedServer } from '../helpers/server.ts';
import { expectFigure, reportMeasured } from '../helpers/reliability.ts';
import { closeDefaultSandbox, validate } from '../../sandbox/mod.ts';
import { VALIDATION_LIMITS, unreachedModules } from '../../agents/validator.ts';
import { AnalysisSchema, extractJson, parseImplementation } from '../../agents/mod.ts';
import { parse } from '../../runtime/protocol/mod.ts';
import { CATEGORIES, hostileOutputs, type HostileOutput } from './_hostile.ts';

const SEED = 7;
const MB = 1024 * 1024;
const TOTAL = 1000;
/** Tasks at once: most of a task's time is spent waiting on the provider or the one sandbox worker. */
const WORKERS = 32;
const CANARY = '/tmp/orchestrator-fail-closed-canary';
const MARK = /\[fail-closed #(\d+)\]/;
const FINAL = new Set(['completed', 'failed', 'cancelled']);

const SPEC = 'Export the function named in the requirement; it takes two numbers and returns their sum. Test it with a few sums.';
const ANALYSIS = '{"complexity":"simple","kind":"code","summary":"add two numbers"}';
const GOOD = [
  '```js file=src/add.js',
  'export function add(a, b) {',
  '  return a + b;',
  '}',
  '```',
  '```js file=test/add.test.js',
  "import { add } from '../src/add.js';",
  "describe('add', () => {",
  "  it('adds', () => { expect(add(2, 3)).toBe(5); });",
  "  it('adds negatives', () => { expect(add(-2, -3)).toBe(-5); });",
  '});',
  '```',
].join('\n');
/** What a role's catch-all answers once its hostile answers are used up: seeing it served is a test bug. */
const LEFTOVER = 'LEFTOVER ANSWER: the suite scripted too few answers';

// The data dirs live on tmpfs where there is one: every task commits ~11 times with synchronous=FULL,
// and on a disk those fsyncs, not the pipeline, would set the pace (durability is chaos.test.ts's
// subject). Removed at the end: tmpfs is memory.
const SHM = '/dev/shm';
const dir = existsSync(SHM) && statSync(SHM).isDirectory() ? mkdtempSync(join(SHM, 'orch-fail-closed-')) : tempDir('orch-fail-closed-');
const servers: StartedServer[] = [];
let fake: FakeUpstream;

test.before(async () => {
  rmSync(CANARY, { force: true });
  fake = await startFakeUpstream();
});

test.after(async () => {
  for (const server of servers) if (server.proc.exitCode === null && server.proc.signalCode === null) await server.kill();
  await fake?.close();
  await closeDefaultSandbox();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** No task changing for this long while some are open: stuck (a stage takes ms to seconds; a silent provider's attempts, seconds). */
const STALL_MS = 60_000;
/** A safety limit on a run that keeps moving; test/run.ts stops a suite after 15 minutes. */
const RUN_SAFETY_MS = 10 * 60_000;

interface ServerOptions {
  /** Where "Anthropic" is. */
  baseUrl: string;
  /** Where "OpenAI" is: with it, every role falls back from Anthropic to OpenAI. */
  openaiBaseUrl?: string;
  maxIterations: number;
  workers: number;
  retry?: Record<string, number>;
  pluginDir?: string;
}

/** Starts `runtime start` whose agents use the gateway: one model per role (and an OpenAI fallback). */
async function gatewayServer(name: string, options: ServerOptions): Promise<StartedServer> {
  const routing = join(dir, `${name}-routing.json`);
  const config = join(dir, `${name}-config.json`);
  const models = (model: string) => (options.openaiBaseUrl ? [`anthropic/${model}`, `openai/${model}`] : [`anthropic/${model}`]);
  writeFileSync(routing, JSON.stringify({
    routes: { default: models('fc-plan'), enhancer: models('fc-enhance'), analyst: models('fc-analyst'), implementer: models('fc-implement') },
  }));
  writeFileSync(config, JSON.stringify({ retry: { baseDelayMs: 5, maxDelayMs: 20, failureThreshold: 1_000_000, ...options.retry } }));
  const server = await startServer({
    dataDir: join(dir, name),
    env: {
      ANTHROPIC_API_KEY: 'sk-ant-fail-closed-test-key',
      ANTHROPIC_BASE_URL: options.baseUrl,
      ...(options.openaiBaseUrl ? { OPENAI_API_KEY: 'sk-openai-fail-closed-test-key', OPENAI_BASE_URL: options.openaiBaseUrl } : {}),
      ...(options.pluginDir ? { ORCHESTRATOR_PLUGIN_DIR: options.pluginDir } : {}),
      ORCHESTRATOR_CONFIG: config,
      ORCHESTRATOR_ROUTING: routing,
      ORCHESTRATOR_WORKERS: String(options.workers),
      ORCHESTRATOR_MAX_ITERATIONS: String(options.maxIterations),
    },
  });
  servers.push(server);
  return server;
}

/** Every role answers normally: the spec, the analysis, a plan, and code that passes its tests. */
function scriptNormal(): void {
  fake.script(
    { match: { model: 'fc-enhance' }, times: Infinity, respond: { text: SPEC } },
    { match: { model: 'fc-analyst' }, times: Infinity, respond: { text: ANALYSIS } },
    { match: { model: 'fc-plan' }, times: Infinity, respond: { text: '1. add the numbers\n2. test the sums' } },
    { match: { model: 'fc-implement' }, times: Infinity, respond: { text: GOOD } },
  );
}

/** Every task of the server (the API's page limit is 1,000). */
/** Runs `work` over `items`, `concurrency` at a time, keeping the order of the results. */
async function pool<T, R>(items: T[], concurrency: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index], index);
    }
  }));
  return results;
}

async function submit(server: StartedServer, requirements: string[]): Promise<string[]> {
  return pool(requirements, 16, async (requirement) => {
    const { status, body } = await api(server, '/api/requirements', { body: { requirement, priority: 5 } });
    assert.is(status, 202, JSON.stringify(body));
    return body.taskId as string;
  });
}

/**
 * Waits until every task in `ids` is final; fails naming the ones that are not once none of them has
 * changed (status, stage, update time) for STALL_MS: stuck is judged by the run not moving, never by
 * how long a busy machine takes. RUN_SAFETY_MS only bounds a run that moves forever without ending.
 */
async function settle(server: StartedServer, ids: string[]): Promise<void> {
  const wanted = new Set(ids);
  const started = Date.now();
  let open: any[] = [];
  let signature = '';
  let movedAt = Date.now();
  while (Date.now() - started < RUN_SAFETY_MS) {
    const mine = (await allTasks(server)).filter((task) => wanted.has(task.id));
    open = mine.filter((task) => !FINAL.has(task.status));
    if (open.length === 0) return;
    const now = `${open.length} ${open.map((t) => t.stage).join()} ${Math.max(0, ...mine.map((t) => t.updatedAt))}`;
    if (now !== signature) [signature, movedAt] = [now, Date.now()];
    if (Date.now() - movedAt > STALL_MS) break;
    await sleep(500);
  }
  assert.unreachable(`${open.length} task(s) stuck (none changed for ${STALL_MS / 1000} s, or still open after ${RUN_SAFETY_MS / 60_000} min), e.g. ${JSON.stringify(open.slice(0, 3).map((t) => [t.id, t.status, t.stage]))}`);
}

/** The marker number in an agent request's user message. */
function markOf(request: RecordedRequest): number {
  const body = request.body as { messages?: Array<{ content: unknown }> };
  const text = JSON.stringify(body.messages ?? []);
  const found = MARK.exec(text);
  assert.ok(found, `an agent request without a task marker: ${text.slice(0, 200)}`);
  return Number(found![1]);
}

const requestsTo = (requests: RecordedRequest[], model: string) => requests.filter((r) => (r.body as { model?: string })?.model === model);

/** A passing report: ok, at least one test, every test ok. */
function passing(report: any): boolean {
  return report?.ok === true && Array.isArray(report.tests) && report.tests.length > 0 && report.tests.every((t: any) => t.ok === true);
}

/** A process's resident memory in MB (Linux /proc), or '?'. */
function rssMb(pid: number): string {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return kb ? String(Math.round(Number(kb[1]) / 1024)) : '?';
  } catch {
    return '?';
  }
}

/** Files under `root`, relative, sorted. */
function filesUnder(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(root.length + 1))
    .sort();
}

interface Served {
  output: HostileOutput;
  taskId: string;
}

/**
 * One phase: `outputs` are the answers of `model` (the hostile role), each served once, in the order
 * the requests arrive; the other roles answer normally. Returns which task got which answer.
 */
async function phase(server: StartedServer, model: string, outputs: HostileOutput[], first: number): Promise<Served[]> {
  fake.reset();
  fake.script(
    ...outputs.map((output) => ({ match: { model }, respond: { text: output.text } })),
    { match: { model }, times: Infinity, respond: { text: LEFTOVER } },
  );
  scriptNormal();
  const marks = outputs.map((_, i) => first + i);
  const ids = await submit(server, marks.map((mark) => `Write calc${mark}(a, b) returning a + b, with tests [fail-closed #${mark}]`));
  await settle(server, ids);
  const served = requestsTo(fake.requests, model);
  assert.is(served.length, outputs.length, `${model}: one request per hostile answer (the leftover answer was never served)`);
  const byMark = new Map(marks.map((mark, i) => [mark, ids[i]]));
  const seen = new Set<number>();
  return served.map((request, i) => {
    const mark = markOf(request);
    assert.not.ok(seen.has(mark), `task #${mark} asked the ${model} twice`);
    seen.add(mark);
    return { output: outputs[i], taskId: byMark.get(mark)! };
  });
}

test('1,000 hostile model answers: 0 tasks completed without a passing sandbox report', async () => {
  const outputs = hostileOutputs(SEED, TOTAL);
  const server = await gatewayServer('hostile', { baseUrl: fake.url, maxIterations: 1, workers: WORKERS });
  const rssBefore = rssMb(server.proc.pid!);
  const started = Date.now();
  const analystOutputs = outputs.filter((o) => o.target === 'analyst');
  const implementerOutputs = outputs.filter((o) => o.target === 'implementer');
  const served = await phase(server, 'fc-analyst', analystOutputs, 0);
  const analystMs = Date.now() - started;
  served.push(...(await phase(server, 'fc-implement', implementerOutputs, analystOutputs.length)));
  const runMs = Date.now() - started;
  console.log(`fail-closed: analyst phase ${(analystMs / 1000).toFixed(1)} s, implementer phase ${((runMs - analystMs) / 1000).toFixed(1)} s`);
  assert.is(served.length, TOTAL);

  const tasks = await pool(served, 8, async ({ taskId }) => (await api(server, `/api/tasks/${taskId}`)).body);
  const db = new DatabaseSync(join(server.dataDir, 'orchestrator.db'), { readOnly: true });
  const snapshotOf = db.prepare('SELECT snapshot FROM snapshots WHERE task_id = ?');
  const workspace = join(server.dataDir, 'workspace');

  const rows = new Map<string, { outputs: number; completed: number; failed: number; reasons: Map<string, number> }>();
  for (const category of CATEGORIES) rows.set(category, { outputs: 0, completed: 0, failed: 0, reasons: new Map() });
  const problems: string[] = [];
  let completedWithoutPassingReport = 0;
  let revalidated = 0;
  let longestMessage = 0;
  const completedIds = new Set<string>();

  for (let i = 0; i < served.length; i++) {
    const { output, taskId } = served[i];
    const task = tasks[i];
    const row = rows.get(output.category)!;
    row.outputs++;
    const label = `#${output.n} ${output.category} / ${output.variant} (task ${taskId})`;
    if (task.status === 'completed') {
      completedIds.add(taskId);
      row.completed++;
      if (output.expect === 'failed') problems.push(`${label} completed; it must fail with ${output.reason}`);
      if (!passing(task.report)) {
        completedWithoutPassingReport++;
        problems.push(`${label} completed without a passing report: ${JSON.stringify(task.report)?.slice(0, 300)}`);
        continue;
      }
      // What the validator ran, from the persisted snapshot, run again by an independent sandbox.
      const saved = JSON.parse((snapshotOf.get(taskId) as { snapshot: string }).snapshot);
      const implementation = saved.context.implementation;
      const files: Record<string, string> = {};
      for (const file of implementation.files) files[file.path] = file.content;
      const again = await validate({ files, entry: implementation.entry, tests: [...implementation.tests, ...unreachedModules(implementation)], limits: { ...VALIDATION_LIMITS } });
      revalidated++;
      if (!passing(again)) {
        completedWithoutPassingReport++;
        problems.push(`${label} completed, but the sandbox does not pass its files again: ${JSON.stringify(again).slice(0, 300)}`);
      }
      // The workspace holds exactly the validated files.
      const written = filesUnder(join(workspace, taskId));
      const generated = task.generated.map((f: any) => f.path).sort();
      if (JSON.stringify(written) !== JSON.stringify(generated)) problems.push(`${label}: workspace holds ${JSON.stringify(written)}, validated ${JSON.stringify(generated)}`);
      for (const file of task.generated) {
        const path = join(workspace, taskId, file.path);
        if (existsSync(path) && readFileSync(path, 'utf8') !== file.content) problems.push(`${label}: ${file.path} in the workspace differs from the validated file`);
      }
    } else {
      row.failed++;
      const reason = task.error?.reason ?? '(none)';
      row.reasons.set(reason, (row.reasons.get(reason) ?? 0) + 1);
      if (task.status !== 'failed') problems.push(`${label} ended ${task.status}, not failed`);
      if (!task.error?.reason || !task.error?.message) problems.push(`${label} failed without a reason and message: ${JSON.stringify(task.error)}`);
      longestMessage = Math.max(longestMessage, task.error?.message?.length ?? 0);
      if (output.expect === 'completed') problems.push(`${label} failed (${reason}: ${task.error?.message?.slice(0, 200)}); its code passes`);
      if (output.expect === 'failed' && !output.reason!.test(reason)) problems.push(`${label} failed with ${reason}, expected ${output.reason}: ${task.error?.message?.slice(0, 300)}`);
      if (task.files.length > 0) problems.push(`${label} failed but lists files ${JSON.stringify(task.files)}`);
    }
  }
  db.close();

  // Only completed tasks have a folder in the workspace and the archive; nothing escaped the sandbox.
  for (const root of [workspace, join(server.dataDir, 'completed_archive')]) {
    const folders = existsSync(root) ? readdirSync(root).sort() : [];
    assert.equal(folders.filter((name) => !completedIds.has(name)), [], `${root}: folders of tasks that did not complete`);
    assert.is(folders.length, completedIds.size, `${root}: one folder per completed task`);
  }
  assert.not.ok(existsSync(CANARY), 'generated code wrote the canary file on the host');
  const rssAfter = rssMb(server.proc.pid!);

  const sizes = outputs.map((o) => Buffer.byteLength(o.text));
  console.log(`fail-closed: ${TOTAL} hostile answers (${(sizes.reduce((a, b) => a + b, 0) / MB).toFixed(1)} MB; ${sizes.filter((n) => n >= 2 * MB).length} of 2 MB or more, the largest ${(Math.max(...sizes) / MB).toFixed(1)} MB) through the server in ${(runMs / 1000).toFixed(1)} s; server RSS ${rssBefore} MB before, ${rssAfter} MB after`);
  console.log('category           outputs  completed  failed  reasons');
  for (const [category, row] of rows) {
    const reasons = [...row.reasons].sort((a, b) => b[1] - a[1]).map(([reason, n]) => `${reason} ${n}`).join(', ');
    console.log(`${category.padEnd(18)} ${String(row.outputs).padStart(7)}  ${String(row.completed).padStart(9)}  ${String(row.failed).padStart(6)}  ${reasons}`);
  }
  const completed = [...rows.values()].reduce((n, r) => n + r.completed, 0);
  console.log(`completed ${completed} (each re-validated: ${revalidated}), failed ${TOTAL - completed}, longest failure message ${longestMessage} characters`);
  reportMeasured('failclosed.outputs', `${TOTAL} hostile answers in ${(runMs / 1000).toFixed(1)} s; ${completed} completed (inert hostile text around passing code), all re-validated; server RSS ${rssBefore} → ${rssAfter} MB`);
  expectFigure('failclosed.outputs', `${completedWithoutPassingReport} of ${TOTAL} hostile outputs completed without a passing sandbox report`);
  assert.equal(problems, [], `${problems.length} problem(s)`);
  assert.is(revalidated, completed);
  assert.ok(completed > 0, 'the control answers completed, so the checks of completed tasks ran');
  assert.ok(longestMessage <= 4096, `failure messages stay bounded (${longestMessage} characters)`);
  await server.stop();
});

// The server parses model answers on its event loop: a slow parse stalls every task and request. How
// fast it parses is `npm run bench -- parsing` (against a regex pass over the same text); this test holds
// on any machine: a bound no healthy parse comes near (each takes tens to hundreds of ms) and an input
// big enough that a super-linear parse would cross it anyway. A duplicate-path check that scanned the
// files found so far once took 2.5 s for 20,000 tiny blocks: quadratic, so over a minute for 100,000.
const PARSE_BOUND_MS = 15_000;
const TINY_BLOCKS = 100_000;

test('the parse path stays bounded: every giant answer, and 100,000 tiny blocks, is parsed or refused short of a hang', () => {
  const blocks = Array.from({ length: TINY_BLOCKS }, (_, i) => `\`\`\`js file=f${i}.js\nx\n\`\`\``).join('\n');
  const answers = [...hostileOutputs(SEED, TOTAL).filter((o) => o.category === 'giant'), { target: 'implementer', variant: `${TINY_BLOCKS} tiny blocks`, text: blocks }];
  let slowest = { ms: 0, variant: '', bytes: 0 };
  for (const output of answers) {
    const started = performance.now();
    try {
      if (output.target === 'implementer') parseImplementation(output.text);
      else parse(AnalysisSchema, extractJson(output.text, 'analyst', 'the analysis'), 'analysis');
    } catch (error) {
      assert.ok(String((error as Error).message).length < 4096, 'the refusal is short');
    }
    const ms = performance.now() - started;
    if (ms > slowest.ms) slowest = { ms, variant: output.variant, bytes: output.text.length };
    assert.ok(ms < PARSE_BOUND_MS, `${output.variant} held the event loop ${ms.toFixed(0)} ms (${(output.text.length / MB).toFixed(1)} MB): a hang or a super-linear parse`);
  }
  console.log(`slowest giant parse: ${slowest.ms.toFixed(0)} ms (${slowest.variant}, ${(slowest.bytes / MB).toFixed(1)} MB); the speed is npm run bench -- parsing`);
});

/** Sandbox workers of a server: its children running sandbox/_worker.ts (scanned from /proc). */
function sandboxWorkers(pid: number): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ')'.
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== pid) continue;
      if (/sandbox[/\\]_worker\.ts/.test(readFileSync(`/proc/${name}/cmdline`, 'utf8'))) found.push(Number(name));
    } catch {
      // it exited while we looked
    }
  }
  return found;
}

const DOWN_TASKS = 12;
/**
 * How long the providers-down server waits for a model's answer before the attempt fails: only the
 * silent provider reaches it (it never answers); 529s and refused connections come back at once.
 */
const ATTEMPT_TIMEOUT_MS = 1500;
let down: StartedServer | undefined;

/** The server of the providers-down test: every role falls back from Anthropic to OpenAI, both at the fake. */
async function downServer(): Promise<StartedServer> {
  down ??= await gatewayServer('down', { baseUrl: fake.url, openaiBaseUrl: `${fake.url}/v1`, maxIterations: 2, workers: 6, retry: { timeoutMs: ATTEMPT_TIMEOUT_MS } });
  return down;
}

test('sandbox down: workers SIGKILLed as they start make validating tasks fail with the reason, never pass', async () => {
  fake.reset();
  scriptNormal();
  // Its own server with the default model timeout: the providers answer here, however slowly a busy
  // machine lets them, so only the sandbox can fail these tasks.
  const server = await gatewayServer('sandbox-down', { baseUrl: fake.url, openaiBaseUrl: `${fake.url}/v1`, maxIterations: 2, workers: 6 });
  const killed = new Set<number>();
  // Every sandbox worker the server forks dies before it can answer (a cold worker needs far longer
  // than this to load isolated-vm, build its harness snapshot and run).
  const killer = setInterval(() => {
    for (const pid of sandboxWorkers(server.proc.pid!)) {
      try {
        process.kill(pid, 'SIGKILL');
        killed.add(pid);
      } catch {
        // already gone
      }
    }
  }, 10);
  let tasks: any[];
  try {
    const ids = await submit(server, Array.from({ length: DOWN_TASKS }, (_, i) => `Write add(a, b) with tests while the sandbox is down [sandbox-down #${i}]`));
    await settle(server, ids);
    tasks = await pool(ids, 4, async (id) => (await api(server, `/api/tasks/${id}`)).body);
  } finally {
    clearInterval(killer);
  }
  const passed = tasks.filter((task) => task.status === 'completed' || passing(task.report));
  const failedWithReason = tasks.filter((task) => task.status === 'failed' && task.error?.reason === 'threw').length;
  expectFigure('failclosed.sandbox-down', `${passed.length} of ${DOWN_TASKS} tasks passed with their sandbox workers SIGKILLed; ${failedWithReason} failed with the sandbox reason`);
  for (const task of tasks) {
    assert.is(task.status, 'failed', task.id);
    assert.is(task.error.stage, 'validating', JSON.stringify(task.error));
    assert.is(task.error.reason, 'threw', JSON.stringify(task.error));
    assert.match(task.error.message, /^validation failed after 2 attempt\(s\): threw: the sandbox worker (died during the run|could not start)/);
    assert.is(task.iteration, 2, 'the fix loop tried again, and failed again');
    assert.is(task.files.length, 0);
  }
  assert.ok(killed.size >= DOWN_TASKS, `${killed.size} sandbox workers killed`);
  assert.equal(filesUnder(join(server.dataDir, 'workspace')), [], 'nothing reached the workspace');
  console.log(`sandbox down: ${DOWN_TASKS} tasks failed at validation, ${killed.size} sandbox workers SIGKILLed`);

  // The workers may live again: the same server validates and completes.
  const [back] = await submit(server, ['Write add(a, b) with tests once the sandbox is back [sandbox-down #back]']);
  await settle(server, [back]);
  const recovered = (await api(server, `/api/tasks/${back}`)).body;
  assert.is(recovered.status, 'completed', JSON.stringify(recovered.error));
  assert.ok(passing(recovered.report));
  await server.stop();
});

/** Submits `count` tasks and checks each fails at the first model call with E_LLM naming 2 models' attempts. */
async function expectLlmFailures(server: StartedServer, label: string, count: number, why: RegExp): Promise<number> {
  const ids = await submit(server, Array.from({ length: count }, (_, i) => `Write add(a, b) with tests, providers ${label} [providers-down #${label}-${i}]`));
  await settle(server, ids);
  let failed = 0;
  for (const id of ids) {
    const task = (await api(server, `/api/tasks/${id}`)).body;
    assert.is(task.status, 'failed', `${label}: ${JSON.stringify(task.error)}`);
    assert.is(task.error.reason, 'E_LLM', `${label}: ${JSON.stringify(task.error)}`);
    assert.is(task.error.stage, 'enhancing');
    assert.match(task.error.message, /\b\d+ attempts on 2 model\(s\) failed: /, label);
    assert.match(task.error.message, why, `${label}: ${task.error.message}`);
    assert.not.match(task.error.message, /fail-closed-test-key/, 'no key in the reason');
    assert.is(task.files.length, 0);
    assert.not.ok(existsSync(join(server.dataDir, 'workspace', id)), `${label}: nothing reached the workspace`);
    failed++;
  }
  console.log(`providers ${label}: ${(await api(server, `/api/tasks/${ids[0]}`)).body.error.message}`);
  return failed;
}

const DOWN_PER_MODE = 3;

test('every provider down: 529 on every attempt, no answer, or nothing listening make tasks fail with E_LLM naming the attempts', async () => {
  const server = await downServer();
  fake.reset();
  fake.script({ times: Infinity, respond: { status: 529 } });
  let failed = await expectLlmFailures(server, '529', DOWN_PER_MODE, /anthropic\/fc-enhance: [^;]*529[^;]*; openai\/fc-enhance: [^.]*529/);
  assert.ok(fake.requests.some((r) => r.protocol === 'anthropic') && fake.requests.some((r) => r.protocol === 'openai-chat'), 'both providers were tried');
  fake.reset();
  fake.script({ times: Infinity, respond: { hang: true } });
  failed += await expectLlmFailures(server, 'silent', DOWN_PER_MODE, new RegExp(`anthropic/fc-enhance: timeout ×3; openai/fc-enhance: timeout ×3\\. Timed out: .*now ${ATTEMPT_TIMEOUT_MS} ms`));
  // The providers' host goes away while the server runs; a new one comes back on the same port after.
  const port = fake.port;
  await fake.close();
  failed += await expectLlmFailures(server, 'unreachable', DOWN_PER_MODE, /anthropic\/fc-enhance: [^;]*network error[^;]*; openai\/fc-enhance: [^;]*network error/);
  fake = await startFakeUpstream({ port });
  await server.stop();
  expectFigure('failclosed.providers-down', `${3 * DOWN_PER_MODE - failed} of ${3 * DOWN_PER_MODE} tasks passed with every provider down (529, silent, port closed); ${failed} failed with E_LLM naming the attempts`);
});

const PLUGIN_IMPORT = new URL('../../runtime/plugin/mod.ts', import.meta.url).href;

test('a validator plugin that says ok without a passing run never gets code integrated', async () => {
  // A drop-in validator replaces the built-in one (plugins/README.md); the pipeline's own guard and the
  // integrator decide whether its report is a pass, not its "ok".
  const plugins = join(dir, 'plugins');
  mkdirSync(join(plugins, 'lenient-validator'), { recursive: true });
  writeFileSync(join(plugins, 'lenient-validator', 'mod.ts'), `import { defineAgent } from '${PLUGIN_IMPORT}';
const base = { console: [], ms: 1, memoryBytes: 1 };
export default defineAgent({ name: 'lenient-validator', version: '1.0.0', role: 'validator', accepts: ['validation.request'],
  async handle(message) {
    const { requirement } = message.payload;
    if (requirement.includes('no tests ran')) return { report: { ok: true, tests: [], ...base }, findings: [] };
    if (requirement.includes('a test failed')) return { report: { ok: true, tests: [{ name: 'adds', ok: true, ms: 0 }, { name: 'subtracts', ok: false, ms: 0, message: 'expected 1 to be 2' }], ...base }, findings: [] };
    if (requirement.includes('no test list')) return { report: { ok: true, ...base }, findings: [] };
    return { report: { ok: true, tests: [{ name: 'adds', ok: true, ms: 0 }], ...base }, findings: [] };
  } });
`);
  fake.reset();
  scriptNormal();
  const server = await gatewayServer('lenient', { baseUrl: fake.url, maxIterations: 1, workers: 4, pluginDir: plugins });
  const agents = (await api(server, '/api/agents')).body.agents;
  assert.ok(agents.some((a: any) => a.name === 'lenient-validator' && a.role === 'validator'), 'the plugin serves the validator role');
  const claims = ['no tests ran', 'a test failed', 'no test list'];
  const ids = await submit(server, [...claims, 'all tests passed'].map((claim) => `Write add(a, b) with tests; the validator says ok but ${claim} [lenient #${claim}]`));
  await settle(server, ids);
  const tasks = await pool(ids, 4, async (id) => (await api(server, `/api/tasks/${id}`)).body);
  const integrated = tasks.slice(0, claims.length).filter((task) => task.status === 'completed' || task.files.length > 0).length;
  expectFigure('failclosed.validator-claims', `${integrated} of ${claims.length} "ok" reports without a passing test run integrated`);
  for (const [i, claim] of claims.entries()) {
    const task = tasks[i];
    assert.is(task.status, 'failed', `${claim}: ${task.status}`);
    assert.is(task.error.stage, 'validating', claim);
    assert.is(task.error.reason, 'invalid-report', claim);
    assert.match(task.error.message, /validator said ok without a passing test run/, claim);
    assert.is(task.files.length, 0, claim);
    assert.not.ok(existsSync(join(server.dataDir, 'workspace', task.id)), `${claim}: nothing written`);
  }
  // The control: a report with passing tests is a pass, whoever produced it.
  assert.is(tasks[3].status, 'completed', JSON.stringify(tasks[3].error));
  await server.stop();
});

test.run();
