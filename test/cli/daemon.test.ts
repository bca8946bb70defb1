// The daemon's life through the real `runtime` binary: start --daemon, status, submit --wait (demo
// requirement: exit 0 and the files; unknown requirement: exit 1 with E_LLM), logs --follow, tasks,
// inspect, agents, health, stop. Moderately slow (~10 s): every step is a subprocess.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { alive, cleanup, runtime, serverJson, show, spawnRuntime, tempDir } from './_run.ts';
import { waitFor } from '../helpers/server.ts';

const dataDir = join(tempDir('orch-cli-daemon-'), 'data');
const cwd = tempDir('orch-cli-cwd-');
const d = ['--data-dir', dataDir];
let pid = 0;
let doneId = '';

test.after(() => cleanup(dataDir));

test('start --daemon detaches, writes pid, port and server.json, logs to logs/server.log', async () => {
  const run = await runtime(['start', '--daemon', '--port', '0', ...d, '--json'], { cwd });
  assert.is(run.code, 0, show(run));
  const out = JSON.parse(run.stdout);
  const info = serverJson(dataDir)!;
  pid = info.pid;
  assert.is(out.pid, info.pid);
  assert.ok(alive(pid), 'the daemon outlives the command that started it');
  assert.is(readFileSync(join(dataDir, 'server.pid'), 'utf8').trim(), String(pid));
  assert.is(Number(readFileSync(join(dataDir, 'server.port'), 'utf8')), info.port);
  assert.ok(info.port > 0);
  assert.match(readFileSync(join(dataDir, 'logs/server.log'), 'utf8'), /"level":"info","msg":"Orchestrator .* serving http/);

  const again = await runtime(['start', '--daemon', '--port', '0', ...d], { cwd });
  assert.is(again.code, 1, show(again));
  assert.match(again.stderr, `a server already runs for ${dataDir} (pid ${pid}`);
});

test('status shows pid, port, uptime, version, agents, queue and cache; --json too', async () => {
  const run = await runtime(['status', ...d], { cwd });
  assert.is(run.code, 0, show(run));
  for (const text of [`pid     ${pid}`, 'uptime', 'Orchestrator 0.1.0', 'queue   0 queued, 0 running (at most 6 at once)', 'cache', 'implementer', 'DEMO MODE']) assert.match(run.stdout, text);
  assert.not.match(run.stdout, '\x1b[', 'no colour codes when stdout is not a terminal');
  const json = JSON.parse((await runtime(['status', ...d, '--json'], { cwd })).stdout);
  assert.is(json.pid, pid);
  assert.is(json.running, true);
  assert.is(json.queue.maxRunning, 6, "3 × --workers 2 tasks in flight");
  assert.type(json.cache.hitRate, 'number');
  assert.ok(json.agents.some((a: { role: string; status: string }) => a.role === 'validator' && a.status === 'ready'), JSON.stringify(json.agents));
});

test('submit --wait on a demo requirement: stage lines, exit 0, the files listed exist; logs --follow sees the task', async () => {
  const follow = spawnRuntime(['logs', '--follow', '--lines', '0', ...d], { cwd });
  try {
    const run = await runtime(['submit', 'Write a fizzbuzz module with tests', '--wait', ...d], { cwd });
    assert.is(run.code, 0, show(run));
    doneId = /submitted (t-[\w-]+)/.exec(run.stdout)![1];
    // Not a TTY: plain lines, one per stage, in order.
    const stages = [...run.stdout.matchAll(/^\[\s*[\d.]+ s\] (\w+)/gm)].map((m) => m[1]);
    assert.ok(stages.indexOf('implementing') > stages.indexOf('analyzing') && stages.indexOf('integrating') > stages.indexOf('validating'), stages.join(' '));
    assert.match(run.stdout, `${doneId} completed`);
    const files = [...run.stdout.matchAll(/^  (\/\S+)$/gm)].map((m) => m[1]);
    assert.ok(files.length >= 2, run.stdout);
    for (const file of files) {
      assert.ok(file.startsWith(join(dataDir, 'workspace', doneId)), file);
      assert.ok(existsSync(file), `${file} exists`);
    }
    assert.ok(existsSync(join(dataDir, 'completed_archive', doneId)), 'archived');
    await waitFor('logs --follow to show the task completing', async () => follow.output().includes(`task ${doneId} completed`), 10_000);
    assert.match(follow.output(), `task ${doneId} running (implementing)`);
  } finally {
    follow.child.kill('SIGINT');
  }
});

test('submit of a requirement the demo cannot answer: refused before a task exists, naming the samples and how to configure a model; runtime demo lists them', async () => {
  const before = JSON.parse((await runtime(['tasks', 'list', ...d, '--json'], { cwd })).stdout).tasks.length;
  const run = await runtime(['submit', 'Write a quantum chess engine', '--wait', ...d], { cwd });
  assert.is(run.code, 1, show(run));
  assert.match(run.stderr, /demo mode answers only its sample requirements, and this is not one: submit one of "Build a small CSV parser with tests", "Write a fizzbuzz module with tests"/);
  assert.match(run.stderr, /set ANTHROPIC_API_KEY, OPENAI_API_KEY or DEEPSEEK_API_KEY .* local OpenAI-compatible server/);
  assert.not.match(run.stdout, /submitted t-/);
  assert.is(JSON.parse((await runtime(['tasks', 'list', ...d, '--json'], { cwd })).stdout).tasks.length, before, 'no task was made');
  const demo = await runtime(['demo', '--json']);
  assert.equal(JSON.parse(demo.stdout).map((s: { requirement: string }) => s.requirement), ['Build a small CSV parser with tests', 'Write a fizzbuzz module with tests', 'Draw an SVG bar chart of monthly sales']);
});

test('tasks list/show, inspect and agents print the server state (text and --json)', async () => {
  const list = JSON.parse((await runtime(['tasks', 'list', ...d, '--json'], { cwd })).stdout);
  assert.is(list.tasks.length, 1);
  const show1 = await runtime(['tasks', 'show', doneId, ...d], { cwd });
  assert.is(show1.code, 0, show(show1));
  assert.match(show1.stdout, /completed \(completed\)/);
  const inspect = await runtime(['inspect', doneId, ...d], { cwd });
  assert.match(inspect.stdout, /state history:[\s\S]*→ enhancing[\s\S]*→ implementing[\s\S]*→ validating[\s\S]*→ completed/);
  assert.match(inspect.stdout, /task:t-[\w-]+ → role:implementer: implementation.request/);
  const missing = await runtime(['tasks', 'show', 't-nope', ...d], { cwd });
  assert.is(missing.code, 1);
  assert.match(missing.stderr, 'task "t-nope" does not exist: list tasks with runtime tasks');
  assert.not.match(missing.stderr, /\/api\//, 'the CLI names its commands, not HTTP paths');
  const retry = await runtime(['tasks', 'retry', doneId, ...d], { cwd });
  assert.is(retry.code, 1, 'a completed task cannot be retried');
  assert.match(retry.stderr, 'only failed or cancelled tasks can be retried');
  const agents = JSON.parse((await runtime(['agents', ...d, '--json'], { cwd })).stdout);
  assert.ok(agents.agents.find((a: { name: string; done: number }) => a.name === 'implementer')!.done >= 1);
});

test('health: one line per check, exit 0 with a running server', async () => {
  const run = await runtime(['health', ...d], { cwd, timeoutMs: 30_000 });
  assert.is(run.code, 0, show(run));
  for (const name of ['config', 'server', 'ws', 'agents', 'store', 'workspace', 'sandbox']) assert.match(run.stdout, new RegExp(`^PASS  ${name}`, 'm'));
  assert.match(run.stdout, /^WARN  providers .*demo mode[\s\S]*fix: set ANTHROPIC_API_KEY/m);
});

test('stop: the server exits gracefully, its files go, status then says it is not running (exit 1)', async () => {
  const run = await runtime(['stop', ...d, '--json'], { cwd });
  assert.is(run.code, 0, show(run));
  const out = JSON.parse(run.stdout);
  assert.equal([out.stopped, out.forced, out.pid], [true, false, pid]);
  assert.not.ok(alive(pid));
  assert.not.ok(existsSync(join(dataDir, 'server.json')));
  assert.not.ok(existsSync(join(dataDir, 'server.pid')));
  const status = await runtime(['status', ...d], { cwd });
  assert.is(status.code, 1);
  assert.match(status.stdout, 'no server runs for');
  const health = await runtime(['health', ...d, '--json'], { cwd, timeoutMs: 30_000 });
  assert.is(health.code, 1, 'health fails without a server');
  const server = JSON.parse(health.stdout).checks.find((c: { name: string }) => c.name === 'server');
  assert.match(server.fix, 'runtime start --daemon');
});

test('submit --wait shows a failed validation as it was (✗ with the failing count), then the fix attempt', async () => {
  const run = await runtime(['submit', 'Build a small CSV parser with tests', '--wait', ...d], { cwd, timeoutMs: 60_000 });
  assert.is(run.code, 0, show(run));
  const lines = run.stdout.split('\n');
  const failed = lines.findIndex((l) => /\] validating ✗ \d+ of \d+ tests failed$/.test(l));
  assert.ok(failed > 0, run.stdout);
  assert.match(lines[failed + 1], /\] implementing \(fix attempt 2\/3\)$/);
  assert.not.ok(lines.slice(0, failed).some((l) => /validating ✓/.test(l)), 'no ✓ on the validation that failed');
});

test.run();
