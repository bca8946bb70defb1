/**
 * The host side of the output limits: `readReport` checks and bounds whatever a worker sent (the
 * parent pool's choke point for both engines: a broken or compromised worker cannot hand the
 * server an unbounded or malformed report), `boundReport` does the same for a report built here,
 * and `createConsoleLog` keeps a run's console lines within their caps as they stream in.
 */
import { Buffer } from 'node:buffer';
import type { SandboxReport, TestResult } from './mod.ts';
import { REPORT_LIMITS, createClipper } from './_limits.ts';
import { createPrimordials } from './_primordials.ts';
import { createResultsKeeper } from './_results.ts';

type FailureReason = (SandboxReport & { ok: false })['reason'];

const primordials = createPrimordials();
// The host counts bytes natively; the engines count in JavaScript (the same rule: a lone surrogate is 3).
const clipper = createClipper(primordials, (text) => Buffer.byteLength(text));
const REASONS: readonly string[] = ['syntax', 'timeout', 'memory', 'threw', 'tests-failed', 'unsupported'];
/** The line that ends a console cut short. */
export const CONSOLE_CUT_NOTICE = `[console output truncated: it exceeded ${REPORT_LIMITS.consoleJsonBytes / 1024} KiB]`;

/** Cuts `text` to `maxBytes` UTF-8 bytes with the "…cut (N bytes more)" marker. */
export function clip(text: string, maxBytes: number): string {
  return clipper.clip(text, maxBytes);
}

/** Cuts `head` so that `head + tail` fits in `maxBytes`, keeping the tail (a location, a hint) whole. */
export function clipHead(head: string, tail: string, maxBytes: number): string {
  return clipper.clipHead(head, tail, maxBytes);
}

export interface ConsoleLog {
  readonly lines: string[];
  /** Adds one line (cut to its cap); past the run's budget, lines are dropped and the cut is noted once. */
  add(line: string): void;
  /** Notes that the engine stopped sending lines (its own budget ran out). */
  cut(): void;
}

export function createConsoleLog(): ConsoleLog {
  const lines: string[] = [];
  const notice = clipper.jsonBytes(CONSOLE_CUT_NOTICE) + 1;
  let bytes = 2;
  let truncated = false;
  const cut = () => {
    if (truncated) return;
    truncated = true;
    lines.push(CONSOLE_CUT_NOTICE);
  };
  return {
    lines,
    add(line) {
      if (truncated) return;
      const text = clipper.clip(line, REPORT_LIMITS.consoleLineBytes);
      const size = clipper.jsonBytes(text) + 1;
      if (bytes + size + notice > REPORT_LIMITS.consoleJsonBytes) return cut();
      bytes += size;
      lines.push(text);
    },
    cut,
  };
}

function finite(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function readResult(value: unknown): TestResult | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const raw = value as Record<string, unknown>;
  if (typeof raw.name !== 'string' || typeof raw.ok !== 'boolean') return undefined;
  const result: TestResult = { name: clipper.clip(raw.name, REPORT_LIMITS.testNameBytes), ok: raw.ok, ms: finite(raw.ms) ?? 0 };
  if (typeof raw.message === 'string') result.message = clipper.clip(raw.message, REPORT_LIMITS.testMessageBytes);
  else if (raw.message !== undefined) return undefined;
  return result;
}

/** Test results within REPORT_LIMITS (failures kept first); undefined when one is not a result. */
export function readResults(value: unknown): TestResult[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const keeper = createResultsKeeper(primordials, clipper, REPORT_LIMITS, { bare: false });
  for (const entry of value) {
    const result = readResult(entry);
    if (result === undefined) return undefined;
    keeper.offer(result);
  }
  return keeper.finish();
}

function readConsole(value: unknown): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const log = createConsoleLog();
  for (const line of value) {
    if (typeof line !== 'string') return undefined;
    log.add(line);
  }
  return log.lines;
}

/**
 * `value` as a SandboxReport within REPORT_LIMITS, or undefined when it is not one (a field of the
 * wrong type, an unknown reason): a worker that sends that is broken and is replaced.
 */
export function readReport(value: unknown): SandboxReport | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const raw = value as Record<string, unknown>;
  if (raw.ok === true) {
    const tests = readResults(raw.tests);
    const lines = readConsole(raw.console);
    const ms = finite(raw.ms);
    const memoryBytes = finite(raw.memoryBytes);
    if (tests === undefined || lines === undefined || ms === undefined || memoryBytes === undefined) return undefined;
    return { ok: true, tests, console: lines, ms, memoryBytes };
  }
  if (raw.ok !== false || typeof raw.reason !== 'string' || !REASONS.includes(raw.reason) || typeof raw.message !== 'string') return undefined;
  const report: SandboxReport = { ok: false, reason: raw.reason as FailureReason, message: clipper.clip(raw.message, REPORT_LIMITS.messageBytes) };
  if (raw.location !== undefined) {
    const location = raw.location as Record<string, unknown> | null;
    if (location === null || typeof location !== 'object' || typeof location.file !== 'string') return undefined;
    const line = finite(location.line);
    const column = finite(location.column);
    if (line === undefined || column === undefined) return undefined;
    report.location = { file: clipper.clip(location.file, REPORT_LIMITS.fileBytes), line, column };
  }
  if (raw.tests !== undefined) {
    const tests = readResults(raw.tests);
    if (tests === undefined) return undefined;
    report.tests = tests;
  }
  if (raw.console !== undefined) {
    const lines = readConsole(raw.console);
    if (lines === undefined) return undefined;
    report.console = lines;
  }
  if (raw.ms !== undefined) {
    const ms = finite(raw.ms);
    if (ms === undefined) return undefined;
    report.ms = ms;
  }
  return report;
}

/**
 * `report` with every text field within REPORT_LIMITS: messages, test names and failure messages
 * cut with the "…cut (N bytes more)" marker, at most 500 results (failures first) and 64 KiB of
 * them, console lines of at most 8 KiB and 64 KiB in all. A malformed report becomes a 'threw'
 * report saying so. Applying it twice changes nothing.
 */
export function boundReport(report: SandboxReport): SandboxReport {
  return readReport(report) ?? internalError('a sandbox report was malformed and was dropped');
}

/** The report of a run the sandbox itself failed (a worker's own error, not the code's). */
export function internalError(what: string): SandboxReport {
  const message = `internal sandbox error (this is a bug in the sandbox, not in the code under test): ${what}`;
  return { ok: false, reason: 'threw', message: clipper.clip(message, REPORT_LIMITS.messageBytes) };
}

/** A failed report's usual parts, bounded (a message, optional location, results and console). */
export interface ReportParts {
  location?: { file: string; line: number; column: number };
  tests?: TestResult[];
  console?: string[];
  ms?: number;
}

export function failureReport(reason: FailureReason, message: string, parts: ReportParts = {}): SandboxReport {
  const report: SandboxReport = { ok: false, reason, message };
  if (parts.location !== undefined) report.location = parts.location;
  if (parts.tests !== undefined && parts.tests.length > 0) report.tests = parts.tests;
  if (parts.console !== undefined) report.console = parts.console;
  if (parts.ms !== undefined) report.ms = parts.ms;
  return boundReport(report);
}

/** What a run's streamed results come to, used only when the run ends abnormally (else the harness's final list counts). */
export interface ResultsLog {
  /** One HarnessEvent.TestEnd text, kept as it came (the harness bounded it) until `finish` needs it. */
  event(text: string): void;
  /** A result the host adds (the test that was running when the run was stopped). */
  offer(result: TestResult): void;
  /** The results within REPORT_LIMITS, failures first, with the summary entry. */
  finish(): TestResult[];
}

/**
 * The worker's log of results streamed as tests end. Parsing and bounding wait for `finish`: a run
 * that ends normally never needs them (its report comes from the harness's own final list).
 */
export function createResultsLog(): ResultsLog {
  const keeper = createResultsKeeper(primordials, clipper, REPORT_LIMITS, { bare: false });
  let pending: Array<string | TestResult> = [];
  const settle = () => {
    for (const item of pending) {
      if (typeof item !== 'string') keeper.offer(item);
      else logResult(keeper, item);
    }
    pending = [];
  };
  return {
    event(text) {
      pending.push(text);
      // Bounded memory however many tests a run has: past a few hundred, fold them in.
      if (pending.length >= REPORT_LIMITS.results) settle();
    },
    offer(result) {
      pending.push(result);
    },
    finish() {
      settle();
      return keeper.finish();
    },
  };
}

/** One streamed result (HarnessEvent.TestEnd) into `keeper`; a malformed one is dropped. */
function logResult(keeper: ReturnType<typeof createResultsKeeper>, text: string): void {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return;
  }
  if (raw !== null && typeof raw === 'object' && (raw as { dropped?: unknown }).dropped === true) {
    const { ok, ms } = raw as { ok?: unknown; ms?: unknown };
    keeper.drop(ok === true, finite(ms) ?? 0);
    return;
  }
  const result = readResult(raw);
  if (result !== undefined) keeper.offer(result);
}
