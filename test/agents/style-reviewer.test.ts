import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createBus } from '../../runtime/bus/mod.ts';
import { createFunctionProvider } from '../../runtime/llm/mod.ts';
import { loadPlugins } from '../../runtime/plugin/mod.ts';
import type { SandboxCapability, WorkspaceCapability } from '../../runtime/plugin/mod.ts';
import { startSupervisor } from '../../runtime/supervisor/mod.ts';
import { review } from '../../plugins/style-reviewer/mod.ts';

const PLUGINS = fileURLToPath(new URL('../../plugins/', import.meta.url));

// The reviewer touches neither the sandbox nor the workspace: these fakes fail loudly if it does.
const sandbox: SandboxCapability = { validate: () => Promise.reject(new Error('the reviewer must not run the sandbox')) };
const workspace: WorkspaceCapability = {
  writeFiles: () => Promise.reject(new Error('the reviewer must not write files')),
  replaceFiles: () => Promise.reject(new Error('the reviewer must not write files')),
  archive: () => Promise.reject(new Error('the reviewer must not archive')),
  taskDir: () => {
    throw new Error('the reviewer must not use the workspace');
  },
};
const llm = createFunctionProvider('unused', () => {
  throw new Error('the reviewer must not call the model');
});

test('a bad config is a load failure naming the plugin and the field', async () => {
  const { loaded, failures } = await loadPlugins({ builtins: [], dirs: [PLUGINS], configs: { 'style-reviewer': { maxLineLength: 'x' } } });
  assert.is(loaded.length, 0);
  assert.is(failures.length, 1);
  assert.is(failures[0].name, 'style-reviewer');
  assert.is(failures[0].field, 'config.maxLineLength');
  assert.ok(failures[0].message.includes('plugin style-reviewer') && failures[0].message.includes('"x"'), failures[0].message);
  const unknown = await loadPlugins({ builtins: [], dirs: [PLUGINS], configs: { 'style-reviewer': { maxLineLenght: 100 } } });
  assert.ok(unknown.failures[0]?.message.includes('maxLineLenght'), unknown.failures[0]?.message);
});

test('the defaults apply when no config is given', async () => {
  const { loaded, failures } = await loadPlugins({ builtins: [], dirs: [PLUGINS] });
  assert.equal(failures, []);
  assert.equal(loaded.map((l) => [l.plugin.name, l.plugin.role, l.builtin]), [['style-reviewer', 'reviewer', false]]);
  assert.equal(loaded[0].config, { maxLineLength: 200, forbid: ['debugger'] });
  assert.equal(loaded[0].plugin.accepts, ['review.request']);
  assert.equal(loaded[0].plugin.emits, ['review.result']);
});

test('it flags debugger statements, long lines and forbidden words through the bus', async () => {
  const { loaded, failures } = await loadPlugins({
    builtins: [],
    dirs: [PLUGINS],
    configs: { 'style-reviewer': { maxLineLength: 40, forbid: ['debugger', 'eval'] } },
  });
  assert.equal(failures, []);
  const bus = createBus();
  const supervisor = startSupervisor({ bus, plugins: loaded, capabilities: { llm, sandbox, workspace, log: () => {} } });
  const code = ['export function f(x) {', '  debugger;', '  return eval(x); // a comment that makes this line long', '}', ''].join('\n');
  const result = await bus.send('role:reviewer', 'review.request', {
    requirement: 'r',
    implementation: { files: [{ path: 'src/f.js', content: code }], entry: 'src/f.js', tests: [], notes: '' },
  });
  assert.equal(
    result.findings.map((f) => [f.file, f.line, f.severity, f.message.split(':')[0]]),
    [
      ['src/f.js', 2, 'error', 'debugger statement'],
      ['src/f.js', 3, 'error', 'line is 56 characters long, more than maxLineLength 40'],
      ['src/f.js', 3, 'error', 'forbidden word "eval"'],
    ],
  );
  assert.is(supervisor.agents()[0].status, 'ready');
  supervisor.stop();
  bus.close();
});

test('review() matches whole words and reports nothing for clean code', () => {
  const config = { maxLineLength: 200, forbid: ['debugger', 'TODO'] };
  assert.equal(review([{ path: 'a.js', content: 'const debuggerish = 1;\nexport const TODOS = [];\n' }], config), []);
  const found = review([{ path: 'a.js', content: '// TODO: later\nif (x) { debugger }\nconst s = "debugger";\n' }], config);
  assert.equal(
    found.map((f) => [f.line, f.message]),
    [
      [1, 'forbidden word "TODO": remove it or rephrase'],
      [2, 'debugger statement: remove it'],
      [3, 'forbidden word "debugger": remove it or rephrase'],
    ],
  );
  assert.equal(review([{ path: 'b.js', content: 'debugger;\n' }], { maxLineLength: 200, forbid: [] }).length, 1);
});

test.run();
