/**
 * The report of a run whose tests all ended, the same for both engines: the harness's results
 * (already within the limits inside the engine, bounded again here) and the counts of every test,
 * kept or not.
 */
import type { SandboxReport, TestResult } from './mod.ts';
import { failureReport } from './_bound.ts';
import type { RunInput } from './_input.ts';

/** `json` is the harness's final `{tests, registered, total, failed}`. */
export function concludeRun(json: string, input: RunInput, console: string[], ms: number, memoryBytes: number): SandboxReport {
  // The harness already kept the results within the limits; the worker bounds the whole report
  // once more before it is sent, and the pool when it arrives.
  const outcome = JSON.parse(json) as { tests: TestResult[]; registered: number; total: number; failed: number };
  const tests = outcome.tests;
  if (outcome.failed > 0) {
    const first = tests.find((test) => !test.ok);
    const message = `${outcome.failed} of ${outcome.total} tests failed: ${first?.name ?? '(not kept)'}: ${first?.message ?? 'failed'}`;
    return failureReport('tests-failed', message, { tests, console, ms });
  }
  if (input.tests.length > 0 && outcome.total === 0) {
    const why = outcome.registered === 0
      ? `${input.tests.join(', ')} registered no test cases (call it() or test() at the top level or inside describe())`
      : `all ${outcome.registered} registered tests were skipped or marked todo`;
    return failureReport('tests-failed', `no tests ran: ${why}`, { tests, console, ms });
  }
  return { ok: true, tests, console, ms, memoryBytes };
}
