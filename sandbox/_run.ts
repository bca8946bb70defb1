/**
 * One validation run inside the worker process: a fresh isolate with the harness, the files
 * compiled and linked, the entry then each test file loaded, the tests run, everything under one
 * wall-clock deadline. isolated-vm comes in as an argument so only `_worker.ts` loads the addon.
 */
import { Buffer } from 'node:buffer';
import type IVM from 'isolated-vm';
import type { SandboxReport, TestResult } from './mod.ts';
import { DeadlineError, diagnose } from './_diagnose.ts';
import type { RunState } from './_diagnose.ts';
import { CONSOLE_LIMIT, HarnessEvent, harnessSource } from './_harness.ts';
import type { HarnessControl } from './_harness.ts';
import type { RunInput } from './_input.ts';
import { compileModules } from './_modules.ts';
import type { Problem } from './_modules.ts';

type Ivm = typeof IVM;
type Sink = (kind: string, text: string) => void;
type FailureReason = (SandboxReport & { ok: false })['reason'];

/** The watchdog fires a little after the deadline so isolated-vm's own timeout, which knows it was a loop, wins when it applies. */
const WATCHDOG_SLACK_MS = 100;

/**
 * An isolate with a context and the harness installed, ready for exactly one run. Preparing is
 * kept apart from running so a warm pool can prepare the next isolate while nobody waits.
 */
export interface PreparedIsolate {
  isolate: IVM.Isolate;
  context: IVM.Context;
  control: IVM.Reference<HarnessControl>;
  /** Routes the harness's events (console lines, test starts and ends) to this run. */
  attach(sink: Sink): void;
}

function onCatastrophicError(message: string): void {
  // isolated-vm's advice: V8 lost control of the isolate, so the process must not go on. The parent
  // sees the abort, reports the run and starts a fresh worker.
  process.stderr.write(`sandbox worker: catastrophic isolate error: ${message}\n`);
  process.abort();
}

export async function prepareIsolate(ivm: Ivm, memoryMb: number): Promise<PreparedIsolate> {
  const isolate = new ivm.Isolate({ memoryLimit: memoryMb, onCatastrophicError });
  try {
    const context = await isolate.createContext();
    const script = await isolate.compileScript(harnessSource(), { filename: 'sandbox:harness' });
    const connect = (await script.run(context, { reference: true })) as IVM.Reference<(emit: unknown) => HarnessControl>;
    let sink: Sink = () => undefined;
    // Only strings come out, asynchronously: untrusted code never gets a way to block or call the host.
    const emit = new ivm.Callback((kind: unknown, text: unknown) => {
      if (typeof kind === 'string' && typeof text === 'string') sink(kind, text);
    }, { ignored: true });
    const control = (await connect.apply(undefined, [emit], { result: { reference: true } })) as IVM.Reference<HarnessControl>;
    script.release();
    connect.release();
    return { isolate, context, control, attach: (next) => { sink = next; } };
  } catch (error) {
    if (!isolate.isDisposed) isolate.dispose();
    throw error;
  }
}

function parseResult(value: unknown): TestResult | undefined {
  const raw = value as Partial<TestResult> | null;
  if (raw === null || typeof raw !== 'object' || typeof raw.name !== 'string' || typeof raw.ok !== 'boolean' || typeof raw.ms !== 'number') return undefined;
  const result: TestResult = { name: raw.name, ok: raw.ok, ms: raw.ms };
  if (typeof raw.message === 'string') result.message = raw.message;
  return result;
}

/** What the harness reported while the run went on: kept host-side so a timeout or crash still has it. */
function createRunLog() {
  let bytes = 0;
  let truncated = false;
  const log = {
    console: [] as string[],
    tests: [] as TestResult[],
    current: undefined as { name: string; startedAt: number } | undefined,
    /** The last test that finished: work it left queued (a promise callback loop) may be what hangs. */
    finished: undefined as string | undefined,
    sink(kind: string, text: string): void {
      if (kind === HarnessEvent.Console && !truncated) {
        const size = Buffer.byteLength(text) + 1;
        if (bytes + size <= CONSOLE_LIMIT) {
          bytes += size;
          log.console.push(text);
          return;
        }
        const room = CONSOLE_LIMIT - bytes;
        if (room > 1) log.console.push(Buffer.from(text).subarray(0, room - 1).toString().replace(/\uFFFD$/, ''));
        cut();
      } else if (kind === HarnessEvent.ConsoleTruncated) {
        cut();
      } else if (kind === HarnessEvent.TestStart) {
        log.current = { name: text, startedAt: performance.now() };
      } else if (kind === HarnessEvent.TestEnd) {
        let result: TestResult | undefined;
        try {
          result = parseResult(JSON.parse(text));
        } catch {
          result = undefined;
        }
        if (result !== undefined) log.tests.push(result);
        log.finished = log.current?.name;
        log.current = undefined;
      }
    },
  };
  function cut(): void {
    if (truncated) return;
    truncated = true;
    log.console.push(`[console output truncated: it exceeded ${CONSOLE_LIMIT / 1024} KB]`);
  }
  return log;
}

export async function runValidation(ivm: Ivm, input: RunInput): Promise<SandboxReport> {
  const startedAt = performance.now();
  const deadline = startedAt + input.timeoutMs;
  const log = createRunLog();
  const state: RunState = { timeoutMs: input.timeoutMs, memoryMb: input.memoryMb, watchdogFired: false, where: 'while preparing the sandbox', files: input.files, graph: undefined };
  const elapsed = () => Math.round(performance.now() - startedAt);
  const remaining = () => {
    const left = Math.floor(deadline - performance.now());
    if (left < 1) throw new DeadlineError();
    return left;
  };
  const failure = (reason: FailureReason, problem: Problem): SandboxReport => {
    const report: SandboxReport = { ok: false, reason, message: problem.message, console: log.console, ms: elapsed() };
    if (problem.location !== undefined) report.location = problem.location;
    if (log.tests.length > 0) report.tests = log.tests;
    return report;
  };
  let prepared: PreparedIsolate | undefined;
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  try {
    prepared = await prepareIsolate(ivm, input.memoryMb);
    const { isolate, context, control } = prepared;
    prepared.attach(log.sink);
    // Code awaiting a promise nothing will settle leaves the isolate idle, where no timeout option
    // reaches it; disposing the isolate is the one way to stop it.
    watchdog = setTimeout(() => {
      state.watchdogFired = true;
      isolate.dispose();
    }, Math.max(0, deadline - performance.now()) + WATCHDOG_SLACK_MS);
    const compiled = await compileModules(isolate, context, input.files, [input.entry, ...input.tests]);
    if (!compiled.ok) return failure('syntax', compiled.problem);
    state.graph = compiled.graph;
    for (const file of [input.entry, ...input.tests.filter((test) => test !== input.entry)]) {
      state.where = `while loading ${file}`;
      await control.apply(undefined, ['file'], { timeout: remaining() });
      if (!(await compiled.graph.load(file, remaining()))) {
        return failure('timeout', { message: `${file} never finished loading: its top-level await waits on a promise that never settles (the sandbox has no timers or I/O)` });
      }
    }
    state.where = 'while running the tests';
    const json = await control.apply(undefined, ['run'], { result: { promise: true, copy: true }, timeout: remaining() });
    const outcome = JSON.parse(String(json)) as { tests: unknown[]; registered: number };
    const tests = outcome.tests.map(parseResult).filter((result) => result !== undefined);
    const heap = isolate.getHeapStatisticsSync();
    const failed = tests.filter((test) => !test.ok);
    const ms = elapsed();
    if (failed.length > 0) {
      const message = `${failed.length} of ${tests.length} tests failed: ${failed[0].name}: ${failed[0].message ?? 'failed'}`;
      return { ok: false, reason: 'tests-failed', message, tests, console: log.console, ms };
    }
    if (input.tests.length > 0 && tests.length === 0) {
      const why = outcome.registered === 0
        ? `${input.tests.join(', ')} registered no test cases (call it() or test() at the top level or inside describe())`
        : `all ${outcome.registered} registered tests were skipped or marked todo`;
      return { ok: false, reason: 'tests-failed', message: `no tests ran: ${why}`, tests, console: log.console, ms };
    }
    return { ok: true, tests, console: log.console, ms, memoryBytes: heap.used_heap_size + heap.externally_allocated_size };
  } catch (error) {
    const current = log.current;
    if (current !== undefined) state.where = `in test ${JSON.stringify(current.name)}`;
    else if (log.finished !== undefined && state.where === 'while running the tests') state.where += ` (after test ${JSON.stringify(log.finished)} had finished)`;
    const diagnosis = diagnose(error, state);
    if (current !== undefined && diagnosis.reason !== 'threw') {
      log.tests.push({ name: current.name, ok: false, ms: Math.round(performance.now() - current.startedAt), message: diagnosis.message });
    }
    return failure(diagnosis.reason, diagnosis);
  } finally {
    clearTimeout(watchdog);
    if (prepared !== undefined && !prepared.isolate.isDisposed) prepared.isolate.dispose();
  }
}
