/**
 * The sandbox: runs generated ES modules (JavaScript, TypeScript with its types stripped, JSON) and
 * their tests in a separate worker process — isolated-vm isolates on Node, QuickJS (WebAssembly) on
 * Deno — and reports what happened as data. `validate` never throws. docs/sandbox.md has the
 * security model.
 *
 * What code sees inside: standard JavaScript, `console`, `queueMicrotask`, the test API
 * (`describe`/`it`/`test`/`expect`/hooks, as globals or from 'sandbox:test' or 'vitest'), and the
 * other generated files through relative imports ('./x.js', '../y', './data.json'). Nothing else:
 * no timers (`setTimeout` is a ReferenceError, so a promise waiting on one never settles and the run
 * times out), no `fetch`, no `process`, no Node or web modules.
 *
 * This file loads on any runtime and never runs generated code itself: engines load only in the
 * worker processes.
 */
import { boundReport as bound } from './_bound.ts';
import { isolatedVmLaunch, quickjsLaunch } from './_launch.ts';
import { normalizeInput, runtimeLabel } from './_input.ts';
import { REPORT_LIMITS as LIMITS } from './_limits.ts';
import { markupProblem } from './_markup.ts';
import type { MarkupCheck } from './_markup.ts';
import { createPool } from './_pool.ts';
import { createProbe } from './_probe.ts';
import type { ProbeResult } from './_probe.ts';
export type { MarkupCheck } from './_markup.ts';
export type { ProbeResult } from './_probe.ts';

/**
 * What a report may carry (UTF-8 bytes unless named "JSON bytes"): `messageBytes` 4096,
 * `testNameBytes` 512, `testMessageBytes` 2048, `results` 500 entries and `resultsJsonBytes`
 * 64 KiB (failures kept first, the rest summarized in one entry), `consoleLineBytes` 8192,
 * `consoleJsonBytes` 64 KiB, `fileBytes` 512; together they keep a report's JSON under
 * `reportJsonBytes` (256 KiB). A cut string ends with "…cut (N bytes more)", N the UTF-8 bytes cut.
 *
 * @example
 * const fits = Buffer.byteLength(JSON.stringify(report)) < REPORT_LIMITS.reportJsonBytes; // always true
 */
export const REPORT_LIMITS = LIMITS;

/** Matches the marker at the end of a cut string ("…cut (N bytes more)"); group 1 is N, the UTF-8 bytes cut. */
export { CUT_MARKER } from './_limits.ts';

/**
 * `report` with every text field within REPORT_LIMITS: the message, test names and failure
 * messages cut with the "…cut (N bytes more)" marker, at most 500 results and 64 KiB of them
 * (failures kept first, the rest summarized in one entry), console lines of at most 8 KiB and
 * 64 KiB in all. Every report a sandbox returns is already bounded; this is for reports from
 * elsewhere (a plugin's validator, a stored report). Applying it twice changes nothing.
 *
 * @example
 * const report = boundReport({ ok: false, reason: 'threw', message: 'M'.repeat(20_000_000) });
 * // report.message: 'MMMM…' + '…cut (19995940 bytes more)', 4096 bytes in all
 */
export function boundReport(report: SandboxReport): SandboxReport {
  return bound(report);
}

/**
 * Whether a generated HTML (.html, .htm) or SVG/XML (.svg, .xml) file is well-formed, with the
 * first problem's location. `validate` runs the same check on such files ('syntax' on failure).
 * Such files are only ever shown in a sandboxed iframe under a restrictive CSP.
 *
 * @example
 * const check = checkMarkup('chart.svg', '<svg xmlns="http://www.w3.org/2000/svg"><g></svg>');
 * // { ok: false, message: 'chart.svg is not well-formed XML: … (at chart.svg:1:…)', location: { file: 'chart.svg', line: 1, column: … } }
 */
export function checkMarkup(path: string, text: string): MarkupCheck {
  return markupProblem(path, text);
}

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
  /** Who asks (a task id): with `SandboxOptions.perTask`, caps that owner's concurrent runs. */
  owner?: string;
  /**
   * Aborts the run: `validate` rejects with the signal's reason at once, a queued run never starts and
   * a running one's worker is killed (its CPU is free at once; a fresh worker takes the next run).
   */
  signal?: AbortSignal;
}

/**
 * Something that validates code; `driver` says how ('node-process', 'quickjs-process' or 'unsupported').
 *
 * @example
 * async function check(sandbox: Sandbox, input: ValidateInput): Promise<boolean> {
 *   const report = await sandbox.validate(input);
 *   return report.ok;
 * }
 */
export interface Sandbox {
  validate(input: ValidateInput): Promise<SandboxReport>;
  /**
   * Runs a tiny known-good module and its tests through the sandbox and says whether it can run
   * code (`ok`), why not (`message`) and with which driver. Cheap (one warm run); calls made while
   * one is running share it; a worker that gives a wrong answer is replaced.
   */
  probe(): Promise<ProbeResult>;
  close(): Promise<void>;
  readonly driver: string;
}

/**
 * The engines: 'node-process' runs isolated-vm isolates in forked Node.js workers (the default on
 * Node); 'quickjs-process' runs QuickJS compiled to WebAssembly in a subprocess without
 * permissions (the default on Deno, where isolated-vm cannot load; it also works on Node);
 * 'unsupported' answers every validation with reason 'unsupported'.
 *
 * @example
 * const driver: SandboxDriver = typeof Deno === 'undefined' ? 'node-process' : 'quickjs-process';
 */
export type SandboxDriver = 'node-process' | 'quickjs-process' | 'unsupported';

/**
 * How `createSandbox` runs its workers.
 *
 * @example
 * const options: SandboxOptions = { poolSize: 2, perTask: 1, nodeArgs: ['--max-old-space-size=512'] };
 */
export interface SandboxOptions {
  /** Default: 'node-process' on Node, 'quickjs-process' on Deno. */
  driver?: SandboxDriver;
  /** How many worker processes may run validations at once (default 1). */
  poolSize?: number;
  /** How many validations of one task (`ValidateInput.owner`) may run at once (default: no cap beyond poolSize). */
  perTask?: number;
  /** The Node.js binary for 'node-process' workers, and for 'quickjs-process' workers on Node (default: this process's). */
  nodePath?: string;
  /** Extra flags for the workers' Node.js. */
  nodeArgs?: string[];
}

function unsupportedSandbox(): Sandbox {
  const message = `no sandbox driver is available on this runtime (${runtimeLabel()}): run the server on Node.js >= 22 (isolated-vm) or Deno 2 (QuickJS) to validate code`;
  return {
    driver: 'unsupported',
    validate: () => Promise.resolve({ ok: false, reason: 'unsupported', message }),
    probe: () => Promise.resolve({ ok: false, message, driver: 'unsupported' }),
    close: () => Promise.resolve(),
  };
}

/** The driver this runtime uses when none is named. */
export function defaultDriver(): SandboxDriver {
  return typeof (globalThis as { Deno?: unknown }).Deno !== 'undefined' ? 'quickjs-process' : 'node-process';
}

/**
 * A sandbox whose workers start on the first validation and are reused; `close()` stops them.
 *
 * Besides the Sandbox members, a pooled sandbox has `workerPids(): number[]` and
 * `lastStart(): 'warm' | 'context' | 'cold' | undefined` (for tests, diagnostics and the bench).
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
  const driver = options.driver ?? defaultDriver();
  if (driver === 'unsupported') return unsupportedSandbox();
  const nodePath = options.nodePath ?? (typeof process === 'object' ? process.execPath : 'node');
  const launch = driver === 'quickjs-process' ? quickjsLaunch({ nodePath, nodeArgs: options.nodeArgs ?? [] }) : isolatedVmLaunch(nodePath, options.nodeArgs ?? []);
  const pool = createPool({
    size: Number.isFinite(options.poolSize) ? Math.max(1, Math.floor(options.poolSize as number)) : 1,
    perOwner: Number.isFinite(options.perTask) ? Math.max(1, Math.floor(options.perTask as number)) : undefined,
    launch,
    transport: driver === 'quickjs-process' ? 'lines' : 'ipc',
    describe: driver === 'quickjs-process'
      ? 'the QuickJS worker needs Deno 2 or Node.js >= 22.18 (nodePath) with quickjs-emscripten installed'
      : `check nodePath (${nodePath} must be Node.js >= 22.18 and find isolated-vm) and nodeArgs`,
  });
  return {
    driver,
    async validate(input) {
      try {
        const normalized = normalizeInput(input);
        // The pool bounds what workers send; input errors name paths and are bounded here.
        return normalized.ok ? await pool.run(normalized.input, typeof input.owner === 'string' ? input.owner : undefined, undefined, input.signal) : bound(normalized.report);
      } catch (error) {
        // Aborted by its caller: the caller stopped waiting, and the run is not a failed run.
        if (input.signal?.aborted) throw error;
        return bound({ ok: false, reason: 'threw', message: `internal sandbox error: ${error instanceof Error ? error.message : String(error)}` });
      }
    },
    probe: createProbe(driver, (input, expect) => pool.run(input, undefined, expect)),
    close: () => pool.close(),
    workerPids: () => pool.pids(),
    lastStart: () => pool.lastStart(),
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
