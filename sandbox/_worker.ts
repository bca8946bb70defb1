/**
 * The sandbox worker process (forked by `_pool.ts`, started with --no-node-snapshot): the only file
 * that loads isolated-vm. It runs one validation per 'validate' message and answers with a
 * 'report'. Once idle it prepares the next isolate context, so a run starts warm (the first
 * isolate also makes the harness snapshot, from our own source, that every isolate starts from).
 * If V8 aborts here (an isolate blowing far past its memory guideline), only this process dies;
 * the parent reports the run and forks a replacement.
 */
import ivm from 'isolated-vm';
import { boundReport, internalError } from './_bound.ts';
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

/**
 * A run that failed inside the sandbox itself: the stack goes to stderr (the pool keeps its tail),
 * the report names no host path, and the pool is asked to replace this worker (its isolates may
 * be in any state).
 */
function failed(id: number, error: unknown): FromWorker & { type: 'report' } {
  process.stderr.write(`sandbox worker: internal error: ${error instanceof Error ? error.stack : String(error)}\n`);
  const what = error instanceof Error ? error.message : String(error);
  return { type: 'report', id, report: internalError(what), retire: `internal error: ${what}` };
}

process.on('message', (message: ToWorker) => {
  if (message === null || typeof message !== 'object' || message.type !== 'validate') return;
  const { id, input } = message;
  clearTimeout(idle);
  const answer = (report: FromWorker & { type: 'report' }) => {
    send({ ...report, report: boundReport(report.report) });
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
        (error: unknown) => answer(failed(id, error)),
      );
    } else {
      answer({ type: 'report', id, report, start: runner.lastStart() });
    }
  } catch (error) {
    answer(failed(id, error));
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
