import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSandbox } from '../../sandbox/mod.ts';
import type { Sandbox, SandboxReport, ValidateInput } from '../../sandbox/mod.ts';

const run = promisify(execFile);
type WithWorkers = Sandbox & { workerPids(): number[] };
const sandbox = createSandbox() as WithWorkers;

function failed(report: SandboxReport): Extract<SandboxReport, { ok: false }> {
  if (report.ok) assert.unreachable(`expected a failed report, got ${JSON.stringify(report)}`);
  return report as Extract<SandboxReport, { ok: false }>;
}

function withTest(body: string, timeoutMs = 500): ValidateInput {
  return { files: { 'a.js': 'export const one = 1;\n', 'a.test.js': body }, entry: 'a.js', tests: ['a.test.js'], limits: { timeoutMs } };
}

const healthy: ValidateInput = { files: { 'ok.js': 'export default 1;\n', 'ok.test.js': "test('fine', () => expect(1).toBe(1));\n" }, entry: 'ok.js', tests: ['ok.test.js'] };

async function waitFor(condition: () => boolean, ms = 2000): Promise<void> {
  const until = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > until) throw new Error('condition not reached');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('a memory bomb is reported as memory, and the next run works', async () => {
  const bomb = { files: { 'bomb.js': 'const keep = [];\nwhile (true) keep.push(new Array(100000).fill(Math.random()));\n' }, entry: 'bomb.js', tests: [] };
  const report = failed(await sandbox.validate(bomb));
  assert.is(report.reason, 'memory');
  assert.match(report.message, 'exceeded its 64 MB memory limit while loading bomb.js');
  const next = await sandbox.validate(healthy);
  assert.ok(next.ok, JSON.stringify(next));
});

test('a growth V8 cannot survive (isolated-vm aborts the process) costs only the worker', async () => {
  // Depending on timing isolated-vm either stops the isolate or aborts the worker; both are 'memory'.
  const report = failed(await sandbox.validate({ files: { 'grow.js': 'const m = new Map();\nfor (let i = 0; ; i++) m.set(i, i);\n' }, entry: 'grow.js', tests: [] }));
  assert.is(report.reason, 'memory');
  assert.match(report.message, /memory/);
  const next = await sandbox.validate(healthy);
  assert.ok(next.ok, JSON.stringify(next));
});

test('a memory bomb inside a test names the test', async () => {
  const report = failed(await sandbox.validate({ ...withTest("it('hoards', () => { const s = []; for (;;) s.push('x'.repeat(1000) + s.length); });", 5000), limits: { memoryMb: 16 } }));
  assert.is(report.reason, 'memory');
  assert.match(report.message, 'exceeded its 16 MB memory limit in test "hoards"');
});

test('a synchronous infinite loop at load time is a timeout', async () => {
  const report = failed(await sandbox.validate({ files: { 'spin.js': 'while (true) {}\n' }, entry: 'spin.js', tests: [], limits: { timeoutMs: 400 } }));
  assert.is(report.reason, 'timeout');
  assert.match(report.message, 'exceeded its 400 ms time limit while loading spin.js');
});

test('a synchronous infinite loop in a test is a timeout naming the test, after the earlier results', async () => {
  const report = failed(await sandbox.validate(withTest("it('first', () => {});\nit('spins', () => { for (;;) {} });\nit('never reached', () => {});")));
  assert.is(report.reason, 'timeout');
  assert.match(report.message, /in test "spins" \(it used \d+ ms of CPU time\): most likely an endless loop/);
  assert.equal(report.tests?.map((t) => [t.name, t.ok]), [['first', true], ['spins', false]]);
});

test('a test awaiting a promise that never resolves is a timeout', async () => {
  const report = failed(await sandbox.validate(withTest("it('waits forever', async () => { await new Promise(() => {}); });")));
  assert.is(report.reason, 'timeout');
  assert.match(report.message, 'in test "waits forever": it was waiting on a promise that never settles');
});

test('a then-callback loop is a timeout', async () => {
  const report = failed(await sandbox.validate(withTest("it('loops', async () => { function f() { Promise.resolve().then(f); } f(); await null; });")));
  assert.is(report.reason, 'timeout');
  const detached = failed(await sandbox.validate(withTest("it('leaves a loop behind', () => { function f() { Promise.resolve().then(f); } f(); });")));
  assert.is(detached.reason, 'timeout');
});

test('a top-level await that never settles is a timeout', async () => {
  const report = failed(await sandbox.validate({ files: { 'a.js': 'await new Promise(() => {});\nexport default 1;\n' }, entry: 'a.js', tests: [], limits: { timeoutMs: 400 } }));
  assert.is(report.reason, 'timeout');
  assert.match(report.message, 'a.js never finished loading');
});

test('setTimeout does not exist: the test fails with a ReferenceError', async () => {
  const report = failed(await sandbox.validate(withTest("it('sleeps', async () => { await new Promise((r) => setTimeout(r, 5)); });")));
  assert.is(report.reason, 'tests-failed');
  assert.match(report.tests?.[0].message ?? '', /^ReferenceError: setTimeout is not defined \(the sandbox has no timers\)/);
});

test('console output is capped at 64 KiB and each line at 8 KiB, the cuts marked', async () => {
  const report = await sandbox.validate({ files: { 'noisy.js': "for (let i = 0; i < 50000; i++) console.log('line ' + i + ' ' + 'x'.repeat(40));\n" }, entry: 'noisy.js', tests: [] });
  assert.ok(report.ok, JSON.stringify(report).slice(0, 300));
  const bytes = Buffer.byteLength(JSON.stringify(report.console));
  assert.ok(bytes <= 64 * 1024, `console kept ${bytes} bytes of JSON`);
  assert.is(report.console[0], `line 0 ${'x'.repeat(40)}`);
  assert.match(report.console[report.console.length - 1], '[console output truncated');
  // One huge line is cut to 8 KiB with the marker; the lines after it are kept.
  const huge = await sandbox.validate({ files: { 'huge.js': "console.log('y'.repeat(200000));\nconsole.log('after');\n" }, entry: 'huge.js', tests: [] });
  assert.ok(huge.ok);
  assert.is(huge.console.length, 2);
  const kept = Buffer.byteLength(huge.console[0]);
  assert.ok(kept <= 8192, `the line kept ${kept} bytes`);
  const cut = /^y+…cut \((\d+) bytes more\)$/.exec(huge.console[0]);
  assert.ok(cut !== null, huge.console[0].slice(-60));
  assert.is(Number(cut?.[1]) + huge.console[0].indexOf('…'), 200000, 'N is exactly the bytes cut');
  assert.is(huge.console[1], 'after');
});

test('a worker killed mid-run is reported, and a fresh worker takes the next run', async () => {
  await sandbox.validate(healthy);
  const [pid] = sandbox.workerPids();
  assert.type(pid, 'number');
  const running = sandbox.validate({ files: { 'spin.js': 'while (true) {}\n' }, entry: 'spin.js', tests: [], limits: { timeoutMs: 5000 } });
  await new Promise((resolve) => setTimeout(resolve, 150));
  process.kill(pid, 'SIGKILL');
  const report = failed(await running);
  assert.is(report.reason, 'threw');
  assert.match(report.message, 'the sandbox worker died during the run (signal SIGKILL)');
  const next = await sandbox.validate(healthy);
  assert.ok(next.ok, JSON.stringify(next));
  assert.not.equal(sandbox.workerPids(), [pid]);
});

test('a worker that crashes while its memory grows (V8 failing an allocation may SIGSEGV) is reported as memory, not as a crash', async () => {
  await sandbox.validate(healthy);
  const [pid] = sandbox.workerPids();
  const rss = () => (Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * 4096) / 2 ** 20;
  const before = rss();
  // A 512 MB limit and a bomb slowed by a busy loop between allocations let the parent's sampler (every
  // 100 ms, its first reading the baseline) watch it grow; the test crashes the worker once it grew by 300 MB.
  const bomb = 'const keep = [];\nwhile (true) { keep.push(new Array(100000).fill(Math.random())); for (let i = 0; i < 300000; i++); }\n';
  const running = sandbox.validate({ files: { 'bomb.js': bomb }, entry: 'bomb.js', tests: [], limits: { memoryMb: 512, timeoutMs: 60_000 } });
  await waitFor(() => rss() > before + 300, 60_000);
  // The parent samples the worker every 100 ms: give it a reading of the growth before the crash.
  await new Promise((resolve) => setTimeout(resolve, 250));
  process.kill(pid, 'SIGSEGV');
  const report = failed(await running);
  assert.is(report.reason, 'memory', report.message);
  assert.match(report.message, /the sandbox worker died during the run \(signal SIGSEGV\), apparently out of memory: the code was still allocating \(its worker grew by \d+ MB\) \(its limit is 512 MB\)/);
  assert.ok((await sandbox.validate(healthy)).ok, 'a fresh worker takes the next run');
});

test('a worker that stops answering (and so uses no CPU) is killed at the wall-clock backstop and reported as timeout', async () => {
  await sandbox.validate(healthy);
  const [pid] = sandbox.workerPids();
  process.kill(pid, 'SIGSTOP');
  const started = Date.now();
  const report = failed(await sandbox.validate({ ...healthy, limits: { timeoutMs: 200 } }));
  assert.is(report.reason, 'timeout');
  // The backstop: 6 × the 200 ms CPU budget, plus the parent's 750 ms grace.
  assert.match(report.message, 'the sandbox worker had run 1950 ms by the wall clock without answering');
  assert.ok(Date.now() - started >= 1900);
  await waitFor(() => !sandbox.workerPids().includes(pid));
  const next = await sandbox.validate(healthy);
  assert.ok(next.ok, JSON.stringify(next));
});

test('a pool of two runs validations side by side', async () => {
  const pool = createSandbox({ poolSize: 2 }) as WithWorkers;
  const spin = (ms: number): ValidateInput => ({ files: { 'a.js': `const end = Date.now() + ${ms};\nwhile (Date.now() < end) {}\nexport default 1;\n` }, entry: 'a.js', tests: [] });
  const reports = await Promise.all([pool.validate(spin(400)), pool.validate(spin(400)), pool.validate(healthy)]);
  assert.ok(reports.every((report) => report.ok), JSON.stringify(reports));
  assert.is(pool.workerPids().length, 2);
  await pool.close();
  assert.equal(pool.workerPids(), []);
  const after = failed(await pool.validate(healthy));
  assert.match(after.message, 'the sandbox is closed');
});

test('a node binary that cannot start fails the run instead of hanging', async () => {
  const broken = createSandbox({ nodePath: '/nonexistent/node' });
  const report = failed(await broken.validate(healthy));
  assert.is(report.reason, 'threw');
  assert.match(report.message, 'the sandbox worker could not start');
  await broken.close();
});

test('an idle pool does not keep its process alive, even without close()', async () => {
  const mod = new URL('../../sandbox/mod.ts', import.meta.url).href;
  const script = `import { validate } from '${mod}';\nconst report = await validate({ files: { 'a.js': 'export default 1;' }, entry: 'a.js', tests: [] });\nconsole.log(report.ok);`;
  // The process must end by itself; the timeout (which kills it and fails the test) is only a safety bound.
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000 });
  assert.is(stdout.trim(), 'true');
});

test("the 'unsupported' driver answers every validation with reason 'unsupported'", async () => {
  const none = createSandbox({ driver: 'unsupported' });
  assert.is(none.driver, 'unsupported');
  const report = failed(await none.validate(healthy));
  assert.is(report.reason, 'unsupported');
  assert.match(report.message, /^no sandbox driver is available on this runtime \(Node\.js [\d.]+\): run the server on Node\.js >= 22 \(isolated-vm\) or Deno 2 \(QuickJS\) to validate code$/);
  await none.close();
});

test.after(async () => {
  await sandbox.close();
});

test.run();
