/**
 * Turning whatever a run threw (an isolate error copied out by isolated-vm, a limit being hit, a
 * refused import) into the reason, message and location of a failed SandboxReport.
 */
import { createFormatter } from './_format.ts';
import type { Location, ModuleGraph } from './_modules.ts';

export interface Diagnosis {
  reason: 'timeout' | 'memory' | 'threw';
  message: string;
  location?: Location;
}

export interface RunState {
  timeoutMs: number;
  memoryMb: number;
  /** The worker's watchdog disposed the isolate: the run sat idle on a promise past its deadline. */
  watchdogFired: boolean;
  /** What was going on, for messages: "while loading src/a.js", 'in test "add > sums"'. */
  where: string;
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

const hint = createFormatter().hint;

/** A single allocation too big to attempt (a huge string, array or ArrayBuffer): a memory bomb that failed fast. */
export function isAllocationError(error: unknown): boolean {
  return error instanceof Error && error.name === 'RangeError'
    && /Array buffer allocation failed|Invalid (typed )?array length|Invalid string length|Array buffer allocation|out of memory/i.test(error.message);
}

/** The first stack frame that points into one of the generated files. */
export function stackLocation(stack: unknown, files: Record<string, string>): Location | undefined {
  if (typeof stack !== 'string') return undefined;
  for (const line of stack.split('\n')) {
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

export function diagnose(error: unknown, state: RunState): Diagnosis {
  const message = error instanceof Error ? error.message : '';
  const limit = `its ${state.timeoutMs} ms time limit`;
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
  if (error instanceof DeadlineError || message === 'Script execution timed out.') {
    return {
      reason: 'timeout',
      message: `the run exceeded ${limit} ${state.where}: most likely an endless loop (or an endless chain of promise callbacks)`,
    };
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
    return { reason: 'threw', message: `threw ${createFormatter().format(error)} (${state.where})` };
  }
  const location = stackLocation(error.stack, state.files);
  const head = `${error.name}: ${message}${hint(message)}`;
  const diagnosis: Diagnosis = { reason: 'threw', message: `${head} (${state.where}${at(location)})` };
  if (location !== undefined) diagnosis.location = location;
  return diagnosis;
}
