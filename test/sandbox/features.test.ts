// TypeScript input, static checks with locations, HTML/SVG well-formedness, runaways of every shape
// on both drivers (terminated within deadline + 1 s), memory bombs, caps on results and per-task
// concurrency, and the warm path.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkMarkup, createSandbox } from '../../sandbox/mod.ts';
import type { Sandbox, SandboxDriver, SandboxReport, ValidateInput } from '../../sandbox/mod.ts';

type Pooled = Sandbox & { workerPids(): number[]; lastStart(): string | undefined };
const drivers: SandboxDriver[] = ['node-process', 'quickjs-process'];
const sandboxes = Object.fromEntries(drivers.map((driver) => [driver, createSandbox({ driver }) as Pooled])) as Record<SandboxDriver, Pooled>;

function failed(report: SandboxReport): Extract<SandboxReport, { ok: false }> {
  if (report.ok) assert.unreachable(`expected a failed report, got ${JSON.stringify(report)}`);
  return report as Extract<SandboxReport, { ok: false }>;
}

const typescript: ValidateInput = {
  files: {
    'src/shapes.ts': [
      "import type { Unit } from './types.ts';",
      "import { scale } from './scale.ts';",
      'export interface Shape { kind: "square" | "circle"; size: number }',
      'export function area(shape: Shape, unit: Unit = "cm"): string {',
      '  const value: number = shape.kind === "square" ? shape.size ** 2 : Math.PI * shape.size ** 2;',
      '  return `${scale(value).toFixed(1)} ${unit}²`;',
      '}',
    ].join('\n'),
    'src/types.ts': 'export type Unit = "cm" | "mm";\n',
    'src/scale.ts': 'export const scale = <T extends number>(value: T, by = 1 as number): number => value * by;\n',
    'test/shapes.test.ts': [
      "import { describe, it, expect } from 'vitest';",
      "import { area, type Shape } from '../src/shapes.js';",
      "describe('area', () => {",
      "  it('squares', () => { const s: Shape = { kind: 'square', size: 2 }; expect(area(s)).toBe('4.0 cm²'); });",
      "  it('circles', () => { expect(area({ kind: 'circle', size: 1 }, 'mm')).toBe('3.1 mm²'); });",
      "  it('is wrong on purpose', () => { expect(area({ kind: 'square', size: 3 })).toBe('10.0 cm²'); });",
      '});',
    ].join('\n'),
  },
  entry: 'src/shapes.ts',
  tests: ['test/shapes.test.ts'],
};

for (const driver of drivers) {
  test(`${driver}: TypeScript modules importing each other, with passing and failing tests`, async () => {
    const report = failed(await sandboxes[driver].validate(typescript));
    assert.is(report.reason, 'tests-failed');
    assert.equal(report.tests?.map((t) => [t.name, t.ok]), [['area > squares', true], ['area > circles', true], ['area > is wrong on purpose', false]]);
    assert.match(report.tests?.[2].message ?? '', 'expected "9.0 cm²" to be "10.0 cm²"');
    const fixed = { ...typescript, files: { ...typescript.files, 'test/shapes.test.ts': typescript.files['test/shapes.test.ts'].replace("toBe('10.0 cm²')", "toBe('9.0 cm²')") } };
    const passing = await sandboxes[driver].validate(fixed);
    assert.ok(passing.ok, JSON.stringify(passing));
  });

  test(`${driver}: a TypeScript syntax error is reported before anything runs, with its location`, async () => {
    const files = { 'a.ts': "console.log('ran');\nexport const f = (x: number): number => {\n  return x +;\n};\n" };
    const report = failed(await sandboxes[driver].validate({ files, entry: 'a.ts', tests: [] }));
    assert.is(report.reason, 'syntax');
    assert.equal(report.location, { file: 'a.ts', line: 3, column: 13 });
    assert.equal(report.console ?? [], []);
    const enumFile = failed(await sandboxes[driver].validate({ files: { 'e.ts': 'export enum Color { Red }\n' }, entry: 'e.ts', tests: [] }));
    assert.is(enumFile.reason, 'syntax');
    assert.match(enumFile.message, 'enum is not supported in strip-only mode');
    assert.match(enumFile.message, 'use erasable TypeScript');
  });

  test(`${driver}: runaways of four shapes end with 'timeout' within deadline + 1 s`, async () => {
    const shapes: Record<string, string> = {
      'sync loop': "it('spins', () => { while (true) {} });",
      'then-callback loop': "it('chains', () => { function f() { Promise.resolve().then(f); } f(); });",
      'never-settling promise': "it('waits', async () => { await new Promise(() => {}); });",
      'host-callback loop': "it('chatters', async () => { for (;;) { console.log('tick'); console.count(); await null; } });",
    };
    for (const [shape, body] of Object.entries(shapes)) {
      const started = Date.now();
      const report = failed(await sandboxes[driver].validate({ files: { 'a.js': 'export default 1;\n', 'a.test.js': body }, entry: 'a.js', tests: ['a.test.js'], limits: { timeoutMs: 300 } }));
      const took = Date.now() - started;
      assert.is(report.reason, 'timeout', `${shape}: ${report.message}`);
      assert.ok(took < 300 + 1000, `${shape} ended after ${took} ms`);
    }
    const next = await sandboxes[driver].validate({ files: { 'ok.js': 'export default 1;\n' }, entry: 'ok.js', tests: [] });
    assert.ok(next.ok, 'the pool serves the next run');
  });

  test(`${driver}: memory bombs end with reason 'memory'`, async () => {
    const bombs = {
      'spread of a huge string': "const a = [...'.'.repeat(1e9)];",
      'Array(1e9).fill(0)': 'const a = Array(1e9).fill(0);',
      '100 MB ArrayBuffer copied into an array': 'const b = new Uint8Array(100 * 1024 * 1024); const a = Array.from(b);',
    };
    for (const [name, code] of Object.entries(bombs)) {
      const report = failed(await sandboxes[driver].validate({ files: { 'bomb.js': code }, entry: 'bomb.js', tests: [], limits: { memoryMb: 32, timeoutMs: 5000 } }));
      assert.is(report.reason, 'memory', `${name}: ${report.message}`);
    }
    const next = await sandboxes[driver].validate({ files: { 'ok.js': 'export default 1;\n' }, entry: 'ok.js', tests: [] });
    assert.ok(next.ok, 'the pool serves the next run');
  });
}

test('node-process: a thrown Proxy whose traps never end costs the worker, not the deadline + 1 s', async () => {
  const started = Date.now();
  const report = failed(await sandboxes['node-process'].validate({ files: { 'p.js': "const evil = new Proxy({}, { get(t, k, r) { try { r.a; r.b; } catch {} return undefined; } });\nthrow evil;\n" }, entry: 'p.js', tests: [], limits: { timeoutMs: 300 } }));
  assert.is(report.reason, 'timeout');
  assert.ok(Date.now() - started < 300 + 1000, `took ${Date.now() - started} ms`);
});

test('HTML and SVG files are checked for well-formedness, with locations', async () => {
  assert.equal(checkMarkup('a.svg', '<svg xmlns="http://www.w3.org/2000/svg"><rect width="1"/></svg>'), { ok: true });
  const svg = checkMarkup('chart.svg', '<svg xmlns="http://www.w3.org/2000/svg">\n  <g>\n    <rect/>\n</svg>');
  assert.is(svg.ok, false);
  if (!svg.ok) {
    assert.is(svg.location.file, 'chart.svg');
    assert.is(svg.location.line, 4);
    assert.match(svg.message, 'chart.svg is not well-formed XML');
  }
  const notSvg = checkMarkup('x.svg', '<html></html>');
  assert.is(notSvg.ok, false);
  assert.equal(checkMarkup('page.html', '<!doctype html><html><head><title>x</title></head><body><p>hi</p></body></html>'), { ok: true });
  const html = checkMarkup('page.html', '<!doctype html>\n<p class="a"class="b">x</p>\n<div <span></div>');
  assert.is(html.ok, false);
  if (!html.ok) assert.equal([html.location.file, html.location.line], ['page.html', 2]);
  const report = failed(await sandboxes['node-process'].validate({ files: { 'a.js': 'export default 1;\n', 'chart.svg': '<svg><g></svg>' }, entry: 'a.js', tests: [] }));
  assert.is(report.reason, 'syntax');
  assert.is(report.location?.file, 'chart.svg');
});

test('JSX is refused as unsupported, naming the file', async () => {
  const report = failed(await sandboxes['node-process'].validate({ files: { 'a.jsx': 'export default <div/>;\n' }, entry: 'a.jsx', tests: [] }));
  assert.is(report.reason, 'unsupported');
  assert.match(report.message, 'a.jsx: JSX is not supported');
});

test('test results are capped at 500 per run, the rest counted', async () => {
  const body = "for (let i = 0; i < 800; i++) it('case ' + i, () => { if (i === 700) throw new Error('seven hundred'); });";
  const report = failed(await sandboxes['node-process'].validate({ files: { 'a.js': 'export default 1;\n', 'a.test.js': body }, entry: 'a.js', tests: ['a.test.js'] }));
  assert.is(report.reason, 'tests-failed');
  assert.is(report.tests?.length, 500);
  assert.equal(report.tests?.[499], { name: '(301 more results not kept)', ok: false, ms: report.tests?.[499].ms, message: '1 of them failed' });
});

test('per-task cap: two runs of one task never overlap, another task is not held back', async () => {
  const sandbox = createSandbox({ poolSize: 2, perTask: 1 });
  const marker = (ms: number) => ({ files: { 'a.js': `const start = Date.now();\nwhile (Date.now() - start < ${ms}) {}\nconsole.log(String(start), String(Date.now()));\n` }, entry: 'a.js', tests: [] });
  const span = (report: SandboxReport) => (report.ok ? report.console[0].split(' ').map(Number) : [0, 0]);
  // Both workers up first: a worker's start-up (~250 ms) must not pass for a task being held back.
  await Promise.all([sandbox.validate({ ...marker(1), owner: 'warm-1' }), sandbox.validate({ ...marker(1), owner: 'warm-2' })]);
  const [a1, a2, b1] = await Promise.all([
    sandbox.validate({ ...marker(250), owner: 'task-a' }),
    sandbox.validate({ ...marker(250), owner: 'task-a' }),
    sandbox.validate({ ...marker(250), owner: 'task-b' }),
  ]);
  await sandbox.close();
  const [s1, e1] = span(a1);
  const [s2, e2] = span(a2);
  const [s3] = span(b1);
  assert.ok(s2 >= e1 || s1 >= e2, `task-a runs overlapped: ${[s1, e1, s2, e2]}`);
  // task-a's second run waits for its first; task-b must not wait behind that queue.
  assert.ok(s3 < Math.max(s1, s2), `task-b was held behind task-a's queue: b started ${s3}, a's runs started ${s1} and ${s2}`);
});

test('node-process: runs start warm (a prepared context) after the first', async () => {
  const sandbox = sandboxes['node-process'];
  const input = { files: { 'a.js': 'export const x = 1;\n', 'a.test.js': "import { x } from './a.js';\ntest('x', () => expect(x).toBe(1));\n" }, entry: 'a.js', tests: ['a.test.js'] };
  await sandbox.validate(input);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const report = await sandbox.validate(input);
  assert.ok(report.ok);
  assert.is(sandbox.lastStart(), 'warm');
  // A fresh context per run: globals set by one run are gone in the next.
  await sandbox.validate({ files: { 'a.js': 'globalThis.leftover = 42;\n' }, entry: 'a.js', tests: [] });
  const after = await sandbox.validate({ files: { 'a.js': "console.log(typeof globalThis.leftover, typeof Object.prototype.polluted);\nObject.prototype.polluted = 1;\n" }, entry: 'a.js', tests: [] });
  const again = await sandbox.validate({ files: { 'a.js': "console.log(typeof globalThis.leftover, typeof Object.prototype.polluted);\n" }, entry: 'a.js', tests: [] });
  assert.equal(after.ok && after.console, ['undefined undefined']);
  assert.equal(again.ok && again.console, ['undefined undefined']);
});

test('node-process: a run never sees what an earlier run left, in the same isolate or a recycled one', async () => {
  const sandbox = sandboxes['node-process'];
  // Run A changes everything it can reach: globals, built-in prototypes, the test API and the
  // harness's shared matcher prototype; it also looks for the snapshot's parked hook.
  const tamper = [
    "console.log(typeof globalThis['sandbox:connect'], Object.keys(globalThis).length);",
    'globalThis.leftover = 42;',
    'Object.prototype.polluted = 1;',
    "String.prototype.shout = function () { return 'leaked'; };",
    'expect.extra = 1;',
    "try { Object.defineProperty(Object.getPrototypeOf(expect(1)), 'toBe', { get() { return () => undefined; } }); console.log('matchers replaced'); } catch { console.log('matchers frozen'); }",
    "test('a', () => {});",
  ].join('\n');
  const probe = {
    files: {
      'b.js': 'export const seen = [typeof globalThis.leftover, typeof Object.prototype.polluted, typeof "".shout, typeof expect.extra, typeof globalThis["sandbox:connect"]];\n',
      'b.test.js': "import { seen } from './b.js';\ntest('clean', () => expect(seen).toEqual(['undefined', 'undefined', 'undefined', 'undefined', 'undefined']));\ntest('matchers work', () => expect(1).toBe(2));\n",
    },
    entry: 'b.js',
    tests: ['b.test.js'],
  };
  const a = await sandbox.validate({ files: { 'a.test.js': tamper }, entry: 'a.test.js', tests: ['a.test.js'] });
  assert.ok(a.ok, JSON.stringify(a));
  assert.equal(a.ok && a.console[0].split(' ')[0], 'undefined', 'the parked harness hook is gone before generated code runs');
  const check = (report: SandboxReport) => {
    const b = failed(report);
    assert.is(b.reason, 'tests-failed');
    assert.equal(b.tests?.map((t) => [t.name, t.ok]), [['clean', true], ['matchers work', false]], JSON.stringify(b.tests));
  };
  check(await sandbox.validate(probe));
  // A time-limit hit retires the isolate; the next runs get a new one built from the snapshot.
  await sandbox.validate({ files: { 'a.test.js': `${tamper}\nwhile (true) {}` }, entry: 'a.test.js', tests: ['a.test.js'], limits: { timeoutMs: 50 } });
  check(await sandbox.validate(probe));
  await sandbox.validate({ files: { 'a.test.js': tamper }, entry: 'a.test.js', tests: ['a.test.js'] });
  check(await sandbox.validate(probe));
});

test('expect(): a destructured matcher, .not, .resolves and .rejects behave as before', async () => {
  for (const driver of drivers) {
    const report = await sandboxes[driver].validate({
      files: { 't.test.js': [
        "test('destructured', () => { const { toBe, not } = expect(2); toBe(2); not.toBe(3); });",
        "test('async', async () => { await expect(Promise.resolve(1)).resolves.toBe(1); await expect(Promise.reject(new Error('no'))).rejects.toThrow('no'); await expect(Promise.resolve(1)).resolves.not.toBe(2); });",
        "test('fails', () => { const { toEqual } = expect({ a: 1 }, 'config'); toEqual({ a: 2 }); });",
        "test('misuse', () => { Object.getOwnPropertyDescriptor(Object.getPrototypeOf(expect(1)), 'toBe').get.call({})(1); });",
      ].join('\n') },
      entry: 't.test.js',
      tests: ['t.test.js'],
    });
    const tests = failed(report).tests ?? [];
    assert.equal(tests.map((t) => [t.name, t.ok]), [['destructured', true], ['async', true], ['fails', false], ['misuse', false]], `${driver}: ${JSON.stringify(tests)}`);
    assert.match(tests[2].message ?? '', /^config: expected \{a: 1\} to equal \{a: 2\}/, driver);
    assert.match(tests[3].message ?? '', /toBe was used on something expect\(\) did not return/, driver);
  }
});

test.after(async () => {
  await Promise.all(drivers.map((driver) => sandboxes[driver].close()));
});

test.run();
