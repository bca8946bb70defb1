/**
 * The known-good probe: a tiny module and two tests whose report is known exactly (one test
 * passes, one fails with a known message, one console line). A sandbox that answers it so can run
 * code, tell a pass from a failure and carry output back; any other answer (a broken engine, a
 * worker that cannot start) says it cannot, and the worker that gave it is replaced. Concurrent
 * probes share one run.
 */
import type { SandboxReport } from './mod.ts';
import type { RunInput } from './_input.ts';

export interface ProbeResult {
  ok: boolean;
  message: string;
  driver: string;
}

/** How long a probe waits for its run (behind the runs already queued) before it says the sandbox is stuck. */
export const PROBE_WAIT_MS = 20_000;

export const PROBE_INPUT: RunInput = {
  files: {
    'probe.js': 'export const add = (a, b) => a + b;\n',
    'probe.test.js': [
      "import { add } from './probe.js';",
      "test('adds', () => { console.log('probe', add(2, 3)); expect(add(2, 3)).toBe(5); expect([add(1, 1), { a: 1 }]).toEqual([2, { a: 1 }]); });",
      "test('tells a failure', () => { expect(add(1, 1)).toBe(3); });",
    ].join('\n'),
  },
  entry: 'probe.js',
  tests: ['probe.test.js'],
  memoryMb: 64,
  timeoutMs: 5000,
};

/** Why `report` is not the probe's known answer, or undefined when it is. */
export function probeProblem(report: SandboxReport): string | undefined {
  if (report.ok) return 'the failing probe test was reported as passing';
  if (report.reason !== 'tests-failed') return `the probe ended with '${report.reason}': ${report.message}`;
  const tests = report.tests ?? [];
  const [adds, fails] = tests;
  if (tests.length !== 2 || adds?.name !== 'adds' || !adds.ok) {
    return `the passing probe test was not reported as passing: ${JSON.stringify(tests).slice(0, 300)}`;
  }
  if (fails?.name !== 'tells a failure' || fails.ok || !fails.message?.startsWith('expected 2 to be 3')) {
    return `the failing probe test was not reported with its failure: ${JSON.stringify(tests).slice(0, 300)}`;
  }
  if (report.console?.[0] !== 'probe 5') return `the probe's console line did not come back: ${JSON.stringify(report.console).slice(0, 300)}`;
  return undefined;
}

/**
 * `probe()` for a pool: runs PROBE_INPUT through `run` (which replaces a worker whose answer fails
 * `expect`), one run at a time however many callers ask.
 */
export function createProbe(
  driver: string,
  run: (input: RunInput, expect: (report: SandboxReport) => boolean) => Promise<SandboxReport>,
): () => Promise<ProbeResult> {
  let inFlight: Promise<ProbeResult> | undefined;
  async function once(): Promise<ProbeResult> {
    let stop = () => {};
    const late = new Promise<undefined>((resolve) => {
      const timer = setTimeout(resolve, PROBE_WAIT_MS, undefined);
      (timer as { unref?: () => void }).unref?.();
      stop = () => clearTimeout(timer);
    });
    try {
      const report = await Promise.race([run(PROBE_INPUT, (answer) => probeProblem(answer) === undefined), late]);
      if (report === undefined) {
        return { ok: false, message: `the sandbox did not answer its probe within ${PROBE_WAIT_MS / 1000} s: its workers are busy or stuck`, driver };
      }
      const problem = probeProblem(report);
      return problem === undefined
        ? { ok: true, message: 'the sandbox ran its known-good probe: one test passed, one failed as it should, console output came back', driver }
        : { ok: false, message: `the sandbox failed its known-good probe: ${problem}`, driver };
    } finally {
      stop();
    }
  }
  return () => {
    inFlight ??= once().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
}
