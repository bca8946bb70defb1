import { defineAgent } from '../runtime/plugin/mod.ts';
import type { SandboxReport } from '../runtime/protocol/mod.ts';

export const VALIDATION_LIMITS = { memoryMb: 64, timeoutMs: 5000 } as const;
const MAX_FINDINGS = 20;

const NO_TESTS: SandboxReport = {
  ok: false,
  reason: 'tests-failed',
  message: 'no test files were generated: the implementation must include *.test.js files',
};

/**
 * What the implementer should fix, one line each: every failing test as "<name>: <message>" (at most
 * 20), or the report's reason and message (with file:line:column when known). Empty for a passing run.
 * @example findingsOf({ ok: false, reason: 'syntax', message: 'Unexpected token', location: { file: 'a.js', line: 3, column: 7 } })
 * // ['syntax: Unexpected token (at a.js:3:7)']
 */
export function findingsOf(report: SandboxReport): string[] {
  if (report.ok) return [];
  const failing = (report.tests ?? []).filter((test) => !test.ok);
  if (failing.length) return failing.slice(0, MAX_FINDINGS).map((test) => `${test.name}: ${test.message ?? 'failed'}`);
  const at = report.location ? ` (at ${report.location.file}:${report.location.line}:${report.location.column})` : '';
  return [`${report.reason}: ${report.message}${at}`];
}

/** Scripts the sandbox can load as modules (TypeScript is stripped of its types there). */
const SCRIPT = /\.(m?js|m?ts)$/;

/**
 * The generated scripts that are neither the entry nor a test, in answer order. The sandbox loads the
 * entry and the tests; these are loaded after the tests (they register no tests of their own), so a
 * module that nothing imports still has to load: one that throws on import is not validated code, and
 * without this it reached the workspace next to trivially passing tests.
 */
export function unreachedModules(implementation: { files: Array<{ path: string }>; entry: string; tests: string[] }): string[] {
  return implementation.files
    .map((file) => file.path)
    .filter((path) => SCRIPT.test(path) && !path.endsWith('.d.ts') && path !== implementation.entry && !implementation.tests.includes(path));
}

/**
 * Runs the implementation's tests in the sandbox. Answers `validation.request` with the report and
 * findings; a failing run is data, never an error. An implementation without tests fails without a run.
 * Every generated script is loaded, not only the entry and what the tests import (`unreachedModules`).
 */
export const validator = defineAgent({
  name: 'validator',
  version: '1.0.0',
  role: 'validator',
  description: 'Runs the generated tests in the sandbox and reports what failed.',
  accepts: ['validation.request'],
  async handle(message, caps) {
    const { implementation } = message.payload;
    if (implementation.tests.length === 0) return { report: NO_TESTS, findings: findingsOf(NO_TESTS) };
    const files: Record<string, string> = {};
    for (const file of implementation.files) files[file.path] = file.content;
    const report = await caps.sandbox.validate({
      files,
      entry: implementation.entry,
      tests: [...implementation.tests, ...unreachedModules(implementation)],
      limits: { ...VALIDATION_LIMITS },
      owner: message.taskId,
    });
    return { report, findings: findingsOf(report) };
  },
});
