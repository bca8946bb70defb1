/**
 * The sandbox's worker processes, shared by both drivers: a few workers started on demand and
 * reused, one run at a time each. An engine's memory limit is only a guideline and V8 may abort the
 * whole process, so generated code never runs in the server's own process. A worker that dies or
 * goes silent costs one report ('memory' or 'threw' or 'timeout'); the next run gets a fresh worker.
 *
 * A driver says how to start its worker (`launch`) and how to talk to it: Node's IPC channel
 * ('ipc', the isolated-vm worker) or JSON lines on stdin/stdout ('lines', the QuickJS worker,
 * which also runs under Deno).
 */
import { onJsonLines } from './_lines.ts';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { SandboxReport } from './mod.ts';
import type { RunInput } from './_input.ts';

/** Parent → worker. */
export type ToWorker = { type: 'validate'; id: number; input: RunInput };
/** Worker → parent: 'ready' once its engine is loaded, then one 'report' per 'validate'. */
export type FromWorker = { type: 'ready' } | { type: 'report'; id: number; report: SandboxReport; start?: 'warm' | 'context' | 'cold' };

export interface PoolOptions {
  size: number;
  /** Starts one worker process (stderr must be a pipe). */
  launch(): ChildProcess;
  transport: 'ipc' | 'lines';
  /** Runs of one owner (a task) at the same time; more wait in the queue. Default: no cap. */
  perOwner?: number;
  /** Named in the message when a worker cannot start. */
  describe: string;
}

export interface Pool {
  run(input: RunInput, owner?: string): Promise<SandboxReport>;
  close(): Promise<void>;
  pids(): number[];
  /** How the last answered run started inside its worker (for the bench). */
  lastStart(): 'warm' | 'context' | 'cold' | undefined;
}

/** Line-delimited JSON on a child's stdin/stdout, presented like Node's IPC channel. */
function lineChannel(child: ChildProcess): void {
  if (child.stdout) onJsonLines(child.stdout, (message) => child.emit('message', message));
  child.send = ((message: unknown, callback?: (error: Error | null) => void) => {
    const stdin = child.stdin;
    if (stdin === null || stdin.destroyed) {
      callback?.(new Error('the worker\'s stdin is closed'));
      return false;
    }
    return stdin.write(`${JSON.stringify(message)}\n`, (error) => callback?.(error ?? null));
  }) as ChildProcess['send'];
}

/** The worker keeps its own deadline; the parent waits this much longer before it gives up on it. */
const GRACE_MS = 750;
const STARTUP_MS = 20_000;
const STDERR_TAIL = 4096;
/** What V8 and isolated-vm print when they abort over memory (a heap or a single object too big). */
const MEMORY_ABORT = /out[- ]of[- ]memory|heap limit|allocation failed|invalid size error|memory limit|\bOOM\b/i;

/** How often the parent samples a busy worker's resident memory (Linux /proc). */
const RSS_SAMPLE_MS = 100;
/** Room a worker gets beyond its run's limit (its own runtime and the engine): past it, the run is a memory bomb. */
const RSS_BASE_MB = 384;
/** isolated-vm's memory limit is a guideline an attacker can exceed 2–3×: the parent enforces this multiple. */
const RSS_FACTOR = 4;

/** The resident memory of a process in MB, or undefined where /proc is not there. */
function residentMb(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const pages = Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]);
    return (pages * 4096) / (1024 * 1024);
  } catch {
    return undefined;
  }
}

interface Job {
  input: RunInput;
  owner: string | undefined;
  startedAt: number;
  resolve(report: SandboxReport): void;
}

interface Worker {
  child: ChildProcess;
  ready: boolean;
  gone: boolean;
  job: Job | undefined;
  jobId: number;
  deadline: ReturnType<typeof setTimeout> | undefined;
  sampler: ReturnType<typeof setInterval> | undefined;
  stderr: string;
  exited: Promise<void>;
}

/** The most telling line a dying worker wrote: its error, not the native stack or GC trace after it. */
function lastWords(stderr: string): string {
  const lines = stderr.split('\n').map((line) => line.replace(/^[#\s]+/, '').trim())
    .filter((line) => line !== '' && !/^\d+: /.test(line) && !/^(-{3,}|<-{3,}|\[\d+:0x)/.test(line));
  return [...lines].reverse().find((line) => /error|fatal|abort|memory/i.test(line)) ?? lines[lines.length - 1] ?? '';
}

/** The worker needs no secrets: it gets PATH and temp dirs, not the server's environment. */
export function workerEnv(): Record<string, string> {
  const keep = ['PATH', 'SYSTEMROOT', 'TMPDIR', 'TEMP', 'TMP', 'LANG'];
  const env: Record<string, string> = {};
  for (const key of keep) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return env;
}

export function createPool(options: PoolOptions): Pool {
  const workers: Worker[] = [];
  const queue: Job[] = [];
  let closed = false;
  let nextId = 0;
  let lastStart: 'warm' | 'context' | 'cold' | undefined;

  function finish(job: Job, report: SandboxReport): void {
    job.resolve(report);
  }

  function failure(job: Job, reason: 'threw' | 'timeout' | 'memory', message: string): SandboxReport {
    return { ok: false, reason, message, ms: Math.round(performance.now() - job.startedAt) };
  }

  /** Ends the worker for good; whatever run it held gets `report` (or nothing, if already answered). */
  function retire(worker: Worker, report?: (job: Job) => SandboxReport): void {
    const job = worker.job;
    worker.job = undefined;
    clearTimeout(worker.deadline);
    clearInterval(worker.sampler);
    if (!worker.gone) {
      worker.gone = true;
      workers.splice(workers.indexOf(worker), 1);
      worker.child.kill('SIGKILL');
    }
    if (job !== undefined && report !== undefined) finish(job, report(job));
    pump();
  }

  /**
   * While a worker starts or runs, its process and IPC channel hold the event loop (so its answer
   * or its exit is always seen); idle, it must never keep the server alive.
   */
  function hold(worker: Worker, busy: boolean): void {
    const streams = [worker.child.stdout, worker.child.stdin] as Array<{ ref?: () => void; unref?: () => void } | null>;
    if (busy) {
      worker.child.ref();
      worker.child.channel?.ref();
      for (const stream of streams) stream?.ref?.();
    } else {
      worker.child.unref();
      worker.child.channel?.unref();
      for (const stream of streams) stream?.unref?.();
    }
  }

  function idle(worker: Worker): void {
    hold(worker, false);
    pump();
  }

  function dispatch(worker: Worker, job: Job): void {
    worker.job = job;
    worker.jobId = ++nextId;
    hold(worker, true);
    // What the worker writes from now on is about this run.
    worker.stderr = '';
    worker.deadline = setTimeout(() => {
      // A worker stuck in V8's last-resort garbage collections is out of memory, not slow; so is one
      // that reached the deadline still holding far more than its limit (a bomb that grows slower than
      // the sampler's cap on a loaded machine).
      const rss = residentMb(worker.child.pid);
      const hoarding = rss !== undefined && rss > RSS_BASE_MB + 2 * job.input.memoryMb;
      const memory = hoarding || MEMORY_ABORT.test(worker.stderr) || /last resort|Mark-Compact/.test(worker.stderr);
      retire(worker, (late) => failure(late, memory ? 'memory' : 'timeout',
        `the sandbox worker did not answer within ${late.input.timeoutMs + GRACE_MS} ms (the run's limit is ${late.input.timeoutMs} ms)${memory ? ', out of memory' : ''}; it was killed and a fresh one will take the next run`));
    }, job.input.timeoutMs + GRACE_MS);
    // The engine's own memory limit is a guideline: a builtin filling a huge array can run past it
    // (and past its timeout). The parent watches the worker's resident memory and ends it.
    const cap = RSS_BASE_MB + RSS_FACTOR * job.input.memoryMb;
    clearInterval(worker.sampler);
    worker.sampler = setInterval(() => {
      const rss = residentMb(worker.child.pid);
      if (rss === undefined || rss <= cap || worker.job !== job) return;
      retire(worker, (big) => failure(big, 'memory',
        `the code's memory grew past its ${big.input.memoryMb} MB limit (the sandbox worker reached ${Math.round(rss)} MB); the worker was killed and a fresh one will take the next run`));
    }, RSS_SAMPLE_MS);
    worker.sampler.unref();
    const message: ToWorker = { type: 'validate', id: worker.jobId, input: job.input };
    worker.child.send(message, (error) => {
      if (error) retire(worker, (lost) => failure(lost, 'threw', `could not hand the run to the sandbox worker: ${error.message}`));
    });
  }

  function onExit(worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    if (worker.gone) return;
    const how = signal !== null ? `signal ${signal}` : code !== null ? `exit code ${code}` : 'it never ran';
    const said = lastWords(worker.stderr);
    const tail = said === '' ? '' : `; its last words: ${said}`;
    if (worker.job !== undefined) {
      const memory = MEMORY_ABORT.test(worker.stderr);
      retire(worker, (job) => failure(job, memory ? 'memory' : 'threw',
        `the sandbox worker died during the run (${how})${memory ? ', apparently out of memory' : ''}${tail}; a fresh worker will take the next run`));
    } else if (!worker.ready && queue.length > 0) {
      // A worker that cannot even start fails one waiting run instead of being respawned forever.
      const job = queue.shift() as Job;
      retire(worker);
      finish(job, failure(job, 'threw', `the sandbox worker could not start (${how})${tail}: ${options.describe}`));
    } else {
      retire(worker);
    }
  }

  function spawn(): void {
    const child = options.launch();
    if (options.transport === 'lines') lineChannel(child);
    let exited!: () => void;
    const worker: Worker = { child, ready: false, gone: false, job: undefined, jobId: 0, deadline: undefined, sampler: undefined, stderr: '', exited: new Promise((resolve) => { exited = resolve; }) };
    workers.push(worker);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => { worker.stderr = (worker.stderr + chunk).slice(-STDERR_TAIL); });
    (child.stderr as { unref?: () => void } | null)?.unref?.();
    const startup = setTimeout(() => { if (!worker.ready) child.kill('SIGKILL'); }, STARTUP_MS);
    startup.unref();
    child.on('exit', (code, signal) => {
      clearTimeout(startup);
      exited();
      onExit(worker, code, signal);
    });
    child.on('error', (error) => {
      worker.stderr += `\n${error.message}`;
      if (child.pid === undefined) child.emit('exit', null, null);
    });
    child.on('message', (message: FromWorker) => {
      if (worker.gone) return;
      if (message.type === 'ready') {
        worker.ready = true;
        clearTimeout(startup);
        idle(worker);
      } else if (message.type === 'report' && worker.job !== undefined && message.id === worker.jobId) {
        lastStart = message.start;
        const job = worker.job;
        worker.job = undefined;
        clearTimeout(worker.deadline);
        clearInterval(worker.sampler);
        finish(job, message.report);
        // After a memory blow-up the process may keep a bloated heap: start clean.
        if (!message.report.ok && message.report.reason === 'memory') retire(worker);
        else idle(worker);
      }
    });
  }

  /** The first queued job whose owner is under its cap, removed from the queue. */
  function nextJob(): Job | undefined {
    const cap = options.perOwner ?? Infinity;
    const index = queue.findIndex((job) => job.owner === undefined
      || workers.filter((worker) => worker.job?.owner === job.owner).length < cap);
    return index < 0 ? undefined : queue.splice(index, 1)[0];
  }

  function pump(): void {
    if (closed) return;
    while (queue.length > 0) {
      const free = workers.find((worker) => worker.ready && !worker.gone && worker.job === undefined);
      if (free !== undefined) {
        const job = nextJob();
        if (job === undefined) break;
        dispatch(free, job);
        continue;
      }
      const starting = workers.filter((worker) => !worker.ready).length;
      if (starting < queue.length && workers.length < options.size) {
        try {
          spawn();
        } catch (error) {
          const job = queue.shift() as Job;
          finish(job, failure(job, 'threw', `could not start the sandbox worker: ${error instanceof Error ? error.message : String(error)}`));
        }
        continue;
      }
      break;
    }
  }

  return {
    run(input, owner) {
      if (closed) return Promise.resolve({ ok: false, reason: 'threw', message: 'the sandbox is closed: create a new one to validate more code' });
      return new Promise((resolve) => {
        queue.push({ input, owner, startedAt: performance.now(), resolve });
        pump();
      });
    },
    async close() {
      closed = true;
      for (const job of queue.splice(0)) finish(job, failure(job, 'threw', 'the sandbox was closed before the run started'));
      const exits = workers.map((worker) => worker.exited);
      for (const worker of [...workers]) {
        // Hold the event loop until the exit is seen, so `await close()` settles before the process ends.
        hold(worker, true);
        retire(worker, (job) => failure(job, 'threw', 'the sandbox was closed during the run'));
      }
      await Promise.all(exits);
    },
    pids: () => workers.filter((worker) => !worker.gone && worker.child.pid !== undefined).map((worker) => worker.child.pid as number),
    lastStart: () => lastStart,
  };
}
