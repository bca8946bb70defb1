/**
 * Deep equality for `toEqual`/`toStrictEqual`/`toMatchObject`, and the asymmetric matchers
 * (`expect.any(Number)`, `expect.objectContaining({...})`, …) that may sit inside expected values.
 *
 * `createEquality` runs INSIDE the isolate (shipped via Function.prototype.toString): its body must
 * stay self-contained.
 */

export interface AsymmetricMatcher {
  asymmetricMatch(other: unknown): boolean;
  toString(): string;
}

export interface Equality {
  /** `strict` also compares prototypes, `undefined`-valued keys and array holes. */
  equals(actual: unknown, expected: unknown, strict: boolean): boolean;
  /** Every key of `expected` is in `actual` with a matching value, recursively. */
  matchesObject(actual: unknown, expected: unknown): boolean;
  any(type: unknown): AsymmetricMatcher;
  anything(): AsymmetricMatcher;
  objectContaining(subset: Record<string, unknown>): AsymmetricMatcher;
  arrayContaining(items: unknown[]): AsymmetricMatcher;
  stringContaining(text: string): AsymmetricMatcher;
  stringMatching(pattern: string | RegExp): AsymmetricMatcher;
}

export function createEquality(format: (value: unknown) => string): Equality {
  const toStringTag = Object.prototype.toString;
  const hasOwn = Object.prototype.hasOwnProperty;

  function isAsymmetric(value: unknown): value is AsymmetricMatcher {
    return typeof value === 'object' && value !== null && typeof (value as AsymmetricMatcher).asymmetricMatch === 'function';
  }

  function keysOf(value: object, strict: boolean): string[] {
    const record = value as Record<string, unknown>;
    return Object.keys(value).filter((key) => strict || record[key] !== undefined);
  }

  function compare(a: unknown, b: unknown, strict: boolean, seen: Array<[unknown, unknown]>): boolean {
    if (isAsymmetric(b)) return b.asymmetricMatch(a);
    if (isAsymmetric(a)) return a.asymmetricMatch(b);
    if (Object.is(a, b)) return true;
    if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
    const kind = toStringTag.call(a);
    if (kind !== toStringTag.call(b)) return false;
    if (strict && Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
    if (seen.some(([x, y]) => x === a && y === b)) return true;
    const next: Array<[unknown, unknown]> = [...seen, [a, b]];
    if (kind === '[object Date]') return Object.is((a as Date).getTime(), (b as Date).getTime());
    if (kind === '[object RegExp]') return String(a) === String(b);
    if (kind === '[object Number]' || kind === '[object String]' || kind === '[object Boolean]') {
      return Object.is((a as object).valueOf(), (b as object).valueOf());
    }
    if (a instanceof Error && b instanceof Error && (a.message !== b.message || a.name !== b.name)) return false;
    if (Array.isArray(a) || ArrayBuffer.isView(a)) {
      const x = a as unknown as ArrayLike<unknown>;
      const y = b as unknown as ArrayLike<unknown>;
      if (x.length !== y.length) return false;
      for (let i = 0; i < x.length; i++) {
        if (strict && (i in x) !== (i in y)) return false;
        if (!compare(x[i], y[i], strict, next)) return false;
      }
      if (!Array.isArray(a)) return true;
    }
    if (kind === '[object Map]') {
      const x = a as Map<unknown, unknown>;
      const y = b as Map<unknown, unknown>;
      if (x.size !== y.size) return false;
      for (const [key, value] of x) {
        if (y.has(key)) {
          if (!compare(value, y.get(key), strict, next)) return false;
        } else if (![...y].some(([k, v]) => compare(key, k, strict, next) && compare(value, v, strict, next))) {
          return false;
        }
      }
      return true;
    }
    if (kind === '[object Set]') {
      const x = a as Set<unknown>;
      const y = b as Set<unknown>;
      if (x.size !== y.size) return false;
      for (const value of x) {
        if (!y.has(value) && ![...y].some((other) => compare(value, other, strict, next))) return false;
      }
      return true;
    }
    const keysA = keysOf(a, strict);
    const keysB = keysOf(b, strict);
    if (keysA.length !== keysB.length) return false;
    const recordA = a as Record<string, unknown>;
    const recordB = b as Record<string, unknown>;
    return keysA.every((key) => hasOwn.call(b, key) && compare(recordA[key], recordB[key], strict, next));
  }

  function matchesObject(actual: unknown, expected: unknown): boolean {
    if (isAsymmetric(expected)) return expected.asymmetricMatch(actual);
    if (typeof expected !== 'object' || expected === null || typeof actual !== 'object' || actual === null) {
      return compare(actual, expected, false, []);
    }
    if (Array.isArray(expected)) {
      return Array.isArray(actual) && actual.length === expected.length && expected.every((item, i) => matchesObject(actual[i], item));
    }
    if (toStringTag.call(expected) !== '[object Object]') return compare(actual, expected, false, []);
    const record = actual as Record<string, unknown>;
    return Object.keys(expected).every((key) => key in record && matchesObject(record[key], (expected as Record<string, unknown>)[key]));
  }

  function matcher(description: string, test: (other: unknown) => boolean): AsymmetricMatcher {
    return { asymmetricMatch: test, toString: () => description };
  }

  function any(type: unknown): AsymmetricMatcher {
    const name = typeof type === 'function' ? type.name : String(type);
    return matcher(`Any<${name}>`, (other) => {
      if (type === Number) return typeof other === 'number' || other instanceof Number;
      if (type === String) return typeof other === 'string' || other instanceof String;
      if (type === Boolean) return typeof other === 'boolean' || other instanceof Boolean;
      if (type === BigInt) return typeof other === 'bigint';
      if (type === Symbol) return typeof other === 'symbol';
      if (type === Function) return typeof other === 'function';
      if (type === Object) return typeof other === 'object' && other !== null;
      return typeof type === 'function' && other instanceof type;
    });
  }

  return {
    equals: (actual, expected, strict) => compare(actual, expected, strict, []),
    matchesObject,
    any,
    anything: () => matcher('Anything', (other) => other !== null && other !== undefined),
    objectContaining: (subset) => matcher(`ObjectContaining ${format(subset)}`, (other) => matchesObject(other, subset)),
    arrayContaining: (items) => matcher(`ArrayContaining ${format(items)}`, (other) =>
      Array.isArray(other) && items.every((item) => other.some((candidate) => compare(candidate, item, false, [])))),
    stringContaining: (text) => matcher(`StringContaining ${format(text)}`, (other) => typeof other === 'string' && other.includes(text)),
    stringMatching: (pattern) => matcher(`StringMatching ${format(pattern)}`, (other) =>
      typeof other === 'string' && (typeof pattern === 'string' ? new RegExp(pattern) : pattern).test(other)),
  };
}
