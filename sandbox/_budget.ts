/**
 * A run's time limit counts the CPU time its worker spends, not the wall clock: a busy machine
 * makes a run slower, never a timeout. `timeoutMs` is the CPU budget; the wall clock is only a
 * backstop (WALL_FACTOR × timeoutMs) against a worker that gets no CPU at all. A run that waits
 * idle on a promise uses no CPU: it is stopped at timeoutMs of wall clock, as nothing can settle it.
 *
 * The worker process runs one run at a time, so the process's CPU time (every thread: the engine,
 * its garbage collector, the worker's own bookkeeping) is the run's. Both engines use this clock.
 */
import process from 'node:process';

/** The wall-clock backstop is this many times the run's CPU budget. */
export const WALL_FACTOR = 6;
/** A run stopped by a clock having used less than this share of its CPU budget was starved by the machine. */
const STARVED_SHARE = 0.9;

/** The longest a run may take by the wall clock: the parent pool's deadline builds on it. */
export function wallBackstopMs(timeoutMs: number): number {
  return timeoutMs * WALL_FACTOR;
}

export interface RunBudget {
  readonly timeoutMs: number;
  /** CPU milliseconds the worker spent since the run started. */
  cpuMs(): number;
  /** Wall-clock milliseconds since the run started. */
  wallMs(): number;
  /** The CPU budget is spent. */
  spent(): boolean;
  /** The run used less than STARVED_SHARE of its CPU budget: a clock that stopped it was the machine's doing. */
  starved(): boolean;
  /** Wall-clock milliseconds left before the backstop; at least 1 while any is left, 0 after. */
  wallLeft(): number;
  /** Wall-clock milliseconds left of `timeoutMs` (for a run sitting idle). */
  idleLeft(): number;
  /** Why the run was stopped, for its report: "the run exceeded its … time limit <where> (…)". */
  exceeded(where: string): string;
}

export function startBudget(timeoutMs: number): RunBudget {
  const wallStart = performance.now();
  const cpuStart = process.cpuUsage();
  const backstop = wallBackstopMs(timeoutMs);
  const budget: RunBudget = {
    timeoutMs,
    cpuMs() {
      const used = process.cpuUsage(cpuStart);
      return (used.user + used.system) / 1000;
    },
    wallMs: () => performance.now() - wallStart,
    spent: () => budget.cpuMs() >= timeoutMs,
    starved: () => budget.cpuMs() < STARVED_SHARE * timeoutMs,
    wallLeft() {
      const left = Math.floor(backstop - budget.wallMs());
      return left < 1 ? 0 : left;
    },
    idleLeft: () => Math.max(0, timeoutMs - budget.wallMs()),
    exceeded(where) {
      const cpu = Math.round(budget.cpuMs());
      const wall = Math.round(budget.wallMs());
      if (!budget.starved()) return `the run exceeded its ${timeoutMs} ms time limit ${where} (it used ${cpu} ms of CPU time): most likely an endless loop (or an endless chain of promise callbacks)`;
      // The backstop: the worker got too little CPU to use its budget (an overloaded machine).
      return `the run exceeded its ${timeoutMs} ms time limit ${where} by the wall clock: it ran ${wall} ms but got only ${cpu} ms of CPU time, so the machine is overloaded (the limit counts CPU time; ${WALL_FACTOR}× it is the wall-clock backstop)`;
    },
  };
  return budget;
}
