import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closeDefaultSandbox, createSandbox, validate } from '../../sandbox/mod.ts';
import type { SandboxReport } from '../../sandbox/mod.ts';

const sandbox = createSandbox();

function failed(report: SandboxReport): Extract<SandboxReport, { ok: false }> {
  if (report.ok) assert.unreachable(`expected a failed report, got ${JSON.stringify(report)}`);
  return report as Extract<SandboxReport, { ok: false }>;
}

const project = {
  'src/math.js': [
    "import { twice } from './lib/util.js';",
    "import config from '../config.json';",
    'export function sum(a, b) { return a + b; }',
    'export const doubled = twice(config.base);',
  ].join('\n'),
  'src/lib/util.js': "export function twice(x) {\n  console.log('twice', x);\n  return x * 2;\n}\n",
  'config.json': '{ "base": 21, "name": "demo" }',
  'test/math.test.js': [
    "import { sum, doubled } from '../src/math.js';",
    "import config from '../config.json';",
    "import { describe, it, expect } from 'sandbox:test';",
    "describe('math', () => {",
    "  it('sums', () => { expect(sum(1, 2)).toBe(3); });",
    "  it('doubles the configured base', async () => { await null; expect(doubled).toBe(42); });",
    "  it('reads json', () => { expect(config).toEqual({ base: 21, name: 'demo' }); });",
    '});',
  ].join('\n'),
};

test('a module with imports among 3 files and a JSON file passes its tests', async () => {
  const report = await sandbox.validate({ files: project, entry: 'src/math.js', tests: ['test/math.test.js'] });
  assert.ok(report.ok, JSON.stringify(report));
  if (!report.ok) return;
  assert.equal(report.tests.map((t) => [t.name, t.ok]), [
    ['math > sums', true],
    ['math > doubles the configured base', true],
    ['math > reads json', true],
  ]);
  assert.equal(report.console, ['twice 21']);
  assert.type(report.ms, 'number');
  assert.ok(report.memoryBytes > 0);
});

test('a failing assertion fails that test with a clear message and keeps the others', async () => {
  const files = {
    ...project,
    'test/more.test.js': [
      "import { sum } from '../src/math.js';",
      "test('adds wrong', () => { expect(sum(1, 2)).toBe(4); });",
      "test('compares arrays', () => { expect([1, 2]).toEqual([1, 3]); });",
    ].join('\n'),
  };
  const report = failed(await sandbox.validate({ files, entry: 'src/math.js', tests: ['test/math.test.js', 'test/more.test.js'] }));
  assert.is(report.reason, 'tests-failed');
  assert.is(report.message, '2 of 5 tests failed: adds wrong: expected 3 to be 4 (at test/more.test.js:2:46)');
  assert.is(report.tests?.length, 5);
  assert.equal(report.tests?.filter((t) => !t.ok).map((t) => t.message), [
    'expected 3 to be 4 (at test/more.test.js:2:46)',
    'expected [1,2] to equal [1,3] (at test/more.test.js:3:48)',
  ]);
  assert.equal(report.console, ['twice 21']);
});

test('a syntax error is reported with its file, line and column', async () => {
  const broken = 'export function f() {\n  return 1;\n}\nexport const x = (1 + ;\n';
  const report = failed(await sandbox.validate({ files: { ...project, 'src/lib/util.js': broken }, entry: 'src/math.js', tests: [] }));
  assert.is(report.reason, 'syntax');
  assert.equal(report.location, { file: 'src/lib/util.js', line: 4, column: broken.split('\n')[3].indexOf(';') + 1 });
  assert.match(report.message, /^SyntaxError: Unexpected token ';' \(at src\/lib\/util\.js:4:23\)$/);
});

test('a syntax error in a test file or an unimported file is still caught before anything runs', async () => {
  const inTest = failed(await sandbox.validate({
    files: { ...project, 'test/math.test.js': "console.log('ran');\nit('x', () => {\n  let let = 1;\n});" },
    entry: 'src/math.js',
    tests: ['test/math.test.js'],
  }));
  assert.is(inTest.reason, 'syntax');
  assert.equal(inTest.location, { file: 'test/math.test.js', line: 3, column: 7 });
  assert.equal(inTest.console, []);
  const unimported = failed(await sandbox.validate({ files: { ...project, 'src/extra.js': 'export default {' }, entry: 'src/math.js', tests: [] }));
  assert.is(unimported.reason, 'syntax');
  assert.is(unimported.location?.file, 'src/extra.js');
});

test('the first problem is named in file order, whichever check finds it', async () => {
  // The node driver lets V8 compile before acorn runs; a later file's JSON error must not hide an
  // earlier file's syntax error, and acorn's message is the one reported.
  const files = { ...project, 'src/math.js': 'export const a = ;\n', 'config.json': '{ "base": }' };
  const report = failed(await sandbox.validate({ files, entry: 'src/math.js', tests: ['test/math.test.js'] }));
  assert.is(report.reason, 'syntax');
  assert.equal(report.location, { file: 'src/math.js', line: 1, column: 18 });
  assert.is(report.message, "SyntaxError: Unexpected token ';' (at src/math.js:1:18)");
  const jsonFirst = failed(await sandbox.validate({ files: { ...project, 'config.json': '{ "base": }' }, entry: 'src/math.js', tests: ['test/math.test.js'] }));
  assert.is(jsonFirst.location?.file, 'config.json');
});

test('invalid JSON is a syntax error with its position', async () => {
  const report = failed(await sandbox.validate({ files: { ...project, 'config.json': '{\n  "base": 21,\n  "name": }' }, entry: 'src/math.js', tests: [] }));
  assert.is(report.reason, 'syntax');
  assert.equal(report.location, { file: 'config.json', line: 3, column: 11 });
  assert.match(report.message, "config.json is not valid JSON: unexpected '}'");
});

test('a module that throws while loading is reported with the error and its location', async () => {
  const files = {
    'src/app.js': "import { check } from './check.js';\nexport const ready = check();\n",
    'src/check.js': "export function check() {\n  const settings = undefined;\n  return settings.enabled;\n}\n",
  };
  const report = failed(await sandbox.validate({ files, entry: 'src/app.js', tests: [] }));
  assert.is(report.reason, 'threw');
  assert.is(report.message, "TypeError: Cannot read properties of undefined (reading 'enabled') (while loading src/app.js, at src/check.js:3:19)");
  assert.equal(report.location, { file: 'src/check.js', line: 3, column: 19 });
});

test('host modules are refused, naming the specifier and the importing file', async () => {
  for (const specifier of ['fs', 'node:fs', 'http', 'lodash']) {
    const files = { 'src/a.js': "export const a = 1;\n", 'src/b.js': `import './a.js';\nimport x from '${specifier}';\nexport default x;\n` };
    const report = failed(await sandbox.validate({ files, entry: 'src/b.js', tests: [] }));
    assert.is(report.reason, 'threw');
    assert.match(report.message, `src/b.js imports '${specifier}'`);
    assert.match(report.message, 'imports are limited to the generated files');
    assert.equal(report.location, { file: 'src/b.js', line: 2, column: 15 });
  }
});

test('relative imports resolve with and without extensions, index files and parent paths', async () => {
  const files = {
    'main.js': "import { a } from './lib';\nimport { b } from './lib/b';\nimport { c } from './lib/deep/c.mjs';\nexport const all = a + b + c;\n",
    'lib/index.js': "export const a = 'a';\n",
    'lib/b.js': "export const b = 'b';\n",
    'lib/deep/c.mjs': "import { a } from '../index.js';\nexport const c = 'c' + a;\n",
    'main.test.js': "import { all } from './main.js';\ntest('joins', () => expect(all).toBe('abca'));\n",
  };
  const report = await sandbox.validate({ files, entry: 'main.js', tests: ['main.test.js'] });
  assert.ok(report.ok, JSON.stringify(report));
  const missing = failed(await sandbox.validate({ files: { 'main.js': "import x from './nope.js';\n" }, entry: 'main.js', tests: [] }));
  assert.is(missing.reason, 'threw');
  assert.match(missing.message, "main.js imports './nope.js', but no generated file matches it");
  const text = failed(await sandbox.validate({ files: { 'main.js': "import x from './notes.md';\n", 'notes.md': '# hi' }, entry: 'main.js', tests: [] }));
  assert.match(text.message, 'only .js, .mjs, .ts, .mts and .json files can be imported');
});

test('a missing export names the importer and the name', async () => {
  const files = { 'a.js': "import { nope } from './b.js';\nexport default nope;\n", 'b.js': 'export const yes = 1;\n' };
  const report = failed(await sandbox.validate({ files, entry: 'a.js', tests: [] }));
  assert.is(report.reason, 'threw');
  assert.is(report.message, "SyntaxError: a.js imports 'nope' from './b.js', but the module './b.js' does not export 'nope'");
  assert.equal(report.location, { file: 'a.js', line: 1, column: 10 });
});

test('an entry or test file that is not among the files is reported by name', async () => {
  const noEntry = failed(await sandbox.validate({ files: project, entry: 'src/main.js', tests: [] }));
  assert.is(noEntry.reason, 'threw');
  assert.match(noEntry.message, "the entry 'src/main.js' is not among the files");
  const noTest = failed(await sandbox.validate({ files: project, entry: 'src/math.js', tests: ['test/missing.test.js'] }));
  assert.match(noTest.message, "the test file 'test/missing.test.js' is not among the files");
  const garbage = failed(await sandbox.validate({ files: 'nope', entry: 1, tests: null } as never));
  assert.is(garbage.reason, 'threw');
  assert.match(garbage.message, 'invalid sandbox input');
});

test('test files that register nothing fail with "no tests ran"', async () => {
  const report = failed(await sandbox.validate({ files: { ...project, 'test/empty.test.js': '// todo\n' }, entry: 'src/math.js', tests: ['test/empty.test.js'] }));
  assert.is(report.reason, 'tests-failed');
  assert.match(report.message, /^no tests ran: test\/empty\.test\.js registered no test cases/);
});

test('console output is captured from the module and the tests, with levels marked', async () => {
  const files = {
    'a.js': "console.log('loaded', 1, { ok: true }, [1, 'x']);\nconsole.info('%s=%d', 'n', 5);\nconsole.debug('dbg');\nexport default 1;\n",
    'a.test.js': "test('logs', () => { console.warn('careful'); console.error('bad', new Error('boom').message); });\n",
  };
  const report = await sandbox.validate({ files, entry: 'a.js', tests: ['a.test.js'] });
  assert.ok(report.ok, JSON.stringify(report));
  assert.equal(report.console, ['loaded 1 {ok: true} [1,"x"]', 'n=5', 'dbg', '[warn] careful', '[error] bad boom']);
});

test('the shared default sandbox validates and closes', async () => {
  const report = await validate({ files: { 'a.js': 'export default 1;\n' }, entry: 'a.js', tests: [] });
  assert.ok(report.ok, JSON.stringify(report));
  await closeDefaultSandbox();
  const again = await validate({ files: { 'a.js': 'export default 2;\n' }, entry: 'a.js', tests: [] });
  assert.ok(again.ok);
  await closeDefaultSandbox();
});

test.after(async () => {
  await sandbox.close();
});

test.run();
