// A user's view: the real `runtime start` process, HTTP and /ws, demo transcripts, real sandbox.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { api, finished as finishedOn, startServer, waitFor, watch } from '../helpers/server.ts';
import type { StartedServer } from '../helpers/server.ts';

const ORDER = ['queued', 'enhancing', 'analyzing', 'reasoning', 'implementing', 'validating', 'reviewing', 'integrating', 'completed'];

let server: StartedServer;
let samples: Array<{ id: string; requirement: string }>;

test.before(async () => {
  server = await startServer();
  samples = (await api(server, '/api/demo')).body.samples;
});
test.after(async () => server && (await server.stop()));

const finished = (id: string) => finishedOn(server, id);

function sample(id: string): string {
  const found = samples.find((s) => s.id === id);
  assert.ok(found, `demo sample ${id} is listed by GET /api/demo`);
  return found!.requirement;
}

test('GET /api/health answers and says demo mode', async () => {
  const { status, body } = await api(server, '/api/health');
  assert.is(status, 200);
  assert.is(body.status, 'ok');
  assert.is(body.demo, true);
  assert.ok(samples.length >= 3, 'at least three bundled samples');
});

test('a demo requirement flows through every agent and stage, watched live over /ws', async () => {
  const ws = await watch(server);
  await waitFor('first snapshot', async () => ws.frames.length > 0);
  const first = ws.frames[0];
  assert.is(first.type, 'snapshot');
  assert.is(first.state.demo, true);
  const before = first.state.agents;

  const submitted = await api(server, '/api/requirements', { body: { requirement: sample('fizzbuzz'), priority: 7 } });
  assert.is(submitted.status, 202);
  const id = submitted.body.taskId;
  const task = await finished(id);
  assert.is(task.status, 'completed', JSON.stringify(task.error));
  // The API can say "completed" before the hub's last batched frame reaches this socket: wait for that
  // frame (the task completed, each agent that served it ready again), not for a fixed time.
  const served = ['enhancer', 'analyst', 'implementer', 'validator', 'integrator'].map((role) => Object.values(before as Record<string, any>).find((a) => a.role === role).name as string);
  const sent = () => ws.frames.filter((f) => f.type === 'update').flatMap((f) => f.events);
  const backToReady = (name: string) => {
    const seen = sent().filter((e) => e.kind === 'agent' && e.agent.name === name).map((e) => e.agent);
    const working = seen.findIndex((a) => a.status === 'working' && a.taskId === id);
    return working >= 0 && seen.slice(working).some((a) => a.status === 'ready');
  };
  await waitFor('the frames of the completed task and its agents ready again', async () =>
    sent().some((e) => e.kind === 'task' && e.task.id === id && e.task.stage === 'completed') && served.every(backToReady)).catch(() => {});
  ws.close();

  // Frames: consecutive sequence numbers, so nothing was lost in batching.
  const updates = ws.frames.filter((f) => f.type === 'update');
  updates.forEach((f, i) => assert.is(f.seq, first.seq + i + 1, 'seq grows by one per frame'));
  const events = updates.flatMap((f) => f.events);

  // The task went through the stages in pipeline order.
  const stages = events.filter((e) => e.kind === 'task' && e.task.id === id).map((e) => e.task.stage);
  const distinct = stages.filter((s, i) => s !== stages[i - 1]);
  for (const required of ['enhancing', 'analyzing', 'implementing', 'validating', 'integrating', 'completed']) {
    assert.ok(distinct.includes(required), `stage ${required} seen (saw ${distinct.join(' → ')})`);
  }
  const positions = distinct.map((s) => ORDER.indexOf(s));
  assert.equal(positions, [...positions].sort((a, b) => a - b), `stages in order: ${distinct.join(' → ')}`);

  // Every agent that served went working with this task and back to ready, one more done.
  for (const role of ['enhancer', 'analyst', 'implementer', 'validator', 'integrator']) {
    const name = Object.values(before as Record<string, any>).find((a) => a.role === role).name;
    const seen = events.filter((e) => e.kind === 'agent' && e.agent.name === name).map((e) => e.agent);
    const working = seen.findIndex((a) => a.status === 'working' && a.taskId === id);
    assert.ok(working >= 0, `${name} went working on ${id}`);
    const ready = seen.slice(working).find((a) => a.status === 'ready');
    assert.ok(ready, `${name} came back to ready`);
    assert.ok(ready.done >= before[name].done + 1, `${name} done count incremented`);
  }

  // Files landed in workspace/<task-id>/ and the sandbox report that let them in passed every test.
  assert.ok(task.files.length >= 2, 'files listed on the task');
  for (const file of task.files) assert.ok(existsSync(join(server.dataDir, 'workspace', file)), `${file} exists in the workspace`);
  assert.is(task.report.ok, true);
  assert.ok(task.report.tests.length > 0 && task.report.tests.every((t: any) => t.ok), 'generated tests passed in isolated-vm');
  assert.ok(task.messages.some((m: any) => m.type === 'validation.request'), 'task message log holds the bus messages');
  const archive = (await api(server, '/api/archive')).body.entries;
  assert.ok(archive.some((e: any) => e.taskId === id), 'completed task archived');
  const listed = (await api(server, '/api/workspace/files')).body.files.map((f: any) => f.path);
  assert.ok(task.files.every((f: string) => listed.includes(f)), 'GET /api/workspace/files lists them');
  const content = await api(server, `/api/workspace/files/${task.files[0]}`);
  assert.is(content.status, 200);
});

test('the fix loop repairs code whose first version fails its own tests', async () => {
  const { body } = await api(server, '/api/requirements', { body: { requirement: sample('csv-parser') } });
  const task = await finished(body.taskId);
  assert.is(task.status, 'completed', JSON.stringify(task.error));
  assert.ok(task.iteration >= 2, `needed more than one implementer attempt (iteration ${task.iteration})`);
  const implementing = task.stages.filter((s: any) => s.stage === 'implementing').length;
  assert.ok(implementing >= 2, 'implementing entered again after a failed validation');
  assert.is(task.report.ok, true);
});

test('GET /api/agents lists every agent with status and counts', async () => {
  const { status, body } = await api(server, '/api/agents');
  assert.is(status, 200);
  const roles = body.agents.map((a: any) => a.role);
  for (const role of ['enhancer', 'analyst', 'reasoner', 'implementer', 'validator', 'integrator']) assert.ok(roles.includes(role), role);
  for (const agent of body.agents) assert.type(agent.done, 'number');
});

test('a requirement the demo cannot answer is refused before a task exists (422), naming the samples and how to configure a model', async () => {
  const before = (await api(server, '/api/tasks')).body.tasks.length;
  const { status, body } = await api(server, '/api/requirements', { body: { requirement: 'Write an operating system kernel' } });
  assert.is(status, 422);
  assert.is(body.error.code, 'E_INVALID');
  assert.equal(body.error.fields, { requirement: 'not a demo sample' });
  for (const id of ['csv-parser', 'fizzbuzz', 'svg-bar-chart']) assert.ok(body.error.message.includes(JSON.stringify(sample(id))), `names ${id}`);
  assert.match(body.error.message, /ANTHROPIC_API_KEY, OPENAI_API_KEY or DEEPSEEK_API_KEY/);
  assert.is((await api(server, '/api/tasks')).body.tasks.length, before, 'no task was made');
  // Matching is as the transcripts match: case, spacing and a final full stop do not count.
  const loose = await api(server, '/api/requirements', { body: { requirement: `  ${sample('fizzbuzz').toUpperCase()}. ` } });
  assert.is(loose.status, 202);
  assert.is((await finished(loose.body.taskId)).status, 'completed');
});

test('cancel stops a task; retry runs it again', async () => {
  const { body } = await api(server, '/api/requirements', { body: { requirement: sample('csv-parser') } });
  const cancelled = await api(server, `/api/tasks/${body.taskId}/cancel`, { method: 'POST' });
  // Either we were fast enough to cancel, or it had reached integrating or completed: both are honest answers.
  assert.ok(cancelled.status === 200 || cancelled.status === 409, JSON.stringify(cancelled.body));
  const done = await finished(body.taskId);
  if (done.status === 'completed') return;
  assert.is(done.status, 'cancelled');
  const retried = await api(server, `/api/tasks/${body.taskId}/retry`, { method: 'POST' });
  assert.is(retried.status, 202);
  assert.is(retried.body.attempt, 2);
  const again = await finished(body.taskId);
  assert.is(again.status, 'completed');
});

test.run();
