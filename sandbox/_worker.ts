/**
 * The sandbox worker process (forked by `_pool.ts`, started with --no-node-snapshot): the only file
 * that loads isolated-vm. It runs one validation per 'validate' message and answers with a
 * 'report'. Once idle it prepares the next isolate context, so a run starts warm (the first
 * isolate also makes the harness snapshot, from our own source, that every isolate starts from).
 * If V8 aborts here (an isolate blowing far past its memory guideline), only this process dies;
 * the parent reports the run and forks a replacement.
 */
import ivm from 'isolated-vm';
import type { FromWorker, ToWorker } from './_pool.ts';
import { DEFAULT_MEMORY_MB } from './_input.ts';
import { createRunner } from './_run.ts';

const runner = createRunner(ivm);

/**
 * Preparing the next context waits until the worker has been idle this long: a run that arrives
 * at once (a burst, a pool under load) is not kept waiting behind it and prepares its own.
 */
const IDLE_MS = 1;
let idle: ReturnType<typeof setTimeout> | undefined;

function send(message: FromWorker): void {
  process.send?.(message);
}

function internalError(error: unknown): string {
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return `internal sandbox error (this is a bug in the sandbox, not in the code under test): ${text.split('\n').slice(0, 3).join(' | ')}`;
}

process.on('message', (message: ToWorker) => {
  if (message === null || typeof message !== 'object' || message.type !== 'validate') return;
  const { id, input } = message;
  clearTimeout(idle);
  const answer = (report: FromWorker & { type: 'report' }) => {
    send(report);
    // Off the critical path: retired isolates (maybe bloated by a memory bomb) are disposed at
    // once; once idle, the next run with these limits gets a context ready.
    setImmediate(() => runner.tidy());
    clearTimeout(idle);
    idle = setTimeout(() => runner.warm(input.memoryMb), IDLE_MS);
  };
  try {
    const report = runner.run(input);
    if (report instanceof Promise) {
      report.then(
        (done) => answer({ type: 'report', id, report: done, start: runner.lastStart() }),
        (error: unknown) => answer({ type: 'report', id, report: { ok: false, reason: 'threw', message: internalError(error) } }),
      );
    } else {
      answer({ type: 'report', id, report, start: runner.lastStart() });
    }
  } catch (error) {
    answer({ type: 'report', id, report: { ok: false, reason: 'threw', message: internalError(error) } });
  }
});

// isolated-vm rejects promises it abandons when an isolate is disposed mid-call; those are expected
// after a timeout and must not kill the worker.
process.on('unhandledRejection', (reason) => {
  process.stderr.write(`sandbox worker: unhandled rejection: ${String(reason)}\n`);
});

// Without a parent there is nobody to answer: leave instead of lingering as an orphan.
process.on('disconnect', () => process.exit(0));

send({ type: 'ready' });
setImmediate(() => runner.warm(DEFAULT_MEMORY_MB));
