/**
 * The sandbox: runs generated ES modules and their tests inside isolated-vm isolates, in a child
 * worker process, and reports what happened as data. `validate` never throws.
 *
 * What code sees inside: standard JavaScript (ES2024), `console`, `queueMicrotask`, the test API
 * (`describe`/`it`/`test`/`expect`/hooks, as globals or from 'sandbox:test' or 'vitest'), and the
 * other generated files through relative imports ('./x.js', '../y', './data.json'). Nothing else:
 * no timers (`setTimeout` is a ReferenceError, so a promise waiting on one never settles and the run
 * times out), no `fetch`, no `process`, no Node or web modules.
 *
 * This file loads on any runtime: isolated-vm is only imported by the worker process, so under
 * Deno the 'unsupported' driver answers every validation with reason 'unsupported'.
 */
import { normalizeInput, runtimeLabel } from './_input.ts';
import { createPool } from './_pool.ts';

/**
 * One test case: its describe path joined with ' > ', and on failure the assertion's message.
 *
 * @example
 * const result: TestResult = { name: 'math > sums', ok: false, ms: 1, message: 'expected 3 to be 4 (at math.test.js:4:28)' };
 */
export interface TestResult {
  name: string;
  ok: boolean;
  ms: number;
  message?: string;
}

/**
 * The outcome of one validation. `ms` is the run's wall time; `location` points at the offending
 * file position for 'syntax' (always) and 'threw' (when a stack frame or import shows it).
 *
 * @example
 * const report: SandboxReport = { ok: false, reason: 'syntax', message: "SyntaxError: Unexpected token ';' (at src/a.js:2:11)", location: { file: 'src/a.js', line: 2, column: 11 } };
 * if (!report.ok && report.reason === 'tests-failed') console.log(report.tests?.filter((t) => !t.ok));
 */
export type SandboxReport =
  | { ok: true; tests: TestResult[]; console: string[]; ms: number; memoryBytes: number }
  | {
      ok: false;
      reason: 'syntax' | 'timeout' | 'memory' | 'threw' | 'tests-failed' | 'unsupported';
      message: string;
      location?: { file: string; line: number; column: number };
      tests?: TestResult[];
      console?: string[];
      ms?: number;
    };

/**
 * The code to check. Paths are project-relative ('./a.js', 'a.js' and 'x/../a.js' are the same file).
 *
 * @example
 * const input: ValidateInput = {
 *   files: { 'src/sum.js': 'export const sum = (a, b) => a + b;', 'test/sum.test.js': "import { sum } from '../src/sum.js';\ntest('adds', () => expect(sum(2, 2)).toBe(4));" },
 *   entry: 'src/sum.js',
 *   tests: ['test/sum.test.js'],
 *   limits: { timeoutMs: 2000 },
 * };
 */
export interface ValidateInput {
  /** Path (relative to the project root) → source text. */
  files: Record<string, string>;
  /** The module loaded first; it must be one of `files`. */
  entry: string;
  /** Test modules, loaded after the entry in this order; their registered tests then run in order. */
  tests: string[];
  /** Defaults: 64 MB per isolate, 5000 ms wall clock for the whole run. */
  limits?: { memoryMb?: number; timeoutMs?: number };
}

/**
 * Something that validates code; `driver` says how ('node-process' or 'unsupported').
 *
 * @example
 * async function check(sandbox: Sandbox, input: ValidateInput): Promise<boolean> {
 *   const report = await sandbox.validate(input);
 *   return report.ok;
 * }
 */
export interface Sandbox {
  validate(input: ValidateInput): Promise<SandboxReport>;
  close(): Promise<void>;
  readonly driver: string;
}

/**
 * How `createSandbox` runs isolates.
 *
 * @example
 * const options: SandboxOptions = { poolSize: 2, nodeArgs: ['--max-old-space-size=512'] };
 */
export interface SandboxOptions {
  /** 'node-process' unless running under Deno, where isolated-vm cannot load. */
  driver?: 'node-process' | 'unsupported';
  /** How many worker processes may run validations at once (default 1). */
  poolSize?: number;
  /** The Node.js binary for the workers (default: this process's). */
  nodePath?: string;
  /** Extra flags for the workers' Node.js. */
  nodeArgs?: string[];
}

function unsupportedSandbox(): Sandbox {
  const message = `the isolated-vm sandbox driver needs Node.js >= 22; this runtime (${runtimeLabel()}) has none yet: run the server on Node to validate code`;
  return {
    driver: 'unsupported',
    validate: () => Promise.resolve({ ok: false, reason: 'unsupported', message }),
    close: () => Promise.resolve(),
  };
}

/**
 * A sandbox whose workers start on the first validation and are reused; `close()` stops them.
 *
 * Besides the Sandbox members, a 'node-process' sandbox has `workerPids(): number[]` (for tests
 * and diagnostics).
 *
 * @example
 * const sandbox = createSandbox({ poolSize: 2 });
 * const report = await sandbox.validate({
 *   files: { 'sum.js': 'export const sum = (a, b) => a + b;', 'sum.test.js': "import { sum } from './sum.js';\ntest('adds', () => expect(sum(1, 2)).toBe(3));" },
 *   entry: 'sum.js',
 *   tests: ['sum.test.js'],
 * });
 * if (!report.ok) console.log(report.reason, report.message);
 * await sandbox.close();
 */
export function createSandbox(options: SandboxOptions = {}): Sandbox {
  const onDeno = typeof (globalThis as { Deno?: unknown }).Deno !== 'undefined';
  const driver = options.driver ?? (onDeno ? 'unsupported' : 'node-process');
  if (driver === 'unsupported') return unsupportedSandbox();
  const pool = createPool({
    size: Number.isFinite(options.poolSize) ? Math.max(1, Math.floor(options.poolSize as number)) : 1,
    nodePath: options.nodePath ?? process.execPath,
    nodeArgs: options.nodeArgs ?? [],
  });
  return {
    driver,
    async validate(input) {
      try {
        const normalized = normalizeInput(input);
        return normalized.ok ? await pool.run(normalized.input) : normalized.report;
      } catch (error) {
        return { ok: false, reason: 'threw', message: `internal sandbox error: ${error instanceof Error ? error.message : String(error)}` };
      }
    },
    close: () => pool.close(),
    workerPids: () => pool.pids(),
  } as Sandbox;
}

let defaultSandbox: Sandbox | undefined;

/**
 * Validates with a shared sandbox created on first use (the default driver for this runtime).
 *
 * @example
 * const report = await validate({ files: { 'a.js': 'export default 1;' }, entry: 'a.js', tests: [] });
 * // report: { ok: true, tests: [], console: [], ms: 12, memoryBytes: 700000 }
 */
export function validate(input: ValidateInput): Promise<SandboxReport> {
  defaultSandbox ??= createSandbox();
  return defaultSandbox.validate(input);
}

/**
 * Stops the shared sandbox's workers; the next `validate` starts a new one.
 *
 * @example
 * process.on('SIGTERM', async () => { await closeDefaultSandbox(); process.exit(0); });
 */
export async function closeDefaultSandbox(): Promise<void> {
  const sandbox = defaultSandbox;
  defaultSandbox = undefined;
  await sandbox?.close();
}
