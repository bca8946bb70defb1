// Agents through the gateway: a real server whose agents call "Anthropic" and "OpenAI" through the
// official SDKs, against the fake upstream. Routing by role from model-routing.json, streamed tokens on
// /ws, usage per task, fallback after an outage, per-task budgets, and routing reloaded on change.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFakeUpstream, type FakeUpstream } from '../fakes/upstream.ts';
import { ROOT, api, finished, startServer, tempDir, waitFor, watch, type StartedServer } from '../helpers/server.ts';

const fizzbuzz = JSON.parse(readFileSync(join(ROOT, 'runtime/llm/transcripts/fizzbuzz.json'), 'utf8'));

let fake: FakeUpstream;
let server: StartedServer;
let dir: string;

const routing = (implementer: string[]) => ({
  routes: {
    default: ['anthropic/plan-model'],
    enhancer: ['anthropic/enhance-model'],
    analyst: ['openai/analyse-model'],
    implementer: { simple: implementer, default: ['anthropic/never-used'] },
  },
});

function scriptAnswers(): void {
  fake.script(
    { match: { model: 'enhance-model' }, times: Infinity, respond: { text: fizzbuzz.turns.enhancer[0] } },
    { match: { model: 'analyse-model' }, times: Infinity, respond: { text: fizzbuzz.turns.analyst[0] } },
    { match: { model: 'plan-model' }, times: Infinity, respond: { text: '1. write fizzbuzz\n2. test it' } },
    { match: { model: 'impl-steady' }, times: Infinity, respond: { text: fizzbuzz.turns.implementer.at(-1) } },
  );
}

test.before(async () => {
  fake = await startFakeUpstream();
  dir = tempDir('orch-gateway-');
  writeFileSync(join(dir, 'orchestrator.config.json'), JSON.stringify({ retry: { baseDelayMs: 5, maxDelayMs: 20, failureThreshold: 1000 }, budgets: { maxTurns: 12 } }));
  writeFileSync(join(dir, 'model-routing.json'), JSON.stringify(routing(['anthropic/impl-down', 'anthropic/impl-steady'])));
  server = await startServer({
    dataDir: join(dir, 'data'),
    env: {
      ANTHROPIC_API_KEY: 'sk-ant-gateway-test-key',
      OPENAI_API_KEY: 'sk-openai-gateway-test-key',
      ANTHROPIC_BASE_URL: fake.url,
      OPENAI_BASE_URL: `${fake.url}/v1`,
      ORCHESTRATOR_CONFIG: join(dir, 'orchestrator.config.json'),
      ORCHESTRATOR_ROUTING: join(dir, 'model-routing.json'),
    },
  });
});

test.after(async () => {
  await server?.stop();
  await fake?.close();
});

test('no demo: health names the providers (never a key) and the routing file', async () => {
  const health = (await api(server, '/api/health')).body;
  assert.is(health.demo, false);
  assert.match(health.routing, /model-routing\.json/);
  const anthropic = health.providers.find((p: any) => p.name === 'anthropic');
  assert.equal({ key: anthropic.key, usable: anthropic.usable }, { key: 'set (ANTHROPIC_API_KEY)', usable: true });
  assert.not.match(JSON.stringify(health), /gateway-test-key/);
});

test('a task completes through the gateway: routed per role, an outage falls back, tokens stream on /ws, usage is per task', async () => {
  fake.reset();
  fake.script({ match: { model: 'impl-down' }, times: Infinity, respond: { status: 529 } });
  scriptAnswers();
  const ws = await watch(server);
  const { body } = await api(server, '/api/requirements', { body: { requirement: fizzbuzz.requirement } });
  const task = await finished(server, body.taskId);
  ws.close();
  assert.is(task.status, 'completed', JSON.stringify(task.error));
  assert.ok(task.files.length >= 2, 'files landed');
  const models = fake.requests.map((r) => `${r.protocol}:${(r.body as any).model}`);
  assert.ok(models.includes('anthropic:enhance-model'));
  assert.ok(models.includes('openai-chat:analyse-model'), 'the analyst went to OpenAI chat completions');
  assert.is(models.filter((m) => m === 'anthropic:impl-down').length, 3, 'three attempts on the failing model');
  assert.ok(models.includes('anthropic:impl-steady'), 'then the fallback');
  assert.not.ok(models.includes('anthropic:never-used'), 'the simple route was chosen by complexity');
  const analyst = fake.requests.find((r) => (r.body as any).model === 'analyse-model')!.body as any;
  assert.is(analyst.response_format?.type, 'json_schema', 'structured output requested');
  const sent = fake.requests.find((r) => r.protocol === 'anthropic')!.headers;
  assert.ok(sent['x-api-key'] === 'sk-ant-gateway-test-key' || sent.authorization === 'Bearer sk-ant-gateway-test-key', 'the configured key went upstream');
  const tokens = ws.frames.filter((f) => f.type === 'update').flatMap((f) => f.events).filter((e: any) => e.kind === 'token' && e.taskId === body.taskId);
  assert.ok(tokens.length >= 3, `streamed tokens reached /ws (${tokens.length})`);
  const usage = (await api(server, '/api/usage')).body;
  assert.ok(usage.byAgent.implementer.calls >= 1 && usage.byAgent.implementer.failedCalls === 0);
  assert.ok(usage.total.inputTokens > 0 && usage.total.costUsd >= 0);
});

test('a stream cut mid-way and a mid-stream error event are retried by the gateway, never taken as a short answer', async () => {
  fake.reset();
  fake.script(
    { match: { model: 'enhance-model' }, respond: { truncate: true } },
    { match: { model: 'enhance-model' }, respond: { errorEvent: true } },
    { match: { model: 'impl-down' }, times: Infinity, respond: { status: 529 } },
  );
  scriptAnswers();
  const { body } = await api(server, '/api/requirements', { body: { requirement: `${fizzbuzz.requirement}, over a bad line` } });
  const task = await finished(server, body.taskId);
  assert.is(task.status, 'completed', JSON.stringify(task.error));
  assert.is(fake.requests.filter((r) => (r.body as any).model === 'enhance-model').length, 3, 'cut, error event, then a whole answer');
  assert.is(task.prompt.trim(), fizzbuzz.turns.enhancer[0].trim(), 'the whole answer was used');
});

test('the same requirement again is answered from the cache: no upstream call', async () => {
  fake.reset();
  scriptAnswers();
  const { body } = await api(server, '/api/requirements', { body: { requirement: fizzbuzz.requirement } });
  const task = await finished(server, body.taskId);
  assert.is(task.status, 'completed');
  assert.is(fake.requests.length, 0);
  const stats = (await api(server, '/api/cache/stats')).body;
  assert.ok(stats.hits >= 3, `cache hits ${stats.hits}: enhancer, analyst, implementer`);
});

test('when every model of a route is down the task fails with E_LLM naming the attempts, never passes', async () => {
  fake.reset();
  fake.script({ match: { model: 'impl-down' }, times: Infinity, respond: { status: 500 } }, { match: { model: 'impl-steady' }, times: Infinity, respond: { status: 503 } });
  scriptAnswers();
  const { body } = await api(server, '/api/requirements', { body: { requirement: `${fizzbuzz.requirement}, outage edition` } });
  const task = await finished(server, body.taskId);
  assert.is(task.status, 'failed');
  assert.is(task.error.reason, 'E_LLM');
  assert.match(task.error.message, /6 attempts on 2 model/);
  assert.is(task.files.length, 0);
});

test('routing reloads on change; a broken file or a role no agent serves is refused and the old routes stay', async () => {
  writeFileSync(join(dir, 'model-routing.json'), '{ "routes": { "default": [] } }');
  await waitFor('the refusal in the log', async () => /model routing not reloaded/.test(server.output()));
  writeFileSync(join(dir, 'model-routing.json'), JSON.stringify({ routes: { ...routing(['anthropic/impl-steady']).routes, implementr: ['anthropic/impl-steady'] } }));
  await waitFor('the role refused in the log', async () => /model routing not reloaded, the previous routes stay in force: .*routes\.implementr is not a role any agent serves \(did you mean 'implementer'\?\)/.test(server.output()));
  writeFileSync(join(dir, 'model-routing.json'), JSON.stringify(routing(['anthropic/impl-steady'])));
  await waitFor('the reload', async () => /model routing reloaded/.test(server.output()));
  fake.reset();
  scriptAnswers();
  const { body } = await api(server, '/api/requirements', { body: { requirement: `${fizzbuzz.requirement}, reloaded` } });
  const task = await finished(server, body.taskId);
  assert.is(task.status, 'completed');
  assert.not.ok(fake.requests.some((r) => (r.body as any).model === 'impl-down'), 'the new routing is in force');
});

test('a retried task asks the model again instead of replaying the cached answer that failed it', async () => {
  fake.reset();
  fake.script({ match: { model: 'impl-steady' }, times: 1, respond: { text: 'I would rather not write any files today.' } });
  scriptAnswers();
  const requirement = `${fizzbuzz.requirement}, retried`;
  const { body } = await api(server, '/api/requirements', { body: { requirement } });
  const first = await finished(server, body.taskId);
  assert.is(first.status, 'failed');
  assert.is(first.error.reason, 'E_LLM_OUTPUT', JSON.stringify(first.error));
  const implementerCalls = () => fake.requests.filter((r) => (r.body as any).model === 'impl-steady').length;
  assert.is(implementerCalls(), 1);
  assert.is((await api(server, `/api/tasks/${body.taskId}/retry`, { method: 'POST' })).status, 202);
  const second = await finished(server, body.taskId);
  assert.is(second.status, 'completed', JSON.stringify(second.error));
  assert.is(implementerCalls(), 2, 'the retry reached the model; the bad answer was not replayed from the cache');
  // A new task with the same requirement still gets the (now good) cached answers.
  const again = await finished(server, (await api(server, '/api/requirements', { body: { requirement } })).body.taskId);
  assert.is(again.status, 'completed');
  assert.is(implementerCalls(), 2, 'answered from the cache');
});

test('an answer a task could not use leaves the cache: the same prompt from a new task asks the model again', async () => {
  fake.reset();
  fake.script({ match: { model: 'impl-steady' }, times: 1, respond: { text: 'No files from me, sorry.' } });
  scriptAnswers();
  assert.is((await api(server, '/api/cache/clear', { method: 'POST' })).status, 200);
  const requirement = `${fizzbuzz.requirement}, asked twice`;
  const first = await finished(server, (await api(server, '/api/requirements', { body: { requirement } })).body.taskId);
  assert.is(first.status, 'failed');
  assert.is(first.error.reason, 'E_LLM_OUTPUT');
  const second = await finished(server, (await api(server, '/api/requirements', { body: { requirement } })).body.taskId);
  assert.is(second.status, 'completed', JSON.stringify(second.error));
  assert.is(fake.requests.filter((r) => (r.body as any).model === 'impl-steady').length, 2, 'the unusable answer was not replayed');
  assert.is(fake.requests.filter((r) => (r.body as any).model === 'enhance-model').length, 1, 'usable answers stay cached');
});

test('a model that does not stop is cut at the answer cap: the task fails as bad output after one attempt, the server stays up', async () => {
  fake.reset();
  fake.script({ match: { model: 'impl-steady' }, times: 1, respond: { text: 'x'.repeat(4 * 1024 * 1024 + 1024) } });
  scriptAnswers();
  // The implementer's prompt is built from the (scripted, identical) enhancer and analyst answers:
  // without a clear, it would be answered from the cache and never reach the endless model.
  assert.is((await api(server, '/api/cache/clear', { method: 'POST' })).status, 200);
  const { body } = await api(server, '/api/requirements', { body: { requirement: `${fizzbuzz.requirement}, endless` } });
  const task = await finished(server, body.taskId);
  assert.is(task.status, 'failed');
  assert.is(task.error.reason, 'E_LLM_OUTPUT', JSON.stringify(task.error));
  assert.match(task.error.message, /passed 4194304 characters.*lower maxTokens/);
  assert.is(fake.requests.filter((r) => (r.body as any).model === 'impl-steady').length, 1, 'not retried');
  assert.is((await api(server, '/api/health')).status, 200);
});

test('a per-task turn budget stops the task with E_BUDGET and the figures', async () => {
  await server.stop();
  writeFileSync(join(dir, 'orchestrator.config.json'), JSON.stringify({ budgets: { maxTurns: 2 } }));
  server = await startServer({
    dataDir: join(dir, 'data2'),
    env: { ANTHROPIC_API_KEY: 'sk-ant-gateway-test-key', OPENAI_API_KEY: 'sk-openai-gateway-test-key', ANTHROPIC_BASE_URL: fake.url, OPENAI_BASE_URL: `${fake.url}/v1`, ORCHESTRATOR_CONFIG: join(dir, 'orchestrator.config.json'), ORCHESTRATOR_ROUTING: join(dir, 'model-routing.json') },
  });
  fake.reset();
  scriptAnswers();
  const { body } = await api(server, '/api/requirements', { body: { requirement: `${fizzbuzz.requirement}, on a budget` } });
  const task = await finished(server, body.taskId);
  assert.is(task.status, 'failed');
  assert.is(task.error.reason, 'E_BUDGET');
  assert.match(task.error.message, /2 model calls used of 2; raise budgets\.maxTurns/);
  assert.is(fake.requests.length, 2, 'exactly two calls were made');
});

test.run();
