// A sandbox worker whose engine a run left broken is replaced (issue 13, class 3). Deeply nested
// JSON.parse overflows the QuickJS worker's own stack inside the WebAssembly engine; the exception
// unwinds through it and leaves its C stack pointer and heap corrupt: before the fix the worker kept
// serving, each such run ate more of its stack, and after some 36 of them every later run failed
// while the pool went on using it. Now the run is reported ('threw', naming the stack overflow),
// the worker is replaced, and a known-good run and the probe pass, on Node and on Deno.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSandbox } from '../../sandbox/mod.ts';
import type { Sandbox, SandboxReport, ValidateInput } from '../../sandbox/mod.ts';

type Pooled = Sandbox & { workerPids(): number[] };
const ROOT = new URL('../..', import.meta.url).pathname;
const DENO = join(ROOT, 'node_modules/.bin/deno');
const sandbox = createSandbox({ driver: 'quickjs-process' }) as Pooled;

const knownGood: ValidateInput = {
  files: {
    'depth.js': 'export function depth(n) { return n === 0 ? 0 : 1 + depth(n - 1); }\n',
    'depth.test.js': [
      "import { depth } from './depth.js';",
      "test('recursion and nested JSON still work', () => {",
      '  expect(depth(400)).toBe(400);',
      "  expect(JSON.parse('['.repeat(300) + ']'.repeat(300))).toHaveLength(1);",
      '});',
    ].join('\n'),
  },
  entry: 'depth.js',
  tests: ['depth.test.js'],
};

/** Code that overflows the engine's stack, in the shapes generated code reaches it. */
const POISONS: Record<string, ValidateInput> = {
  'JSON.parse of deeply nested arrays, at the top level': { files: { 'a.js': "JSON.parse('['.repeat(1e5) + ']'.repeat(1e5));\n" }, entry: 'a.js', tests: [] },
  'JSON.parse of deeply nested objects, in a test': {
    files: { 'a.js': 'export default 1;\n', 'a.test.js': `test('parses', () => { JSON.parse('{"a":'.repeat(1e5) + '1' + '}'.repeat(1e5)); });\n` },
    entry: 'a.js',
    tests: ['a.test.js'],
  },
  'nested arrays built in code, turned into a string': { files: { 'a.js': 'let a = []; for (let i = 0; i < 1e5; i++) a = [a];\nString(a);\n' }, entry: 'a.js', tests: [] },
  'nested objects built in code, stringified': { files: { 'a.js': 'let o = {}; for (let i = 0; i < 1e5; i++) o = { o };\nJSON.stringify(o);\n' }, entry: 'a.js', tests: [] },
  'deep recursion': { files: { 'a.js': 'function f(n) { return f(n + 1) + 1; }\nf(0);\n' }, entry: 'a.js', tests: [] },
};

function failed(report: SandboxReport): Extract<SandboxReport, { ok: false }> {
  if (report.ok) assert.unreachable(`expected a failed report, got ${JSON.stringify(report).slice(0, 300)}`);
  return report as Extract<SandboxReport, { ok: false }>;
}

test('quickjs-process on Node: each stack-overflow shape is reported, and a known-good run and the probe pass after it', async () => {
  const good = await sandbox.validate(knownGood);
  assert.ok(good.ok, `the known-good run passes on a fresh worker: ${JSON.stringify(good)}`);
  for (const [shape, input] of Object.entries(POISONS)) {
    const [before] = sandbox.workerPids();
    const report = failed(await sandbox.validate(input));
    assert.ok(report.reason === 'threw' || report.reason === 'tests-failed', `${shape}: ${report.reason}: ${report.message}`);
    assert.match(report.message, /stack overflow|Maximum call stack size exceeded/, `${shape}: ${report.message}`);
    assert.not.match(report.message, /internal sandbox error/, `${shape} is the code's failure, not the sandbox's`);
    if (/Maximum call stack size exceeded/.test(report.message)) {
      // The engine overflowed this process's own stack: the worker that ran it must not run more.
      assert.match(report.message, 'the sandbox worker that ran it is replaced');
      assert.not.ok(sandbox.workerPids().includes(before), `${shape}: the poisoned worker ${before} is still in the pool`);
    }
    const after = await sandbox.validate(knownGood);
    assert.ok(after.ok, `${shape}: the known-good run after it: ${JSON.stringify(after).slice(0, 400)}`);
    const probe = await sandbox.probe();
    assert.ok(probe.ok, `${shape}: ${probe.message}`);
  }
});

test('quickjs-process on Node: forty poisoned runs in a row leave the sandbox serving (before the fix, run 37 on broke the worker)', async () => {
  const poison = POISONS['JSON.parse of deeply nested arrays, at the top level'];
  for (let i = 0; i < 40; i++) {
    const report = failed(await sandbox.validate(poison));
    assert.is(report.reason, 'threw', `poisoning ${i}: ${report.message}`);
  }
  const after = await sandbox.validate(knownGood);
  assert.ok(after.ok, `after forty poisonings: ${JSON.stringify(after).slice(0, 400)}`);
  const probe = await sandbox.probe();
  assert.ok(probe.ok, probe.message);
});

test('quickjs-process on Deno: the poisoned worker is replaced, a known-good run and the probe pass', () => {
  assert.ok(existsSync(DENO), 'the deno devDependency is installed');
  // The script runs the sandbox inside Deno (its default driver there is QuickJS) and prints JSON.
  const script = join(ROOT, 'test/sandbox/_deno_recovery.ts');
  const result = spawnSync(DENO, ['run', '-A', '--quiet', script], { cwd: ROOT, encoding: 'utf8', timeout: 240_000 });
  assert.is(result.status, 0, `deno exited with ${result.status}: ${result.stderr.slice(-2000)}`);
  const outcome = JSON.parse(result.stdout.trim().split('\n').pop() as string) as { driver: string; poisoned: SandboxReport; replaced: boolean; good: SandboxReport; probe: { ok: boolean; message: string } };
  assert.is(outcome.driver, 'quickjs-process');
  assert.is(outcome.poisoned.ok, false);
  if (!outcome.poisoned.ok) assert.match(outcome.poisoned.message, /Maximum call stack size exceeded|stack overflow/);
  assert.ok(outcome.replaced, 'the poisoned worker was replaced');
  assert.ok(outcome.good.ok, JSON.stringify(outcome.good).slice(0, 400));
  assert.ok(outcome.probe.ok, outcome.probe.message);
});

test.after(async () => {
  await sandbox.close();
});

test.run();
