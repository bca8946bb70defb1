/**
 * The sandbox worker process (forked by `_pool.ts`, started with --no-node-snapshot): the only file
 * that loads isolated-vm. It runs one validation per 'validate' message and answers with a
 * 'report'. If V8 aborts here (an isolate blowing far past its memory guideline), only this process
 * dies; the parent reports the run and forks a replacement.
 */
import ivm from 'isolated-vm';
import type { FromWorker, ToWorker } from './_pool.ts';
import { runValidation } from './_run.ts';

function send(message: FromWorker): void {
  process.send?.(message);
}

function internalError(error: unknown): string {
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return `internal sandbox error (this is a bug in the sandbox, not in the code under test): ${text.split('\n').slice(0, 3).join(' | ')}`;
}

process.on('message', (message: ToWorker) => {
  if (message === null || typeof message !== 'object' || message.type !== 'validate') return;
  runValidation(ivm, message.input).then(
    (report) => send({ type: 'report', id: message.id, report }),
    (error: unknown) => send({ type: 'report', id: message.id, report: { ok: false, reason: 'threw', message: internalError(error) } }),
  );
});

// isolated-vm rejects promises it abandons when an isolate is disposed mid-call; those are expected
// after a timeout and must not kill the worker.
process.on('unhandledRejection', (reason) => {
  process.stderr.write(`sandbox worker: unhandled rejection: ${String(reason)}\n`);
});

// Without a parent there is nobody to answer: leave instead of lingering as an orphan.
process.on('disconnect', () => process.exit(0));

send({ type: 'ready' });
