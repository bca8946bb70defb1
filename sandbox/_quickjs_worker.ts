/**
 * The 'quickjs-process' driver's worker: QuickJS compiled to WebAssembly, in a process started
 * without permissions (Deno: read access to the sandbox's own files and packages only; Node: the
 * permission model, read-only). It reads one 'validate' message per line on stdin and writes one
 * 'report' per line on stdout. Generated code never sees this process's globals: it lives in the
 * WebAssembly memory of a fresh QuickJS runtime per run.
 */
import { onJsonLines } from './_lines.ts';
import process from 'node:process';
import { RELEASE_SYNC, newQuickJSWASMModule } from 'quickjs-emscripten';
import { boundReport, internalError } from './_bound.ts';
import type { FromWorker, ToWorker } from './_pool.ts';
import { runQuickJS } from './_quickjs_run.ts';

const engine = await newQuickJSWASMModule(RELEASE_SYNC);

function send(message: FromWorker): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

/** Why this worker's engine must not run anything more (then every answer asks the pool to replace it). */
let broken: string | undefined;

onJsonLines(process.stdin, (value) => {
  const message = value as ToWorker;
  if (message === null || typeof message !== 'object' || message.type !== 'validate') return;
  if (broken !== undefined) {
    send({ type: 'report', id: message.id, report: internalError(`this worker's engine is broken (${broken})`), retire: broken });
    return;
  }
  try {
    const outcome = runQuickJS(engine, message.input);
    broken = outcome.broken;
    send({ type: 'report', id: message.id, report: boundReport(outcome.report), start: 'cold', retire: broken });
  } catch (error) {
    // The stack goes to stderr (the pool keeps its tail); the report names no host path.
    process.stderr.write(`sandbox worker: internal error: ${error instanceof Error ? error.stack : String(error)}\n`);
    broken = `internal error: ${error instanceof Error ? error.message : String(error)}`;
    send({ type: 'report', id: message.id, report: internalError(error instanceof Error ? error.message : String(error)), retire: broken });
  }
});
// Without a parent there is nobody to answer: leave instead of lingering as an orphan.
process.stdin.on('end', () => process.exit(0));

send({ type: 'ready' });
