/**
 * The cap on test results a run reports (the output-size limit for results; console output has
 * its own byte cap in the harness).
 */
import type { TestResult } from './mod.ts';

/** Test results kept per run (each message is already capped by the formatter); the rest are counted. */
export const RESULTS_LIMIT = 500;

/** Keeps at most RESULTS_LIMIT results; past that, one line says how many more there were and how many failed. */
export function capResults(tests: TestResult[]): TestResult[] {
  if (tests.length <= RESULTS_LIMIT) return tests;
  const kept = tests.slice(0, RESULTS_LIMIT - 1);
  const rest = tests.slice(RESULTS_LIMIT - 1);
  const failed = rest.filter((test) => !test.ok).length;
  const summary: TestResult = { name: `(${rest.length} more results not kept)`, ok: failed === 0, ms: rest.reduce((sum, test) => sum + test.ms, 0) };
  if (failed > 0) summary.message = `${failed} of them failed`;
  return [...kept, summary];
}
