/**
 * The test harness that lives INSIDE each isolate: `console`, `describe`/`it`/`test`/`expect`/hooks as
 * globals and behind the virtual 'sandbox:test' module, and the runner that executes the registered
 * tests in order. `harnessSource()` is the script (the QuickJS driver evaluates it per context);
 * `harnessSnapshotSource()` is the same harness for isolated-vm's startup snapshot.
 *
 * `installHarness` runs inside the isolate (shipped via Function.prototype.toString): its body must
 * not reference anything outside itself; its helpers arrive as arguments. The only door back to the
 * host is `emit(kind, text)`, which carries plain strings.
 */
import { createConsole } from './_console.ts';
import { createEquality } from './_equality.ts';
import type { Equality } from './_equality.ts';
import { createExpect } from './_expect.ts';
import type { ExpectKit } from './_expect.ts';
import { createFormatter } from './_format.ts';
import type { Formatter } from './_format.ts';

/** What the harness tells the host while it runs (the second argument of emit is always a string). */
export const HarnessEvent = {
  Console: 'console',
  ConsoleTruncated: 'console-truncated',
  TestStart: 'test',
  TestEnd: 'result',
} as const;

/** The Symbol.for key under which the harness parks the test API for the 'sandbox:test' module. */
export const TEST_API_KEY = 'sandbox:test';

/** Console output kept per run; past it the harness stops sending lines (the host marks the cut). */
export const CONSOLE_LIMIT = 64 * 1024;

export interface HarnessConfig {
  consoleLimit: number;
  apiKey: string;
  events: typeof HarnessEvent;
}

/**
 * The host's handle on the harness: 'file' before each module loads (its top-level hooks get their
 * own scope); 'run' starts every registered test; 'result' is then `{tests, registered}` as JSON,
 * or undefined while a test still waits on a promise; 'wait' is a promise of that same JSON.
 */
export type HarnessControl = (command: 'file' | 'run' | 'result' | 'wait') => Promise<string> | string | undefined;

type Fn = (context?: unknown) => unknown;
type Mode = 'run' | 'skip' | 'only' | 'todo';
interface Suite { name: string; parent: Suite | undefined; mode: Mode; beforeAll: Fn[]; afterAll: Fn[]; beforeEach: Fn[]; afterEach: Fn[] }
interface Case { name: string; suite: Suite; fn: Fn | undefined; mode: Mode }

export function installHarness(
  makeFormatter: () => Formatter,
  makeEquality: (format: (value: unknown) => string) => Equality,
  makeExpect: (formatter: Formatter, equality: Equality) => ExpectKit,
  makeConsole: typeof createConsole,
  config: HarnessConfig,
): (emit: (kind: string, text: string) => void) => HarnessControl {
  const fmt = makeFormatter();
  const { expect, settle } = makeExpect(fmt, makeEquality(fmt.format));
  // Built-ins the runner needs after generated code has run, taken now, while they are still the
  // real ones: code under test may replace Array.prototype.push, add index setters or a toJSON to
  // the prototypes, or rebind the test globals, to turn its own failed results into passes.
  const stringify = JSON.stringify;
  const now = Date.now;
  const define = Object.defineProperty;
  const nullProto = Object.setPrototypeOf;
  const global = globalThis as unknown as Record<string, unknown>;
  /** Appends as an own property: no prototype setter or replaced push sees the value. */
  const append = <T,>(list: T[], value: T): void => void define(list, list.length, { value, writable: true, enumerable: true, configurable: true });
  /** An array or record without a prototype: JSON.stringify finds no toJSON to call on it. */
  const bare = <T extends object>(value: T): T => nullProto(value, null) as T;

  return function connect(emit) {
    const events = config.events;
    const console = makeConsole(fmt, (line) => emit(events.Console, line), () => emit(events.ConsoleTruncated, ''), config.consoleLimit);

    const root: Suite = { name: '', parent: undefined, mode: 'run', beforeAll: [], afterAll: [], beforeEach: [], afterEach: [] };
    let current = root;
    let running = false;
    const cases: Case[] = [];

    function guard(what: string): void {
      if (running) throw new Error(`${what}() was called while tests were running: register tests at the top level or inside describe()`);
    }

    function suite(mode: Mode) {
      return (name: unknown, body?: unknown) => {
        guard('describe');
        const child: Suite = { name: String(name), parent: current, mode, beforeAll: [], afterAll: [], beforeEach: [], afterEach: [] };
        const outer = current;
        current = child;
        try {
          const result = typeof body === 'function' ? (body as () => unknown)() : undefined;
          if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
            throw new Error(`describe(${stringify(String(name))}) got an async callback: keep describe synchronous and await inside it()`);
          }
        } finally {
          current = outer;
        }
      };
    }

    function testCase(mode: Mode) {
      return (name: unknown, fn?: unknown) => {
        guard('it');
        const body: Fn | undefined = typeof fn === 'function' ? (fn as Fn) : fn === undefined ? undefined
          : () => { throw new Error(`it(${stringify(String(name))}) needs a function as its second argument`); };
        append(cases, { name: String(name), suite: current, fn: body, mode: body === undefined ? 'todo' : mode });
      };
    }

    function title(template: string, row: unknown, index: number): string {
      const args = Array.isArray(row) ? [...row] : [row];
      return template
        .replace(/\$(\w+)/g, (match, key: string) => (row !== null && typeof row === 'object' && key in row ? fmt.format((row as Record<string, unknown>)[key]) : match))
        .replace(/%([sdifjoO#%])/g, (match, code: string) => {
          if (code === '%') return '%';
          if (code === '#') return String(index);
          if (args.length === 0) return match;
          const arg = args.shift();
          return code === 's' && typeof arg === 'string' ? arg : code === 'd' || code === 'i' || code === 'f' ? String(Number(arg)) : fmt.format(arg);
        });
    }

    function withEach<T extends (name: unknown, fn?: unknown) => void>(register: T) {
      return Object.assign(register, {
        each: (table: unknown[]) => (name: unknown, fn: (...args: unknown[]) => unknown) => {
          table.forEach((row, index) => register(title(String(name), row, index), () => fn(...(Array.isArray(row) ? row : [row]))));
        },
      });
    }

    const describe = Object.assign(withEach(suite('run')), { skip: suite('skip'), only: suite('only'), todo: suite('skip') });
    const it = Object.assign(withEach(testCase('run')), { skip: testCase('skip'), only: testCase('only'), todo: testCase('todo') });
    const hook = (kind: 'beforeAll' | 'afterAll' | 'beforeEach' | 'afterEach') => (fn: Fn) => {
      guard(kind);
      if (typeof fn === 'function') append(current[kind], fn);
    };
    const api = Object.freeze({
      describe, suite: describe, it, test: it, expect,
      beforeAll: hook('beforeAll'), afterAll: hook('afterAll'), beforeEach: hook('beforeEach'), afterEach: hook('afterEach'),
    });
    Object.defineProperty(globalThis, Symbol.for(config.apiKey), { value: api });
    // The test API cannot be rebound (an assignment in a module throws); console stays replaceable.
    for (const [name, value] of Object.entries(api)) define(globalThis, name, { value, writable: false, configurable: false, enumerable: false });
    define(globalThis, 'console', { value: console, writable: true, configurable: true, enumerable: false });
    if (typeof global.queueMicrotask !== 'function') {
      global.queueMicrotask = (fn: () => void) => { Promise.resolve().then(fn); };
    }

    function chain(of: Suite): Suite[] {
      const list: Suite[] = [];
      for (let s: Suite | undefined = of; s !== undefined; s = s.parent) list.unshift(s);
      return list;
    }

    async function runAll(): Promise<string> {
      running = true;
      const hasOnly = cases.some((c) => c.mode === 'only' || chain(c.suite).some((s) => s.mode === 'only'));
      const selected = cases.filter((c) => c.mode !== 'skip' && c.mode !== 'todo' && !chain(c.suite).some((s) => s.mode === 'skip')
        && (!hasOnly || c.mode === 'only' || chain(c.suite).some((s) => s.mode === 'only')));
      const lastUse = new Map<Suite, number>();
      selected.forEach((c, index) => chain(c.suite).forEach((s) => lastUse.set(s, index)));
      const started = new Set<Suite>();
      const setupFailure = new Map<Suite, string>();
      const results: Array<{ name: string; ok: boolean; ms: number; message?: string }> = bare([]);
      for (const [index, c] of selected.entries()) {
        const suites = chain(c.suite);
        const name = [...suites.map((s) => s.name).filter((part) => part !== ''), c.name].join(' > ');
        emit(events.TestStart, name);
        const context = { expect, task: { name } };
        const testStarted = now();
        let failure: string | undefined;
        for (const s of suites) {
          if (started.has(s)) continue;
          started.add(s);
          for (const fn of s.beforeAll) {
            try { await fn(); } catch (error) { setupFailure.set(s, `beforeAll hook failed: ${fmt.describeError(error)}`); }
          }
        }
        failure = suites.map((s) => setupFailure.get(s)).find((text) => text !== undefined);
        if (failure === undefined) {
          try {
            for (const s of suites) for (const fn of s.beforeEach) await fn(context);
            await (c.fn as Fn)(context);
            await settle();
          } catch (error) {
            failure = fmt.describeError(error);
          }
          for (const s of [...suites].reverse()) {
            for (const fn of s.afterEach) {
              try { await fn(context); } catch (error) { failure ??= `afterEach hook failed: ${fmt.describeError(error)}`; }
            }
          }
        }
        for (const s of [...suites].reverse()) {
          if (lastUse.get(s) !== index) continue;
          for (const fn of s.afterAll) {
            try { await fn(); } catch (error) { failure ??= `afterAll hook failed: ${fmt.describeError(error)}`; }
          }
        }
        const result = bare(failure === undefined ? { name, ok: true, ms: now() - testStarted } : { name, ok: false, ms: now() - testStarted, message: String(failure) });
        append(results, result);
        emit(events.TestEnd, stringify(result));
      }
      return stringify(bare({ tests: results, registered: cases.length }));
    }

    let outcome: string | undefined;
    let pending: Promise<string> | undefined;
    return (command) => {
      if (command === 'run') {
        // An async wrapper, not .then: generated code may have replaced Promise.prototype.then.
        pending ??= (async () => (outcome = await runAll()))();
        return undefined;
      }
      if (command === 'result') return outcome;
      if (command === 'wait') return pending;
      current = { name: '', parent: root, mode: 'run', beforeAll: [], afterAll: [], beforeEach: [], afterEach: [] };
      return undefined;
    };
  };
}

let body: string | undefined;

/** The harness expression: evaluating it yields `connect(emit)`. */
function harnessExpression(): string {
  const config: HarnessConfig = { consoleLimit: CONSOLE_LIMIT, apiKey: TEST_API_KEY, events: HarnessEvent };
  body ??= `(${installHarness.toString()})(${createFormatter.toString()}, ${createEquality.toString()}, ${createExpect.toString()}, ${createConsole.toString()}, ${JSON.stringify(config)})`;
  return body;
}

/** The harness script: evaluating it yields `connect(emit)`, which installs the globals and returns the control. */
export function harnessSource(): string {
  // Strict mode keeps user code from climbing `fn.caller` into the harness's functions.
  return `'use strict';\n${harnessExpression()}`;
}

/**
 * Where the harness snapshot parks `connect` in every new context. The host takes it and deletes
 * it (`TAKE_CONNECT`) before any generated code runs in that context.
 */
export const CONNECT_KEY = 'sandbox:connect';

/**
 * The harness as a startup-snapshot script (isolated-vm): every context made from the snapshot
 * starts with the harness evaluated and `connect` parked under CONNECT_KEY.
 */
export function harnessSnapshotSource(): string {
  return `'use strict';\nObject.defineProperty(globalThis, ${JSON.stringify(CONNECT_KEY)}, { configurable: true, value: ${harnessExpression()} });\n`;
}

/** Evaluated in a fresh context made from the snapshot: removes and yields `connect`. */
export const TAKE_CONNECT = `(() => { const connect = globalThis[${JSON.stringify(CONNECT_KEY)}]; delete globalThis[${JSON.stringify(CONNECT_KEY)}]; return connect; })()`;

/**
 * The snapshot's warm-up: runs the harness's common paths once (registering, passing and failing
 * assertions, console formatting, an async test) so their compiled code is in the snapshot. V8 runs
 * it in a throwaway context: only compiled code is kept, none of its state.
 */
export function harnessWarmup(): string {
  return `(() => {
  const control = globalThis[${JSON.stringify(CONNECT_KEY)}](() => undefined);
  control('file');
  describe('warm-up', () => {
    beforeEach(() => undefined);
    it('passes', () => {
      expect(1 + 1).toBe(2); expect({ a: [1, 'b'] }).toEqual({ a: [1, 'b'] }); expect([1]).not.toContain(2);
      expect('abc').toMatch(/b/); expect(() => { throw new TypeError('x'); }).toThrow('x'); expect(1).toBeTruthy();
      console.log('warm', 1, { a: [1, 2] }, new Map([[1, 2]]));
    });
    it('fails', () => { expect({ a: 1 }).toEqual({ a: 2 }); });
    it('awaits', async () => { await expect(Promise.resolve(1)).resolves.toBe(1); });
  });
  control('run');
  control('result');
})();
`;
}

/** Source of the virtual 'sandbox:test' (alias 'vitest') module. */
export function testModuleSource(): string {
  const names = ['describe', 'suite', 'it', 'test', 'expect', 'beforeAll', 'afterAll', 'beforeEach', 'afterEach'];
  return `const api = globalThis[Symbol.for(${JSON.stringify(TEST_API_KEY)})];\n`
    + `export const { ${names.join(', ')} } = api;\nexport default api;\n`;
}
