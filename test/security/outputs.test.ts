// What generated code produces is bounded everywhere it goes (docs/security.md, "Output limits";
// docs/RELIABILITY.md rows output.*), through the real server whose implementer is a fake model:
// code that logs 20 MB and throws a 20 MB message as it loads leaves a task view and every /ws and
// /ws/inspect frame under 256 KB, grows the database by less than 1 MB, never sends the model a fix
// prompt past 256 KB, and yields a diagnostics bundle without a line past 8 KiB; then 300 dashboard
// clients resyncing and reading it keep the server under 500 MB of RSS.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { untarGz } from '../../runtime/cli/_tar.ts';
import { api, finished, startServer, tempDir, type StartedServer } from '../helpers/server.ts';
import { startFakeUpstream, type FakeUpstream } from '../fakes/upstream.ts';
import { expectFigure, reportMeasured } from '../helpers/reliability.ts';
import { runtime, show } from '../cli/_run.ts';

const KB = 1024;
const MARKER = /…cut \(\d+ bytes more\)/;
const REQUIREMENT = 'Write a module that explains its failure at length, with tests';
// The model's answer: a module that logs 20 MB and throws a 20 MB message as it loads (the report's
// own message, the fix prompt and the task's error all quote it), and a test that never gets to run.
const ANSWER = [
  '```js file=src/loud.js',
  "console.log('L'.repeat(2e7));",
  "throw new Error('M'.repeat(2e7));",
  'export function explain() { return 1; }',
  '```',
  '```js file=src/loud.test.js',
  "import { explain } from './loud.js';",
  "describe('loud', () => { it('explains', () => { expect(explain()).toBe(1); }); });",
  '```',
].join('\n');

let fake: FakeUpstream;
let server: StartedServer;

test.before(async () => {
  fake = await startFakeUpstream();
  const dir = tempDir('orch-outputs-');
  const routing = join(dir, 'model-routing.json');
  writeFileSync(routing, JSON.stringify({ routes: { default: ['anthropic/out-plan'], enhancer: ['anthropic/out-enhance'], analyst: ['anthropic/out-analyst'], implementer: ['anthropic/out-implement'] } }));
  fake.script(
    { match: { model: 'out-enhance' }, times: Infinity, respond: { text: 'Export explain() from src/loud.js; test it.' } },
    { match: { model: 'out-analyst' }, times: Infinity, respond: { text: '{"complexity":"simple","kind":"code","summary":"a loud failure"}' } },
    { match: { model: 'out-plan' }, times: Infinity, respond: { text: '1. explain' } },
    { match: { model: 'out-implement' }, times: Infinity, respond: { text: ANSWER } },
  );
  server = await startServer({
    dataDir: join(dir, 'data'),
    env: { ANTHROPIC_API_KEY: 'sk-ant-outputs-test', ANTHROPIC_BASE_URL: fake.url, ORCHESTRATOR_ROUTING: routing, ORCHESTRATOR_MAX_ITERATIONS: '3', ORCHESTRATOR_WORKERS: '1' },
  });
});

test.after(async () => {
  await server?.stop();
  await fake?.close();
});

/** The database's bytes on disk: the file and its write-ahead log. */
function dbBytes(dataDir: string): number {
  return ['orchestrator.db', 'orchestrator.db-wal'].map((name) => join(dataDir, name)).filter(existsSync).reduce((sum, file) => sum + statSync(file).size, 0);
}

function rssMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** A WebSocket that records the size of every frame it gets. */
function recorder(url: string): Promise<{ socket: WebSocket; largest: () => number; frames: () => number }> {
  const socket = new WebSocket(url, { maxPayload: 64 * 1024 * 1024 });
  let largest = 0;
  let count = 0;
  socket.on('message', (data: Buffer) => {
    count++;
    largest = Math.max(largest, data.length);
  });
  return new Promise((resolve, reject) => {
    socket.on('open', () => resolve({ socket, largest: () => largest, frames: () => count }));
    socket.on('error', reject);
  });
}

test('a task whose code throws and logs 20 MB: task view, frames, database, fix prompts and bundle stay bounded', async () => {
  assert.ok(existsSync(join(server.dataDir, 'orchestrator.db')), `the database is ${join(server.dataDir, 'orchestrator.db')}`);
  const dashboard = await recorder(server.wsUrl('/ws'));
  const inspector = await recorder(server.wsUrl('/ws/inspect'));
  const before = dbBytes(server.dataDir);
  const { body } = await api(server, '/api/requirements', { body: { requirement: REQUIREMENT } });
  inspector.socket.send(JSON.stringify({ type: 'subscribe', actor: `task:${body.taskId}` }));
  const task = await finished(server, body.taskId, 120_000);
  assert.is(task.status, 'failed', JSON.stringify(task).slice(0, 500));
  assert.is(task.error.reason, 'threw');
  assert.is(task.iteration, 3, 'the fix loop ran its three attempts');
  assert.match(task.error.message, MARKER, 'the error says how much was cut');
  assert.match(task.report.message, MARKER, "the report's message says how much was cut");
  assert.match(task.report.console.join('\n'), MARKER, 'the console says how much was cut');
  assert.ok(task.findings.length > 0 && task.findings.every((f: string) => f.length < 4 * KB), 'findings are short');

  const view = JSON.stringify(task).length;
  const rows = (await api(server, '/api/tasks?limit=1000')).body;
  await new Promise((r) => setTimeout(r, 200)); // the last frames of the final state
  const grew = dbBytes(server.dataDir) - before;
  const prompts = fake.requests.filter((r) => (r.body as { model?: string }).model === 'out-implement').map((r) => JSON.stringify(r.body).length);
  assert.is(prompts.length, 3, 'three implementer calls');
  const fixPrompts = fake.requests.filter((r) => (r.body as { model?: string }).model === 'out-implement').slice(1).map((r) => JSON.stringify(r.body));
  // Each fix prompt is bounded whatever the attempt before it ended with; one that threw (on a busy
  // machine an attempt can end 'timeout' instead, at the validator's 5 s) is fed back cut, with the marker.
  assert.ok(fixPrompts.some((p) => MARKER.test(p)), 'a fix prompt carries the cut failure, with the marker');
  assert.ok(fixPrompts.every((p) => p.length < 64 * KB), `every fix prompt is bounded: ${fixPrompts.map((p) => p.length).join(', ')} bytes`);
  reportMeasured('output.task', `task view ${(view / KB).toFixed(1)} KB; largest /ws frame ${(dashboard.largest() / KB).toFixed(1)} KB, /ws/inspect ${(inspector.largest() / KB).toFixed(1)} KB; database +${(grew / KB).toFixed(0)} KB; implementer prompts ${prompts.map((p) => `${(p / KB).toFixed(1)} KB`).join(', ')}`);
  assert.ok(view < 256 * KB, `the task view is ${view} bytes`);
  assert.ok(JSON.stringify(rows).length < 256 * KB, 'the task list is small');
  assert.ok(dashboard.frames() > 0 && inspector.frames() > 0, 'frames were recorded');
  assert.ok(dashboard.largest() < 256 * KB, `a /ws frame was ${dashboard.largest()} bytes`);
  assert.ok(inspector.largest() < 256 * KB, `a /ws/inspect frame was ${inspector.largest()} bytes`);
  assert.ok(grew < 1024 * KB, `the database grew by ${grew} bytes`);
  assert.ok(prompts.every((p) => p < 256 * KB), `implementer prompts: ${prompts.join(', ')} bytes`);
  dashboard.socket.close();
  inspector.socket.close();

  // The diagnostics bundle: no file past 256 KB, no log line past 8 KiB (+ the marker).
  const output = join(server.dataDir, 'diag.tar.gz');
  const run = await runtime(['diagnostics', '--data-dir', server.dataDir, '--output', output, '--json'], { timeoutMs: 60_000 });
  assert.is(run.code, 0, show(run));
  for (const entry of untarGz(readFileSync(output))) {
    assert.ok(entry.content.length < 256 * KB, `${entry.name} is ${entry.content.length} bytes`);
    for (const line of entry.content.toString('utf8').split('\n')) assert.ok(Buffer.byteLength(line) <= 8 * KB + 100, `${entry.name} has a line of ${line.length} characters`);
  }
  expectFigure('output.task', 'code that throws and logs 20 MB, three fix-loop attempts: task view, every /ws and /ws/inspect frame, every implementer prompt and every diagnostics file under 256 KB; database +1 MB at most; each cut marked "…cut (N bytes more)"');
});

test('300 dashboard clients resyncing and reading that task keep the server under 500 MB RSS', async () => {
  const id = (await api(server, '/api/tasks?limit=1')).body.tasks[0].id;
  const pid = server.proc.pid!;
  const start = rssMb(pid);
  writeFileSync(`/proc/${pid}/clear_refs`, '5'); // measure the peak from here
  const clients = await Promise.all(Array.from({ length: 300 }, () => recorder(server.wsUrl('/ws'))));
  const inspectors = await Promise.all(Array.from({ length: 100 }, () => recorder(server.wsUrl('/ws/inspect'))));
  for (const inspector of inspectors) inspector.socket.send(JSON.stringify({ type: 'subscribe', actor: `task:${id}` }));
  for (let round = 0; round < 3; round++) {
    for (const client of clients) client.socket.send(JSON.stringify({ type: 'resync' }));
    const views = await Promise.all(Array.from({ length: 300 }, () => fetch(`${server.url}/api/tasks/${id}`).then((r) => r.text())));
    assert.ok(views.every((v) => v.length < 256 * KB));
  }
  // Every client got its snapshots (a generous bound: the check is that they arrive, not how fast).
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && clients.some((c) => c.frames() < 4)) await new Promise((r) => setTimeout(r, 100));
  assert.ok(clients.every((c) => c.frames() >= 4), `frames per client: min ${Math.min(...clients.map((c) => c.frames()))}`);
  const { peak } = rssMb(pid);
  for (const client of [...clients, ...inspectors]) client.socket.close();
  reportMeasured('output.resync', `RSS ${start.rss.toFixed(0)} MB before, peak ${peak.toFixed(0)} MB with 300 /ws clients resyncing 3 times, 100 inspectors and 900 task reads`);
  assert.ok(peak < 500, `the server peaked at ${peak.toFixed(0)} MB`);
  expectFigure('output.resync', '300 /ws clients resyncing 3 times, 100 /ws/inspect subscribers and 900 reads of the task: server peak RSS under 500 MB');
});

test.run();
