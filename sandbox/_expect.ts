/**
 * `expect(actual)` with the Jest/Vitest matchers generated tests commonly use, `.not`, `.resolves`
 * and `.rejects`. Messages read "expected 3 to be 4".
 *
 * `createExpect` runs INSIDE the isolate (shipped via Function.prototype.toString): its body must
 * stay self-contained; the formatter and equality come in as arguments.
 */
import type { Equality } from './_equality.ts';
import type { Formatter } from './_format.ts';

type Matcher = (actual: unknown, args: unknown[], rejected: boolean) => { pass: boolean; message: (negated: boolean) => string };
type Assertions = Record<string, (...args: unknown[]) => unknown>;
export type Expect = ((actual: unknown, message?: string) => Assertions & { not: Assertions; resolves: Assertions; rejects: Assertions }) &
  Record<string, unknown>;

export interface ExpectKit {
  expect: Expect;
  /** Awaits `.resolves`/`.rejects` assertions a test started but never awaited, so their failures count. */
  settle(): Promise<void>;
}

export function createExpect(formatter: Formatter, equality: Equality): ExpectKit {
  const f = formatter.format;
  const not = (negated: boolean) => (negated ? 'not ' : '');
  const unawaited: Array<{ promise: Promise<void>; observed: boolean }> = [];

  class AssertionError extends Error {
    constructor(message: string) {
      super(message);
      this.name = 'AssertionError';
    }
  }

  function usage(message: string): never {
    throw new AssertionError(message);
  }

  function number(value: unknown, matcher: string): number | bigint {
    if (typeof value !== 'number' && typeof value !== 'bigint') usage(`${matcher} needs numbers, got ${f(value)}`);
    return value;
  }

  function thrownText(error: unknown): string {
    return error instanceof Error ? `${error.name}: ${error.message}` : f(error);
  }

  function thrownMatches(error: unknown, expected: unknown): boolean {
    const message = typeof error === 'object' && error !== null && 'message' in error ? String(error.message) : String(error);
    if (typeof expected === 'string') return message.includes(expected);
    if (expected instanceof RegExp) return expected.test(message);
    if (typeof expected === 'function') return error instanceof expected;
    if (expected instanceof Error) return message === expected.message;
    return equality.equals(error, expected, false);
  }

  function thrownExpectation(expected: unknown): string {
    if (typeof expected === 'string') return ` an error containing ${f(expected)}`;
    if (expected instanceof RegExp) return ` an error matching ${String(expected)}`;
    if (typeof expected === 'function') return ` ${expected.name || 'an instance of the given class'}`;
    if (expected instanceof Error) return ` an error with message ${f(expected.message)}`;
    return ` ${f(expected)}`;
  }

  function compare(name: string, phrase: string, test: (a: number | bigint, b: number | bigint) => boolean): Matcher {
    return (actual, [expected]) => ({
      pass: test(number(actual, name), number(expected, name)),
      message: (n) => `expected ${f(actual)} ${not(n)}to be ${phrase} ${f(expected)}`,
    });
  }

  function toThrow(actual: unknown, args: unknown[], rejected: boolean): ReturnType<Matcher> {
    let threw = rejected;
    let error: unknown = rejected ? actual : undefined;
    let returned: unknown;
    if (!rejected) {
      if (typeof actual !== 'function') usage(`toThrow needs a function to call, got ${f(actual)}`);
      try {
        returned = actual();
      } catch (caught) {
        threw = true;
        error = caught;
      }
    }
    const expected = args[0];
    const wanted = expected === undefined ? '' : thrownExpectation(expected);
    const subject = rejected ? 'the promise' : f(actual);
    const verb = rejected ? 'reject with' : 'throw';
    const asyncHint = returned instanceof Promise ? ' (it returned a promise: use await expect(promise).rejects.toThrow())' : '';
    return {
      pass: threw && (expected === undefined || thrownMatches(error, expected)),
      message: (n) => (threw
        ? `expected ${subject} ${not(n)}to ${verb}${wanted || (rejected ? ' an error' : '')} but it ${rejected ? 'rejected with' : 'threw'} ${thrownText(error)}`
        : `expected ${subject} to ${verb}${wanted} but it did not throw${asyncHint}`),
    };
  }

  function propertyPath(path: unknown): string[] {
    if (Array.isArray(path)) return path.map(String);
    return String(path).replace(/\[(\w+)\]/g, '.$1').split('.').filter((part) => part !== '');
  }

  const matchers: Record<string, Matcher> = {
    toBe: (actual, [expected]) => ({
      pass: Object.is(actual, expected),
      message: (n) => `expected ${f(actual)} ${not(n)}to be ${f(expected)}${!n && typeof actual === 'object' && actual !== null && equality.equals(actual, expected, false) ? ' (deeply equal but not the same object: use toEqual)' : ''}`,
    }),
    toEqual: (actual, [expected]) => ({ pass: equality.equals(actual, expected, false), message: (n) => `expected ${f(actual)} ${not(n)}to equal ${f(expected)}` }),
    toStrictEqual: (actual, [expected]) => ({ pass: equality.equals(actual, expected, true), message: (n) => `expected ${f(actual)} ${not(n)}to strictly equal ${f(expected)}` }),
    toMatchObject: (actual, [expected]) => ({ pass: equality.matchesObject(actual, expected), message: (n) => `expected ${f(actual)} ${not(n)}to match object ${f(expected)}` }),
    toBeTruthy: (actual) => ({ pass: Boolean(actual), message: (n) => `expected ${f(actual)} ${not(n)}to be truthy` }),
    toBeFalsy: (actual) => ({ pass: !actual, message: (n) => `expected ${f(actual)} ${not(n)}to be falsy` }),
    toBeNull: (actual) => ({ pass: actual === null, message: (n) => `expected ${f(actual)} ${not(n)}to be null` }),
    toBeUndefined: (actual) => ({ pass: actual === undefined, message: (n) => `expected ${f(actual)} ${not(n)}to be undefined` }),
    toBeDefined: (actual) => ({ pass: actual !== undefined, message: (n) => `expected ${f(actual)} ${not(n)}to be defined` }),
    toBeNaN: (actual) => ({ pass: typeof actual === 'number' && Number.isNaN(actual), message: (n) => `expected ${f(actual)} ${not(n)}to be NaN` }),
    toBeTypeOf: (actual, [type]) => ({ pass: typeof actual === type, message: (n) => `expected ${f(actual)} ${not(n)}to be of type ${f(type)}` }),
    toBeInstanceOf: (actual, [type]) => {
      if (typeof type !== 'function') usage(`toBeInstanceOf needs a class, got ${f(type)}`);
      return { pass: actual instanceof type, message: (n) => `expected ${f(actual)} ${not(n)}to be an instance of ${type.name || 'the given class'}` };
    },
    toContain: (actual, [item]) => {
      let pass: boolean;
      if (typeof actual === 'string') pass = typeof item === 'string' && actual.includes(item);
      else if (actual !== null && typeof actual === 'object' && Symbol.iterator in actual) pass = Array.from(actual as Iterable<unknown>).includes(item);
      else usage(`toContain needs a string, an array or an iterable, got ${f(actual)}`);
      return { pass, message: (n) => `expected ${f(actual)} ${not(n)}to contain ${f(item)}` };
    },
    toContainEqual: (actual, [item]) => {
      if (actual === null || typeof actual !== 'object' || !(Symbol.iterator in actual)) usage(`toContainEqual needs an array or an iterable, got ${f(actual)}`);
      return {
        pass: Array.from(actual as Iterable<unknown>).some((candidate) => equality.equals(candidate, item, false)),
        message: (n) => `expected ${f(actual)} ${not(n)}to contain an item equal to ${f(item)}`,
      };
    },
    toMatch: (actual, [pattern]) => {
      if (typeof actual !== 'string') usage(`toMatch needs a string, got ${f(actual)}`);
      const pass = pattern instanceof RegExp ? new RegExp(pattern.source, pattern.flags.replace('g', '')).test(actual) : actual.includes(String(pattern));
      return { pass, message: (n) => `expected ${f(actual)} ${not(n)}to match ${pattern instanceof RegExp ? String(pattern) : f(pattern)}` };
    },
    toHaveLength: (actual, [length]) => {
      const own = actual === null || actual === undefined ? undefined : (actual as { length?: unknown }).length;
      if (typeof own !== 'number') usage(`toHaveLength needs a value with a length, got ${f(actual)}`);
      return { pass: own === length, message: (n) => `expected ${f(actual)} ${not(n)}to have length ${f(length)}${n ? '' : ` (its length is ${own})`}` };
    },
    toHaveProperty: (actual, args) => {
      const path = propertyPath(args[0]);
      let current: unknown = actual;
      let found = actual !== null && actual !== undefined;
      for (const key of path) {
        if (!found || current === null || current === undefined || !(key in Object(current))) {
          found = false;
          break;
        }
        current = (current as Record<string, unknown>)[key];
      }
      const withValue = args.length > 1;
      const pass = found && (!withValue || equality.equals(current, args[1], false));
      const valueText = withValue ? ` with value ${f(args[1])}${found && !pass ? ` (it is ${f(current)})` : ''}` : '';
      return { pass, message: (n) => `expected ${f(actual)} ${not(n)}to have property ${f(path.join('.'))}${valueText}` };
    },
    toBeGreaterThan: compare('toBeGreaterThan', 'greater than', (a, b) => a > b),
    toBeGreaterThanOrEqual: compare('toBeGreaterThanOrEqual', 'greater than or equal to', (a, b) => a >= b),
    toBeLessThan: compare('toBeLessThan', 'less than', (a, b) => a < b),
    toBeLessThanOrEqual: compare('toBeLessThanOrEqual', 'less than or equal to', (a, b) => a <= b),
    toBeCloseTo: (actual, [expected, digits = 2]) => {
      const a = Number(number(actual, 'toBeCloseTo'));
      const e = Number(number(expected, 'toBeCloseTo'));
      const tolerance = 10 ** -Number(digits) / 2;
      return {
        pass: a === e || Math.abs(a - e) < tolerance,
        message: (n) => `expected ${f(actual)} ${not(n)}to be close to ${f(expected)} (within ${tolerance})`,
      };
    },
    toThrow,
    toThrowError: toThrow,
  };

  function check(name: string, actual: unknown, args: unknown[], negated: boolean, rejected: boolean, prefix: string): void {
    const outcome = matchers[name](actual, args, rejected);
    if (outcome.pass === negated) throw new AssertionError(prefix + outcome.message(negated));
  }

  function settled(actual: unknown, mode: 'resolves' | 'rejects', run: (value: unknown, rejected: boolean) => void): PromiseLike<void> {
    const entry = { promise: Promise.resolve(), observed: false };
    // The failure surfaces after an await, where the stack no longer shows the test's line: keep
    // the stack of the call site and give it to the error.
    const site = new Error('call site');
    entry.promise = (async () => {
      if (actual === null || typeof (actual as PromiseLike<unknown>)?.then !== 'function') usage(`.${mode} needs a promise, got ${f(actual)}`);
      let value: unknown;
      let rejected = false;
      try {
        value = await actual;
      } catch (error) {
        value = error;
        rejected = true;
      }
      if (mode === 'resolves' && rejected) usage(`expected the promise to resolve but it rejected with ${thrownText(value)}`);
      if (mode === 'rejects' && !rejected) usage(`expected the promise to reject but it resolved with ${f(value)}`);
      run(value, rejected);
    })().catch((error: unknown) => {
      if (error instanceof AssertionError) error.stack = `${error.name}: ${error.message}\n${String(site.stack).split('\n').slice(1).join('\n')}`;
      throw error;
    });
    entry.promise.catch(() => undefined);
    unawaited.push(entry);
    return {
      then(onFulfilled, onRejected) {
        entry.observed = true;
        return entry.promise.then(onFulfilled, onRejected);
      },
    };
  }

  // The matchers live on six prototypes built once per context; expect() makes one small object
  // and a matcher is bound only when read (a getter), so `const { toBe } = expect(x)` still works.
  // Building every matcher for every expect() call was most of a small test run's time.
  type Mode = 'value' | 'resolves' | 'rejects';
  const subjects = new WeakMap<object, { actual: unknown; prefix: string }>();

  function subjectOf(api: object, name: string): { actual: unknown; prefix: string } {
    const subject = subjects.get(api);
    if (subject === undefined) usage(`${name} was used on something expect() did not return`);
    return subject;
  }

  function assertionPrototype(negated: boolean, mode: Mode, more: Record<string, object>): object {
    const proto: Record<string, unknown> = {};
    for (const name of Object.keys(matchers)) {
      Object.defineProperty(proto, name, {
        get(this: object) {
          const { actual, prefix } = subjectOf(this, name);
          return (...args: unknown[]) => mode === 'value'
            ? check(name, actual, args, negated, false, prefix)
            : settled(actual, mode, (value, rejected) => check(name, value, args, negated, rejected, prefix));
        },
      });
    }
    for (const [key, target] of Object.entries(more)) {
      Object.defineProperty(proto, key, { get(this: object) { return assertions(subjectOf(this, key), target); } });
    }
    return Object.freeze(proto);
  }

  function assertions(subject: { actual: unknown; prefix: string }, proto: object): Assertions {
    const api = Object.create(proto) as Assertions;
    subjects.set(api, subject);
    return api;
  }

  const valueNot = assertionPrototype(true, 'value', {});
  const resolves = assertionPrototype(false, 'resolves', { not: assertionPrototype(true, 'resolves', {}) });
  const rejects = assertionPrototype(false, 'rejects', { not: assertionPrototype(true, 'rejects', {}) });
  const value = assertionPrototype(false, 'value', { not: valueNot, resolves, rejects });

  const expect = ((actual: unknown, message?: string) => {
    const prefix = typeof message === 'string' && message !== '' ? `${message}: ` : '';
    return assertions({ actual, prefix }, value);
  }) as unknown as Expect;
  Object.assign(expect, {
    any: equality.any,
    anything: equality.anything,
    objectContaining: equality.objectContaining,
    arrayContaining: equality.arrayContaining,
    stringContaining: equality.stringContaining,
    stringMatching: equality.stringMatching,
  });

  async function settle(): Promise<void> {
    const pending = unawaited.splice(0).filter((entry) => !entry.observed);
    for (const entry of pending) await entry.promise;
  }

  return { expect, settle };
}
