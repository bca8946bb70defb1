/**
 * One validation in QuickJS (compiled to WebAssembly): the engine behind the 'quickjs-process'
 * driver, used on Deno where isolated-vm cannot load. Generated code runs inside the WebAssembly
 * memory of a fresh QuickJS runtime; the only host function it can reach is the harness's `emit`
 * (strings out). Every job runs on this thread under an interrupt handler, so endless loops and
 * endless promise-callback chains stop once the run's CPU budget is spent (`_budget.ts`), and a promise left pending once no job is
 * queued can never settle (no timers, no I/O): that is reported as a timeout at once.
 *
 * Some of QuickJS's C recursion (JSON.parse of deep nesting, joining nested arrays) exhausts this
 * process's own stack before QuickJS's stack check fires; the host exception unwinds through the
 * WebAssembly frames and leaves the module's state (its C stack pointer, its heap) corrupt. Such a
 * run is reported, and marked `broken` so the pool replaces this worker.
 */
import { posix } from 'node:path';
import type { QuickJSContext, QuickJSHandle, QuickJSWASMModule } from 'quickjs-emscripten';
import type { SandboxReport } from './mod.ts';
import { clip, clipHead, createConsoleLog, createResultsLog, failureReport } from './_bound.ts';
import { startBudget } from './_budget.ts';
import { concludeRun } from './_conclude.ts';
import { heldMemory, isAllocationError, stackLocation } from './_diagnose.ts';
import { HarnessEvent } from './_harness.ts';
import { harnessSource, testModuleSource } from './_harness_source.ts';
import type { RunInput } from './_input.ts';
import { jsonModuleSource } from './_json.ts';
import { REPORT_LIMITS } from './_limits.ts';
import type { Location } from './_modules.ts';
import { checkSources } from './_static.ts';

type FailureReason = (SandboxReport & { ok: false })['reason'];

/** A run's report; `broken` says why this worker's engine must not run anything else. */
export interface QuickJSOutcome {
  report: SandboxReport;
  broken?: string;
}

const TEST_MODULES = ['sandbox:test', 'vitest'];
const STACK_BYTES = 256 * 1024;
/** How often the run's CPU time is read once it may be spent. */
const CPU_CHECK_MS = 10;
/** How long the harness may run past an interrupt to name the test that was running. */
const NAMING_GRACE_MS = 300;

function candidatesFor(base: string): string[] {
  if (/\.(json|[mc]?ts)$/.test(base)) return [base];
  if (/\.m?js$/.test(base)) return [base, base.replace(/js$/, 'ts')];
  return [base, ...['.js', '.mjs', '.ts', '.mts', '/index.js', '/index.mjs', '/index.ts'].map((suffix) => base + suffix)];
}

/** An exception thrown by the host (not a QuickJS error handle) out of the engine. */
class EngineFault extends Error {
  readonly thrown: unknown;
  constructor(thrown: unknown) {
    super(thrown instanceof Error ? thrown.message : String(thrown));
    this.thrown = thrown;
  }
}

export function runQuickJS(engine: QuickJSWASMModule, input: RunInput): QuickJSOutcome {
  const startedAt = performance.now();
  const budget = startBudget(input.timeoutMs);
  /** The CPU clock is read only once the wall clock says the budget could be spent, then every CPU_CHECK_MS. */
  let nextCheck = startedAt + input.timeoutMs;
  const elapsed = () => Math.round((performance.now() - startedAt) * 1000) / 1000;
  const consoleLog = createConsoleLog();
  const results = createResultsLog();
  /** The running test: its name, or undefined while only the harness knows it (a long name). */
  let current: { name: string | undefined } | undefined;
  let where = 'while preparing the sandbox';
  let refused: { message: string; location?: Location } | undefined;
  let broken: string | undefined;

  const sink = (kind: string, text: string) => {
    if (kind === HarnessEvent.Console) consoleLog.add(text);
    else if (kind === HarnessEvent.ConsoleTruncated) consoleLog.cut();
    else if (kind === HarnessEvent.TestStart) current = { name: clip(text, REPORT_LIMITS.testNameBytes) };
    else if (kind === HarnessEvent.TestStartUnnamed) current = { name: undefined };
    else if (kind === HarnessEvent.TestEnd) {
      results.event(text);
      current = undefined;
    }
  };
  const failure = (reason: FailureReason, message: string, location?: Location): QuickJSOutcome => ({
    report: failureReport(reason, message, { location, tests: results.finish(), console: consoleLog.lines, ms: elapsed() }),
    broken,
  });

  const checked = checkSources(input.files, [input.entry, ...input.tests]);
  if (!checked.ok) return failure(checked.reason, checked.message, checked.location);
  const sources = checked.sources;

  const runtime = engine.newRuntime();
  let interrupted = false;
  let graceUntil = 0;
  runtime.setMemoryLimit(input.memoryMb * 1024 * 1024);
  runtime.setMaxStackSize(STACK_BYTES);
  runtime.setInterruptHandler(() => {
    const now = performance.now();
    if (now < graceUntil) return false;
    if (!interrupted && now > nextCheck) {
      nextCheck = now + CPU_CHECK_MS;
      if (budget.spent() || budget.wallLeft() < 1) interrupted = true;
    }
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
  /** Calls into the engine; a host exception out of it is an EngineFault. */
  const engineCall = <T>(call: () => T): T => {
    try {
      return call();
    } catch (error) {
      throw new EngineFault(error);
    }
  };
  let control: QuickJSHandle | undefined;
  /** Asks the harness (`control(name, value)`) for a string, within the run's time or a short grace after it. */
  const ask = (name: string, value?: QuickJSHandle): string | undefined => {
    if (control === undefined) return undefined;
    const wasInterrupted = interrupted;
    interrupted = false;
    graceUntil = performance.now() + NAMING_GRACE_MS;
    const arg = vm.newString(name);
    try {
      const result = value === undefined ? vm.callFunction(control, vm.undefined, arg) : vm.callFunction(control, vm.undefined, arg, value);
      if (result.error !== undefined) {
        result.error.dispose();
        return undefined;
      }
      const text = vm.typeof(result.value) === 'string' ? vm.getString(result.value) : undefined;
      result.value.dispose();
      return text;
    } finally {
      arg.dispose();
      graceUntil = 0;
      interrupted = wasInterrupted;
    }
  };
  const testName = (): string | undefined => {
    if (current === undefined) return undefined;
    current.name ??= ask('current') ?? '(a test whose name could not be read)';
    return current.name;
  };

  /** What a thrown value says, within the limits: asked of the harness, so a 20 MB message stays in the engine. */
  const describe = (errorHandle: QuickJSHandle): { name: string; message: string; stack?: string } => {
    const json = interrupted ? undefined : ask('describe', errorHandle);
    if (json !== undefined) {
      const described = JSON.parse(json) as { thrown?: string; name?: string; message?: string; stack?: string };
      if (described.thrown !== undefined) return { name: '', message: `threw ${described.thrown}` };
      return { name: described.name ?? 'Error', message: described.message ?? '', stack: described.stack };
    }
    // The harness could not answer (out of memory, interrupted): read the two fields directly.
    const read = (key: string) => {
      const handle = vm.getProp(errorHandle, key);
      const text = vm.typeof(handle) === 'string' ? clip(vm.getString(handle), REPORT_LIMITS.messageBytes) : undefined;
      handle.dispose();
      return text;
    };
    return { name: read('name') ?? 'Error', message: read('message') ?? '' };
  };

  /** The bytes the run's QuickJS heap holds, or undefined if the engine cannot say. */
  const memoryUsed = (): number | undefined => {
    try {
      const usage = runtime.computeMemoryUsage();
      const bytes = Number((vm.dump(usage) as { memory_used_size?: number }).memory_used_size);
      usage.dispose();
      return Number.isFinite(bytes) ? bytes : undefined;
    } catch {
      return undefined;
    }
  };

  /** An error handle as a failure: its kind decides the reason. */
  const explain = (errorHandle: QuickJSHandle): QuickJSOutcome => {
    const error = describe(errorHandle);
    errorHandle.dispose();
    const { name, message } = error;
    const head = name === '' ? message : `${name}: ${message}`;
    const running = testName();
    const at = running === undefined ? where : `in test ${JSON.stringify(running)}`;
    const fail = (reason: FailureReason, text: string, location?: Location): QuickJSOutcome => {
      const message = clip(reason === 'threw' ? head : text, REPORT_LIMITS.testMessageBytes);
      if (running !== undefined) results.offer({ name: running, ok: false, ms: 0, message });
      current = undefined;
      return failure(reason, text, location);
    };
    if (interrupted || (name === 'InternalError' && message === 'interrupted')) {
      const bomb = heldMemory(memoryUsed(), { memoryMb: input.memoryMb, timeoutMs: input.timeoutMs, where: at });
      if (bomb !== undefined) return fail('memory', bomb);
      return fail('timeout', budget.exceeded(at));
    }
    if (/out of memory/i.test(message)) return fail('memory', `the code exceeded its ${input.memoryMb} MB memory limit ${at}`);
    if (isAllocationError(Object.assign(new Error(message), { name }))) {
      return fail('memory', `the code tried to allocate more than the engine allows (${clip(head, 512)}) ${at}; its memory limit is ${input.memoryMb} MB`);
    }
    if (refused !== undefined) return fail('threw', refused.message, refused.location);
    const location = stackLocation(error.stack, input.files);
    const suffix = location === undefined ? '' : `, at ${location.file}:${location.line}:${location.column}`;
    return fail('threw', clipHead(head, ` (${at}${suffix})`, REPORT_LIMITS.messageBytes), location);
  };

  /** A host exception out of the engine: the engine's state is suspect from here on. */
  const fault = (error: EngineFault): QuickJSOutcome => {
    const thrown = error.thrown;
    const overflow = thrown instanceof RangeError && /call stack/i.test(thrown.message);
    // The engine is not asked for a long test name any more: nothing more runs in it.
    const running = current === undefined ? undefined : current.name ?? '(a test with a long name)';
    const at = running === undefined ? where : `in test ${JSON.stringify(running)}`;
    broken = overflow ? 'the engine overflowed its native stack' : `the engine failed: ${error.message}`;
    const message = overflow
      ? `RangeError: Maximum call stack size exceeded (${at}): the code nests or recurses too deeply for the engine `
        + '(deeply nested JSON, arrays or calls); the sandbox worker that ran it is replaced'
      : `internal sandbox error (this is a bug in the sandbox, not in the code under test): the engine failed ${at}: ${error.message}; `
        + 'the sandbox worker that ran it is replaced';
    if (running !== undefined) results.offer({ name: running, ok: false, ms: 0, message: clip(message, REPORT_LIMITS.testMessageBytes) });
    return failure('threw', message);
  };

  /** Runs queued jobs until none is left; an error handle when one threw or was interrupted. */
  const drain = (): QuickJSHandle | undefined => {
    for (;;) {
      const result = engineCall(() => runtime.executePendingJobs(-1));
      if (result.error !== undefined) return result.error;
      // An interrupted job is dropped without an error: the flag is what tells.
      if (interrupted) return vm.newError({ name: 'InternalError', message: 'interrupted' });
      if (result.value === 0) return undefined;
    }
  };

  const execute = (): QuickJSOutcome => {
    const connect = engineCall(() => vm.evalCode(harnessSource(), 'sandbox:harness', { type: 'global' }));
    if (connect.error !== undefined) return explain(connect.error);
    keep(connect.value);
    const emit = keep(vm.newFunction('emit', (kind, text) => {
      const k = vm.typeof(kind) === 'string' ? vm.getString(kind) : '';
      const t = vm.typeof(text) === 'string' ? vm.getString(text) : undefined;
      if (t !== undefined) sink(k, t);
    }));
    const made = engineCall(() => vm.callFunction(connect.value, vm.undefined, emit));
    if (made.error !== undefined) return explain(made.error);
    control = keep(made.value);
    const command = (name: string): { value?: QuickJSHandle; error?: QuickJSHandle } => {
      const arg = vm.newString(name);
      const result = engineCall(() => vm.callFunction(control as QuickJSHandle, vm.undefined, arg));
      arg.dispose();
      return result.error !== undefined ? { error: result.error } : { value: result.value };
    };
    for (const file of [input.entry, ...input.tests.filter((test) => test !== input.entry)]) {
      where = `while loading ${file}`;
      const step = command('file');
      if (step.error !== undefined) return explain(step.error);
      step.value?.dispose();
      const loaded = engineCall(() => vm.evalCode(`import ${JSON.stringify(file)};\nexport const loaded = true;\n`, 'sandbox:loader', { type: 'module' }));
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
      const running = testName();
      const at = running === undefined ? where : `in test ${JSON.stringify(running)}`;
      if (running !== undefined) results.offer({ name: running, ok: false, ms: 0, message: 'waits on a promise that never settles' });
      return failure('timeout', `the run cannot finish ${at}: it waits on a promise that never settles (the sandbox has no timers or I/O, so nothing can settle it later)`);
    }
    return { report: concludeRun(json, input, consoleLog.lines, elapsed(), memoryUsed() ?? 0) };
  };

  let outcome: QuickJSOutcome;
  try {
    outcome = execute();
  } catch (error) {
    if (!(error instanceof EngineFault)) throw error;
    outcome = fault(error);
  }
  try {
    for (const handle of handles.reverse()) if (handle.alive) handle.dispose();
    vm.dispose();
    runtime.dispose();
  } catch (error) {
    // A runtime that ran out of memory may fail its own leak checks; after a fault its state is
    // not to be trusted. Either way this worker's engine is done.
    broken ??= `the engine could not be disposed cleanly: ${error instanceof Error ? error.message : String(error)}`;
  }
  return broken === undefined ? outcome : { report: outcome.report, broken };
}

/** Re-exported so the worker needs one import for its engine's context type. */
export type { QuickJSContext };
