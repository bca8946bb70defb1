// Deadlines and cancellation, from the task down to the model call (issue 14), against the real server
// (`runtime start`) whose agents call "Anthropic" through the official SDK, against the fake upstream
// (test/fakes/upstream.ts), which records when each connection closes and whether the client hung up:
// (a) a task cancelled during a 30 s model call closes the upstream connection, frees the agent
//     instance for the next task at once, and its usage row says cancelled;
// (b) a stage timeout aborts the call and no further attempt starts (usage row: timeout);
// (d) two tasks at the same stage call the model side by side;
// and a task cancelled while its generated tests spin in the sandbox has that run's worker killed.
// Time bounds here are safety limits far below the scripted delays (30 s, 20 s), never speeds.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { childrenOf } from '../reliability/_load.ts';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { startFakeUpstream, type FakeUpstream, type RecordedRequest } from '../fakes/upstream.ts';
import { ROOT, api, finished, startServer, tempDir, waitFor, type StartedServer } from '../helpers/server.ts';

const fizzbuzz = JSON.parse(readFileSync(join(ROOT, 'runtime/llm/transcripts/fizzbuzz.json'), 'utf8'));
const ROLES = ['enhancer', 'analyst', 'reasoner', 'implementer'] as const;
const routing = { routes: Object.fromEntries(ROLES.map((role) => [role, [`anthropic/${role}-model`]])) };

let fake: FakeUpstream;
const servers: StartedServer[] = [];

async function serve(config: Record<string, unknown>): Promise<StartedServer> {
  const dir = tempDir('orch-cancel-');
  writeFileSync(join(dir, 'orchestrator.config.json'), JSON.stringify(config));
  writeFileSync(join(dir, 'model-routing.json'), JSON.stringify(routing));
  const server = await startServer({
    dataDir: join(dir, 'data'),
    env: {
      ANTHROPIC_API_KEY: 'sk-ant-cancel-test-key',
      ANTHROPIC_BASE_URL: fake.url,
      ORCHESTRATOR_CONFIG: join(dir, 'orchestrator.config.json'),
      ORCHESTRATOR_ROUTING: join(dir, 'model-routing.json'),
    },
  });
  servers.push(server);
  return server;
}

/** Normal answers for every role after the rules scripted before them. */
function answerNormally(): void {
  fake.script(
    { match: { model: 'enhancer-model' }, times: Infinity, respond: { text: fizzbuzz.turns.enhancer[0] } },
    { match: { model: 'analyst-model' }, times: Infinity, respond: { text: fizzbuzz.turns.analyst[0] } },
    { match: { model: 'reasoner-model' }, times: Infinity, respond: { text: '1. write fizzbuzz\n2. test it' } },
    { match: { model: 'implementer-model' }, times: Infinity, respond: { text: fizzbuzz.turns.implementer.at(-1) } },
  );
}

const calls = (model: string): RecordedRequest[] => fake.requests.filter((r) => (r.body as { model?: string }).model === model);
const submit = async (server: StartedServer, requirement: string) => (await api(server, '/api/requirements', { body: { requirement } })).body.taskId as string;

/** The task's rows in the usage ledger, read from the server's SQLite file (the ledger writes behind). */
function usageRows(server: StartedServer, taskId: string): Array<{ agent: string; ok: number; outcome: string; attempts: number }> {
  const file = readdirSync(server.dataDir).find((f) => f.endsWith('.db'));
  const db = new DatabaseSync(join(server.dataDir, file!), { readOnly: true });
  try {
    return db.prepare('SELECT agent, ok, outcome, attempts FROM llm_usage WHERE task_id = ? ORDER BY id').all(taskId) as never;
  } finally {
    db.close();
  }
}

test.before(async () => {
  fake = await startFakeUpstream();
});

test.after(async () => {
  for (const server of servers) await server.stop();
  await fake?.close();
});

test('(a) cancelling a task during a 30 s model call closes the upstream connection, frees the instance at once, and records the call as cancelled', async () => {
  fake.reset();
  fake.script({ match: { model: 'enhancer-model' }, times: 1, respond: { delayMs: 30_000, text: fizzbuzz.turns.enhancer[0] } });
  answerNormally();
  // One enhancer instance: the next task can only start its call once that instance is free.
  const server = await serve({ workers: 2, agents: { enhancer: { concurrency: 1 } }, retry: { baseDelayMs: 5, maxDelayMs: 20 } });
  const first = await submit(server, `${fizzbuzz.requirement} (cancelled)`);
  await waitFor('the first enhancer call to reach the upstream', async () => calls('enhancer-model').length === 1);
  // The supervision tree shows the task in its subtree, served by the pool's one instance.
  const tree = (await api(server, '/api/actors')).body;
  const task = tree.children.find((c: { id: string }) => c.id === 'tasks').children.find((c: { id: string }) => c.id === `task:${first}`);
  assert.equal([task?.detail.stage, task?.detail.servedBy], ['enhancing', 'enhancer#1'], JSON.stringify(tree.children[1]));
  const cancelledAt = Date.now();
  const cancel = await api(server, `/api/tasks/${first}/cancel`, { method: 'POST' });
  assert.is(cancel.status, 200, JSON.stringify(cancel.body));
  const call = await waitFor('the upstream to see the connection closed', async () => (calls('enhancer-model')[0].closedAt ? calls('enhancer-model')[0] : null), 10_000);
  assert.ok(call.aborted, 'the client hung up before the answer');
  const closedAfter = call.closedAt! - cancelledAt;
  console.log(`  connection closed ${closedAfter} ms after the cancel (the answer was due in 30 s)`);
  assert.ok(closedAfter < 5000, `closed ${closedAfter} ms after the cancel: a safety bound far below the 30 s answer`);

  const second = await submit(server, `${fizzbuzz.requirement} (next)`);
  const next = await waitFor('the next task to call the enhancer', async () => calls('enhancer-model')[1], 10_000);
  assert.ok(next.at - cancelledAt < 10_000, 'the freed instance took the next task long before the cancelled call would have ended');
  const done = await finished(server, second, 60_000);
  assert.is(done.status, 'completed', JSON.stringify(done.error));
  assert.is((await api(server, `/api/tasks/${first}`)).body.status, 'cancelled');
  assert.is(calls('enhancer-model').length, 2, 'no retry of the cancelled call');

  const rows = await waitFor('the usage row of the cancelled call', async () => usageRows(server, first).find((r) => r.agent === 'enhancer'));
  assert.equal({ ok: rows.ok, outcome: rows.outcome }, { ok: 0, outcome: 'cancelled' });
  const recent = (await api(server, '/api/usage')).body.recent.find((r: { taskId?: string }) => r.taskId === first);
  assert.is(recent.outcome, 'cancelled');
});

test('(d) two tasks at the same stage call the model side by side: the upstream sees both requests open at once', async () => {
  fake.reset();
  fake.script({ match: { model: 'implementer-model' }, times: 2, respond: { delayMs: 2000, text: fizzbuzz.turns.implementer.at(-1) } });
  answerNormally();
  const server = servers[0];
  const ids = [await submit(server, `${fizzbuzz.requirement} (side by side 1)`), await submit(server, `${fizzbuzz.requirement} (side by side 2)`)];
  const tasks = await Promise.all(ids.map((id) => finished(server, id, 60_000)));
  for (const task of tasks) assert.is(task.status, 'completed', JSON.stringify(task.error));
  const [a, b] = calls('implementer-model');
  assert.ok(a && b, 'both implementer calls reached the upstream');
  assert.ok(b.at < a.closedAt! && a.at < b.closedAt!, `both open at once: [${a.at}, ${a.closedAt}] and [${b.at}, ${b.closedAt}]`);
});

test('(b) a stage timeout aborts the model call and no further attempt starts; the task names the stage and the usage row says timeout', async () => {
  fake.reset();
  fake.script({ match: { model: 'enhancer-model' }, times: Infinity, respond: { delayMs: 20_000, text: fizzbuzz.turns.enhancer[0] } });
  answerNormally();
  // Three attempts of 60 s each are allowed per call; the 2 s stage timeout must end the first and stop there.
  const server = await serve({ stageTimeoutMs: 2000, retry: { maxAttempts: 3, timeoutMs: 60_000, baseDelayMs: 5, maxDelayMs: 20 } });
  const id = await submit(server, `${fizzbuzz.requirement} (timed out)`);
  const task = await finished(server, id, 30_000);
  assert.is(task.status, 'failed');
  assert.equal({ stage: task.error.stage, reason: task.error.reason }, { stage: 'enhancing', reason: 'E_TIMEOUT' });
  assert.match(task.error.message, /the enhancer gave no answer within the enhancer stage's 2 s timeout; its model call was cancelled and no further attempt starts/);
  const call = await waitFor('the upstream to see the connection closed', async () => (calls('enhancer-model')[0]?.closedAt ? calls('enhancer-model')[0] : null), 10_000);
  assert.ok(call.aborted, 'the client hung up');
  await new Promise((resolve) => setTimeout(resolve, 3000));
  assert.is(calls('enhancer-model').length, 1, 'no second attempt, even well after the timeout');
  const attempts = (await api(server, `/api/tasks/${id}`)).body.modelAttempts;
  assert.equal(attempts.map((a: { role: string; attempt: number; kind: string }) => [a.role, a.attempt, a.kind]), [['enhancer', 1, 'aborted']], 'the aborted attempt is on the task');
  const row = await waitFor('the usage row', async () => usageRows(server, id).find((r) => r.agent === 'enhancer'));
  assert.equal({ ok: row.ok, outcome: row.outcome, attempts: row.attempts }, { ok: 0, outcome: 'timeout', attempts: 1 });
});

/** CPU time (ms) a process has used, from /proc; undefined once it is gone (or dead, waiting to be reaped). */
function cpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z') return undefined;
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return undefined;
  }
}

test('cancelling a task while its generated tests spin in the sandbox kills the worker running them, at once', async () => {
  fake.reset();
  const spinning = ['```js file=src/spin.js', 'export const spin = () => { for (;;) {} };', '```', '```js file=src/spin.test.js',
    "import { spin } from './spin.js';", "it('spins', () => spin());", '```'].join('\n');
  fake.script({ match: { model: 'implementer-model' }, times: Infinity, respond: { text: spinning } });
  answerNormally();
  const server = await serve({ workers: 2, maxIterations: 1 });
  const id = await submit(server, `${fizzbuzz.requirement} (spins)`);
  await waitFor('the task to be validating', async () => (await api(server, `/api/tasks/${id}`)).body.stage === 'validating', 30_000);
  // The worker running the spinning test: a sandbox worker of this server whose CPU time climbs past
  // what starting one takes (~0.5 s of CPU here), so not one that is still loading its engine.
  const worker = await waitFor('a sandbox worker to spin', async () => {
    const workers = childrenOf(server.proc.pid!).filter((c) => /sandbox[/\\]_worker\.ts/.test(c.cmd)).map((c) => ({ pid: c.pid, cpu: cpuMs(c.pid) ?? 0 }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    return workers.find((w) => (cpuMs(w.pid) ?? 0) > w.cpu && w.cpu > 1500)?.pid;
  }, 30_000);
  const cancelledAt = Date.now();
  const cancel = await api(server, `/api/tasks/${id}/cancel`, { method: 'POST' });
  assert.is(cancel.status, 200, JSON.stringify(cancel.body));
  // Its run had most of its 5 s of CPU left (and a worker survives a run that times out): only the
  // cancel ends this process. The bound is a safety limit.
  await waitFor(`sandbox worker ${worker} to be gone`, async () => cpuMs(worker) === undefined, 4000);
  console.log(`  sandbox worker gone ${Date.now() - cancelledAt} ms after the cancel`);
  assert.is((await api(server, `/api/tasks/${id}`)).body.status, 'cancelled');
});

test.run();
