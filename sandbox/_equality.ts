/**
 * Deep equality for `toEqual`/`toStrictEqual`/`toMatchObject`, and the asymmetric matchers
 * (`expect.any(Number)`, `expect.objectContaining({...})`, …) that may sit inside expected values.
 *
 * `createEquality` runs INSIDE the isolate (shipped via Function.prototype.toString): its body must
 * stay self-contained, with the built-ins it uses passed in as primordials (taken before generated
 * code ran). What a value is comes from `kindOf` (prototype identity and internal slots), never
 * from `Symbol.toStringTag`, and only our own matchers are asymmetric: a polluted
 * `Object.prototype.asymmetricMatch` makes nothing equal.
 */
import type { Formatter } from './_format.ts';
import type { Kind, Primordials } from './_primordials.ts';

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

export function createEquality(p: Primordials, formatter: Formatter): Equality {
  const tests = new p.WeakMap<object, (other: unknown) => boolean>();
  const hasOwn = p.ObjectPrototypeHasOwnProperty;

  /** One of our asymmetric matchers' test, or undefined. */
  function asymmetric(value: unknown): ((other: unknown) => boolean) | undefined {
    return value !== null && typeof value === 'object' ? p.WeakMapPrototypeGet(tests, value) : undefined;
  }

  /** How many of `keys` name a value other than undefined (non-strict equality ignores undefined ones). */
  function defined(record: Record<string, unknown>, keys: string[]): number {
    let count = 0;
    for (let i = 0; i < keys.length; i++) if (record[keys[i]] !== undefined) count++;
    return count;
  }

  /** Whether some item of `items` equals `value` (how a Map key or a Set value without an identical match is looked for). */
  function someEqual(items: unknown[], value: unknown, strict: boolean, seen: Seen): boolean {
    for (let i = 0; i < items.length; i++) if (compare(value, items[i], strict, seen)) return true;
    return false;
  }

  /** The pairs being compared further up (a cycle compares equal); pushed and popped around each level. */
  type Seen = { a: unknown[]; b: unknown[] };
  const fresh = (): Seen => ({ a: [], b: [] });

  function compare(a: unknown, b: unknown, strict: boolean, seen: Seen): boolean {
    const matchB = asymmetric(b);
    if (matchB !== undefined) return matchB(a);
    const matchA = asymmetric(a);
    if (matchA !== undefined) return matchA(b);
    if (p.ObjectIs(a, b)) return true;
    if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
    const kind = p.kindOf(a);
    if (kind !== p.kindOf(b)) return false;
    if (strict && p.ObjectGetPrototypeOf(a) !== p.ObjectGetPrototypeOf(b)) return false;
    for (let i = 0; i < seen.a.length; i++) if (seen.a[i] === a && seen.b[i] === b) return true;
    const depth = seen.a.length;
    p.append(seen.a, a);
    p.append(seen.b, b);
    const equal = compareObjects(a, b, kind, strict, seen);
    seen.a.length = depth;
    seen.b.length = depth;
    return equal;
  }

  function compareObjects(a: object, b: object, kind: Kind, strict: boolean, next: Seen): boolean {
    if (kind === 'Date') return p.ObjectIs(p.DatePrototypeGetTime(a), p.DatePrototypeGetTime(b));
    if (kind === 'RegExp') {
      const x = a as RegExp;
      const y = b as RegExp;
      return p.RegExpPrototypeGetSource(x) === p.RegExpPrototypeGetSource(y) && p.regExpFlags(x, true) === p.regExpFlags(y, true);
    }
    if (kind === 'Number') return p.ObjectIs(p.NumberPrototypeValueOf(a), p.NumberPrototypeValueOf(b));
    if (kind === 'String') return p.StringPrototypeValueOf(a) === p.StringPrototypeValueOf(b);
    if (kind === 'Boolean') return p.BooleanPrototypeValueOf(a) === p.BooleanPrototypeValueOf(b);
    if (kind === 'Error' && ((a as Error).message !== (b as Error).message || (a as Error).name !== (b as Error).name)) return false;
    if (kind === 'Array' || kind === 'TypedArray') {
      const x = a as ArrayLike<unknown>;
      const y = b as ArrayLike<unknown>;
      const length = kind === 'Array' ? x.length : p.TypedArrayPrototypeGetLength(x);
      if (length !== (kind === 'Array' ? y.length : p.TypedArrayPrototypeGetLength(y))) return false;
      if (kind === 'TypedArray' && p.TypedArrayPrototypeGetName(x) !== p.TypedArrayPrototypeGetName(y)) return false;
      for (let i = 0; i < length; i++) {
        if (strict && (i in x) !== (i in y)) return false;
        if (!compare(x[i], y[i], strict, next)) return false;
      }
      if (kind === 'TypedArray') return true;
    }
    if (kind === 'Map') {
      const x = a as Map<unknown, unknown>;
      const y = b as Map<unknown, unknown>;
      if (p.MapPrototypeGetSize(x) !== p.MapPrototypeGetSize(y)) return false;
      const entries = p.mapEntries(x);
      let others: Array<[unknown, unknown]> | undefined;
      for (let i = 0; i < entries.length; i++) {
        const key = entries[i][0];
        const value = entries[i][1];
        if (p.MapPrototypeHas(y, key)) {
          if (!compare(value, p.MapPrototypeGet(y, key), strict, next)) return false;
          continue;
        }
        others ??= p.mapEntries(y);
        let found = false;
        for (let j = 0; j < others.length && !found; j++) found = compare(key, others[j][0], strict, next) && compare(value, others[j][1], strict, next);
        if (!found) return false;
      }
      return true;
    }
    if (kind === 'Set') {
      const x = a as Set<unknown>;
      const y = b as Set<unknown>;
      if (p.SetPrototypeGetSize(x) !== p.SetPrototypeGetSize(y)) return false;
      const values = p.setValues(x);
      let others: unknown[] | undefined;
      for (let i = 0; i < values.length; i++) {
        if (p.SetPrototypeHas(y, values[i])) continue;
        others ??= p.setValues(y);
        if (!someEqual(others, values[i], strict, next)) return false;
      }
      return true;
    }
    const recordA = a as Record<string, unknown>;
    const recordB = b as Record<string, unknown>;
    const keysA = p.ObjectKeys(a);
    const keysB = p.ObjectKeys(b);
    if (strict ? keysA.length !== keysB.length : defined(recordA, keysA) !== defined(recordB, keysB)) return false;
    for (let i = 0; i < keysA.length; i++) {
      const key = keysA[i];
      if (!strict && recordA[key] === undefined) continue;
      if (!hasOwn(b, key) || !compare(recordA[key], recordB[key], strict, next)) return false;
    }
    return true;
  }

  function matchesObject(actual: unknown, expected: unknown): boolean {
    const match = asymmetric(expected);
    if (match !== undefined) return match(actual);
    if (typeof expected !== 'object' || expected === null || typeof actual !== 'object' || actual === null) {
      return compare(actual, expected, false, fresh());
    }
    const kind = p.kindOf(expected);
    if (kind === 'Array') {
      const want = expected as unknown[];
      const have = actual as unknown[];
      if (p.kindOf(actual) !== 'Array' || have.length !== want.length) return false;
      for (let i = 0; i < want.length; i++) if (!matchesObject(have[i], want[i])) return false;
      return true;
    }
    if (kind !== 'Object') return compare(actual, expected, false, fresh());
    const record = actual as Record<string, unknown>;
    const keys = p.ObjectKeys(expected);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      if (!(key in record) || !matchesObject(record[key], (expected as Record<string, unknown>)[key])) return false;
    }
    return true;
  }

  function matcher(description: string, test: (other: unknown) => boolean): AsymmetricMatcher {
    const made: AsymmetricMatcher = p.ObjectFreeze({ asymmetricMatch: test, toString: () => description });
    p.WeakMapPrototypeSet(tests, made, test);
    formatter.registerMatcher(made, description);
    return made;
  }

  /** Whether `other` is a value of the built-in `type` (primitives included), as expect.any means it. */
  function isOfType(type: unknown, other: unknown): boolean {
    if (type === p.Number) return typeof other === 'number' || p.kindOf(other) === 'Number';
    if (type === p.String) return typeof other === 'string' || p.kindOf(other) === 'String';
    if (type === p.Boolean) return typeof other === 'boolean' || p.kindOf(other) === 'Boolean';
    if (type === p.BigInt) return typeof other === 'bigint';
    if (type === p.Symbol) return typeof other === 'symbol';
    if (type === p.Function) return typeof other === 'function';
    if (type === p.Object) return typeof other === 'object' && other !== null;
    return p.isInstance(other, type);
  }

  function any(type: unknown): AsymmetricMatcher {
    const name = typeof type === 'function' ? p.String(type.name) : p.String(type);
    return matcher('Any<' + name + '>', (other) => isOfType(type, other));
  }

  function arrayContains(other: unknown, items: unknown[]): boolean {
    if (p.kindOf(other) !== 'Array') return false;
    const list = other as unknown[];
    for (let i = 0; i < items.length; i++) {
      let found = false;
      for (let j = 0; j < list.length && !found; j++) found = compare(list[j], items[i], false, fresh());
      if (!found) return false;
    }
    return true;
  }

  function stringMatching(pattern: string | RegExp): AsymmetricMatcher {
    const regExp = p.kindOf(pattern) === 'RegExp'
      ? new p.RegExp(p.RegExpPrototypeGetSource(pattern as RegExp), p.regExpFlags(pattern as RegExp, false))
      : new p.RegExp(p.String(pattern));
    return matcher('StringMatching ' + formatter.format(pattern), (other) => typeof other === 'string' && p.RegExpPrototypeExec(regExp, other) !== null);
  }

  return {
    equals: (actual, expected, strict) => compare(actual, expected, strict, fresh()),
    matchesObject,
    any,
    anything: () => matcher('Anything', (other) => other !== null && other !== undefined),
    objectContaining: (subset) => matcher('ObjectContaining ' + formatter.format(subset), (other) => matchesObject(other, subset)),
    arrayContaining: (items) => matcher('ArrayContaining ' + formatter.format(items), (other) => arrayContains(other, items)),
    stringContaining: (text) => matcher('StringContaining ' + formatter.format(text),
      (other) => typeof other === 'string' && p.StringPrototypeIncludes(other, text)),
    stringMatching,
  };
}
