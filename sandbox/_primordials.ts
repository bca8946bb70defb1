/**
 * The built-ins the test harness trusts, taken when the harness starts — before any generated code
 * runs in its context — like Node's "primordials". Generated code shares its context with the
 * harness, so it can replace `Array.prototype.filter`, `WeakMap.prototype.get`, `Object.is`,
 * `Function.prototype.call`, a `Symbol.hasInstance` or the global `Object` itself; a harness that
 * looked those up after the code ran would let a failing suite report a pass. Everything the
 * harness, its matchers, its formatter and its console call after that point comes from here.
 *
 * Methods are uncurried (`StringPrototypeSlice(text, 0, 9)`) through a `Function.prototype.call`
 * bound here, so a replaced `call`, `apply` or `bind` changes nothing. A few operations are
 * rebuilt so that they consult nothing generated code can change: `kindOf` (what built-in a value
 * is, by prototype identity and internal slots, never `Symbol.toStringTag`), `isInstance`
 * (`instanceof` without `Symbol.hasInstance`), `append` (to a list without a prototype: no index setter)
 * and `safely` (a promise that `await` takes without looking up `then` or `constructor`).
 *
 * `createPrimordials` runs INSIDE the isolate (shipped via Function.prototype.toString): its body
 * must not reference anything outside itself. The host calls it too, for the same helpers.
 */

type Uncurried<F> = F extends (...args: infer A) => infer R ? (self: unknown, ...args: A) => R : never;
type AnyFn = (...args: never[]) => unknown;

/** What a value is among the built-ins the matchers and the formatter treat specially. */
export type Kind =
  | 'Array' | 'TypedArray' | 'ArrayBuffer' | 'Map' | 'Set' | 'WeakMap' | 'WeakSet' | 'Date' | 'RegExp' | 'Error'
  | 'Number' | 'String' | 'Boolean' | 'Promise' | 'Object';

export interface Primordials {
  Object: ObjectConstructor;
  Array: ArrayConstructor;
  Error: ErrorConstructor;
  Map: MapConstructor;
  Number: NumberConstructor;
  Promise: PromiseConstructor;
  RegExp: RegExpConstructor;
  Set: SetConstructor;
  String: StringConstructor;
  WeakMap: WeakMapConstructor;
  WeakSet: WeakSetConstructor;
  Boolean: BooleanConstructor;
  BigInt: BigIntConstructor;
  Symbol: SymbolConstructor;
  Function: FunctionConstructor;
  ObjectPrototype: object;
  ErrorPrototype: object;
  ArrayIsArray: (value: unknown) => value is unknown[];
  ArrayBufferIsView: (value: unknown) => boolean;
  ObjectCreate: (proto: object | null) => object;
  ObjectDefineProperty: (target: object, key: PropertyKey, descriptor: PropertyDescriptor) => object;
  ObjectFreeze: <T>(value: T) => T;
  ObjectGetOwnPropertyDescriptor: (target: object, key: PropertyKey) => PropertyDescriptor | undefined;
  ObjectGetPrototypeOf: (value: unknown) => object | null;
  ObjectIs: (a: unknown, b: unknown) => boolean;
  ObjectKeys: (value: object) => string[];
  ObjectSetPrototypeOf: <T>(value: T, proto: object | null) => T;
  ObjectPrototypeHasOwnProperty: (self: unknown, key: PropertyKey) => boolean;
  ReflectApply: (fn: AnyFn | ((...args: unknown[]) => unknown), self: unknown, args: ArrayLike<unknown>) => unknown;
  ReflectDeleteProperty: (target: object, key: PropertyKey) => boolean;
  /** A property descriptor without a prototype (a polluted Object.prototype.get cannot turn it into an accessor). */
  descriptor: (fields: PropertyDescriptor) => PropertyDescriptor;
  JSONStringify: (value: unknown) => string;
  JSONParse: (text: string) => unknown;
  DateNow: () => number;
  MathAbs: (n: number) => number;
  MathMin: (...n: number[]) => number;
  MathTrunc: (n: number) => number;
  NumberIsNaN: (n: unknown) => boolean;
  SymbolIterator: symbol;
  SymbolSpecies: symbol;
  FunctionPrototypeToString: Uncurried<() => string>;
  StringPrototypeCharCodeAt: Uncurried<(index: number) => number>;
  StringPrototypeEndsWith: Uncurried<(search: string) => boolean>;
  StringPrototypeIncludes: Uncurried<(search: string) => boolean>;
  StringPrototypeIndexOf: Uncurried<(search: string, from?: number) => number>;
  StringPrototypeLastIndexOf: Uncurried<(search: string) => number>;
  StringPrototypeSlice: Uncurried<(start?: number, end?: number) => string>;
  StringPrototypeStartsWith: Uncurried<(search: string) => boolean>;
  StringPrototypeTrim: Uncurried<() => string>;
  RegExpPrototypeExec: (self: RegExp, text: string) => RegExpExecArray | null;
  RegExpPrototypeGetSource: (self: RegExp) => string;
  /** The flags of a regular expression from its internal slots; without 'g' and 'y' unless `all` (a fresh copy to test with). */
  regExpFlags: (self: RegExp, all: boolean) => string;
  MapPrototypeGet: <K, V>(self: Map<K, V>, key: K) => V | undefined;
  MapPrototypeSet: <K, V>(self: Map<K, V>, key: K, value: V) => Map<K, V>;
  MapPrototypeHas: <K>(self: Map<K, unknown>, key: K) => boolean;
  MapPrototypeGetSize: (self: unknown) => number;
  /** The first `max` [key, value] pairs of a Map (all by default), read with the iterator methods taken at start. */
  mapEntries: (self: Map<unknown, unknown>, max?: number) => Array<[unknown, unknown]>;
  SetPrototypeHas: <T>(self: Set<T>, value: T) => boolean;
  SetPrototypeAdd: <T>(self: Set<T>, value: T) => Set<T>;
  SetPrototypeGetSize: (self: unknown) => number;
  /** The first `max` values of a Set (all by default), read with the iterator methods taken at start. */
  setValues: (self: Set<unknown>, max?: number) => unknown[];
  WeakMapPrototypeGet: <K extends object, V>(self: WeakMap<K, V>, key: K) => V | undefined;
  WeakMapPrototypeSet: <K extends object, V>(self: WeakMap<K, V>, key: K, value: V) => WeakMap<K, V>;
  WeakSetPrototypeAdd: <T extends object>(self: WeakSet<T>, value: T) => WeakSet<T>;
  WeakSetPrototypeHas: <T extends object>(self: WeakSet<T>, value: T) => boolean;
  DatePrototypeGetTime: (self: unknown) => number;
  DatePrototypeToISOString: (self: unknown) => string;
  NumberPrototypeValueOf: (self: unknown) => number;
  StringPrototypeValueOf: (self: unknown) => string;
  BooleanPrototypeValueOf: (self: unknown) => boolean;
  TypedArrayPrototypeGetLength: (self: unknown) => number;
  TypedArrayPrototypeGetName: (self: unknown) => string | undefined;
  ArrayBufferPrototypeGetByteLength: (self: unknown) => number;
  PromisePrototypeThen: (self: unknown, onFulfilled?: (value: unknown) => unknown, onRejected?: (reason: unknown) => unknown) => unknown;
  kindOf: (value: unknown) => Kind;
  isError: (value: unknown) => value is Error;
  isInstance: (value: unknown, type: unknown) => boolean;
  /** Appends `value` to `list` (a list of the harness's own, which this leaves without a prototype): no index setter or replaced push sees it. */
  append: <T>(list: T[], value: T) => void;
  /**
   * What `await` takes without consulting anything generated code can replace: a primitive as is,
   * else a promise settled the way `value` settles (a native promise, a thenable or a plain object).
   */
  safely: <T>(value: T | PromiseLike<T>) => Promise<T>;
}

export function createPrimordials(): Primordials {
  const FunctionPrototype = Function.prototype;
  // `call.bind(fn)`: a bound function whose target is this `call`, so a replaced
  // Function.prototype.call, apply or bind later changes nothing.
  const uncurry = FunctionPrototype.bind.bind(FunctionPrototype.call) as <F>(fn: F) => Uncurried<F>;
  const getOwn = Object.getOwnPropertyDescriptor;
  const getter = (target: object, key: PropertyKey) => uncurry((getOwn(target, key) as PropertyDescriptor).get as () => unknown);
  const getPrototypeOf = Object.getPrototypeOf;
  const setPrototypeOf = Object.setPrototypeOf;
  const defineProperty = Object.defineProperty;
  const ReflectApply = Reflect.apply;
  const ReflectDeleteProperty = Reflect.deleteProperty;
  /** A property descriptor without a prototype: a polluted Object.prototype.get or .set cannot join it. */
  const descriptor = (fields: PropertyDescriptor): PropertyDescriptor => setPrototypeOf(fields, null);
  const SymbolIterator = Symbol.iterator;
  const SymbolSpecies = Symbol.species;

  const TypedArrayPrototype = getPrototypeOf(Uint8Array.prototype) as object;
  const MapIteratorNext = uncurry(getPrototypeOf(new Map().entries()).next as () => IteratorResult<[unknown, unknown]>);
  const SetIteratorNext = uncurry(getPrototypeOf(new Set().values()).next as () => IteratorResult<unknown>);
  const MapPrototypeEntries = uncurry(Map.prototype.entries);
  const SetPrototypeValues = uncurry(Set.prototype.values);
  const MapPrototypeGetSize = getter(Map.prototype, 'size') as (self: unknown) => number;
  const SetPrototypeGetSize = getter(Set.prototype, 'size') as (self: unknown) => number;
  const WeakMapPrototypeHas = uncurry(WeakMap.prototype.has);
  const WeakSetPrototypeHas = uncurry(WeakSet.prototype.has);
  const DatePrototypeGetTime = uncurry(Date.prototype.getTime);
  const NumberPrototypeValueOf = uncurry(Number.prototype.valueOf);
  const StringPrototypeValueOf = uncurry(String.prototype.valueOf);
  const BooleanPrototypeValueOf = uncurry(Boolean.prototype.valueOf);
  const RegExpPrototypeGetSource = getter(RegExp.prototype, 'source') as (self: RegExp) => string;
  const TypedArrayPrototypeGetName = getter(TypedArrayPrototype, Symbol.toStringTag) as (self: unknown) => string | undefined;
  const ArrayBufferPrototypeGetByteLength = getter(ArrayBuffer.prototype, 'byteLength') as (self: unknown) => number;
  const PromisePrototypeThen = uncurry(Promise.prototype.then) as Primordials['PromisePrototypeThen'];
  const ArrayIsArray = Array.isArray;
  const PromiseConstructor = Promise;
  const ObjectPrototype = Object.prototype;
  // The flags a fresh copy of a regular expression needs, read from its internal slots (the
  // `flags` getter would call getters generated code can replace). 'g' and 'y' are left out.
  const flagGetters: Array<[string, (self: RegExp) => boolean]> = [];
  const flagNames = [
    ['d', 'hasIndices'], ['g', 'global'], ['i', 'ignoreCase'], ['m', 'multiline'],
    ['s', 'dotAll'], ['u', 'unicode'], ['v', 'unicodeSets'], ['y', 'sticky'],
  ];
  for (let i = 0; i < flagNames.length; i++) {
    const found = getOwn(RegExp.prototype, flagNames[i][1]);
    if (found?.get !== undefined) flagGetters[flagGetters.length] = [flagNames[i][0], uncurry(found.get) as (self: RegExp) => boolean];
  }

  /** Whether `check(value)` accepts `value` as having a built-in's internal slot (it throws otherwise). */
  function branded(check: (value: unknown) => unknown, value: unknown): boolean {
    try {
      check(value);
      return true;
    } catch {
      return false;
    }
  }

  const byPrototype: Array<[object, Kind, (value: unknown) => unknown]> = [
    [Map.prototype, 'Map', MapPrototypeGetSize],
    [Set.prototype, 'Set', SetPrototypeGetSize],
    [Date.prototype, 'Date', DatePrototypeGetTime],
    [RegExp.prototype, 'RegExp', RegExpPrototypeGetSource as (value: unknown) => unknown],
    [Error.prototype, 'Error', () => undefined],
    [Number.prototype, 'Number', NumberPrototypeValueOf],
    [String.prototype, 'String', StringPrototypeValueOf],
    [Boolean.prototype, 'Boolean', BooleanPrototypeValueOf],
    [Promise.prototype, 'Promise', (value) => PromisePrototypeThen(value)],
    [WeakMap.prototype, 'WeakMap', (value) => WeakMapPrototypeHas(value as WeakMap<object, unknown>, {})],
    [WeakSet.prototype, 'WeakSet', (value) => WeakSetPrototypeHas(value as WeakSet<object>, {})],
    [ArrayBuffer.prototype, 'ArrayBuffer', ArrayBufferPrototypeGetByteLength],
  ];

  function kindOf(value: unknown): Kind {
    if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return 'Object';
    if (ArrayIsArray(value)) return 'Array';
    if (TypedArrayPrototypeGetName(value) !== undefined) return 'TypedArray';
    // The first built-in prototype on the chain says what the value claims to be; its internal
    // slot (checked without Symbol.toStringTag) says whether it is. A Promise is only checked by
    // its prototype: its brand check would subscribe to it.
    let depth = 0;
    for (let proto = getPrototypeOf(value); proto !== null && depth < 64; proto = getPrototypeOf(proto), depth++) {
      // A plain object, the common case: nothing but Object.prototype on its chain.
      if (proto === ObjectPrototype) return 'Object';
      for (let i = 0; i < byPrototype.length; i++) {
        const entry = byPrototype[i];
        if (proto !== entry[0]) continue;
        return entry[1] === 'Error' || entry[1] === 'Promise' || branded(entry[2], value) ? entry[1] : 'Object';
      }
    }
    return 'Object';
  }

  function isInstance(value: unknown, type: unknown): boolean {
    if (typeof type !== 'function') return false;
    if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return false;
    const prototype = (type as { prototype?: unknown }).prototype;
    if (prototype === null || (typeof prototype !== 'object' && typeof prototype !== 'function')) return false;
    let depth = 0;
    for (let proto = getPrototypeOf(value); proto !== null && depth < 10_000; proto = getPrototypeOf(proto), depth++) {
      if (proto === prototype) return true;
    }
    return false;
  }

  function append<T>(list: T[], value: T): void {
    // The first append takes the list's prototype away: from then on a plain store finds no
    // prototype to consult (no index setter, no replaced push), and costs what a store costs.
    if (getPrototypeOf(list) !== null) setPrototypeOf(list, null);
    list[list.length] = value;
  }

  // What `await` sees as this very promise: an own `constructor` that is the real Promise, so
  // PromiseResolve neither looks up the prototype's (replaceable) `constructor` nor calls `then`.
  function owned<T>(promise: Promise<T>): Promise<T> {
    defineProperty(promise, 'constructor', descriptor({ value: PromiseConstructor, configurable: true }));
    return promise;
  }
  // Given to `then` as the species constructor when a promise's own chain was tampered with.
  const species = Object.freeze({ [SymbolSpecies]: PromiseConstructor });

  /** Subscribes to a native promise without consulting its (replaceable) constructor or species; false if `value` is not one. */
  function subscribe(value: object, resolve: (value: unknown) => void, reject: (reason: unknown) => void): boolean {
    try {
      PromisePrototypeThen(value, resolve, reject);
      return true;
    } catch {
      // Not a promise, or a promise whose `constructor` or species generated code replaced: give
      // it an own `constructor` for the time of one `then` call, and put back what was there.
    }
    let saved: PropertyDescriptor | undefined;
    try {
      saved = getOwn(value, 'constructor');
      if (saved !== undefined && saved.configurable !== true) return false;
      if (saved !== undefined) setPrototypeOf(saved, null);
      defineProperty(value, 'constructor', descriptor({ value: species, configurable: true }));
    } catch {
      return false;
    }
    try {
      PromisePrototypeThen(value, resolve, reject);
      return true;
    } catch {
      return false;
    } finally {
      try {
        if (saved === undefined) ReflectDeleteProperty(value, 'constructor');
        else defineProperty(value, 'constructor', saved);
      } catch {
        // a proxy that refuses: its own choice
      }
    }
  }

  function safely<T>(value: T | PromiseLike<T>): Promise<T> {
    // `await` of a primitive looks nothing up (it wraps it in a promise of the real Promise):
    // most tests and hooks return undefined, and pay nothing for this.
    if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return value as unknown as Promise<T>;
    return owned(new PromiseConstructor<T>((resolve, reject) => {
      if (subscribe(value as object, resolve as (value: unknown) => void, reject)) return undefined;
      // Not a native promise: a thenable is awaited through its own `then`, as `await` would.
      const then = (value as { then?: unknown }).then;
      if (typeof then !== 'function') return resolve(value as T);
      ReflectApply(then, value, [resolve, reject]);
      return undefined;
    }));
  }

  return Object.freeze({
    __proto__: null,
    Object, Array, Error, Map, Number, Promise, RegExp, Set, String, WeakMap, WeakSet, Boolean, BigInt, Symbol, Function,
    ObjectPrototype,
    ErrorPrototype: Error.prototype,
    ArrayIsArray,
    ArrayBufferIsView: ArrayBuffer.isView,
    ObjectCreate: Object.create,
    ObjectDefineProperty: defineProperty,
    ObjectFreeze: Object.freeze,
    ObjectGetOwnPropertyDescriptor: getOwn,
    ObjectGetPrototypeOf: getPrototypeOf,
    ObjectIs: Object.is,
    ObjectKeys: Object.keys,
    ObjectSetPrototypeOf: setPrototypeOf,
    ObjectPrototypeHasOwnProperty: uncurry(Object.prototype.hasOwnProperty),
    ReflectApply,
    ReflectDeleteProperty,
    descriptor,
    JSONStringify: JSON.stringify,
    JSONParse: JSON.parse,
    DateNow: Date.now,
    MathAbs: Math.abs,
    MathMin: Math.min,
    MathTrunc: Math.trunc,
    NumberIsNaN: Number.isNaN,
    SymbolIterator,
    SymbolSpecies,
    FunctionPrototypeToString: uncurry(FunctionPrototype.toString),
    StringPrototypeCharCodeAt: uncurry(String.prototype.charCodeAt),
    StringPrototypeEndsWith: uncurry(String.prototype.endsWith),
    StringPrototypeIncludes: uncurry(String.prototype.includes),
    StringPrototypeIndexOf: uncurry(String.prototype.indexOf),
    StringPrototypeLastIndexOf: uncurry(String.prototype.lastIndexOf),
    StringPrototypeSlice: uncurry(String.prototype.slice),
    StringPrototypeStartsWith: uncurry(String.prototype.startsWith),
    StringPrototypeTrim: uncurry(String.prototype.trim),
    RegExpPrototypeExec: uncurry(RegExp.prototype.exec) as Primordials['RegExpPrototypeExec'],
    RegExpPrototypeGetSource,
    regExpFlags(self: RegExp, all: boolean): string {
      let flags = '';
      for (let i = 0; i < flagGetters.length; i++) {
        const flag = flagGetters[i][0];
        const isSet = flagGetters[i][1];
        if ((all || (flag !== 'g' && flag !== 'y')) && isSet(self)) flags += flag;
      }
      return flags;
    },
    MapPrototypeGet: uncurry(Map.prototype.get) as Primordials['MapPrototypeGet'],
    MapPrototypeSet: uncurry(Map.prototype.set) as Primordials['MapPrototypeSet'],
    MapPrototypeHas: uncurry(Map.prototype.has) as Primordials['MapPrototypeHas'],
    MapPrototypeGetSize,
    mapEntries(self: Map<unknown, unknown>, max = Infinity): Array<[unknown, unknown]> {
      const entries: Array<[unknown, unknown]> = [];
      const iterator = MapPrototypeEntries(self);
      for (let step = MapIteratorNext(iterator); !step.done && entries.length < max; step = MapIteratorNext(iterator)) append(entries, step.value);
      return entries;
    },
    SetPrototypeHas: uncurry(Set.prototype.has) as Primordials['SetPrototypeHas'],
    SetPrototypeAdd: uncurry(Set.prototype.add) as Primordials['SetPrototypeAdd'],
    SetPrototypeGetSize,
    setValues(self: Set<unknown>, max = Infinity): unknown[] {
      const values: unknown[] = [];
      const iterator = SetPrototypeValues(self);
      for (let step = SetIteratorNext(iterator); !step.done && values.length < max; step = SetIteratorNext(iterator)) append(values, step.value);
      return values;
    },
    WeakMapPrototypeGet: uncurry(WeakMap.prototype.get) as Primordials['WeakMapPrototypeGet'],
    WeakMapPrototypeSet: uncurry(WeakMap.prototype.set) as Primordials['WeakMapPrototypeSet'],
    WeakSetPrototypeAdd: uncurry(WeakSet.prototype.add) as Primordials['WeakSetPrototypeAdd'],
    WeakSetPrototypeHas: WeakSetPrototypeHas as Primordials['WeakSetPrototypeHas'],
    DatePrototypeGetTime,
    DatePrototypeToISOString: uncurry(Date.prototype.toISOString),
    NumberPrototypeValueOf,
    StringPrototypeValueOf,
    BooleanPrototypeValueOf,
    TypedArrayPrototypeGetLength: getter(TypedArrayPrototype, 'length') as (self: unknown) => number,
    TypedArrayPrototypeGetName,
    ArrayBufferPrototypeGetByteLength,
    PromisePrototypeThen,
    kindOf,
    isError: (value: unknown): value is Error => kindOf(value) === 'Error',
    isInstance,
    append,
    safely,
  } as Primordials & { __proto__: null });
}
