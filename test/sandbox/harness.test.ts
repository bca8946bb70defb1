import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSandbox } from '../../sandbox/mod.ts';
import type { SandboxReport, TestResult } from '../../sandbox/mod.ts';

const sandbox = createSandbox();

async function run(body: string, extra: Record<string, string> = {}): Promise<SandboxReport> {
  return sandbox.validate({ files: { 'lib.js': 'export const id = (x) => x;\n', 'spec.test.js': body, ...extra }, entry: 'lib.js', tests: ['spec.test.js'] });
}

function messages(report: SandboxReport): Record<string, string | undefined> {
  const tests: TestResult[] = report.ok ? report.tests : report.tests ?? [];
  return Object.fromEntries(tests.map((t) => [t.name, t.ok ? 'ok' : t.message?.replace(/ \(at spec\.test\.js:\d+:\d+\)$/, '')]));
}

test('every matcher passes on matching values, and .not on non-matching ones', async () => {
  const report = await run(`
    import { describe, it, expect } from 'sandbox:test';
    class Point { constructor(x) { this.x = x; } }
    describe('matchers', () => {
      it('identity and equality', () => {
        expect(1).toBe(1); expect(NaN).toBe(NaN); expect({ a: 1 }).not.toBe({ a: 1 });
        expect({ a: [1, { b: 2 }], c: undefined }).toEqual({ a: [1, { b: 2 }] });
        expect(new Map([[1, { x: [1] }]])).toEqual(new Map([[1, { x: [1] }]]));
        expect(new Set([1, [2]])).toEqual(new Set([[2], 1]));
        expect(new Map([[1, 2]])).not.toEqual(new Map([[1, 3]]));
        expect(new Date(5)).toEqual(new Date(5));
        expect(new Point(1)).toEqual({ x: 1 });
        expect(new Point(1)).not.toStrictEqual({ x: 1 });
        expect({ a: undefined }).not.toStrictEqual({});
        expect([1, , 3]).not.toStrictEqual([1, undefined, 3]);
        expect({ a: 1, b: [2] }).toStrictEqual({ a: 1, b: [2] });
      });
      it('truthiness', () => {
        expect(1).toBeTruthy(); expect('').toBeFalsy(); expect(null).toBeNull(); expect(undefined).toBeUndefined();
        expect(0).toBeDefined(); expect(NaN).toBeNaN(); expect(1).not.toBeNaN(); expect(null).not.toBeUndefined();
      });
      it('collections and strings', () => {
        expect('hello').toContain('ell'); expect([1, 2, 3]).toContain(2); expect(new Set(['a'])).toContain('a'); expect([1]).not.toContain(2);
        expect('hello').toMatch(/l+o$/); expect('hello').toMatch('ll'); expect('hello').not.toMatch(/z/);
        expect([1, 2, 3]).toHaveLength(3); expect('ab').toHaveLength(2);
        expect({ a: { b: [7] } }).toHaveProperty('a.b[0]', 7); expect({ a: { b: 1 } }).toHaveProperty(['a', 'b']);
        expect({ a: 1 }).not.toHaveProperty('z');
        expect([{ id: 1 }, { id: 2 }]).toContainEqual({ id: 2 });
        expect({ id: 1, name: 'n', extra: true }).toMatchObject({ id: 1, name: 'n' });
      });
      it('numbers', () => {
        expect(3).toBeGreaterThan(2); expect(3).toBeGreaterThanOrEqual(3); expect(2).toBeLessThan(3); expect(3).toBeLessThanOrEqual(3);
        expect(10n).toBeGreaterThan(9n); expect(0.1 + 0.2).toBeCloseTo(0.3); expect(0.31).not.toBeCloseTo(0.3, 2);
      });
      it('throwing and instances', () => {
        const boom = () => { throw new TypeError('boom here'); };
        expect(boom).toThrow(); expect(boom).toThrow('boom'); expect(boom).toThrow(/bo+m/); expect(boom).toThrow(TypeError);
        expect(boom).toThrowError('here'); expect(() => 1).not.toThrow(); expect(boom).not.toThrow(RangeError);
        expect(new Point(1)).toBeInstanceOf(Point); expect([]).toBeInstanceOf(Array); expect('x').toBeTypeOf('string');
      });
      it('resolves and rejects', async () => {
        await expect(Promise.resolve(3)).resolves.toBe(3);
        await expect(Promise.resolve(3)).resolves.not.toBe(4);
        await expect(Promise.reject(new Error('nope'))).rejects.toThrow('nope');
        await expect(Promise.reject(new RangeError('r'))).rejects.toBeInstanceOf(RangeError);
      });
      it('asymmetric matchers', () => {
        expect({ id: 7, name: 'xy', tags: ['a', 'b'], at: new Date() }).toEqual({
          id: expect.any(Number), name: expect.stringMatching(/^x/), tags: expect.arrayContaining(['b']), at: expect.anything(),
        });
        expect({ a: 1, b: 2 }).toEqual(expect.objectContaining({ b: 2 }));
        expect('hello world').toEqual(expect.stringContaining('o w'));
      });
    });
  `);
  assert.ok(report.ok, JSON.stringify(report, null, 1));
  if (report.ok) assert.is(report.tests.length, 7);
});

test('failed assertions read "expected X to Y"', async () => {
  const report = await run(`
    it('toBe', () => expect(3).toBe(4));
    it('toBe objects', () => expect({ a: 1 }).toBe({ a: 1 }));
    it('toEqual', () => expect([1, 2]).toEqual([1, 3]));
    it('not.toBe', () => expect(1).not.toBe(1));
    it('toStrictEqual', () => expect({ a: undefined }).toStrictEqual({}));
    it('toBeTruthy', () => expect(0).toBeTruthy());
    it('toBeNull', () => expect('x').toBeNull());
    it('toContain', () => expect(['a']).toContain('b'));
    it('toMatch', () => expect('abc').toMatch(/x/));
    it('toHaveLength', () => expect([1]).toHaveLength(2));
    it('toHaveProperty', () => expect({ a: 1 }).toHaveProperty('a', 2));
    it('toBeGreaterThan', () => expect(1).toBeGreaterThan(2));
    it('toBeCloseTo', () => expect(0.5).toBeCloseTo(0.3));
    it('toThrow', () => expect(function quiet() {}).toThrow());
    it('toThrow message', () => expect(() => { throw new Error('other'); }).toThrow('boom'));
    it('not.toThrow', () => expect(() => { throw new Error('bang'); }).not.toThrow());
    it('toBeInstanceOf', () => expect({}).toBeInstanceOf(Map));
    it('resolves', async () => { await expect(Promise.reject(new Error('no'))).resolves.toBe(1); });
    it('rejects', async () => { await expect(Promise.resolve(1)).rejects.toThrow(); });
    it('unawaited resolves', () => { expect(Promise.resolve(1)).resolves.toBe(2); });
    it('custom message', () => expect(1, 'the count').toBe(2));
    it('type error', () => { const o = null; return o.x; });
    it('thrown string', () => { throw 'oops'; });
  `);
  assert.is(report.ok, false);
  assert.equal(messages(report), {
    toBe: 'expected 3 to be 4',
    'toBe objects': 'expected {a: 1} to be {a: 1} (deeply equal but not the same object: use toEqual)',
    toEqual: 'expected [1,2] to equal [1,3]',
    'not.toBe': 'expected 1 not to be 1',
    toStrictEqual: 'expected {a: undefined} to strictly equal {}',
    toBeTruthy: 'expected 0 to be truthy',
    toBeNull: 'expected "x" to be null',
    toContain: 'expected ["a"] to contain "b"',
    toMatch: 'expected "abc" to match /x/',
    toHaveLength: 'expected [1] to have length 2 (its length is 1)',
    toHaveProperty: 'expected {a: 1} to have property "a" with value 2 (it is 1)',
    toBeGreaterThan: 'expected 1 to be greater than 2',
    toBeCloseTo: 'expected 0.5 to be close to 0.3 (within 0.005)',
    toThrow: 'expected [Function: quiet] to throw but it did not throw',
    'toThrow message': 'expected [Function: (anonymous)] to throw an error containing "boom" but it threw Error: other',
    'not.toThrow': 'expected [Function: (anonymous)] not to throw but it threw Error: bang',
    toBeInstanceOf: 'expected {} to be an instance of Map',
    resolves: 'expected the promise to resolve but it rejected with Error: no',
    rejects: 'expected the promise to reject but it resolved with 1',
    'unawaited resolves': 'expected 1 to be 2',
    'custom message': 'the count: expected 1 to be 2',
    'type error': "TypeError: Cannot read properties of null (reading 'x')",
    'thrown string': 'threw "oops"',
  });
  if (!report.ok) assert.match(report.message, /^23 of 23 tests failed: toBe: expected 3 to be 4 \(at spec\.test\.js:2:32\)$/);
});

test('hooks run in order around each test, scoped to their describe block and file', async () => {
  const hooks = `
    import { calls } from './calls.js';
    beforeAll(() => calls.push('all'));
    beforeEach(() => calls.push('each'));
    afterEach(() => calls.push('/each'));
    describe('outer', () => {
      beforeEach(async () => { await null; calls.push('outer'); });
      afterAll(() => calls.push('/outer-all'));
      it('a', () => calls.push('a'));
      describe('inner', () => {
        beforeEach(() => calls.push('inner'));
        afterEach(() => calls.push('/inner'));
        it('b', () => calls.push('b'));
      });
    });
    it('last', () => calls.push('last'));
  `;
  const check = `
    import { calls } from './calls.js';
    it('check', () => expect(calls).toEqual(['all', 'each', 'outer', 'a', '/each', 'each', 'outer', 'inner', 'b', '/inner', '/each', '/outer-all', 'each', 'last', '/each']));
  `;
  const report = await sandbox.validate({
    files: { 'calls.js': 'export const calls = [];\n', 'hooks.test.js': hooks, 'check.test.js': check },
    entry: 'calls.js',
    tests: ['hooks.test.js', 'check.test.js'],
  });
  assert.ok(report.ok, JSON.stringify(report));
  if (report.ok) assert.equal(report.tests.map((t) => t.name), ['outer > a', 'outer > inner > b', 'last', 'check']);
});

test('a failing hook fails the tests it guards', async () => {
  const report = await run(`
    describe('db', () => {
      beforeEach(() => { throw new Error('no connection'); });
      it('reads', () => {});
    });
    describe('setup', () => {
      beforeAll(() => { throw new Error('no fixture'); });
      it('uses fixture', () => {});
    });
    it('unaffected', () => {});
  `);
  assert.equal(messages(report), {
    'db > reads': 'Error: no connection',
    'setup > uses fixture': 'beforeAll hook failed: Error: no fixture',
    unaffected: 'ok',
  });
});

test('only, skip, todo and each select and name tests like vitest', async () => {
  const focused = await run(`
    it('skipped by only', () => { throw new Error('ran'); });
    it.only('focused', () => {});
    describe.only('focused block', () => { it('inside', () => {}); });
  `);
  assert.equal(messages(focused), { focused: 'ok', 'focused block > inside': 'ok' });
  const table = await run(`
    it.skip('skipped', () => { throw new Error('ran'); });
    it.todo('later');
    describe.skip('off', () => { it('x', () => { throw new Error('ran'); }); });
    it.each([[1, 1, 2], [2, 3, 5]])('add(%i, %i) = %i', (a, b, sum) => expect(a + b).toBe(sum));
    test.each([{ word: 'hi' }])('says $word', ({ word }) => expect(word).toHaveLength(2));
  `);
  assert.equal(messages(table), { 'add(1, 1) = 2': 'ok', 'add(2, 3) = 5': 'ok', 'says "hi"': 'ok' });
  const none = await run(`it.skip('only skipped', () => {});`);
  assert.is(none.ok, false);
  if (!none.ok) assert.is(none.message, 'no tests ran: all 1 registered tests were skipped or marked todo');
});

test('globals, the vitest alias, the test context and a test file as entry all work', async () => {
  const files = {
    'self.test.js': `
      import { test as t, expect as e } from 'vitest';
      import api from 'sandbox:test';
      export const sum = (a, b) => a + b;
      t('alias', () => e(sum(1, 1)).toBe(2));
      api.it('default export', () => api.expect(typeof describe).toBe('function'));
      test('context', ({ expect, task }) => expect(task.name).toBe('context'));
      it('queueMicrotask', async () => { let hit = false; queueMicrotask(() => { hit = true; }); await null; expect(hit).toBe(true); });
    `,
  };
  const report = await sandbox.validate({ files, entry: 'self.test.js', tests: ['self.test.js'] });
  assert.ok(report.ok, JSON.stringify(report));
  if (report.ok) assert.equal(report.tests.map((t) => t.name), ['alias', 'default export', 'context', 'queueMicrotask']);
});

test('registering tests while tests run, or an async describe, fails clearly', async () => {
  const nested = await run(`it('outer', () => { it('inner', () => {}); });`);
  assert.match(messages(nested).outer ?? '', 'it() was called while tests were running');
  const asyncDescribe = await run(`describe('later', async () => { it('x', () => {}); });`);
  assert.is(asyncDescribe.ok, false);
  if (!asyncDescribe.ok) {
    assert.is(asyncDescribe.reason, 'threw');
    assert.match(asyncDescribe.message, 'describe("later") got an async callback');
  }
});

test.after(async () => {
  await sandbox.close();
});

test.run();
