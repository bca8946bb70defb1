// Cancellation reaches the sandbox (issue 14, item 3): a run's AbortSignal stops it on both drivers.
// A running run's worker is killed at once (generated code may never yield), `validate` rejects with
// the signal's reason, and a fresh worker takes the next run; a queued run never reaches a worker.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSandbox } from '../../sandbox/mod.ts';
import type { Sandbox, SandboxDriver } from '../../sandbox/mod.ts';

type Pooled = Sandbox & { workerPids(): number[] };

/** A run that spins for its whole 60 s of CPU unless something stops it. */
const spin = { files: { 'a.js': 'export const x = 1;\n', 'a.test.js': "test('spins', () => { for (;;) {} });\n" }, entry: 'a.js', tests: ['a.test.js'], limits: { timeoutMs: 60_000 } };
const good = { files: { 'a.js': 'export const x = 1;\n', 'a.test.js': "import { x } from './a.js';\ntest('one', () => expect(x).toBe(1));\n" }, entry: 'a.js', tests: ['a.test.js'] };

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until(what: string, check: () => boolean, limitMs = 20_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

for (const driver of ['node-process', 'quickjs-process'] as SandboxDriver[]) {
  test(`${driver}: aborting a running run kills its worker, rejects with the reason, and the next run gets a fresh worker`, async () => {
    const sandbox = createSandbox({ driver, poolSize: 1 }) as Pooled;
    try {
      // A warm worker first, so the spinning run starts at once.
      assert.is((await sandbox.validate(good)).ok, true);
      const [pid] = sandbox.workerPids();
      const controller = new AbortController();
      const reason = new Error('task t-1 was cancelled');
      const run = sandbox.validate({ ...spin, signal: controller.signal });
      // Let it spin (its worker is busy) before pulling the plug.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const aborted = Date.now();
      controller.abort(reason);
      const error = await run.then(() => null, (e: unknown) => e);
      assert.is(error, reason, 'validate rejects with the signal’s own reason');
      await until(`worker ${pid} is gone`, () => !alive(pid), 10_000);
      const tookMs = Date.now() - aborted;
      assert.ok(tookMs < 10_000, `the worker was gone ${tookMs} ms after the abort`);
      const next = await sandbox.validate(good);
      assert.is(next.ok, true, JSON.stringify(next));
      assert.not.equal(sandbox.workerPids(), [pid], 'a fresh worker took the next run');
    } finally {
      await sandbox.close();
    }
  });

  test(`${driver}: a queued run aborted never reaches a worker; an aborted signal is refused at once`, async () => {
    const sandbox = createSandbox({ driver, poolSize: 1 }) as Pooled;
    const first = new AbortController();
    try {
      const blocking = sandbox.validate({ ...spin, signal: first.signal });
      const controller = new AbortController();
      const queued = sandbox.validate({ ...good, signal: controller.signal });
      controller.abort(new Error('stage timed out'));
      const error = await queued.then(() => null, (e: unknown) => e);
      assert.instance(error, Error);
      assert.is((error as Error).message, 'stage timed out');
      await until('the spinning run holds its worker', () => sandbox.workerPids().length === 1);
      const [pid] = sandbox.workerPids();
      assert.ok(alive(pid), 'the run ahead of it is untouched');
      first.abort(new Error('done'));
      await blocking.catch(() => undefined);
      const already = new AbortController();
      already.abort(new Error('already cancelled'));
      const refused = await sandbox.validate({ ...good, signal: already.signal }).then(() => null, (e: unknown) => e);
      assert.is((refused as Error).message, 'already cancelled');
    } finally {
      first.abort();
      await sandbox.close();
    }
  });
}

test.run();
