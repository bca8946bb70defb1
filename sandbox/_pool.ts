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
import { lineChannel } from './_lines.ts';
import type { ChildProcess } from 'node:child_process';
import type { SandboxReport } from './mod.ts';
import { internalError, readReport } from './_bound.ts';
import type { RunInput } from './_input.ts';
import { wallBackstopMs } from './_budget.ts';
import { cpuMsOf, residentMb } from './_proc.ts';

/** Parent → worker. */
export type ToWorker = { type: 'validate'; id: number; input: RunInput };
/**
 * Worker → parent: 'ready' once its engine is loaded, then one 'report' per 'validate'. `retire`
 * says why the worker must not take another run (an internal error, an engine left broken).
 */
export type FromWorker = { type: 'ready' } | { type: 'report'; id: number; report: SandboxReport; start?: 'warm' | 'context' | 'cold'; retire?: string };

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
  /**
   * Runs `input` in the next free worker. `expect`, when given, says whether the report is the one a
   * healthy worker gives: a worker that answers otherwise is replaced (the probe's known-good run).
   * Aborting `signal` rejects with its reason at once: a queued run never starts, a running one's
   * worker is killed (the only way to stop code that may never yield) and a fresh one takes the next run.
   */
  run(input: RunInput, owner?: string, expect?: (report: SandboxReport) => boolean, signal?: AbortSignal): Promise<SandboxReport>;
  close(): Promise<void>;
  pids(): number[];
  /** How the last answered run started inside its worker (for the bench). */
  lastStart(): 'warm' | 'context' | 'cold' | undefined;
}

/**
 * The worker keeps its own limit (CPU time, `_budget.ts`); the parent gives up on a worker that
 * spent this much more CPU on a run, or ran this much past the run's wall-clock backstop.
 */
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
/**
 * A worker that does not answer by the parent's deadline is stuck where the engine's timeout cannot
 * reach (a builtin filling a huge array, isolated-vm copying a thrown Proxy). If its resident memory
 * grew by more than this share of the run's limit (at least GROWTH_MIN_MB) while it ran, it was
 * stuck allocating: a memory bomb, however slowly a busy machine let it grow. Measured: such a bomb
 * grows 50–100 MB by the deadline of a 64 MB run with both cores busy; a stuck Proxy copy, 0–1 MB.
 */
const GROWTH_SHARE = 0.25;
const GROWTH_MIN_MB = 16;

interface Job {
  input: RunInput;
  owner: string | undefined;
  startedAt: number;
  expect: ((report: SandboxReport) => boolean) | undefined;
  resolve(report: SandboxReport): void;
}

/** The reason an aborted run rejects with: the signal's own, as fetch does. */
function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('the sandbox run was aborted', 'AbortError');
}

interface Worker {
  child: ChildProcess;
  ready: boolean;
  gone: boolean;
  job: Job | undefined;
  jobId: number;
  deadline: ReturnType<typeof setTimeout> | undefined;
  sampler: ReturnType<typeof setInterval> | undefined;
  /** Resident memory (MB) at the sampler's first reading of the run, and the most it saw since. */
  rssAtStart: number | undefined;
  rssPeak: number;
  /** The worker's CPU milliseconds when the run was handed over. */
  cpuAtStart: number | undefined;
  stderr: string;
  exited: Promise<void>;
}

/** The most telling line a dying worker wrote: its error, not the native stack or GC trace after it. */
function lastWords(stderr: string): string {
  const lines = stderr.split('\n').map((line) => line.replace(/^[#\s]+/, '').trim())
    .filter((line) => line !== '' && !/^\d+: /.test(line) && !/^(-{3,}|<-{3,}|\[\d+:0x)/.test(line));
  return [...lines].reverse().find((line) => /error|fatal|abort|memory/i.test(line)) ?? lines[lines.length - 1] ?? '';
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

  /**
   * Whether a worker that stopped answering or died was out of memory, by cause, not by the clock: its
   * memory grew while it ran (GROWTH_SHARE of the run's limit), it holds far more than a worker does, or
   * V8 said so (an abort message, last-resort garbage collections), however slowly a busy machine let
   * the bomb grow. A worker stuck with its memory flat is a runaway; one that crashed with it flat, a crash.
   * `rss` is what it holds now, when it still runs.
   */
  function memoryEvidence(worker: Worker, job: Job, rss: number | undefined): { memory: boolean; grown: string } {
    const peak = Math.max(worker.rssPeak, rss ?? 0);
    const grew = worker.rssAtStart !== undefined && peak - worker.rssAtStart > Math.max(GROWTH_MIN_MB, GROWTH_SHARE * job.input.memoryMb);
    const hoarding = peak > RSS_BASE_MB + 2 * job.input.memoryMb;
    const memory = grew || hoarding || MEMORY_ABORT.test(worker.stderr) || /last resort|Mark-Compact/.test(worker.stderr);
    return { memory, grown: worker.rssAtStart === undefined ? '' : ` (its worker grew by ${Math.round(peak - worker.rssAtStart)} MB)` };
  }

  function dispatch(worker: Worker, job: Job): void {
    worker.job = job;
    worker.jobId = ++nextId;
    hold(worker, true);
    // What the worker writes from now on is about this run.
    worker.stderr = '';
    // The baseline is the sampler's first reading, 100 ms in: a file read on the run's critical
    // path costs every run (a busy machine makes it slow), and only a run still going at the
    // deadline needs it.
    worker.rssAtStart = undefined;
    worker.rssPeak = 0;
    worker.cpuAtStart = cpuMsOf(worker.child.pid);
    const cpuLimit = job.input.timeoutMs + GRACE_MS;
    const wallLimit = wallBackstopMs(job.input.timeoutMs) + GRACE_MS;
    const giveUp = (spent: string) => {
      const { memory, grown } = memoryEvidence(worker, job, residentMb(worker.child.pid));
      retire(worker, (late) => failure(late, memory ? 'memory' : 'timeout', memory
        ? `the code exceeded its ${late.input.memoryMb} MB memory limit: it was still allocating${grown} when the sandbox worker had ${spent} without answering; it was killed and a fresh one will take the next run`
        : `the sandbox worker had ${spent} without answering (the run's limit is ${late.input.timeoutMs} ms of CPU time); it was killed and a fresh one will take the next run`));
    };
    worker.deadline = setTimeout(() => giveUp(`run ${wallLimit} ms by the wall clock`), wallLimit);
    // The engine's own memory limit is a guideline: a builtin filling a huge array can run past it
    // (and past its timeout). The parent watches the worker's resident memory and ends it.
    const cap = RSS_BASE_MB + RSS_FACTOR * job.input.memoryMb;
    clearInterval(worker.sampler);
    worker.sampler = setInterval(() => {
      if (worker.job !== job) return;
      const cpu = cpuMsOf(worker.child.pid);
      if (cpu !== undefined && worker.cpuAtStart !== undefined && cpu - worker.cpuAtStart > cpuLimit) {
        giveUp(`used ${Math.round(cpu - worker.cpuAtStart)} ms of CPU time`);
        return;
      }
      const rss = residentMb(worker.child.pid);
      if (rss === undefined) return;
      worker.rssAtStart ??= rss;
      if (rss > worker.rssPeak) worker.rssPeak = rss;
      if (rss <= cap) return;
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
      // A V8 that cannot allocate may abort or crash (SIGSEGV) before its message or the sampler's cap.
      const { memory, grown } = memoryEvidence(worker, worker.job, undefined);
      retire(worker, (job) => failure(job, memory ? 'memory' : 'threw',
        `the sandbox worker died during the run (${how})${memory ? `, apparently out of memory: the code was still allocating${grown} (its limit is ${job.input.memoryMb} MB)` : ''}${tail}; a fresh worker will take the next run`));
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
    const worker: Worker = {
      child, ready: false, gone: false, job: undefined, jobId: 0, deadline: undefined, sampler: undefined, rssAtStart: undefined, rssPeak: 0, cpuAtStart: undefined, stderr: '',
      exited: new Promise((resolve) => { exited = resolve; }),
    };
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
    // A worker that speaks garbage is broken (or compromised): its run fails and it is replaced.
    child.on('garbled', (problem: string) => {
      if (worker.gone) return;
      const report = internalError(`the sandbox worker sent something that is not a message (${problem}); it was replaced`);
      retire(worker, (job) => ({ ...report, ms: Math.round(performance.now() - job.startedAt) }));
    });
    child.on('message', (message: FromWorker) => {
      if (worker.gone || message === null || typeof message !== 'object') return;
      if (message.type === 'ready') {
        worker.ready = true;
        clearTimeout(startup);
        idle(worker);
      } else if (message.type === 'report' && worker.job !== undefined && message.id === worker.jobId) {
        lastStart = message.start;
        const job = worker.job;
        // The single choke point for both engines: whatever a worker sends is checked and bounded
        // here, so a broken or compromised one cannot hand the server an unbounded report.
        const report = readReport(message.report);
        if (report === undefined) {
          retire(worker, () => internalError('the sandbox worker answered with something that is not a sandbox report; it was replaced'));
          return;
        }
        worker.job = undefined;
        clearTimeout(worker.deadline);
        clearInterval(worker.sampler);
        finish(job, report);
        // Replaced: a worker that says its engine is broken, one that failed the known-good probe,
        // and one after a memory blow-up (the process may keep a bloated heap).
        const failedProbe = job.expect !== undefined && !job.expect(report);
        if (typeof message.retire === 'string' || failedProbe || (!report.ok && report.reason === 'memory')) retire(worker);
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
    run(input, owner, expect, signal) {
      if (closed) return Promise.resolve({ ok: false, reason: 'threw', message: 'the sandbox is closed: create a new one to validate more code' });
      if (signal?.aborted) return Promise.reject(abortReason(signal));
      return new Promise((resolve, reject) => {
        const job: Job = { input, owner, startedAt: performance.now(), expect, resolve };
        if (signal !== undefined) {
          const onAbort = () => {
            const queued = queue.indexOf(job);
            if (queued >= 0) queue.splice(queued, 1);
            const worker = workers.find((w) => w.job === job);
            // Retired without a report: the run's answer is the rejection below.
            if (worker !== undefined) retire(worker);
            reject(abortReason(signal));
          };
          signal.addEventListener('abort', onAbort, { once: true });
          job.resolve = (report) => {
            signal.removeEventListener('abort', onAbort);
            resolve(report);
          };
        }
        queue.push(job);
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
