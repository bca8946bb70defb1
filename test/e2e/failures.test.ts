// What goes wrong, from the outside: bad input, a crashing plugin, a broken plugin, code that never
// passes, and a SIGKILL mid-task.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { api, finished, startServer, tempDir, waitFor } from '../helpers/server.ts';

const PLUGIN_IMPORT = new URL('../../runtime/plugin/mod.ts', import.meta.url).href;

function pluginDir(plugins: Record<string, string>): string {
  const dir = tempDir('orch-plugins-');
  for (const [name, source] of Object.entries(plugins)) {
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, 'mod.ts'), source);
  }
  return dir;
}

function filesUnder(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name).slice(dir.length + 1)).sort();
  } catch {
    return [];
  }
}

test('bad inputs get a 4xx JSON error naming the field, and nothing is lost', async () => {
  const server = await startServer();
  try {
    const cases: Array<[string, { raw?: string; body?: unknown; headers?: Record<string, string> }, number, RegExp]> = [
      ['empty body', { raw: '' }, 400, /empty/],
      ['not JSON', { raw: '{"requirement": ' }, 400, /not valid JSON/],
      ['wrong content-type', { raw: 'requirement=x', headers: { 'content-type': 'text/plain' } }, 415, /content-type/],
      ['missing requirement', { body: { priority: 3 } }, 400, /requirement .*required/],
      ['blank requirement', { body: { requirement: '   ' } }, 400, /requirement must not be empty/],
      ['requirement not a string', { body: { requirement: 42 } }, 400, /requirement must be a string/],
      ['priority out of range', { body: { requirement: 'x', priority: 99 } }, 400, /priority must be at most 10 \(got 99\)/],
      ['unknown field', { body: { requirement: 'x', prio: 1 } }, 400, /unknown field\(s\) prio/],
      ['oversized body', { body: { requirement: 'x'.repeat(70_000) } }, 413, /over the 65536-byte limit/],
      ['oversized requirement', { body: { requirement: 'x'.repeat(20_001) } }, 400, /at most 20000 characters/],
    ];
    for (const [name, init, status, message] of cases) {
      const response = await api(server, '/api/requirements', { method: 'POST', ...init });
      assert.is(response.status, status, `${name}: status`);
      assert.type(response.body.error?.code, 'string', `${name}: coded error`);
      assert.match(response.body.error.message, message, `${name}: ${response.body.error.message}`);
    }
    const unknown = await api(server, '/api/tasks/t-nope');
    assert.is(unknown.status, 404);
    assert.match(unknown.body.error.message, /task "t-nope" does not exist/);
    assert.is((await api(server, '/api/tasks/t-nope/cancel', { method: 'POST' })).status, 404);
    assert.is((await api(server, '/api/tasks', { method: 'DELETE' })).status, 405);
    assert.is((await api(server, '/api/workspace/files/..%2F..%2Fetc%2Fpasswd')).status, 400);
    assert.is((await api(server, '/api/tasks?limit=abc')).status, 400);

    // Nothing was created by the bad requests, and a good one still works.
    assert.is((await api(server, '/api/tasks')).body.tasks.length, 0);
    const ok = await api(server, '/api/requirements', { body: { requirement: 'Write a fizzbuzz module with tests' } });
    assert.is(ok.status, 202);
    assert.is((await api(server, '/api/tasks')).body.tasks.length, 1);
  } finally {
    await server.stop();
  }
});

test('a plugin with invalid config is reported with its name and field; the rest load and serve', async () => {
  const dir = tempDir('orch-config-');
  const configPath = join(dir, 'orchestrator.config.json');
  writeFileSync(configPath, JSON.stringify({ plugins: { 'style-reviewer': { maxLineLength: 'x' } } }));
  const server = await startServer({ env: { ORCHESTRATOR_CONFIG: configPath } });
  try {
    const { body } = await api(server, '/api/agents');
    const failure = body.failures.find((f: any) => f.name === 'style-reviewer');
    assert.ok(failure, JSON.stringify(body.failures));
    assert.match(failure.field, /config\.maxLineLength/);
    assert.match(failure.message, /plugin style-reviewer: config\.maxLineLength.*\(got "x"\).*orchestrator\.config\.json/);
    assert.is(body.agents.length, 6, 'the six built-ins still serve');
    assert.match(server.output(), /plugin not loaded: plugin style-reviewer/);
  } finally {
    await server.stop();
  }
  writeFileSync(configPath, '{ "workers": ');
  const refused = await startServer({ env: { ORCHESTRATOR_CONFIG: configPath } }).then(() => null, (error) => String(error));
  assert.match(refused ?? "", /orchestrator\.config\.json: not valid JSON at line 1, column 14: Unexpected end of JSON input/);
});

test('code that never passes its tests fails the task with the sandbox reason, never completed', async () => {
  const transcripts = tempDir('orch-transcripts-');
  const broken = '```js file=src/add.js\nexport function add(a, b) { return a - b; }\n```\n```js file=src/add.test.js\nimport { add } from "./add.js";\ndescribe("add", () => { it("adds", () => { expect(add(2, 3)).toBe(5); }); });\n```';
  writeFileSync(join(transcripts, 'adder.json'), JSON.stringify({
    id: 'adder',
    title: 'An adder that never works',
    requirement: 'Write an add function with tests',
    turns: {
      enhancer: ['Export add(a, b) returning the sum; test it.'],
      analyst: ['{"complexity":"simple","kind":"code","summary":"add two numbers"}'],
      implementer: [broken],
    },
  }));
  const server = await startServer({ env: { ORCHESTRATOR_PROVIDER: `transcripts:${transcripts}` } });
  try {
    const { body } = await api(server, '/api/requirements', { body: { requirement: 'Write an add function with tests' } });
    const task = await finished(server, body.taskId);
    assert.is(task.status, 'failed');
    assert.is(task.error.reason, 'tests-failed');
    assert.match(task.error.message, /validation failed after 3 attempt\(s\): tests-failed/);
    assert.match(task.error.message, /expected -1 to be 5/);
    assert.is(task.report.ok, false);
    assert.is(task.files.length, 0);
    assert.equal(filesUnder(join(server.dataDir, 'workspace')), [], 'no file reached the workspace');
  } finally {
    await server.stop();
  }
});

test('a plugin that throws on every message is restarted with backoff, then marked failed; the server keeps serving', async () => {
  const plugins = pluginDir({
    'always-throws': `import { defineAgent } from '${PLUGIN_IMPORT}';
export default defineAgent({ name: 'always-throws', version: '1.0.0', role: 'enhancer', accepts: ['enhance.request'],
  async handle() { throw new TypeError('this plugin is broken on purpose'); } });`,
    'bad-version': `import { defineAgent } from '${PLUGIN_IMPORT}';
const agent = defineAgent({ name: 'bad-version', version: '1.0.0', role: 'linter', accepts: ['enhance.request'], async handle() { return { prompt: '' }; } });
export default { ...agent, version: 'one' };`,
  });
  const server = await startServer({ env: { ORCHESTRATOR_PLUGIN_DIR: plugins } });
  try {
    const agents = (await api(server, '/api/agents')).body;
    const failure = agents.failures.find((f: any) => f.name === 'bad-version');
    assert.ok(failure, 'the broken plugin is reported');
    assert.is(failure.field, 'version');
    assert.match(failure.message, /plugin bad-version: version is "one": use semver/);
    assert.ok(agents.agents.some((a: any) => a.name === 'always-throws'), 'the other plugins still loaded');

    const { body } = await api(server, '/api/requirements', { body: { requirement: 'Write a fizzbuzz module with tests' } });
    const task = await finished(server, body.taskId);
    assert.is(task.status, 'failed');
    assert.is(task.error.reason, 'E_AGENT_FAILED');
    assert.match(task.error.message, /agent always-throws crashed 5 times .* marked failed; last error: this plugin is broken on purpose/);
    const agent = (await api(server, '/api/agents')).body.agents.find((a: any) => a.name === 'always-throws');
    assert.is(agent.status, 'failed');
    assert.is(agent.restarts, 4, 'restarted four times before the fifth crash escalated');
    const log = server.output();
    assert.match(log, /agent always-throws#\d+ crashed: this plugin is broken on purpose; restarting it with backoff/);

    const health = await api(server, '/api/health');
    assert.is(health.status, 503, 'health says degraded while an agent is failed');
    assert.equal(health.body.agents.failed, ['always-throws']);
    assert.is((await api(server, '/api/tasks')).status, 200, 'still serving');
  } finally {
    await server.stop();
  }
});

test('SIGKILL mid-task: after a restart the task completes, with no duplicate or partial files', async () => {
  const dataDir = tempDir();
  // A second per model answer keeps the task in implementing for a second at a time (twice: the fix
  // loop), so the kill lands there however slowly this machine polls; 250 ms raced a busy machine.
  const env = { ORCHESTRATOR_DEMO_DELAY_MS: '1000' };
  let server = await startServer({ dataDir, env });
  const samples = (await api(server, '/api/demo')).body.samples;
  const requirement = samples.find((s: any) => s.id === 'csv-parser').requirement;
  const { body } = await api(server, '/api/requirements', { body: { requirement } });
  const id = body.taskId;
  const stageAtKill = await waitFor('task to reach the implementer', async () => {
    const { body: t } = await api(server, `/api/tasks/${id}`);
    return ['implementing', 'validating'].includes(t.stage) ? t.stage : null;
  });
  await server.kill();
  server = await startServer({ dataDir, env });
  try {
    const task = await finished(server, id, 60_000);
    assert.is(task.status, 'completed', `killed at ${stageAtKill}; ${JSON.stringify(task.error)}`);
    const files = filesUnder(join(dataDir, 'workspace', id));
    assert.equal(files, [...task.files].map((f: string) => f.slice(id.length + 1)).sort(), 'exactly the accepted files');
    assert.not.ok(files.some((f) => f.endsWith('.tmp')), 'no partial files');
    assert.ok(task.stages.length > 0);
    assert.is(new Set(files).size, files.length);
  } finally {
    await server.stop();
  }
});

test.run();
