/**
 * The test harness that lives INSIDE each isolate: `console`, `describe`/`it`/`test`/`expect`/hooks as
 * globals and behind the virtual 'sandbox:test' module, and the runner that executes the registered
 * tests in order. `harnessSource()` is the script (the QuickJS driver evaluates it per context);
 * `harnessSnapshotSource()` is the same harness for isolated-vm's startup snapshot.
 *
 * `installHarness` runs inside the isolate (shipped via Function.prototype.toString): its body must
 * not reference anything outside itself; its helpers arrive as arguments. The only door back to the
 * host is `emit(kind, text)`, which carries plain strings.
 *
 * Generated code shares the context, so everything the harness calls once that code has run is a
 * built-in taken before (`createPrimordials`): replacing `Array.prototype.filter`, `Map.prototype.get`,
 * `Promise.prototype.then` or `JSON.stringify` changes no result. `test/sandbox/primordials.test.ts`
 * reads this source and fails on any global or method looked up later.
 */
import type { ConsoleOutput, SandboxConsole } from './_console.ts';
import type { Equality } from './_equality.ts';
import type { ExpectKit } from './_expect.ts';
import type { Formatter } from './_format.ts';
import { REPORT_LIMITS } from './_limits.ts';
import type { Clipper, ReportLimits } from './_limits.ts';
import type { Primordials } from './_primordials.ts';
import type { createResultsKeeper } from './_results.ts';
import type { KeptResult, ResultsKeeper } from './_results.ts';

/** What the harness tells the host while it runs (the second argument of emit is always a string). */
export const HarnessEvent = {
  Console: 'console',
  ConsoleTruncated: 'console-truncated',
  /** A test starts; the text is its name (a short one: it fits its cap whatever its characters). */
  TestStart: 'test',
  /**
   * A test with a long name starts: cutting it means counting all of it, which 10,000 tests with
   * 100 KB names cannot afford, so the host asks for it ('current') only if the run ends in that test.
   */
  TestStartUnnamed: 'test-unnamed',
  /** A test ended: `{name, ok, ms, message?}` as JSON, or `{ok, ms, dropped: true}` when the result is not kept. */
  TestEnd: 'result',
} as const;

/** The Symbol.for key under which the harness parks the test API for the 'sandbox:test' module. */
export const TEST_API_KEY = 'sandbox:test';

/** Console output the harness sends per run, in UTF-16 units (the host keeps the exact JSON-byte cap). */
export const CONSOLE_BUDGET = REPORT_LIMITS.consoleJsonBytes;

export interface HarnessConfig {
  limits: ReportLimits;
  consoleBudget: number;
  apiKey: string;
  events: typeof HarnessEvent;
}

/**
 * The host's handle on the harness: 'file' before each module loads (its top-level hooks get their
 * own scope); 'run' starts every registered test; 'result' is then
 * `{tests, registered, total, failed}` as JSON, or undefined while a test still waits on a promise;
 * 'wait' is a promise of that same JSON; 'current' is the running test's name, cut to its cap;
 * 'describe' turns a thrown value into `{name, message, stack}` JSON within the caps.
 */
export type HarnessControl = (command: 'file' | 'run' | 'result' | 'wait' | 'current' | 'describe', value?: unknown) => Promise<string> | string | undefined;

type Fn = (context?: unknown) => unknown;
type Mode = 'run' | 'skip' | 'only' | 'todo';
interface Suite { name: string; parent: Suite | undefined; mode: Mode; beforeAll: Fn[]; afterAll: Fn[]; beforeEach: Fn[]; afterEach: Fn[]; path?: Suite[] }
/** `shown` is the full name cut to its cap, made when first needed (a kept result, the host asking). */
interface Case { name: string; suite: Suite; fn: Fn | undefined; mode: Mode; shown: string | undefined }

export function installHarness(
  makePrimordials: () => Primordials,
  makeClipper: (p: Primordials) => Clipper,
  makeResults: typeof createResultsKeeper,
  makeFormatter: (p: Primordials, clipper: Clipper) => Formatter,
  makeEquality: (p: Primordials, formatter: Formatter) => Equality,
  makeExpect: (p: Primordials, formatter: Formatter, equality: Equality) => ExpectKit,
  makeConsole: (p: Primordials, formatter: Formatter, clipper: Clipper, output: ConsoleOutput) => SandboxConsole,
  config: HarnessConfig,
): (emit: (kind: string, text: string) => void) => HarnessControl {
  // Taken now, while they are the real ones: nothing below looks up a global or a built-in method.
  const p = makePrimordials();
  const clipper = makeClipper(p);
  const fmt = makeFormatter(p, clipper);
  const { expect, settle, isAssertion } = makeExpect(p, fmt, makeEquality(p, fmt));
  const { limits, events } = config;
  const { append, safely, JSONStringify: stringify, StringPrototypeSlice: slice } = p;
  /** An array or record without a prototype: JSON.stringify finds no toJSON to call on it. */
  const bare = <T extends object>(value: T): T => p.ObjectSetPrototypeOf(value, null);
  const newSuite = (name: string, parent: Suite | undefined, mode: Mode): Suite => (
    { name, parent, mode, beforeAll: [], afterAll: [], beforeEach: [], afterEach: [] }
  );

  return function connect(emit) {
    const global = globalThis as unknown as Record<string, unknown>;
    const console = makeConsole(p, fmt, clipper, {
      line: (text) => emit(events.Console, text),
      truncated: () => emit(events.ConsoleTruncated, ''),
      budget: config.consoleBudget,
      lineBytes: limits.consoleLineBytes,
    });
    const root = newSuite('', undefined, 'run');
    let current = root;
    let running = false;
    let runningCase: Case | undefined;
    const cases: Case[] = [];

    function guard(what: string): void {
      if (running) throw new p.Error(what + '() was called while tests were running: register tests at the top level or inside describe()');
    }

    const quoted = (name: string) => stringify(clipper.clip(name, 200));
    // A string name is kept as it came: String() would make QuickJS copy a concatenated name
    // (a rope sharing one big string) into a string of its own, for every test.
    const text = (value: unknown): string => (typeof value === 'string' ? value : p.String(value));

    function suite(mode: Mode) {
      return (name: unknown, body?: unknown) => {
        guard('describe');
        const child = newSuite(text(name), current, mode);
        const outer = current;
        current = child;
        try {
          const result = typeof body === 'function' ? (body as () => unknown)() : undefined;
          if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
            throw new p.Error('describe(' + quoted(child.name) + ') got an async callback: keep describe synchronous and await inside it()');
          }
        } finally {
          current = outer;
        }
      };
    }

    function testCase(mode: Mode) {
      return (name: unknown, fn?: unknown) => {
        guard('it');
        const title = text(name);
        const body: Fn | undefined = typeof fn === 'function' ? (fn as Fn) : fn === undefined ? undefined
          : () => { throw new p.Error('it(' + quoted(title) + ') needs a function as its second argument'); };
        append(cases, { name: title, suite: current, fn: body, mode: body === undefined ? 'todo' : mode, shown: undefined });
      };
    }

    const KEY = /\$(\w+)/g;
    const CODE = /%([sdifjoO#%])/g;

    /** Each match of `pattern` in `text` replaced by what `replace` makes of it (String.prototype.replace, rebuilt). */
    function substitute(text: string, pattern: RegExp, replace: (match: RegExpExecArray) => string): string {
      let result = '';
      let at = 0;
      pattern.lastIndex = 0;
      for (let match = p.RegExpPrototypeExec(pattern, text); match !== null; match = p.RegExpPrototypeExec(pattern, text)) {
        result += slice(text, at, match.index) + replace(match);
        at = match.index + match[0].length;
      }
      return result + slice(text, at);
    }

    function title(template: string, row: unknown, index: number): string {
      const args: unknown[] = [];
      if (p.ArrayIsArray(row)) for (let i = 0; i < row.length; i++) append(args, row[i]);
      else append(args, row);
      let next = 0;
      const named = substitute(template, KEY, (match) => (row !== null && typeof row === 'object' && match[1] in row
        ? fmt.format((row as Record<string, unknown>)[match[1]])
        : match[0]));
      return substitute(named, CODE, (match) => {
        const code = match[1];
        if (code === '%') return '%';
        if (code === '#') return p.String(index);
        if (next >= args.length) return match[0];
        const arg = args[next++];
        return code === 's' && typeof arg === 'string' ? arg : code === 'd' || code === 'i' || code === 'f' ? p.String(p.Number(arg)) : fmt.format(arg);
      });
    }

    function withEach<T extends (name: unknown, fn?: unknown) => void>(register: T, what: string): T {
      const each = (table: unknown) => (name: unknown, fn: (...args: unknown[]) => unknown) => {
        if (!p.ArrayIsArray(table)) throw new p.Error(what + '.each() needs an array of rows, got ' + fmt.format(table));
        for (let i = 0; i < table.length; i++) {
          const row = table[i];
          register(title(text(name), row, i), () => p.ReflectApply(fn, undefined, p.ArrayIsArray(row) ? row : [row]));
        }
      };
      p.ObjectDefineProperty(register, 'each', p.descriptor({ value: each, writable: true, enumerable: true, configurable: true }));
      return register;
    }

    function withModes<T extends object>(target: T, modes: Record<string, unknown>): T {
      const names = p.ObjectKeys(modes);
      for (let i = 0; i < names.length; i++) {
        p.ObjectDefineProperty(target, names[i], p.descriptor({ value: modes[names[i]], writable: true, enumerable: true, configurable: true }));
      }
      return target;
    }

    const describe = withModes(withEach(suite('run'), 'describe'), { skip: suite('skip'), only: suite('only'), todo: suite('skip') });
    const it = withModes(withEach(testCase('run'), 'it'), { skip: testCase('skip'), only: testCase('only'), todo: testCase('todo') });
    const hook = (kind: 'beforeAll' | 'afterAll' | 'beforeEach' | 'afterEach') => (fn: Fn) => {
      guard(kind);
      if (typeof fn === 'function') append(current[kind], fn);
    };
    const api: Record<string, unknown> = p.ObjectFreeze({
      describe, suite: describe, it, test: it, expect,
      beforeAll: hook('beforeAll'), afterAll: hook('afterAll'), beforeEach: hook('beforeEach'), afterEach: hook('afterEach'),
    });
    p.ObjectDefineProperty(global, p.Symbol.for(config.apiKey), p.descriptor({ value: api }));
    // The test API cannot be rebound (an assignment in a module throws); console stays replaceable.
    const apiNames = p.ObjectKeys(api);
    for (let i = 0; i < apiNames.length; i++) {
      p.ObjectDefineProperty(global, apiNames[i], p.descriptor({ value: api[apiNames[i]], writable: false, configurable: false, enumerable: false }));
    }
    p.ObjectDefineProperty(global, 'console', p.descriptor({ value: console, writable: true, configurable: true, enumerable: false }));
    if (typeof global.queueMicrotask !== 'function') {
      const queueMicrotask = (fn: () => void) => {
        void (async () => {
          await safely(undefined);
          fn();
        })();
      };
      p.ObjectDefineProperty(global, 'queueMicrotask', p.descriptor({ value: queueMicrotask, writable: true, configurable: true, enumerable: false }));
    }

    /** The suites around `of`, outermost first (worked out once per suite). */
    function chain(of: Suite): Suite[] {
      if (of.path !== undefined) return of.path;
      const inward: Suite[] = [];
      for (let s: Suite | undefined = of; s !== undefined; s = s.parent) append(inward, s);
      const list: Suite[] = [];
      for (let i = inward.length - 1; i >= 0; i--) append(list, inward[i]);
      of.path = list;
      return list;
    }

    const anySuite = (c: Case, mode: Mode) => {
      for (let s: Suite | undefined = c.suite; s !== undefined; s = s.parent) if (s.mode === mode) return true;
      return false;
    };

    /** The test's describe path and name joined with ' > ' (uncut until `shownName` cut it); `suites` is `chain(c.suite)` when known. */
    function fullName(c: Case, suites = c.shown === undefined ? chain(c.suite) : []): string {
      if (c.shown !== undefined) return c.shown;
      let name = '';
      for (let i = 0; i < suites.length; i++) if (suites[i].name !== '') name += suites[i].name + ' > ';
      return name + c.name;
    }

    /** The full name cut to its cap (cut once, then kept). */
    function shownName(c: Case): string {
      if (c.shown === undefined) {
        c.shown = clipper.clip(fullName(c), limits.testNameBytes);
        // Counting a concatenated name made V8 flatten it in place into one long string: let it go.
        c.name = c.shown;
      }
      return c.shown;
    }

    function failureText(failure: { prefix: string; error: unknown }): string {
      return failure.prefix + fmt.describeError(failure.error, limits.testMessageBytes - 64);
    }

    async function runAll(): Promise<string> {
      running = true;
      let hasOnly = false;
      for (let i = 0; i < cases.length && !hasOnly; i++) hasOnly = cases[i].mode === 'only' || anySuite(cases[i], 'only');
      const selected: Case[] = [];
      for (let i = 0; i < cases.length; i++) {
        const c = cases[i];
        if (c.mode === 'skip' || c.mode === 'todo' || anySuite(c, 'skip')) continue;
        if (!hasOnly || c.mode === 'only' || anySuite(c, 'only')) append(selected, c);
      }
      const lastUse = new p.Map<Suite, number>();
      for (let index = 0; index < selected.length; index++) {
        for (let s: Suite | undefined = selected[index].suite; s !== undefined; s = s.parent) p.MapPrototypeSet(lastUse, s, index);
      }
      const started = new p.Set<Suite>();
      const setupFailure = new p.Map<Suite, { prefix: string; error: unknown }>();
      const keeper: ResultsKeeper = makeResults(p, clipper, limits, { bare: true });
      for (let index = 0; index < selected.length; index++) {
        const c = selected[index];
        runningCase = c;
        const suites = chain(c.suite);
        const name = fullName(c, suites);
        if (name.length * 3 <= limits.testNameBytes) emit(events.TestStart, name);
        else emit(events.TestStartUnnamed, '');
        const context = { expect, task: { name } };
        const testStarted = p.DateNow();
        let failure: { prefix: string; error: unknown } | undefined;
        for (let i = 0; i < suites.length; i++) {
          const s = suites[i];
          if (p.SetPrototypeHas(started, s)) continue;
          p.SetPrototypeAdd(started, s);
          for (let j = 0; j < s.beforeAll.length; j++) {
            // Called through a local: `hooks[j]()` would hand our list to the hook as `this`.
            const hookFn = s.beforeAll[j];
            try {
              await safely(hookFn());
            } catch (error) {
              p.MapPrototypeSet(setupFailure, s, { prefix: 'beforeAll hook failed: ', error });
            }
          }
        }
        for (let i = 0; i < suites.length && failure === undefined; i++) failure = p.MapPrototypeGet(setupFailure, suites[i]);
        if (failure === undefined) {
          try {
            for (let i = 0; i < suites.length; i++) {
              for (let j = 0; j < suites[i].beforeEach.length; j++) {
                const hookFn = suites[i].beforeEach[j];
                await safely(hookFn(context));
              }
            }
            const testFn = c.fn as Fn;
            await safely(testFn(context));
            await safely(settle());
          } catch (error) {
            failure = { prefix: '', error };
          }
          for (let i = suites.length - 1; i >= 0; i--) {
            for (let j = 0; j < suites[i].afterEach.length; j++) {
              const hookFn = suites[i].afterEach[j];
              try {
                await safely(hookFn(context));
              } catch (error) {
                failure ??= { prefix: 'afterEach hook failed: ', error };
              }
            }
          }
        }
        for (let i = suites.length - 1; i >= 0; i--) {
          const s = suites[i];
          if (p.MapPrototypeGet(lastUse, s) !== index) continue;
          for (let j = 0; j < s.afterAll.length; j++) {
            const hookFn = s.afterAll[j];
            try {
              await safely(hookFn());
            } catch (error) {
              failure ??= { prefix: 'afterAll hook failed: ', error };
            }
          }
        }
        const ms = p.DateNow() - testStarted;
        const ok = failure === undefined;
        let event: object;
        if (keeper.wants(ok)) {
          const shown = shownName(c);
          const result: KeptResult = failure === undefined
            ? bare({ name: shown, ok: true, ms })
            : bare({ name: shown, ok: false, ms, message: failureText(failure) });
          keeper.offer(result);
          event = result;
        } else {
          keeper.drop(ok, ms);
          event = bare({ ok, ms, dropped: true });
        }
        runningCase = undefined;
        emit(events.TestEnd, stringify(event));
      }
      const counts = keeper.counts();
      return stringify(bare({ tests: keeper.finish(), registered: cases.length, total: counts.total, failed: counts.failed }));
    }

    /** A thrown value as `{name, message, stack}` JSON within the caps (the QuickJS driver's view of an error). */
    function describeThrown(value: unknown): string {
      if (!p.isError(value)) return stringify(bare({ thrown: clipper.clip(fmt.format(value), limits.messageBytes) }));
      let stack: unknown;
      try {
        stack = value.stack;
      } catch {
        stack = undefined;
      }
      return stringify(bare({
        name: clipper.clip(p.String(value.name ?? 'Error'), 256),
        // Room is left for the name, where the run was and the location the host adds.
        message: clipper.clip(p.String(value.message ?? ''), limits.messageBytes - 1024),
        stack: typeof stack === 'string' ? clipper.clip(stack, 16 * 1024) : '',
        assertion: isAssertion(value),
      }));
    }

    let outcome: string | undefined;
    let pending: Promise<string> | undefined;
    return (command, value) => {
      if (command === 'run') {
        // Awaited through `safely`: generated code may have replaced Promise.prototype.then and
        // the prototype's constructor, which a plain await of a promise would consult.
        pending ??= safely((async () => (outcome = await safely(runAll())))());
        return undefined;
      }
      if (command === 'result') return outcome;
      if (command === 'wait') return pending;
      if (command === 'current') return runningCase === undefined ? undefined : shownName(runningCase);
      if (command === 'describe') return describeThrown(value);
      current = newSuite('', root, 'run');
      return undefined;
    };
  };
}
