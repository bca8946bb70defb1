/**
 * Validation runs inside the worker process. Each run gets a FRESH CONTEXT (its own globals,
 * intrinsics and harness) in a WARM ISOLATE: the isolate and the next context are prepared while
 * the worker is idle, so a run pays only for its own modules and tests. An isolate that ended a run
 * abnormally (time or memory limit, disposal) is never reused.
 *
 * Isolates start from a V8 startup snapshot of our harness, made once in this process from our own
 * source (never from generated output or a file): a new context already holds the evaluated
 * harness and its compiled code, which makes a fresh isolate's first run (the cold path) cheap.
 *
 * A run's limit counts CPU time (`_budget.ts`), so a busy machine makes a run slower, never a
 * timeout. Steps run synchronously, bounded by isolated-vm's `timeout`; a run that a busy machine
 * starved before it used its CPU is run again metered (see `run`). A run still waiting on a promise
 * after its synchronous part sits idle: a watchdog disposes the isolate once its time limit has
 * passed on the wall clock. isolated-vm comes in as an argument so only `_worker.ts` loads the addon.
 */
import type IVM from 'isolated-vm';
import type { SandboxReport } from './mod.ts';
import { clip, failureReport } from './_bound.ts';
import { concludeRun } from './_conclude.ts';
import { startBudget } from './_budget.ts';
import { DeadlineError, diagnose } from './_diagnose.ts';
import type { RunState } from './_diagnose.ts';
import { TAKE_CONNECT, harnessSnapshotSource, harnessWarmup } from './_harness_source.ts';
import type { HarnessControl } from './_harness.ts';
import type { RunInput } from './_input.ts';
import { REPORT_LIMITS } from './_limits.ts';
import { createRunLog } from './_run_log.ts';
import { compileModules } from './_modules.ts';
import type { Problem } from './_modules.ts';
import { checkSources } from './_static.ts';

type Ivm = typeof IVM;
type Sink = (kind: string, text: string) => void;
type FailureReason = (SandboxReport & { ok: false })['reason'];

/** The async watchdog fires this long after the deadline (timer granularity), disposing the isolate. */
const WATCHDOG_SLACK_MS = 2;
/** How often the run's CPU time is read while a metered step runs. */
const CPU_CHECK_MS = 10;
const STARVED = Symbol('starved');
/** How long the harness may take, after a run hit its time limit, to cut the running test's long name. */
const NAMING_MS = 300;
/** A warm isolate serves at most this many runs, or until its heap passes half its limit. */
const RUNS_PER_ISOLATE = 1000;

/** A context with the harness installed, ready for exactly one run. */
export interface PreparedContext {
  context: IVM.Context;
  control: IVM.Reference<HarnessControl>;
  /** Routes the harness's events (console lines, test starts and ends) to this run. */
  attach(sink: Sink): void;
  release(): void;
}

/** One isolate kept warm for runs with the same memory limit. */
interface Slot {
  isolate: IVM.Isolate;
  memoryMb: number;
  runs: number;
  next: PreparedContext | undefined;
}

export interface Runner {
  run(input: RunInput): Promise<SandboxReport>;
  /** Prepares an isolate and a context for `memoryMb` so the next run starts warm. */
  warm(memoryMb: number): void;
  /** How the last run started: 'warm' (prepared context), 'context' (warm isolate) or 'cold'. */
  lastStart(): 'warm' | 'context' | 'cold';
  /** Disposes the isolates retired since the last call (off a run's critical path). */
  tidy(): void;
}

function onCatastrophicError(message: string): void {
  // isolated-vm's advice: V8 lost control of the isolate, so the process must not go on. The parent
  // sees the abort, reports the run and starts a fresh worker.
  process.stderr.write(`sandbox worker: catastrophic isolate error: ${message}\n`);
  process.abort();
}

/** What the isolate holds against its memory limit: its V8 heap and its external allocations. */
function heapUsed(isolate: IVM.Isolate): number {
  const heap = isolate.getHeapStatisticsSync();
  return heap.used_heap_size + heap.externally_allocated_size;
}

export function createRunner(ivm: Ivm): Runner {
  const slots = new Map<number, Slot>();
  /** Isolates out of service, disposed by `tidy()` once the run's report is on its way. */
  const retired: IVM.Isolate[] = [];
  let snapshot: IVM.ExternalCopy<ArrayBuffer> | undefined;
  let started: 'warm' | 'context' | 'cold' = 'cold';

  function newSlot(memoryMb: number): Slot {
    // The snapshot is made here, from our own harness source and warm-up, and never leaves the
    // process: snapshot data or compiled code is never taken from generated output or a file
    // (CVE-2022-39266).
    snapshot ??= ivm.Isolate.createSnapshot([{ code: harnessSnapshotSource(), filename: 'sandbox:harness' }], harnessWarmup());
    const isolate = new ivm.Isolate({ memoryLimit: memoryMb, onCatastrophicError, snapshot });
    return { isolate, memoryMb, runs: 0, next: undefined };
  }

  function prepare(slot: Slot): PreparedContext {
    const context = slot.isolate.createContextSync();
    let sink: Sink = () => undefined;
    // Only strings come out, synchronously: the harness's console and test events. The function is
    // sealed inside the harness's closure; generated code sees console.log, never this callback.
    const emit = new ivm.Callback((kind: unknown, text: unknown) => {
      if (typeof kind === 'string' && typeof text === 'string') sink(kind, text);
    }, { sync: true });
    // The snapshot parked the evaluated harness's `connect` on the global: take it off before any
    // generated code runs in this context.
    const connect = context.evalSync(TAKE_CONNECT, { reference: true }) as IVM.Reference<(emit: unknown) => HarnessControl>;
    const control = connect.applySync(undefined, [emit], { result: { reference: true } }) as IVM.Reference<HarnessControl>;
    connect.release();
    return {
      context,
      control,
      attach: (next) => { sink = next; },
      release() {
        sink = () => undefined;
        control.release();
        context.release();
      },
    };
  }

  function retire(slot: Slot): void {
    if (slots.get(slot.memoryMb) === slot) slots.delete(slot.memoryMb);
    slot.next?.release();
    slot.next = undefined;
    // Disposing takes a fraction of a millisecond: it waits for tidy(), after the report is sent.
    // Until then the isolate runs nothing: its run is over and it is in no slot.
    if (!slot.isolate.isDisposed) retired.push(slot.isolate);
  }

  function tidy(): void {
    for (const isolate of retired.splice(0)) if (!isolate.isDisposed) isolate.dispose();
  }

  /** Keeps isolates for at most two limits: the validator's and one other. */
  function add(slot: Slot): void {
    if (slots.size >= 2) for (const other of [...slots.values()].slice(0, slots.size - 1)) retire(other);
    slots.set(slot.memoryMb, slot);
  }

  function take(memoryMb: number): { slot: Slot; prepared: PreparedContext } {
    let slot = slots.get(memoryMb);
    if (slot !== undefined && slot.isolate.isDisposed) {
      retire(slot);
      slot = undefined;
    }
    started = slot === undefined ? 'cold' : slot.next === undefined ? 'context' : 'warm';
    if (slot === undefined) {
      slot = newSlot(memoryMb);
      add(slot);
    }
    const prepared = slot.next ?? prepare(slot);
    slot.next = undefined;
    slot.runs++;
    return { slot, prepared };
  }

  function warm(memoryMb: number): void {
    try {
      let slot = slots.get(memoryMb);
      if (slot === undefined || slot.isolate.isDisposed) {
        if (slot !== undefined) retire(slot);
        slot = newSlot(memoryMb);
        add(slot);
      }
      slot.next ??= prepare(slot);
    } catch (error) {
      process.stderr.write(`sandbox worker: could not warm an isolate: ${String(error)}\n`);
    }
  }

  /** After a run: keep the isolate only if the run ended cleanly and the heap has room. */
  function settle(slot: Slot, clean: boolean, heapBytes: number | undefined): void {
    if (!clean || slot.isolate.isDisposed || slot.runs >= RUNS_PER_ISOLATE) return retire(slot);
    heapBytes ??= heapUsed(slot.isolate);
    if (heapBytes > (slot.memoryMb * 1024 * 1024) / 2) retire(slot);
  }

  /**
   * A run is tried first on the fast path: each step synchronous, bounded by isolated-vm's
   * `timeout` at the run's limit on the wall clock. A step stopped there had either spent its CPU
   * budget (a runaway: that is the report) or been starved of CPU by a busy machine; only then is
   * the run tried again, metered: each step on the isolate's thread while this thread watches the
   * CPU time, with the wall-clock backstop. Generated code touches nothing outside its fresh
   * context, so trying it again changes nothing but the clock.
   */
  async function run(input: RunInput): Promise<SandboxReport> {
    const first = await attempt(input, false);
    return first === STARVED ? await attempt(input, true) as SandboxReport : first;
  }

  async function attempt(input: RunInput, metered: boolean): Promise<SandboxReport | typeof STARVED> {
    const startedAt = performance.now();
    const budget = startBudget(input.timeoutMs);
    const log = createRunLog();
    const state: RunState = { memoryMb: input.memoryMb, watchdogFired: false, cpuSpent: false, budget, where: 'while preparing the sandbox', files: input.files, graph: undefined };
    const elapsed = () => Math.round((performance.now() - startedAt) * 1000) / 1000;
    const remaining = () => {
      const left = metered ? budget.wallLeft() : Math.floor(startedAt + input.timeoutMs - performance.now());
      if (left < 1) throw new DeadlineError();
      return left;
    };
    /** On the fast path, a step stopped by the clock before the run used its CPU budget. */
    const starved = (error: unknown): boolean => !metered
      && (error instanceof DeadlineError || (error instanceof Error && error.message === 'Script execution timed out.'))
      && budget.starved();
    const failure = (reason: FailureReason, problem: Problem): SandboxReport => failureReport(reason, problem.message, {
      location: problem.location,
      tests: log.results.finish(),
      console: log.console,
      ms: elapsed(),
    });
    const order = [input.entry, ...input.tests];
    // V8 compiles the modules below and reports any syntax error; acorn's diagnostics run only when
    // something failed, so the first problem named is the same as a full check up front.
    let checked = checkSources(input.files, order, { parse: false });
    if (!checked.ok) checked = checkSources(input.files, order);
    if (!checked.ok) {
      return failure(checked.reason, checked.location === undefined ? { message: checked.message } : { message: checked.message, location: checked.location });
    }

    let taken: { slot: Slot; prepared: PreparedContext } | undefined;
    let clean = false;
    let heapBytes: number | undefined;
    let meter: ReturnType<typeof setInterval> | undefined;
    const finish = (): void => {
      clearInterval(meter);
      if (taken === undefined) return;
      taken.prepared.release();
      settle(taken.slot, clean && !state.watchdogFired, heapBytes);
    };
    /** The running test's long name, asked of the harness while the isolate still lives (a time limit, not a disposal). */
    const askName = (): string | undefined => {
      if (taken === undefined || taken.slot.isolate.isDisposed) return undefined;
      try {
        const name = taken.prepared.control.applySync(undefined, ['current'], { timeout: NAMING_MS });
        return typeof name === 'string' ? clip(name, REPORT_LIMITS.testNameBytes) : undefined;
      } catch {
        return undefined;
      }
    };
    const caught = (error: unknown): SandboxReport => {
      const current = log.current;
      if (current !== undefined) {
        current.name ??= askName() ?? '(a test with a long name)';
        state.where = `in test ${JSON.stringify(current.name)}`;
      }
      else if (log.finished !== undefined && state.where === 'while running the tests') state.where += ` (after test ${JSON.stringify(log.finished)} had finished)`;
      // What the run held when it was stopped tells a memory bomb from a slow loop.
      try {
        if (taken !== undefined && !taken.slot.isolate.isDisposed) state.heapBytes = heapUsed(taken.slot.isolate);
      } catch {
        state.heapBytes = undefined;
      }
      const diagnosis = diagnose(error, state);
      // A thrown error leaves the isolate as healthy as a passing run; limits and disposal do not.
      clean = diagnosis.reason === 'threw' && taken !== undefined && !taken.slot.isolate.isDisposed && !(error instanceof DeadlineError);
      if (current?.name !== undefined && diagnosis.reason !== 'threw') {
        const ms = Math.round(performance.now() - current.startedAt);
        log.results.offer({ name: current.name, ok: false, ms, message: clip(diagnosis.message, REPORT_LIMITS.testMessageBytes) });
      }
      return failure(diagnosis.reason, diagnosis);
    };
    const conclude = (json: string): SandboxReport => {
      heapBytes = heapUsed((taken as { slot: Slot }).slot.isolate);
      clean = true;
      return concludeRun(json, input, log.console, elapsed(), heapBytes);
    };

    let json: string | undefined;
    try {
      taken = take(input.memoryMb);
      const { isolate } = taken.slot;
      const { context, control } = taken.prepared;
      taken.prepared.attach(log.sink);
      const compiled = compileModules(isolate, context, input.files, checked.sources, order);
      if (!compiled.ok) {
        clean = true;
        finish();
        const full = checkSources(input.files, order);
        if (!full.ok) return failure(full.reason, full.location === undefined ? { message: full.message } : { message: full.message, location: full.location });
        return failure('syntax', compiled.problem);
      }
      state.graph = compiled.graph;
      if (metered) {
        // The isolate's heap cannot be read while it runs: what the worker grew by stands for it
        // when the CPU budget stops the run (a memory bomb grows, an endless loop does not).
        const rssAtStart = process.memoryUsage.rss();
        meter = setInterval(() => {
          if (!budget.spent() || isolate.isDisposed) return;
          clearInterval(meter);
          state.cpuSpent = true;
          state.heapBytes = Math.max(0, process.memoryUsage.rss() - rssAtStart);
          isolate.dispose();
        }, CPU_CHECK_MS);
      }
      const step = async (name: 'file' | 'run' | 'result'): Promise<unknown> => metered
        ? await control.apply(undefined, [name], { timeout: remaining() })
        : control.applySync(undefined, [name], { timeout: remaining() });
      for (const file of [input.entry, ...input.tests.filter((test) => test !== input.entry)]) {
        state.where = `while loading ${file}`;
        await step('file');
        if (!await compiled.graph.load(file, remaining(), metered)) {
          // A top-level await still pending: engine tasks (WebAssembly compilation, finalizers)
          // may settle it; nothing else can, so it gets the rest of the run's time.
          while (!compiled.graph.loaded(file)) {
            if (budget.idleLeft() < 1) {
              finish();
              return failure('timeout', { message: `${file} never finished loading within ${input.timeoutMs} ms: its top-level await waits on a promise that never settles (the sandbox has no timers or I/O)` });
            }
            await new Promise((resolve) => setTimeout(resolve, 1));
          }
        }
      }
      state.where = 'while running the tests';
      await step('run');
      json = await step('result') as string | undefined;
      if (typeof json === 'string') {
        const report = conclude(json);
        finish();
        return report;
      }
    } catch (error) {
      if (starved(error)) {
        finish();
        return STARVED;
      }
      const report = caught(error);
      finish();
      return report;
    }

    // A test still waits on a promise after every microtask ran. Nothing in the isolate can settle
    // it (no timers, no I/O), but the run is given its full time; then the watchdog disposes the
    // isolate, the one way to stop an isolate that sits idle (isolated-vm's timeout does not apply).
    const { isolate } = taken.slot;
    const control = taken.prepared.control;
    const watchdog = setTimeout(() => {
      state.watchdogFired = true;
      isolate.dispose();
    }, budget.idleLeft() + WATCHDOG_SLACK_MS);
    let wait: Promise<unknown>;
    try {
      wait = control.apply(undefined, ['wait'], { result: { promise: true, copy: true }, timeout: remaining() });
    } catch (error) {
      clearTimeout(watchdog);
      const report = caught(error);
      finish();
      return report;
    }
    return wait.then(
      (value) => conclude(String(value)),
      (error: unknown) => caught(error),
    ).finally(() => {
      clearTimeout(watchdog);
      finish();
    });
  }

  return { run, warm, lastStart: () => started, tidy };
}
