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
import type { FromWorker, ToWorker } from './_pool.ts';
import { runQuickJS } from './_quickjs_run.ts';

const engine = await newQuickJSWASMModule(RELEASE_SYNC);

function send(message: FromWorker): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

function internalError(error: unknown): string {
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return `internal sandbox error (this is a bug in the sandbox, not in the code under test): ${text.split('\n').slice(0, 3).join(' | ')}`;
}

onJsonLines(process.stdin, (value) => {
  const message = value as ToWorker;
  if (message === null || typeof message !== 'object' || message.type !== 'validate') return;
  try {
    send({ type: 'report', id: message.id, report: runQuickJS(engine, message.input), start: 'cold' });
  } catch (error) {
    send({ type: 'report', id: message.id, report: { ok: false, reason: 'threw', message: internalError(error) } });
  }
});
// Without a parent there is nobody to answer: leave instead of lingering as an orphan.
process.stdin.on('end', () => process.exit(0));

send({ type: 'ready' });
