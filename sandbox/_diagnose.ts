/**
 * Turning whatever a run threw (an isolate error copied out by isolated-vm, a limit being hit, a
 * refused import) into the reason, message and location of a failed SandboxReport.
 */
import { clipHead } from './_bound.ts';
import type { RunBudget } from './_budget.ts';
import { createFormatter } from './_format.ts';
import { REPORT_LIMITS, createClipper } from './_limits.ts';
import type { Location, ModuleGraph } from './_modules.ts';
import { createPrimordials } from './_primordials.ts';

export interface Diagnosis {
  reason: 'timeout' | 'memory' | 'threw';
  message: string;
  location?: Location;
}

export interface RunState {
  memoryMb: number;
  /** The worker's watchdog disposed the isolate: the run sat idle on a promise past its deadline. */
  watchdogFired: boolean;
  /** The worker disposed the isolate because the run spent its CPU budget. */
  cpuSpent: boolean;
  budget: RunBudget;
  /** What was going on, for messages: "while loading src/a.js", 'in test "add > sums"'. */
  where: string;
  /** The isolate's heap (used + external bytes) when the run was stopped, if it could still be read
   * (else what the worker grew by during the run). */
  heapBytes?: number;
  files: Record<string, string>;
  graph: ModuleGraph | undefined;
}

/** Thrown host-side when the run's time is used up between two steps that each get the remainder. */
export class DeadlineError extends Error {
  constructor() {
    super('deadline reached');
    this.name = 'DeadlineError';
  }
}

const primordials = createPrimordials();
const formatter = createFormatter(primordials, createClipper(primordials));
const hint = formatter.hint;
const MB = 1024 * 1024;
/** The share of its memory limit a run must hold when its time runs out to count as a memory bomb. */
const MEMORY_BOMB_SHARE = 0.5;

/** A single allocation too big to attempt (a huge string, array or ArrayBuffer): a memory bomb that failed fast. */
export function isAllocationError(error: unknown): boolean {
  return error instanceof Error && error.name === 'RangeError'
    && /Array buffer allocation failed|Invalid (typed )?array length|Invalid string length|Array buffer allocation|out of memory/i.test(error.message);
}

/** The first stack frame that points into one of the generated files. */
export function stackLocation(stack: unknown, files: Record<string, string>): Location | undefined {
  if (typeof stack !== 'string') return undefined;
  // V8 puts the message first, which may be huge: the frames start at the first "at" line.
  const start = stack.startsWith('    at ') ? 0 : stack.indexOf('\n    at ');
  if (start < 0) return undefined;
  for (const line of stack.slice(start, start + 64 * 1024).split('\n')) {
    const frame = line.trim();
    if (!frame.startsWith('at ')) continue;
    const where = frame.endsWith(')') ? frame.slice(frame.lastIndexOf('(') + 1, -1) : frame.slice(3).replace(/^async /, '');
    const match = /^(.+):(\d+):(\d+)$/.exec(where);
    if (match !== null && files[match[1]] !== undefined) return { file: match[1], line: Number(match[2]), column: Number(match[3]) };
  }
  return undefined;
}

function at(location: Location | undefined): string {
  return location === undefined ? '' : `, at ${location.file}:${location.line}:${location.column}`;
}

/**
 * Classified by cause, not by the clock: a run stopped at its deadline while holding at least
 * MEMORY_BOMB_SHARE of its memory limit was spending its time growing (and collecting garbage near
 * the limit), a memory bomb that a busy machine only made slower; an endless loop holds little.
 * The message for that case, or undefined.
 */
export function heldMemory(heapBytes: number | undefined, state: { memoryMb: number; timeoutMs: number; where: string }): string | undefined {
  if (heapBytes === undefined || heapBytes < MEMORY_BOMB_SHARE * state.memoryMb * MB) return undefined;
  const held = Math.round(heapBytes / MB);
  return `the code ran into its ${state.memoryMb} MB memory limit ${state.where}: it held ${held} MB when its ${state.timeoutMs} ms ran out (most likely unbounded growth)`;
}

export function diagnose(error: unknown, state: RunState): Diagnosis {
  const message = error instanceof Error ? error.message : '';
  const limit = `its ${state.budget.timeoutMs} ms time limit`;
  if (state.watchdogFired) {
    return {
      reason: 'timeout',
      message: `the run exceeded ${limit} ${state.where}: it was waiting on a promise that never settles (the sandbox has no timers or I/O, so nothing can settle it later)`,
    };
  }
  if (message.includes('due to memory limit')) {
    return { reason: 'memory', message: `the code exceeded its ${state.memoryMb} MB memory limit ${state.where}` };
  }
  if (isAllocationError(error)) {
    return { reason: 'memory', message: `the code tried to allocate more than the engine allows (${(error as Error).name}: ${message}) ${state.where}; its memory limit is ${state.memoryMb} MB` };
  }
  if (state.cpuSpent || error instanceof DeadlineError || message === 'Script execution timed out.') {
    const bomb = heldMemory(state.heapBytes, { memoryMb: state.memoryMb, timeoutMs: state.budget.timeoutMs, where: state.where });
    if (bomb !== undefined) return { reason: 'memory', message: bomb };
    return { reason: 'timeout', message: state.budget.exceeded(state.where) };
  }
  const refused = state.graph?.linkProblem();
  if (refused !== undefined) return { reason: 'threw', ...refused };
  const missingExport = state.graph?.locateMissingExport(message);
  if (missingExport !== undefined) return { reason: 'threw', ...missingExport };
  if (message.startsWith('Isolate was disposed')) {
    return { reason: 'threw', message: `the isolate was disposed unexpectedly ${state.where}: ${message}` };
  }
  if (message.startsWith('An object was thrown from supplied code within isolated-vm')) {
    return { reason: 'threw', message: `threw an object that is not an Error (${state.where}); throw new Error(...) to get a message and a location` };
  }
  if (!(error instanceof Error)) {
    return { reason: 'threw', message: clipHead(`threw ${formatter.format(error)}`, ` (${state.where})`, REPORT_LIMITS.messageBytes) };
  }
  const location = stackLocation(error.stack, state.files);
  const diagnosis: Diagnosis = {
    reason: 'threw',
    message: clipHead(`${error.name}: ${message}`, `${hint(message)} (${state.where}${at(location)})`, REPORT_LIMITS.messageBytes),
  };
  if (location !== undefined) diagnosis.location = location;
  return diagnosis;
}
