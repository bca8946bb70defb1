import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { builtinAgents, parseImplementation } from '../../agents/mod.ts';
import { createBus } from '../../runtime/bus/mod.ts';
import { createFunctionProvider } from '../../runtime/llm/mod.ts';
import type { Llm, LlmRequest } from '../../runtime/plugin/mod.ts';
import { ErrorCode, RuntimeError } from '../../runtime/protocol/mod.ts';
import type { Analysis, Implementation, SandboxReport } from '../../runtime/protocol/mod.ts';
import { startSupervisor } from '../../runtime/supervisor/mod.ts';
import { createWorkspace } from '../../runtime/workspace/mod.ts';
import { createSandbox } from '../../sandbox/mod.ts';
import { rejects } from '../helpers/errors.ts';

// One bus, one supervisor and one real sandbox for the whole file; the model is swapped per test.
const base = mkdtempSync(join(tmpdir(), 'orch-agents-'));
const workspace = createWorkspace({ root: join(base, 'workspace'), archiveRoot: join(base, 'archive') });
const sandbox = createSandbox();
const requests: LlmRequest[] = [];
let model: Llm = createFunctionProvider('unset', () => '');
const llm: Llm = {
  complete(request) {
    requests.push(request);
    return model.complete(request);
  },
};
function answer(fn: (request: LlmRequest) => string): void {
  model = createFunctionProvider('fake', fn);
}
const logs: string[] = [];
const bus = createBus();
const supervisor = startSupervisor({
  bus,
  plugins: builtinAgents.map((plugin) => ({ plugin, source: 'agents', builtin: true, config: {} })),
  capabilities: { llm, sandbox, workspace, log: (level, text) => void logs.push(`${level} ${text}`) },
});

function agent(name: string) {
  const state = supervisor.agents().find((a) => a.name === name);
  assert.ok(state, `agent ${name} should be running`);
  return state!;
}

const analysis: Analysis = { complexity: 'simple', kind: 'code', summary: 'Adds numbers.' };
const implementationRequest = { requirement: 'Add numbers', prompt: 'Export add(a, b).', analysis, plan: null, feedback: null, previous: null };

const ADD = '```js file=src/add.js\nexport function add(a, b) {\n  return a + b;\n}\n```';
const ADD_TEST = (expected: number) =>
  `\`\`\`js file=test/add.test.js\nimport { add } from '../src/add.js';\ndescribe('add', () => {\n  it('adds', () => {\n    expect(add(2, 3)).toBe(${expected});\n  });\n});\n\`\`\``;

test('every built-in agent runs under the supervisor and serves its role', () => {
  assert.equal(
    supervisor.agents().map((a) => [a.name, a.role, a.version, a.status]),
    ['enhancer', 'analyst', 'reasoner', 'implementer', 'validator', 'integrator'].map((n) => [n, n, '1.0.0', 'ready']),
  );
});

test('enhancer asks its role with the requirement as meta and returns the trimmed spec', async () => {
  answer(() => '  Export add(a, b) returning a + b.  ');
  requests.length = 0;
  const result = await bus.send('role:enhancer', 'enhance.request', { requirement: 'Add numbers' }, { taskId: 't-enh' });
  assert.equal(result, { prompt: 'Export add(a, b) returning a + b.' });
  assert.is(requests[0].role, 'enhancer');
  assert.is(requests[0].taskId, 't-enh');
  assert.equal(requests[0].meta, { requirement: 'Add numbers', attempt: 0 });
  assert.ok(requests[0].system.includes('testable'));
  answer(() => '   \n ');
  await rejects(bus.send('role:enhancer', 'enhance.request', { requirement: 'Add numbers' }), ErrorCode.LlmOutput, 'enhancer', 'empty');
  assert.is(agent('enhancer').status, 'ready');
});

test('analyst reads JSON inside prose and fences, and normalises case', async () => {
  answer(() => 'Sure!\n```json\n{"complexity": "Complex", "kind": "graphic", "summary": "Draws {bars}.", "extra": 1}\n```\nDone.');
  const result = await bus.send('role:analyst', 'analysis.request', { requirement: 'r', prompt: 'p' });
  assert.equal(result, { complexity: 'complex', kind: 'graphic', summary: 'Draws {bars}.' });
});

test('analyst: an answer that is not the JSON is E_LLM_OUTPUT and the agent stays ready', async () => {
  answer(() => 'I think this task is simple and about code.');
  await rejects(
    bus.send('role:analyst', 'analysis.request', { requirement: 'r', prompt: 'p' }),
    ErrorCode.LlmOutput,
    "analyst: the model's answer is not the JSON the analysis needs",
    'answer began: «I think this task is simple',
  );
  answer(() => '{"complexity": "medium", "kind": "code", "summary": "x"}');
  await rejects(bus.send('role:analyst', 'analysis.request', { requirement: 'r', prompt: 'p' }), ErrorCode.LlmOutput, 'complexity', '"medium"');
  answer(() => '{"complexity": "simple", "kind": "code", summary: oops}');
  await rejects(bus.send('role:analyst', 'analysis.request', { requirement: 'r', prompt: 'p' }), ErrorCode.LlmOutput, 'not valid JSON');
  const state = agent('analyst');
  assert.is(state.status, 'ready');
  assert.is(state.restarts, 0);
  assert.is(state.failed, 3);
});

test('a provider failure reaches the task as E_LLM without crashing the agent', async () => {
  answer(() => {
    throw new Error('connection refused');
  });
  await rejects(bus.send('role:reasoner', 'reasoning.request', { requirement: 'r', prompt: 'p', analysis }), ErrorCode.Llm, 'connection refused');
  answer(() => '1. Write add.\n2. Test it.');
  assert.equal(await bus.send('role:reasoner', 'reasoning.request', { requirement: 'r', prompt: 'p', analysis }), { plan: '1. Write add.\n2. Test it.' });
  assert.is(agent('reasoner').restarts, 0);
});

test('implementer parses file blocks into files, entry, tests and notes', async () => {
  answer(() => `Here you go.\n\n${ADD_TEST(5)}\n\n${ADD}\n\n\`\`\`js path=src/util/id.js\nexport const id = (x) => x;\n\`\`\`\n\n\`\`\`js\n// file: ./src/b.mjs\nexport const b = 2;\n\`\`\`\nAll done.`);
  requests.length = 0;
  const result = await bus.send('role:implementer', 'implementation.request', implementationRequest);
  assert.equal(result.files.map((f) => f.path), ['test/add.test.js', 'src/add.js', 'src/util/id.js', 'src/b.mjs']);
  assert.is(result.entry, 'src/add.js');
  assert.equal(result.tests, ['test/add.test.js']);
  assert.is(result.files[3].content, 'export const b = 2;\n');
  assert.is(result.notes, 'Here you go.\n\nAll done.');
  assert.is(requests[0].meta?.attempt, 0);
  assert.ok(requests[0].system.includes('file=src/fizzbuzz.js'));
});

test('implementer with feedback sends the previous files and failures, and asks for that attempt', async () => {
  answer(() => `${ADD}\n${ADD_TEST(5)}`);
  requests.length = 0;
  const previous = [{ path: 'src/add.js', content: 'export function add(a, b) { return a - b; }\n' }];
  const report: SandboxReport = { ok: false, reason: 'tests-failed', message: '1 of 1 tests failed' };
  await bus.send('role:implementer', 'implementation.request', {
    ...implementationRequest,
    previous,
    feedback: { iteration: 2, findings: ['add > adds: expected -1 to be 5'], report },
  });
  const user = requests[0].messages[0].content;
  assert.is(requests[0].meta?.attempt, 2);
  assert.ok(user.includes('return a - b;'), user);
  assert.ok(user.includes('add > adds: expected -1 to be 5'), user);
  assert.ok(user.includes('complete corrected set of files'), user);
});

test('implementer: unsafe, duplicate or missing paths are E_LLM_OUTPUT naming the problem', async () => {
  const send = () => bus.send('role:implementer', 'implementation.request', implementationRequest);
  answer(() => '```js file=../x.js\nexport {};\n```');
  await rejects(send(), ErrorCode.LlmOutput, 'implementer', 'unsafe', '"../x.js"');
  answer(() => `${ADD}\n${ADD}`);
  await rejects(send(), ErrorCode.LlmOutput, '"src/add.js" appears twice');
  answer(() => 'function add(a, b) { return a + b; }');
  await rejects(send(), ErrorCode.LlmOutput, 'no files found', 'answer began: «function add');
  answer(() => ADD_TEST(5));
  await rejects(send(), ErrorCode.LlmOutput, 'no module file');
  answer(() => '```js file=src/a.js\nexport const a = 1;');
  await rejects(send(), ErrorCode.LlmOutput, 'never closed');
  assert.is(agent('implementer').restarts, 0);
});

function implementation(text: string): Implementation {
  return parseImplementation(text);
}

test('validator runs the tests in the real sandbox: passing and failing runs are both data', async () => {
  const passing = await bus.send('role:validator', 'validation.request', { requirement: 'r', implementation: implementation(`${ADD}\n${ADD_TEST(5)}`) });
  assert.is(passing.report.ok, true, JSON.stringify(passing.report));
  assert.equal(passing.findings, []);
  const failing = await bus.send('role:validator', 'validation.request', { requirement: 'r', implementation: implementation(`${ADD}\n${ADD_TEST(6)}`) });
  assert.is(failing.report.ok, false);
  assert.is(!failing.report.ok && failing.report.reason, 'tests-failed');
  assert.is(failing.findings.length, 1);
  assert.ok(failing.findings[0].includes('adds') && failing.findings[0].includes('6'), failing.findings[0]);
  const broken = await bus.send('role:validator', 'validation.request', {
    requirement: 'r',
    implementation: implementation(`\`\`\`js file=src/add.js\nexport function add(a, b) {\n  return a +;\n}\n\`\`\`\n${ADD_TEST(5)}`),
  });
  assert.is(!broken.report.ok && broken.report.reason, 'syntax', JSON.stringify(broken.report));
  assert.ok(broken.findings[0].startsWith('syntax: '), broken.findings[0]);
  assert.is(agent('validator').restarts, 0);
});

test('validator fails an implementation without tests without running it', async () => {
  const result = await bus.send('role:validator', 'validation.request', { requirement: 'r', implementation: implementation(ADD) });
  assert.equal(result.report, {
    ok: false,
    reason: 'tests-failed',
    message: 'no test files were generated: the implementation must include *.test.js files',
  });
  assert.equal(result.findings, ['tests-failed: no test files were generated: the implementation must include *.test.js files']);
});

test('integrator refuses a failed report and a missing task id, and writes and archives a passing one', async () => {
  const impl = implementation(`${ADD}\n${ADD_TEST(5)}`);
  const failed = { ok: false, reason: 'tests-failed', message: '1 failed' } as unknown as SandboxReport & { ok: true };
  await rejects(bus.send('role:integrator', 'integration.request', { implementation: impl, report: failed }, { taskId: 't-int' }), ErrorCode.Invalid, 'refusing', 't-int', 'tests-failed');
  const ok = { ok: true as const, tests: [{ name: 'add > adds', ok: true, ms: 1 }], console: [], ms: 12, memoryBytes: 1 };
  await rejects(bus.send('role:integrator', 'integration.request', { implementation: impl, report: ok }), ErrorCode.Invalid, 'taskId');
  const result = await bus.send('role:integrator', 'integration.request', { implementation: impl, report: ok }, { taskId: 't-int' });
  assert.is(result.dir, workspace.taskDir('t-int'));
  assert.equal(result.written, ['t-int/src/add.js', 't-int/test/add.test.js']);
  assert.is(readFileSync(join(result.dir, 'src/add.js'), 'utf8'), impl.files[0].content);
  const [archived] = await workspace.listArchive();
  assert.is(archived.taskId, 't-int');
  assert.equal(archived.manifest, { files: result.written, tests: ok.tests, ms: 12 });
});

test('integrator: a filesystem error fails the task with E_IO and the fix; the agent is not crashed', async () => {
  // The workspace turns path problems into E_PATH itself; what reaches the integrator raw is a failing
  // write (a full disk), which a test running as root cannot cause for real: the workspace's write
  // throws what node:fs throws then. The integrator is what is under test here.
  const real = createWorkspace({ root: join(base, 'workspace-io'), archiveRoot: join(base, 'archive-io') });
  const enospc = async () => Promise.reject(Object.assign(new Error("ENOSPC: no space left on device, write"), { code: 'ENOSPC', syscall: 'write' }));
  const broken = { ...real, writeFiles: enospc, replaceFiles: enospc };
  const ioBus = createBus();
  const integrator = builtinAgents.find((p) => p.role === 'integrator')!;
  const io = startSupervisor({ bus: ioBus, plugins: [{ plugin: integrator, source: 'agents', builtin: true, config: {} }], capabilities: { llm, sandbox, workspace: broken, log: () => {} } });
  try {
    const impl = implementation(`${ADD}\n${ADD_TEST(5)}`);
    const ok = { ok: true as const, tests: [{ name: 'add > adds', ok: true, ms: 1 }], console: [], ms: 12, memoryBytes: 1 };
    await rejects(ioBus.send('role:integrator', 'integration.request', { implementation: impl, report: ok }, { taskId: 't-io' }), ErrorCode.Io, "could not write task t-io's files", 'ENOSPC', 'free disk space', 'retry the task');
    const state = io.agents().find((a) => a.name === 'integrator')!;
    assert.is(state.status, 'ready');
    assert.is(state.restarts, 0, 'no crash, no restart');
  } finally {
    io.stop();
    ioBus.close();
  }
});

test.after(async () => {
  supervisor.stop();
  bus.close();
  await sandbox.close();
  rmSync(base, { recursive: true, force: true });
});

test.run();
