/**
 * One validation in QuickJS (compiled to WebAssembly): the engine behind the 'quickjs-process'
 * driver, used on Deno where isolated-vm cannot load. Generated code runs inside the WebAssembly
 * memory of a fresh QuickJS runtime; the only host function it can reach is the harness's `emit`
 * (strings out). Every job runs on this thread under an interrupt handler, so endless loops and
 * endless promise-callback chains stop at the deadline, and a promise left pending once no job is
 * queued can never settle (no timers, no I/O): that is reported as a timeout at once.
 */
import { posix } from 'node:path';
import type { QuickJSContext, QuickJSHandle, QuickJSWASMModule } from 'quickjs-emscripten';
import type { SandboxReport, TestResult } from './mod.ts';
import { CONSOLE_LIMIT, HarnessEvent, harnessSource, testModuleSource } from './_harness.ts';
import type { RunInput } from './_input.ts';
import { jsonModuleSource } from './_json.ts';
import type { Location } from './_modules.ts';
import { capResults } from './_results.ts';
import { checkSources } from './_static.ts';
import { isAllocationError, stackLocation } from './_diagnose.ts';

type FailureReason = (SandboxReport & { ok: false })['reason'];

const TEST_MODULES = ['sandbox:test', 'vitest'];
const STACK_BYTES = 256 * 1024;

function candidatesFor(base: string): string[] {
  if (/\.(json|[mc]?ts)$/.test(base)) return [base];
  if (/\.m?js$/.test(base)) return [base, base.replace(/js$/, 'ts')];
  return [base, ...['.js', '.mjs', '.ts', '.mts', '/index.js', '/index.mjs', '/index.ts'].map((suffix) => base + suffix)];
}

export function runQuickJS(engine: QuickJSWASMModule, input: RunInput): SandboxReport {
  const startedAt = performance.now();
  const deadline = startedAt + input.timeoutMs;
  const elapsed = () => Math.round((performance.now() - startedAt) * 1000) / 1000;
  const consoleLines: string[] = [];
  const tests: TestResult[] = [];
  let bytes = 0;
  let truncated = false;
  let current: string | undefined;
  let where = 'while preparing the sandbox';
  let refused: { message: string; location?: Location } | undefined;

  const cut = () => {
    if (!truncated) consoleLines.push(`[console output truncated: it exceeded ${CONSOLE_LIMIT / 1024} KB]`);
    truncated = true;
  };
  const sink = (kind: string, text: string) => {
    if (kind === HarnessEvent.Console && !truncated) {
      const size = new TextEncoder().encode(text).length + 1;
      if (bytes + size <= CONSOLE_LIMIT) {
        bytes += size;
        consoleLines.push(text);
      } else {
        consoleLines.push(text.slice(0, Math.max(0, CONSOLE_LIMIT - bytes - 1)));
        cut();
      }
    } else if (kind === HarnessEvent.ConsoleTruncated) {
      cut();
    } else if (kind === HarnessEvent.TestStart) {
      current = text;
    } else if (kind === HarnessEvent.TestEnd) {
      try {
        const raw = JSON.parse(text) as TestResult;
        if (typeof raw.name === 'string' && typeof raw.ok === 'boolean' && tests.length < 2000) {
          tests.push(raw.message === undefined ? { name: raw.name, ok: raw.ok, ms: Number(raw.ms) || 0 } : { name: raw.name, ok: raw.ok, ms: Number(raw.ms) || 0, message: String(raw.message) });
        }
      } catch {
        // a malformed event is dropped; the final JSON still counts the test
      }
      current = undefined;
    }
  };
  const failure = (reason: FailureReason, message: string, location?: Location): SandboxReport => {
    const report: SandboxReport = { ok: false, reason, message, console: consoleLines, ms: elapsed() };
    if (location !== undefined) report.location = location;
    if (tests.length > 0) report.tests = capResults(tests);
    return report;
  };

  const checked = checkSources(input.files, [input.entry, ...input.tests]);
  if (!checked.ok) return failure(checked.reason, checked.message, checked.location);
  const sources = checked.sources;

  const runtime = engine.newRuntime();
  let interrupted = false;
  runtime.setMemoryLimit(input.memoryMb * 1024 * 1024);
  runtime.setMaxStackSize(STACK_BYTES);
  runtime.setInterruptHandler(() => {
    if (performance.now() > deadline) interrupted = true;
    return interrupted;
  });
  runtime.setModuleLoader(
    (name) => {
      if (TEST_MODULES.includes(name)) return testModuleSource();
      const source = sources[name];
      if (source === undefined) return { error: new Error(`module '${name}' is not among the generated files`) };
      return name.endsWith('.json') ? jsonModuleSource(source) : source;
    },
    (from, specifier) => {
      if (TEST_MODULES.includes(specifier)) return specifier;
      if (from === 'sandbox:loader' && sources[specifier] !== undefined) return specifier;
      const fail = (message: string) => {
        refused ??= { message };
        return { error: new Error(message) };
      };
      if (!/^\.{0,2}\//.test(specifier)) {
        return fail(`${from} imports '${specifier}', which is not available: imports are limited to the generated files (relative paths such as './util.js') and 'sandbox:test'`);
      }
      const base = posix.normalize(specifier.startsWith('/') ? specifier.slice(1) : posix.join(posix.dirname(from), specifier));
      if (base === '..' || base.startsWith('../')) return fail(`${from} imports '${specifier}', which points outside the generated files`);
      const found = candidatesFor(base).find((candidate) => sources[candidate] !== undefined);
      if (found === undefined) return fail(`${from} imports '${specifier}', but no generated file matches it: imports are limited to the generated files`);
      return found;
    },
  );
  const vm = runtime.newContext();
  const handles: QuickJSHandle[] = [];
  const keep = (handle: QuickJSHandle) => {
    handles.push(handle);
    return handle;
  };

  /** An error handle as a failure: its kind decides the reason. */
  const explain = (errorHandle: QuickJSHandle): SandboxReport => {
    const error = vm.dump(errorHandle) as { name?: string; message?: string; stack?: string } | string | null;
    errorHandle.dispose();
    const name = typeof error === 'object' && error !== null ? String(error.name ?? 'Error') : 'Error';
    const message = typeof error === 'object' && error !== null ? String(error.message ?? '') : String(error);
    const at = current === undefined ? where : `in test ${JSON.stringify(current)}`;
    if (current !== undefined && !tests.some((test) => test.name === current)) tests.push({ name: current, ok: false, ms: 0, message: `${name}: ${message}` });
    if (interrupted || (name === 'InternalError' && message === 'interrupted')) {
      return failure('timeout', `the run exceeded its ${input.timeoutMs} ms time limit ${at}: most likely an endless loop (or an endless chain of promise callbacks)`);
    }
    if (/out of memory/i.test(message)) return failure('memory', `the code exceeded its ${input.memoryMb} MB memory limit ${at}`);
    if (isAllocationError(Object.assign(new Error(message), { name }))) {
      return failure('memory', `the code tried to allocate more than the engine allows (${name}: ${message}) ${at}; its memory limit is ${input.memoryMb} MB`);
    }
    if (refused !== undefined) return failure('threw', refused.message, refused.location);
    const location = stackLocation(typeof error === 'object' && error !== null ? error.stack : undefined, input.files);
    const suffix = location === undefined ? '' : `, at ${location.file}:${location.line}:${location.column}`;
    return failure('threw', `${name}: ${message} (${at}${suffix})`, location);
  };

  /** Runs queued jobs until none is left; an error handle when one threw or was interrupted. */
  const drain = (): QuickJSHandle | undefined => {
    for (;;) {
      const result = runtime.executePendingJobs(-1);
      if (result.error !== undefined) return result.error;
      // An interrupted job is dropped without an error: the flag is what tells.
      if (interrupted) return vm.newError({ name: 'InternalError', message: 'interrupted' });
      if (result.value === 0) return undefined;
    }
  };

  try {
    const connect = vm.evalCode(harnessSource(), 'sandbox:harness', { type: 'global' });
    if (connect.error !== undefined) return explain(connect.error);
    keep(connect.value);
    const emit = keep(vm.newFunction('emit', (kind, text) => {
      const k = vm.typeof(kind) === 'string' ? vm.getString(kind) : '';
      const t = vm.typeof(text) === 'string' ? vm.getString(text) : undefined;
      if (t !== undefined) sink(k, t);
    }));
    const made = vm.callFunction(connect.value, vm.undefined, emit);
    if (made.error !== undefined) return explain(made.error);
    const control = keep(made.value);
    const command = (name: string): { value?: QuickJSHandle; error?: QuickJSHandle } => {
      const arg = vm.newString(name);
      const result = vm.callFunction(control, vm.undefined, arg);
      arg.dispose();
      return result.error !== undefined ? { error: result.error } : { value: result.value };
    };
    for (const file of [input.entry, ...input.tests.filter((test) => test !== input.entry)]) {
      where = `while loading ${file}`;
      const step = command('file');
      if (step.error !== undefined) return explain(step.error);
      step.value?.dispose();
      const loaded = vm.evalCode(`import ${JSON.stringify(file)};\nexport const loaded = true;\n`, 'sandbox:loader', { type: 'module' });
      if (loaded.error !== undefined) return explain(loaded.error);
      const namespace = keep(loaded.value);
      const jobs = drain();
      if (jobs !== undefined) return explain(jobs);
      const state = vm.getPromiseState(namespace);
      if (state.type === 'pending') return failure('timeout', `${file} never finished loading: its top-level await waits on a promise that never settles (the sandbox has no timers or I/O)`);
      if (state.type === 'rejected') return explain(state.error);
      if (!state.notAPromise) state.value.dispose();
    }
    where = 'while running the tests';
    const started = command('run');
    if (started.error !== undefined) return explain(started.error);
    started.value?.dispose();
    const jobs = drain();
    if (jobs !== undefined) return explain(jobs);
    const result = command('result');
    if (result.error !== undefined) return explain(result.error);
    const json = vm.typeof(result.value as QuickJSHandle) === 'string' ? vm.getString(result.value as QuickJSHandle) : undefined;
    result.value?.dispose();
    if (json === undefined) {
      const at = current === undefined ? where : `in test ${JSON.stringify(current)}`;
      if (current !== undefined) tests.push({ name: current, ok: false, ms: 0, message: 'waits on a promise that never settles' });
      return failure('timeout', `the run cannot finish ${at}: it waits on a promise that never settles (the sandbox has no timers or I/O, so nothing can settle it later)`);
    }
    const outcome = JSON.parse(json) as { tests: TestResult[]; registered: number };
    const results = capResults(outcome.tests);
    const failed = results.filter((test) => !test.ok);
    const usage = runtime.computeMemoryUsage();
    const memoryBytes = Number((vm.dump(usage) as { memory_used_size?: number }).memory_used_size ?? 0);
    usage.dispose();
    if (failed.length > 0) {
      const message = `${failed.length} of ${results.length} tests failed: ${failed[0].name}: ${failed[0].message ?? 'failed'}`;
      return { ok: false, reason: 'tests-failed', message, tests: results, console: consoleLines, ms: elapsed() };
    }
    if (input.tests.length > 0 && results.length === 0) {
      const why = outcome.registered === 0
        ? `${input.tests.join(', ')} registered no test cases (call it() or test() at the top level or inside describe())`
        : `all ${outcome.registered} registered tests were skipped or marked todo`;
      return { ok: false, reason: 'tests-failed', message: `no tests ran: ${why}`, tests: results, console: consoleLines, ms: elapsed() };
    }
    return { ok: true, tests: results, console: consoleLines, ms: elapsed(), memoryBytes };
  } finally {
    for (const handle of handles.reverse()) if (handle.alive) handle.dispose();
    try {
      vm.dispose();
      runtime.dispose();
    } catch {
      // A runtime that ran out of memory may fail its own leak checks; the next run gets a new one.
    }
  }
}

/** Re-exported so the worker needs one import for its engine's context type. */
export type { QuickJSContext };
