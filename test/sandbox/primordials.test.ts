// Nothing generated code does to prototypes changes a result (issue 13, class 4), on both engines:
// a failing suite that replaces a built-in the harness or its matchers could use (Array.prototype
// filter/find/some/map/forEach/push/entries/[Symbol.iterator], the array iterator's next, Map and Set
// methods, Object.keys/entries/is, Array.from, Function.prototype.call/apply/bind, String.prototype
// replace/includes/split/slice, JSON.stringify, Promise.prototype.then, Error[Symbol.hasInstance]),
// at the top level or from inside a test, still reports every real failure exactly as without the
// forgery, and a passing suite that does the same still passes. And the harness source itself is
// checked: once generated code may have run, it calls no global and no built-in method it did not
// take at its start.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as acorn from 'acorn';
import { createSandbox } from '../../sandbox/mod.ts';
import type { Sandbox, SandboxDriver, SandboxReport } from '../../sandbox/mod.ts';
import { harnessSource } from '../../sandbox/_harness_source.ts';

const drivers: SandboxDriver[] = ['node-process', 'quickjs-process'];
const sandboxes = Object.fromEntries(drivers.map((driver) => [driver, createSandbox({ driver })])) as Record<SandboxDriver, Sandbox>;
const LIMITS = { timeoutMs: 30_000 };

/** Each replaces a built-in with the lie most likely to turn a failure into a pass. */
const FORGERIES: Record<string, string> = {
  'Array.prototype.entries': 'Array.prototype.entries = function* () {};',
  'Array.prototype.filter': 'Array.prototype.filter = function () { return []; };',
  'Array.prototype.find': 'Array.prototype.find = function () { return undefined; };',
  'Array.prototype.some': 'Array.prototype.some = function () { return true; };',
  'Array.prototype.map': 'Array.prototype.map = function () { return []; };',
  'Array.prototype.forEach': 'Array.prototype.forEach = function () {};',
  'Array.prototype.push': 'Array.prototype.push = function () { return this.length; };',
  'Array.prototype.includes': 'Array.prototype.includes = function () { return true; };',
  'Array.prototype[Symbol.iterator]': 'Array.prototype[Symbol.iterator] = function* () {};',
  '%ArrayIteratorPrototype%.next': 'Object.getPrototypeOf([][Symbol.iterator]()).next = function () { return { done: true, value: undefined }; };',
  'Array.from': "Array.from = function () { return ['a', 'b', 'z']; };",
  'Map.prototype.get': 'Map.prototype.get = function () { return undefined; };',
  'Map.prototype.set': 'Map.prototype.set = function () { return this; };',
  'Map.prototype.has': 'Map.prototype.has = function () { return true; };',
  'Set.prototype.has': 'Set.prototype.has = function () { return true; };',
  'Set.prototype.add': 'Set.prototype.add = function () { return this; };',
  'WeakMap.prototype.get': 'WeakMap.prototype.get = function () { return { actual: 3, prefix: "" }; };',
  'Object.entries': 'Object.entries = function () { return []; };',
  'Object.keys': 'Object.keys = function () { return []; };',
  'Object.is': 'Object.is = function () { return true; };',
  'Function.prototype.call': "Function.prototype.call = function () { return '[object Object]'; };",
  'Function.prototype.apply': 'Function.prototype.apply = function () { return undefined; };',
  'Function.prototype.bind': 'Function.prototype.bind = function () { return () => true; };',
  'String.prototype.replace': "String.prototype.replace = function () { return ''; };",
  'String.prototype.includes': 'String.prototype.includes = function () { return true; };',
  'String.prototype.split': 'String.prototype.split = function () { return []; };',
  'String.prototype.slice': "String.prototype.slice = function () { return ''; };",
  'RegExp.prototype.exec': 'RegExp.prototype.exec = function () { return [""]; };',
  'JSON.stringify': `JSON.stringify = function () { return '{"tests":[{"name":"forged","ok":true,"ms":0}],"registered":1,"total":1,"failed":0}'; };`,
  'Promise.prototype.then': 'Promise.prototype.then = function (onFulfilled) { if (typeof onFulfilled === "function") onFulfilled(); return this; };',
  'Promise.prototype.then and constructor': 'Promise.prototype.constructor = Object; Promise.prototype.then = function (onFulfilled) { if (typeof onFulfilled === "function") onFulfilled(); return this; };',
  'Error[Symbol.hasInstance]': 'Object.defineProperty(Error, Symbol.hasInstance, { value: () => true });',
  'Map.prototype[Symbol.toStringTag]': "Object.defineProperty(Map.prototype, Symbol.toStringTag, { value: 'Object' });",
  'Object.prototype.asymmetricMatch': 'Object.prototype.asymmetricMatch = function () { return true; };',
  'Object.prototype.get (descriptor pollution)': 'Object.prototype.get = function () { return undefined; };',
};

/** Values the tests compare, built before any forgery (a forged Map.prototype.set would change what they are). */
const VALUES = [
  'const mapA = new Map([[1, 2]]); const mapB = new Map([[1, 3]]); const mapA2 = new Map([[1, 2]]);',
  'const setA = new Set([1, 2]); const setB = new Set([1, 3]);',
].join('\n');

const FAILING = `
describe('hooks', () => { beforeAll(() => { throw new Error('setup broke'); }); it('needs setup', () => {}); });
describe('teardown', () => { afterAll(() => { throw new Error('teardown broke'); }); it('runs', () => {}); });
it('toBe', () => expect(1 + 1).toBe(3));
it('toEqual objects', () => expect({ a: 1 }).toEqual({ a: 2 }));
it('toEqual maps', () => expect(mapA).toEqual(mapB));
it('toEqual sets', () => expect(setA).toEqual(setB));
it('toContain', () => expect(['a']).toContain('b'));
it('toContain in a string', () => expect('abc').toContain('z'));
it('toHaveProperty', () => expect({ a: 1 }).toHaveProperty('b.c'));
it('toThrow with a message', () => expect(() => { throw new Error('real'); }).toThrow('other'));
it('toThrow with a class', () => expect(() => { throw 'a string'; }).toThrow(TypeError));
it('toMatch', () => expect('abc').toMatch(/z/));
it('toBeInstanceOf', () => expect({}).toBeInstanceOf(Map));
it('objectContaining', () => expect({ a: 1 }).toEqual(expect.objectContaining({ a: 2 })));
it('resolves', async () => { await expect(Promise.resolve(1)).resolves.toBe(2); });
it('unawaited resolves', () => { expect(Promise.resolve(1)).resolves.toBe(2); });
it('rejects', async () => { throw new Error('async boom'); });
`;

const PASSING = `
describe('hooks', () => { let ready = false; beforeAll(() => { ready = true; }); afterAll(() => {}); it('sees setup', () => expect(ready).toBe(true)); });
it('toBe', () => expect(1 + 1).toBe(2));
it('toEqual', () => expect({ a: [1, { b: 2 }] }).toEqual({ a: [1, { b: 2 }] }));
it('toEqual maps', () => expect(mapA).toEqual(mapA2));
it('toContain', () => expect(['a', 'b']).toContain('b'));
it('toHaveProperty', () => expect({ a: { b: 1 } }).toHaveProperty('a.b', 1));
it('toThrow', () => expect(() => { throw new TypeError('real'); }).toThrow(TypeError));
it('toMatch', () => expect('abc').toMatch(/b/));
it('not', () => expect(1).not.toBe(2));
it('resolves', async () => { await expect(Promise.resolve(1)).resolves.toBe(1); });
`;

/** The suite with `forgery` at the top level, from inside a first test, or (null) not at all. */
function suite(body: string, forgery: string | null, where: 'top level' | 'in a test'): Record<string, string> {
  const forge = forgery === null ? '' : where === 'top level' ? forgery : `it('forges', () => { ${forgery} });`;
  return { 'a.js': 'export default 1;\n', 'a.test.js': `${VALUES}\n${forge}\n${body}` };
}

type Outcome = { ok: boolean; reason: string; tests: Array<[string, boolean, string]> };

function outcome(report: SandboxReport): Outcome {
  const tests = (report.ok ? report.tests : report.tests ?? [])
    .filter((t) => t.name !== 'forges')
    .map((t): [string, boolean, string] => [t.name, t.ok, t.message ?? '']);
  return { ok: report.ok, reason: report.ok ? 'ok' : report.reason, tests };
}

async function run(driver: SandboxDriver, files: Record<string, string>): Promise<Outcome> {
  return outcome(await sandboxes[driver].validate({ files, entry: 'a.js', tests: ['a.test.js'], limits: LIMITS }));
}

for (const driver of drivers) {
  test(`${driver}: a replaced built-in turns no failure into a pass and no pass into a failure`, async () => {
    const failing = await run(driver, suite(FAILING, null, 'top level'));
    // The baseline itself: every test fails, with the message of its real failure.
    assert.is(failing.reason, 'tests-failed');
    assert.is(failing.tests.length, 17);
    assert.ok(failing.tests.every(([, ok]) => !ok), JSON.stringify(failing.tests));
    const messages = Object.fromEntries(failing.tests.map(([name, , message]) => [name, message.replace(/ \(at a\.test\.js:\d+:\d+\)$/, '')]));
    assert.equal(
      [messages['hooks > needs setup'], messages['teardown > runs'], messages.toBe, messages['toEqual maps'], messages['toThrow with a class'], messages['unawaited resolves']],
      ['beforeAll hook failed: Error: setup broke', 'afterAll hook failed: Error: teardown broke', 'expected 2 to be 3', 'expected Map(1) {1 => 2} to equal Map(1) {1 => 3}',
        'expected [Function: (anonymous)] to throw TypeError but it threw "a string"', 'expected 1 to be 2'],
    );
    const passing = await run(driver, suite(PASSING, null, 'top level'));
    assert.is(passing.reason, 'ok', JSON.stringify(passing));

    const problems: string[] = [];
    for (const [name, forgery] of Object.entries(FORGERIES)) {
      for (const where of ['top level', 'in a test'] as const) {
        const forged = await run(driver, suite(FAILING, forgery, where));
        if (JSON.stringify(forged) !== JSON.stringify(failing)) {
          const changed = forged.tests.filter((t, i) => JSON.stringify(t) !== JSON.stringify(failing.tests[i]));
          problems.push(`${name} (${where}) changed the failing suite: ${forged.reason}, ${forged.tests.length} tests, e.g. ${JSON.stringify(changed.slice(0, 2))}`);
        }
        const stillPasses = await run(driver, suite(PASSING, forgery, where));
        if (JSON.stringify(stillPasses) !== JSON.stringify(passing)) {
          problems.push(`${name} (${where}) changed the passing suite: ${stillPasses.reason}, ${JSON.stringify(stillPasses.tests.filter(([, ok]) => !ok).slice(0, 2))}`);
        }
      }
    }
    assert.equal(problems, [], `${problems.length} forgeries changed a result:\n${problems.join('\n')}`);
  });

  test(`${driver}: objects the harness makes belong to the run's own context (the snapshot's copy on isolated-vm)`, async () => {
    const report = await sandboxes[driver].validate({
      files: {
        'a.test.js': [
          "test('same intrinsics', () => {",
          '  const matcher = Object.getPrototypeOf(expect(1));',
          '  if (Object.getPrototypeOf(matcher) !== Object.prototype) throw new Error("the matcher prototype is not this context\'s object");',
          '  if (!(expect.any(Number) instanceof Object)) throw new Error("expect.any() is not this context\'s object");',
          '  expect(new Map([[1, 2]])).not.toEqual(new Map([[1, 3]]));',
          '  expect([1, 2]).toBeInstanceOf(Array);',
          '});',
        ].join('\n'),
      },
      entry: 'a.test.js',
      tests: ['a.test.js'],
    });
    assert.ok(report.ok, JSON.stringify(report));
  });
}

// The static half: what the harness does once generated code may have run uses only what it took.
type Node = acorn.Node & Record<string, unknown>;

/** Functions whose own bodies run before any generated code: there, globals may be read and captured. */
const CAPTURE_PHASE = new Set(['createPrimordials', 'installHarness', 'connect']);
/** Globals that cannot be rebound (non-writable, non-configurable properties of the global object). */
const CONSTANT_GLOBALS = new Set(['undefined', 'NaN', 'Infinity']);
/** Receivers of method calls that are the harness's own objects (primordials, formatter, helpers). */
const OWN_RECEIVERS = new Set(['p', 'fmt', 'formatter', 'equality', 'clipper', 'keeper', 'output', 'outcome', 'matchers', 'config', 'limits', 'events', 'options', 'subject']);

interface Scope { names: Set<string>; parent: Scope | undefined; phase: boolean }

function declare(pattern: Node | null | undefined, scope: Scope): void {
  if (!pattern) return;
  if (pattern.type === 'Identifier') scope.names.add(pattern.name as string);
  else if (pattern.type === 'ObjectPattern') for (const property of pattern.properties as Node[]) declare((property.value ?? property.argument) as Node, scope);
  else if (pattern.type === 'ArrayPattern') for (const element of pattern.elements as Node[]) declare(element, scope);
  else if (pattern.type === 'RestElement') declare(pattern.argument as Node, scope);
  else if (pattern.type === 'AssignmentPattern') declare(pattern.left as Node, scope);
}

/** Declarations of a block or function body (hoisting approximated: visible in the whole block). */
function hoist(statements: Node[], scope: Scope): void {
  for (const statement of statements) {
    if (statement.type === 'VariableDeclaration') for (const declaration of statement.declarations as Node[]) declare(declaration.id as Node, scope);
    if ((statement.type === 'FunctionDeclaration' || statement.type === 'ClassDeclaration') && statement.id) declare(statement.id as Node, scope);
  }
}

function resolves(name: string, scope: Scope | undefined): boolean {
  for (let s = scope; s !== undefined; s = s.parent) if (s.names.has(name)) return true;
  return false;
}

function lint(source: string): string[] {
  const problems: string[] = [];
  const ast = acorn.parse(source, { ecmaVersion: 'latest', sourceType: 'script', locations: true }) as unknown as Node;
  const at = (node: Node) => `line ${(node.loc as acorn.SourceLocation).start.line}: ${source.slice(node.start, Math.min(node.end, node.start + 70))}`;
  const seen = new WeakSet<object>();
  function visit(node: Node, scope: Scope, parent: Node | undefined): void {
    if (seen.has(node)) return;
    seen.add(node);
    let inner = scope;
    const isFunction = node.type === 'FunctionDeclaration' || node.type === 'FunctionExpression' || node.type === 'ArrowFunctionExpression';
    if (isFunction) {
      const name = (node.id as Node | null)?.name as string | undefined;
      inner = { names: new Set(), parent: scope, phase: name !== undefined && CAPTURE_PHASE.has(name) };
      if (node.id) declare(node.id as Node, inner);
      for (const param of node.params as Node[]) declare(param, inner);
      const body = node.body as Node;
      if (body.type === 'BlockStatement') hoist(body.body as Node[], inner);
    } else if (node.type === 'BlockStatement' || node.type === 'Program') {
      inner = { names: new Set(), parent: scope, phase: scope.phase };
      hoist(node.body as Node[], inner);
    } else if (node.type === 'ForStatement') {
      inner = { names: new Set(), parent: scope, phase: scope.phase };
      if ((node.init as Node | null)?.type === 'VariableDeclaration') hoist([node.init as Node], inner);
    } else if (node.type === 'CatchClause') {
      inner = { names: new Set(), parent: scope, phase: scope.phase };
      declare(node.param as Node | null, inner);
    } else if (node.type === 'ClassDeclaration' || node.type === 'ClassExpression') {
      if (node.id) scope.names.add((node.id as Node).name as string);
    }
    // The rules, outside the capture phase.
    if (!inner.phase) {
      if (node.type === 'Identifier' && isReference(node, parent) && !resolves(node.name as string, inner) && !CONSTANT_GLOBALS.has(node.name as string)) {
        problems.push(`a global looked up after generated code ran, ${node.name} (${at(node)})`);
      }
      if (node.type === 'ForOfStatement' || node.type === 'ForInStatement') problems.push(`${node.type} walks a replaceable iterator or prototype (${at(node)})`);
      if (node.type === 'ArrayPattern') problems.push(`array destructuring uses Array.prototype[Symbol.iterator] (${at(node)})`);
      if (node.type === 'SpreadElement' && parent?.type !== 'ObjectExpression') problems.push(`spread uses the iterator protocol (${at(node)})`);
      if (node.type === 'BinaryExpression' && node.operator === 'instanceof') problems.push(`instanceof consults Symbol.hasInstance (${at(node)})`);
      if (node.type === 'BinaryExpression' && (node.operator === '==' || node.operator === '!=')) problems.push(`loose equality may call valueOf/toString (${at(node)})`);
      if (node.type === 'AwaitExpression' && !isSafelyCall(node.argument as Node)) problems.push(`await of something not wrapped in safely() consults then/constructor (${at(node)})`);
      if (node.type === 'CallExpression' && (node.callee as Node).type === 'MemberExpression') {
        const receiver = rootOf(node.callee as Node);
        if (receiver === undefined || !OWN_RECEIVERS.has(receiver)) problems.push(`a method looked up on a value (${at(node)})`);
      }
      if (node.type === 'NewExpression' && (node.callee as Node).type === 'Identifier' && !resolves((node.callee as Node).name as string, inner)) {
        problems.push(`new of a global (${at(node)})`);
      }
    }
    for (const [key, value] of Object.entries(node)) {
      if (key === 'loc' || value === null || typeof value !== 'object') continue;
      for (const child of Array.isArray(value) ? value : [value]) {
        if (child && typeof (child as Node).type === 'string') visit(child as Node, inner, node);
      }
    }
  }
  visit(ast, { names: new Set(), parent: undefined, phase: true }, undefined);
  return problems;
}

function isReference(node: Node, parent: Node | undefined): boolean {
  if (parent === undefined) return true;
  if ((parent.type === 'MemberExpression') && parent.property === node && !parent.computed) return false;
  if ((parent.type === 'Property' || parent.type === 'MethodDefinition' || parent.type === 'PropertyDefinition') && parent.key === node && !parent.computed) {
    return parent.type === 'Property' && parent.shorthand === true && parent.value === node;
  }
  if (parent.type === 'LabeledStatement' || parent.type === 'BreakStatement' || parent.type === 'ContinueStatement') return false;
  if ((parent.type === 'FunctionDeclaration' || parent.type === 'FunctionExpression' || parent.type === 'ClassDeclaration' || parent.type === 'ClassExpression') && parent.id === node) return false;
  if (parent.type === 'VariableDeclarator' && parent.id === node) return false;
  if ((parent.type === 'FunctionDeclaration' || parent.type === 'FunctionExpression' || parent.type === 'ArrowFunctionExpression') && (parent.params as Node[]).includes(node)) return false;
  if (parent.type === 'CatchClause' && parent.param === node) return false;
  return true;
}

/** The identifier a member chain starts from (`p` in `p.safely(x)`), or undefined for a call on a computed value. */
function rootOf(node: Node): string | undefined {
  let current = node;
  while (current.type === 'MemberExpression') current = current.object as Node;
  if (current.type === 'Identifier') return current.name as string;
  if (current.type === 'ThisExpression') return undefined;
  return undefined;
}

function isSafelyCall(node: Node): boolean {
  if (node.type !== 'CallExpression') return false;
  const callee = node.callee as Node;
  return (callee.type === 'Identifier' && callee.name === 'safely')
    || (callee.type === 'MemberExpression' && (callee.property as Node).name === 'safely' && rootOf(callee) === 'p');
}

test('the harness source looks nothing up once generated code may have run (no global, no method, no iterator, no instanceof)', () => {
  const problems = lint(harnessSource());
  assert.equal(problems, [], `${problems.length} problems:\n${problems.join('\n')}`);
});

test('the harness check finds what it looks for (it cannot pass vacuously)', () => {
  const planted = `(${function installHarness() {
    const p = { safely: (x: unknown) => x };
    return function connect() {
      return async (list: unknown[]) => {
        for (const item of list) void item;
        const [first] = list;
        await Promise.resolve(first);
        return Object.keys(list).filter(Boolean).length + ([] instanceof Array ? 1 : 0) + [...list].length + ((list as unknown) == 0 ? 1 : 0) + (await p.safely(1) as number);
      };
    };
  }})()`;
  const problems = lint(planted).map((problem) => problem.split(' (')[0]);
  for (const expected of ['a global looked up after generated code ran, Object', 'a global looked up after generated code ran, Promise', 'ForOfStatement walks a replaceable iterator or prototype',
    'array destructuring uses Array.prototype[Symbol.iterator]', 'spread uses the iterator protocol', 'instanceof consults Symbol.hasInstance', 'loose equality may call valueOf/toString',
    'await of something not wrapped in safely() consults then/constructor', 'a method looked up on a value']) {
    assert.ok(problems.includes(expected), `the check missed: ${expected}; it found ${JSON.stringify(problems)}`);
  }
});

test.after(async () => {
  await Promise.all(drivers.map((driver) => sandboxes[driver].close()));
});

test.run();
