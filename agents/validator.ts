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

/**
 * Runs the implementation's tests in the sandbox. Answers `validation.request` with the report and
 * findings; a failing run is data, never an error. An implementation without tests fails without a run.
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
      tests: implementation.tests,
      limits: { ...VALIDATION_LIMITS },
      owner: message.taskId,
    });
    return { report, findings: findingsOf(report) };
  },
});
