/**
 * The harness as source text for the engines: the script QuickJS evaluates per context, the
 * startup-snapshot script and warm-up isolated-vm makes its isolates from, and the virtual
 * 'sandbox:test' module. `installHarness` (_harness.ts) and its helpers are shipped via
 * Function.prototype.toString.
 */
import { createConsole } from './_console.ts';
import { createEquality } from './_equality.ts';
import { createExpect } from './_expect.ts';
import { createFormatter } from './_format.ts';
import { CONSOLE_BUDGET, HarnessEvent, TEST_API_KEY, installHarness } from './_harness.ts';
import type { HarnessConfig } from './_harness.ts';
import { REPORT_LIMITS, createClipper } from './_limits.ts';
import { createPrimordials } from './_primordials.ts';
import { createResultsKeeper } from './_results.ts';

let body: string | undefined;

/** The harness expression: evaluating it yields `connect(emit)`. */
function harnessExpression(): string {
  const config: HarnessConfig = { limits: REPORT_LIMITS, consoleBudget: CONSOLE_BUDGET, apiKey: TEST_API_KEY, events: HarnessEvent };
  const helpers = [createPrimordials, createClipper, createResultsKeeper, createFormatter, createEquality, createExpect, createConsole].map(String).join(', ');
  body ??= `(${installHarness.toString()})(${helpers}, ${JSON.stringify(config)})`;
  return body;
}

/** The harness script (QuickJS): evaluating it yields `connect(emit)`, which installs the globals and returns the control. */
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
