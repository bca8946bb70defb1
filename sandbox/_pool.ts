/**
 * The 'node-process' driver's workers: a few forked `_worker.ts` processes, started on demand and
 * reused, one run at a time each. isolated-vm's memory limit is only a guideline and V8 may abort
 * the whole process, so isolates never run in the server's own process. A worker that dies or goes
 * silent costs one report ('memory' or 'threw' or 'timeout'); the next run gets a fresh worker.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SandboxReport } from './mod.ts';
import type { RunInput } from './_input.ts';

/** Parent → worker on the IPC channel. */
export type ToWorker = { type: 'validate'; id: number; input: RunInput };
/** Worker → parent: 'ready' once isolated-vm is loaded, then one 'report' per 'validate'. */
export type FromWorker = { type: 'ready' } | { type: 'report'; id: number; report: SandboxReport };

export interface PoolOptions {
  size: number;
  nodePath: string;
  nodeArgs: string[];
}

export interface Pool {
  run(input: RunInput): Promise<SandboxReport>;
  close(): Promise<void>;
  pids(): number[];
}

/** The worker keeps its own deadline; the parent waits this much longer before it gives up on it. */
const GRACE_MS = 2000;
const STARTUP_MS = 20_000;
const STDERR_TAIL = 4096;
/** What V8 and isolated-vm print when they abort over memory (a heap or a single object too big). */
const MEMORY_ABORT = /out[- ]of[- ]memory|heap limit|allocation failed|invalid size error|memory limit|\bOOM\b/i;
const WORKER_PATH = fileURLToPath(new URL('./_worker.ts', import.meta.url));

interface Job {
  input: RunInput;
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
function workerEnv(): NodeJS.ProcessEnv {
  const keep = ['PATH', 'SYSTEMROOT', 'TMPDIR', 'TEMP', 'TMP', 'LANG'];
  return Object.fromEntries(keep.filter((key) => process.env[key] !== undefined).map((key) => [key, process.env[key]]));
}

export function createPool(options: PoolOptions): Pool {
  const workers: Worker[] = [];
  const queue: Job[] = [];
  let closed = false;
  let nextId = 0;

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
    if (busy) {
      worker.child.ref();
      worker.child.channel?.ref();
    } else {
      worker.child.unref();
      worker.child.channel?.unref();
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
    worker.deadline = setTimeout(() => {
      retire(worker, (late) => failure(late, 'timeout',
        `the sandbox worker did not answer within ${late.input.timeoutMs + GRACE_MS} ms (the run's limit is ${late.input.timeoutMs} ms); it was killed and a fresh one will take the next run`));
    }, job.input.timeoutMs + GRACE_MS);
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
      finish(job, failure(job, 'threw', `the sandbox worker could not start (${how})${tail}: check nodePath (${options.nodePath} must be Node.js >= 22.18 and find isolated-vm) and nodeArgs`));
    } else {
      retire(worker);
    }
  }

  function spawn(): void {
    const child = fork(WORKER_PATH, [], {
      execPath: options.nodePath,
      execArgv: ['--no-node-snapshot', '--disable-warning=ExperimentalWarning', ...options.nodeArgs],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: workerEnv(),
    });
    let exited!: () => void;
    const worker: Worker = { child, ready: false, gone: false, job: undefined, jobId: 0, deadline: undefined, stderr: '', exited: new Promise((resolve) => { exited = resolve; }) };
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
        const job = worker.job;
        worker.job = undefined;
        clearTimeout(worker.deadline);
        finish(job, message.report);
        // After a memory blow-up the process may keep a bloated heap: start clean.
        if (!message.report.ok && message.report.reason === 'memory') retire(worker);
        else idle(worker);
      }
    });
  }

  function pump(): void {
    if (closed) return;
    while (queue.length > 0) {
      const free = workers.find((worker) => worker.ready && !worker.gone && worker.job === undefined);
      if (free !== undefined) {
        dispatch(free, queue.shift() as Job);
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
    run(input) {
      if (closed) return Promise.resolve({ ok: false, reason: 'threw', message: 'the sandbox is closed: create a new one to validate more code' });
      return new Promise((resolve) => {
        queue.push({ input, startedAt: performance.now(), resolve });
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
  };
}
