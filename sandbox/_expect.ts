/**
 * `expect(actual)` with the Jest/Vitest matchers generated tests commonly use, `.not`, `.resolves`
 * and `.rejects`. Messages read "expected 3 to be 4".
 *
 * `createExpect` runs INSIDE the isolate (shipped via Function.prototype.toString): its body must
 * stay self-contained; the built-ins it uses (primordials, taken before generated code ran), the
 * formatter and equality come in as arguments. Arrays, Maps, Sets and strings are read with those
 * built-ins, so replacing `Array.prototype[Symbol.iterator]`, `String.prototype.includes` or
 * `RegExp.prototype.exec` does not change what a matcher sees.
 */
import type { Equality } from './_equality.ts';
import type { Formatter } from './_format.ts';
import type { Primordials } from './_primordials.ts';

type Matcher = (actual: unknown, args: unknown[], rejected: boolean) => { pass: boolean; message: (negated: boolean) => string };
type Assertions = Record<string, (...args: unknown[]) => unknown>;
export type Expect = ((actual: unknown, message?: string) => Assertions & { not: Assertions; resolves: Assertions; rejects: Assertions }) &
  Record<string, unknown>;

export interface ExpectKit {
  expect: Expect;
  /** Awaits `.resolves`/`.rejects` assertions a test started but never awaited, so their failures count (undefined: none). */
  settle(): Promise<void> | undefined;
  /** Whether `error` is an assertion failure thrown by a matcher. */
  isAssertion(error: unknown): boolean;
}

export function createExpect(p: Primordials, formatter: Formatter, equality: Equality): ExpectKit {
  const f = formatter.format;
  const not = (negated: boolean) => (negated ? 'not ' : '');
  const unawaited: Array<{ promise: Promise<void>; observed: boolean }> = [];
  const { StringPrototypeIncludes: includes, StringPrototypeSlice: slice, StringPrototypeIndexOf: indexOf } = p;

  // Frozen, its name on the frozen prototype: code that catches one cannot reach the class to
  // change what later failures are.
  class AssertionError extends p.Error {}
  p.ObjectDefineProperty(AssertionError.prototype, 'name', p.descriptor({ value: 'AssertionError' }));
  p.ObjectFreeze(AssertionError.prototype);
  p.ObjectFreeze(AssertionError);

  const isAssertion = (error: unknown) => p.isInstance(error, AssertionError);

  function usage(message: string): never {
    throw new AssertionError(message);
  }

  function number(value: unknown, matcher: string): number | bigint {
    if (typeof value !== 'number' && typeof value !== 'bigint') usage(matcher + ' needs numbers, got ' + f(value));
    return value;
  }

  function thrownText(error: unknown): string {
    return p.isError(error) ? p.String(error.name) + ': ' + p.String(error.message) : f(error);
  }

  /** A fresh copy of a regular expression without 'g' or 'y', so its lastIndex plays no part. */
  function fresh(pattern: RegExp): RegExp {
    return new p.RegExp(p.RegExpPrototypeGetSource(pattern), p.regExpFlags(pattern, false));
  }

  function thrownMatches(error: unknown, expected: unknown): boolean {
    const message = typeof error === 'object' && error !== null && 'message' in error ? p.String(error.message) : p.String(error);
    if (typeof expected === 'string') return includes(message, expected);
    const kind = p.kindOf(expected);
    if (kind === 'RegExp') return p.RegExpPrototypeExec(fresh(expected as RegExp), message) !== null;
    if (typeof expected === 'function') return p.isInstance(error, expected);
    if (kind === 'Error') return message === (expected as Error).message;
    return equality.equals(error, expected, false);
  }

  function thrownExpectation(expected: unknown): string {
    if (typeof expected === 'string') return ' an error containing ' + f(expected);
    const kind = p.kindOf(expected);
    if (kind === 'RegExp') return ' an error matching ' + f(expected);
    if (typeof expected === 'function') return ' ' + (expected.name || 'an instance of the given class');
    if (kind === 'Error') return ' an error with message ' + f((expected as Error).message);
    return ' ' + f(expected);
  }

  function compare(name: string, phrase: string, test: (a: number | bigint, b: number | bigint) => boolean): Matcher {
    return (actual, args) => ({
      pass: test(number(actual, name), number(args[0], name)),
      message: (n) => 'expected ' + f(actual) + ' ' + not(n) + 'to be ' + phrase + ' ' + f(args[0]),
    });
  }

  function toThrow(actual: unknown, args: unknown[], rejected: boolean): ReturnType<Matcher> {
    let threw = rejected;
    let error: unknown = rejected ? actual : undefined;
    let returned: unknown;
    if (!rejected) {
      if (typeof actual !== 'function') usage('toThrow needs a function to call, got ' + f(actual));
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
    const asyncHint = p.kindOf(returned) === 'Promise' ? ' (it returned a promise: use await expect(promise).rejects.toThrow())' : '';
    return {
      pass: threw && (expected === undefined || thrownMatches(error, expected)),
      message: (n) => (threw
        ? 'expected ' + subject + ' ' + not(n) + 'to ' + verb + (wanted || (rejected ? ' an error' : '')) + ' but it ' + (rejected ? 'rejected with' : 'threw') + ' ' + thrownText(error)
        : 'expected ' + subject + ' to ' + verb + wanted + ' but it did not throw' + asyncHint),
    };
  }

  /** 'a.b[0]' or ['a', 'b', 0] as the keys it names. */
  function propertyPath(path: unknown): string[] {
    const keys: string[] = [];
    if (p.ArrayIsArray(path)) {
      for (let i = 0; i < path.length; i++) p.append(keys, p.String(path[i]));
      return keys;
    }
    const text = p.String(path);
    let key = '';
    for (let i = 0; i < text.length; i++) {
      const char = slice(text, i, i + 1);
      if (char === '.' || char === '[' || char === ']') {
        if (key !== '') p.append(keys, key);
        key = '';
      } else {
        key += char;
      }
    }
    if (key !== '') p.append(keys, key);
    return keys;
  }

  /** The items of an array, typed array, Map (as [key, value]), Set or other iterable; undefined for anything else. */
  function itemsOf(actual: unknown): unknown[] | undefined {
    if (actual === null || typeof actual !== 'object') return undefined;
    const kind = p.kindOf(actual);
    const items: unknown[] = [];
    if (kind === 'Array' || kind === 'TypedArray') {
      const list = actual as ArrayLike<unknown>;
      const length = kind === 'Array' ? list.length : p.TypedArrayPrototypeGetLength(list);
      for (let i = 0; i < length; i++) p.append(items, list[i]);
      return items;
    }
    if (kind === 'Map') return p.mapEntries(actual as Map<unknown, unknown>);
    if (kind === 'Set') return p.setValues(actual as Set<unknown>);
    const iterate = (actual as Record<symbol, unknown>)[p.SymbolIterator];
    if (typeof iterate !== 'function') return undefined;
    // Another iterable (a generator, a class of the code under test) is read through its own protocol.
    const iterator = p.ReflectApply(iterate as () => unknown, actual, []) as Iterator<unknown>;
    const next = iterator.next;
    const step = () => p.ReflectApply(next, iterator, []) as IteratorResult<unknown>;
    for (let result = step(); !result.done; result = step()) p.append(items, result.value);
    return items;
  }

  const sameValueZero = (a: unknown, b: unknown) => a === b || (a !== a && b !== b);

  const matchers: Record<string, Matcher> = p.ObjectSetPrototypeOf({
    toBe: (actual, args) => ({
      pass: p.ObjectIs(actual, args[0]),
      message: (n) => 'expected ' + f(actual) + ' ' + not(n) + 'to be ' + f(args[0])
        + (!n && typeof actual === 'object' && actual !== null && equality.equals(actual, args[0], false) ? ' (deeply equal but not the same object: use toEqual)' : ''),
    }),
    toEqual: (actual, args) => ({ pass: equality.equals(actual, args[0], false), message: (n) => 'expected ' + f(actual) + ' ' + not(n) + 'to equal ' + f(args[0]) }),
    toStrictEqual: (actual, args) => ({ pass: equality.equals(actual, args[0], true), message: (n) => 'expected ' + f(actual) + ' ' + not(n) + 'to strictly equal ' + f(args[0]) }),
    toMatchObject: (actual, args) => ({ pass: equality.matchesObject(actual, args[0]), message: (n) => 'expected ' + f(actual) + ' ' + not(n) + 'to match object ' + f(args[0]) }),
    toBeTruthy: (actual) => ({ pass: !!actual, message: (n) => 'expected ' + f(actual) + ' ' + not(n) + 'to be truthy' }),
    toBeFalsy: (actual) => ({ pass: !actual, message: (n) => 'expected ' + f(actual) + ' ' + not(n) + 'to be falsy' }),
    toBeNull: (actual) => ({ pass: actual === null, message: (n) => 'expected ' + f(actual) + ' ' + not(n) + 'to be null' }),
    toBeUndefined: (actual) => ({ pass: actual === undefined, message: (n) => 'expected ' + f(actual) + ' ' + not(n) + 'to be undefined' }),
    toBeDefined: (actual) => ({ pass: actual !== undefined, message: (n) => 'expected ' + f(actual) + ' ' + not(n) + 'to be defined' }),
    toBeNaN: (actual) => ({ pass: typeof actual === 'number' && p.NumberIsNaN(actual), message: (n) => 'expected ' + f(actual) + ' ' + not(n) + 'to be NaN' }),
    toBeTypeOf: (actual, args) => ({ pass: typeof actual === args[0], message: (n) => 'expected ' + f(actual) + ' ' + not(n) + 'to be of type ' + f(args[0]) }),
    toBeInstanceOf: (actual, args) => {
      const type = args[0];
      if (typeof type !== 'function') usage('toBeInstanceOf needs a class, got ' + f(type));
      const name = type.name || 'the given class';
      return { pass: p.isInstance(actual, type), message: (n) => 'expected ' + f(actual) + ' ' + not(n) + 'to be an instance of ' + name };
    },
    toContain: (actual, args) => {
      const item = args[0];
      let pass = false;
      if (typeof actual === 'string') pass = typeof item === 'string' && includes(actual, item);
      else {
        const items = itemsOf(actual);
        if (items === undefined) usage('toContain needs a string, an array or an iterable, got ' + f(actual));
        for (let i = 0; i < items.length && !pass; i++) pass = sameValueZero(items[i], item);
      }
      return { pass, message: (n) => 'expected ' + f(actual) + ' ' + not(n) + 'to contain ' + f(item) };
    },
    toContainEqual: (actual, args) => {
      const items = itemsOf(actual);
      if (items === undefined) usage('toContainEqual needs an array or an iterable, got ' + f(actual));
      let pass = false;
      for (let i = 0; i < items.length && !pass; i++) pass = equality.equals(items[i], args[0], false);
      return { pass, message: (n) => 'expected ' + f(actual) + ' ' + not(n) + 'to contain an item equal to ' + f(args[0]) };
    },
    toMatch: (actual, args) => {
      const pattern = args[0];
      if (typeof actual !== 'string') usage('toMatch needs a string, got ' + f(actual));
      const isRegExp = p.kindOf(pattern) === 'RegExp';
      const pass = isRegExp ? p.RegExpPrototypeExec(fresh(pattern as RegExp), actual) !== null : includes(actual, p.String(pattern));
      return { pass, message: (n) => 'expected ' + f(actual) + ' ' + not(n) + 'to match ' + f(pattern) };
    },
    toHaveLength: (actual, args) => {
      const length = args[0];
      const own = actual === null || actual === undefined ? undefined : (actual as { length?: unknown }).length;
      if (typeof own !== 'number') usage('toHaveLength needs a value with a length, got ' + f(actual));
      return { pass: own === length, message: (n) => 'expected ' + f(actual) + ' ' + not(n) + 'to have length ' + f(length) + (n ? '' : ' (its length is ' + own + ')') };
    },
    toHaveProperty: (actual, args) => {
      const path = propertyPath(args[0]);
      let current: unknown = actual;
      let found = actual !== null && actual !== undefined;
      for (let i = 0; i < path.length && found; i++) {
        if (current === null || current === undefined || !(path[i] in p.Object(current))) found = false;
        else current = (current as Record<string, unknown>)[path[i]];
      }
      const withValue = args.length > 1;
      const pass = found && (!withValue || equality.equals(current, args[1], false));
      let joined = '';
      for (let i = 0; i < path.length; i++) joined += (i === 0 ? '' : '.') + path[i];
      const valueText = withValue ? ' with value ' + f(args[1]) + (found && !pass ? ' (it is ' + f(current) + ')' : '') : '';
      return { pass, message: (n) => 'expected ' + f(actual) + ' ' + not(n) + 'to have property ' + f(joined) + valueText };
    },
    toBeGreaterThan: compare('toBeGreaterThan', 'greater than', (a, b) => a > b),
    toBeGreaterThanOrEqual: compare('toBeGreaterThanOrEqual', 'greater than or equal to', (a, b) => a >= b),
    toBeLessThan: compare('toBeLessThan', 'less than', (a, b) => a < b),
    toBeLessThanOrEqual: compare('toBeLessThanOrEqual', 'less than or equal to', (a, b) => a <= b),
    toBeCloseTo: (actual, args) => {
      const a = p.Number(number(actual, 'toBeCloseTo'));
      const e = p.Number(number(args[0], 'toBeCloseTo'));
      const tolerance = 10 ** -p.Number(args.length > 1 && args[1] !== undefined ? args[1] : 2) / 2;
      return {
        pass: a === e || p.MathAbs(a - e) < tolerance,
        message: (n) => 'expected ' + f(actual) + ' ' + not(n) + 'to be close to ' + f(args[0]) + ' (within ' + tolerance + ')',
      };
    },
    toThrow,
    toThrowError: toThrow,
  } as Record<string, Matcher>, null);

  function check(name: string, actual: unknown, args: unknown[], negated: boolean, rejected: boolean, prefix: string): void {
    const outcome = matchers[name](actual, args, rejected);
    if (outcome.pass === negated) throw new AssertionError(prefix + outcome.message(negated));
  }

  /** The stack of `site` (where the assertion was written) under the failure's own first line. */
  function restack(error: Error, site: Error): void {
    try {
      const stack = p.String(site.stack);
      const firstBreak = indexOf(stack, '\n');
      const frames = firstBreak < 0 ? '' : slice(stack, firstBreak + 1);
      p.ObjectDefineProperty(error, 'stack', p.descriptor({ value: error.name + ': ' + error.message + '\n' + frames, writable: true, configurable: true }));
    } catch {
      // the stack stays the one the failure had
    }
  }

  /** Awaits `promise` only to mark its rejection as handled. */
  async function quiet(promise: Promise<unknown>): Promise<void> {
    try {
      await p.safely(promise);
    } catch {
      // reported where the assertion is awaited, or by settle()
    }
  }

  function settled(actual: unknown, mode: 'resolves' | 'rejects', run: (value: unknown, rejected: boolean) => void): PromiseLike<void> {
    // The failure surfaces after an await, where the stack no longer shows the test's line: keep
    // the stack of the call site and give it to the error.
    const site = new p.Error('call site');
    const observe = async (): Promise<void> => {
      try {
        const then = actual === null || actual === undefined ? undefined : (actual as { then?: unknown }).then;
        if (typeof then !== 'function') usage('.' + mode + ' needs a promise, got ' + f(actual));
        let value: unknown;
        let rejected = false;
        try {
          value = await p.safely(actual);
        } catch (error) {
          value = error;
          rejected = true;
        }
        if (mode === 'resolves' && rejected) usage('expected the promise to resolve but it rejected with ' + thrownText(value));
        if (mode === 'rejects' && !rejected) usage('expected the promise to reject but it resolved with ' + f(value));
        run(value, rejected);
      } catch (error) {
        if (isAssertion(error)) restack(error as Error, site);
        throw error;
      }
    };
    const entry = { promise: p.safely(observe()), observed: false };
    void quiet(entry.promise);
    p.append(unawaited, entry);
    return {
      then(onFulfilled, onRejected) {
        entry.observed = true;
        return (async () => {
          let value: void;
          try {
            value = await p.safely(entry.promise);
          } catch (error) {
            if (typeof onRejected === 'function') return onRejected(error);
            throw error;
          }
          return typeof onFulfilled === 'function' ? onFulfilled(value) : value;
        })() as never;
      },
    };
  }

  // The matchers live on six prototypes built once per context; expect() makes one small object
  // and a matcher is bound only when read (a getter), so `const { toBe } = expect(x)` still works.
  // Building every matcher for every expect() call was most of a small test run's time.
  type Mode = 'value' | 'resolves' | 'rejects';
  const subjects = new p.WeakMap<object, { actual: unknown; prefix: string }>();

  function subjectOf(api: object, name: string): { actual: unknown; prefix: string } {
    const subject = p.WeakMapPrototypeGet(subjects, api);
    if (subject === undefined) usage(name + ' was used on something expect() did not return');
    return subject;
  }

  function matcherGetter(name: string, negated: boolean, mode: Mode) {
    return function get(this: object) {
      const subject = subjectOf(this, name);
      return (...args: unknown[]) => mode === 'value'
        ? check(name, subject.actual, args, negated, false, subject.prefix)
        : settled(subject.actual, mode, (value, rejected) => check(name, value, args, negated, rejected, subject.prefix));
    };
  }

  function assertionPrototype(negated: boolean, mode: Mode, more: Record<string, object>): object {
    const proto: Record<string, unknown> = {};
    const names = p.ObjectKeys(matchers);
    for (let i = 0; i < names.length; i++) p.ObjectDefineProperty(proto, names[i], p.descriptor({ get: matcherGetter(names[i], negated, mode) }));
    const keys = p.ObjectKeys(more);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      const target = more[key];
      p.ObjectDefineProperty(proto, key, p.descriptor({ get(this: object) { return assertions(subjectOf(this, key), target); } }));
    }
    return p.ObjectFreeze(proto);
  }

  function assertions(subject: { actual: unknown; prefix: string }, proto: object): Assertions {
    const api = p.ObjectCreate(proto) as Assertions;
    p.WeakMapPrototypeSet(subjects, api, subject);
    return api;
  }

  const valueNot = assertionPrototype(true, 'value', {});
  const resolves = assertionPrototype(false, 'resolves', { not: assertionPrototype(true, 'resolves', {}) });
  const rejects = assertionPrototype(false, 'rejects', { not: assertionPrototype(true, 'rejects', {}) });
  const value = assertionPrototype(false, 'value', { not: valueNot, resolves, rejects });

  const expect = ((actual: unknown, message?: string) => {
    const prefix = typeof message === 'string' && message !== '' ? message + ': ' : '';
    return assertions({ actual, prefix }, value);
  }) as unknown as Expect;
  const helpers: Record<string, unknown> = {
    any: equality.any,
    anything: equality.anything,
    objectContaining: equality.objectContaining,
    arrayContaining: equality.arrayContaining,
    stringContaining: equality.stringContaining,
    stringMatching: equality.stringMatching,
  };
  const helperNames = p.ObjectKeys(helpers);
  for (let i = 0; i < helperNames.length; i++) {
    p.ObjectDefineProperty(expect, helperNames[i], p.descriptor({ value: helpers[helperNames[i]], writable: true, enumerable: true, configurable: true }));
  }

  async function settleAll(pending: Array<{ promise: Promise<void>; observed: boolean }>): Promise<void> {
    for (let i = 0; i < pending.length; i++) await p.safely(pending[i].promise);
  }

  /** A promise when some `.resolves`/`.rejects` was left unawaited, else undefined (nothing to wait for). */
  function settle(): Promise<void> | undefined {
    const pending: Array<{ promise: Promise<void>; observed: boolean }> = [];
    for (let i = 0; i < unawaited.length; i++) if (!unawaited[i].observed) p.append(pending, unawaited[i]);
    unawaited.length = 0;
    return pending.length === 0 ? undefined : settleAll(pending);
  }

  return { expect, settle, isAssertion };
}
