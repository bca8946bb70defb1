import { createActor } from 'xstate';
import type { Actor } from 'xstate';
import { ErrorCode, FINAL_STAGES, RuntimeError, Stage, Topics, errorMessage, stageRole } from '../protocol/mod.ts';
import type { Message, TaskDetail, TaskView } from '../protocol/mod.ts';
import type { Bus } from '../bus/mod.ts';
import type { Store, TaskRow } from '../store/mod.ts';
import { PIPELINE_MACHINE_VERSION, createPipelineMachine, taskError } from './pipeline.ts';
import type { PipelineContext, PipelineMachine } from './pipeline.ts';
import { PriorityQueue } from './queue.ts';
import { restoreRefusal, restoredRefusal } from './_restore.ts';
import { createStageCalls } from './_stages.ts';
import { newTaskId, statusOf, taskView } from './_view.ts';

export interface TaskManagerOptions {
  bus: Bus;
  store: Store;
  /**
   * How many tasks are in flight at once (the server's `maxTasks`, default 3 × `--workers`); the rest
   * wait in the priority queue. Not the agents' concurrency: each role's pool has its own size, and a
   * task holds an instance only while one of its stages runs, so tasks pipeline through the pools.
   */
  maxRunning?: number;
  /** Implementer attempts before a task fails validation for good. */
  maxIterations?: number;
  /**
   * How long one stage may wait for its agent's reply: a number for every stage, or per role (the
   * server derives it from the role's model route: attempts × timeoutMs + backoff). Past it the
   * request is withdrawn: the model call under it is aborted and no further attempt starts.
   */
  stageTimeoutMs?: number | ((role: string) => number);
  /**
   * The task's deadline budget from its start; each stage gets the smaller of its own timeout and what
   * is left. Default: the implementer's stage timeout × (3 + 2 × maxIterations), enough for every stage
   * and every fix-loop turn to use its full timeout.
   */
  taskDeadlineMs?: number;
  hasReviewer?: () => boolean;
  ids?: () => string;
  /** Told about each task's life, for the model gateway (runtime/llm TaskLifecycle); the manager never waits on it. */
  models?: {
    /** The task runs again after a retry: its models are asked afresh, not replayed from the cache. */
    retrying(taskId: string): void;
    /** The task ended; `unusableRole` names the role whose answer failed it (E_LLM_OUTPUT), if any. */
    ended(taskId: string, unusableRole?: string): void;
  };
}

export interface TaskManager {
  submit(input: { requirement: string; priority: number }): Promise<TaskView>;
  get(id: string): Promise<TaskDetail | null>;
  view(id: string): Promise<TaskView | null>;
  list(options?: { limit?: number; offset?: number }): Promise<TaskView[]>;
  cancel(id: string): Promise<TaskView>;
  retry(id: string): Promise<TaskView>;
  /** Resumes every unfinished task from its last snapshot, then starts scheduling. */
  resume(): Promise<{ resumed: number; failed: number }>;
  onChange(listener: (task: TaskView) => void): () => void;
  stats(): { queued: number; running: number; maxRunning: number };
  /** When a running task's deadline budget runs out (epoch ms), or null when it is not running. */
  deadline(id: string): number | null;
  /** Every task whose stage is running now (not queued, not final), however old. */
  running(): Promise<TaskView[]>;
  /** Stops every task actor where it is (the next start resumes them) once their writes are in. */
  stop(): Promise<void>;
}

type TaskActor = Actor<PipelineMachine>;

/**
 * Owns every task actor: creates, schedules (priority queue, `maxRunning` at once), persists a snapshot
 * after every transition (one store commit with the task row and the stage event, in the order the
 * transitions happened), resumes after a restart, cancels and retries.
 * @example const tasks = createTaskManager({ bus, store, maxRunning: 6 }); await tasks.resume(); await tasks.submit({ requirement, priority: 5 });
 */
export function createTaskManager(options: TaskManagerOptions): TaskManager {
  const { bus, store } = options;
  const clock = bus.clock;
  const maxRunning = options.maxRunning ?? 6;
  const maxIterations = options.maxIterations ?? 3;
  const stageTimeout = options.stageTimeoutMs ?? 10 * 60_000;
  const stageTimeoutMs = (role: string) => (typeof stageTimeout === 'function' ? stageTimeout(role) : stageTimeout);
  const taskDeadlineMs = options.taskDeadlineMs ?? stageTimeoutMs('implementer') * (3 + 2 * maxIterations);
  // When each running task's budget runs out (from its START, or from its resume after a restart).
  const deadlines = new Map<string, number>();
  const nextId = options.ids ?? newTaskId;
  const actors = new Map<string, TaskActor>();
  const queue = new PriorityQueue();
  const listeners = new Set<(task: TaskView) => void>();
  let stopped = false;

  const calls = createStageCalls({
    bus,
    stageTimeoutMs,
    taskDeadlineMs,
    deadlineOf: (taskId) => deadlines.get(taskId),
    hasReviewer: options.hasReviewer ?? (() => false),
  });
  const machine = createPipelineMachine(calls);

  const toView = (row: TaskRow, context?: PipelineContext): TaskView => taskView(row, context, maxIterations);

  function emit(view: TaskView): void {
    bus.publish(Topics.Tasks, 'task.updated', view, { from: 'server:tasks', taskId: view.id });
    for (const listener of listeners) listener(view);
  }

  // Each task's writes, in the order its transitions happened: a transition is written (and its view
  // emitted) after the one before it, whatever the store's latency.
  const writes = new Map<string, Promise<unknown>>();
  function write(id: string, work: () => Promise<TaskRow>, context?: PipelineContext): Promise<TaskRow | undefined> {
    const next = (writes.get(id) ?? Promise.resolve()).then(work).then(
      (row) => {
        emit(toView(row, context));
        return row;
      },
      (error) => {
        writeFailed(id, error);
        return undefined;
      },
    );
    writes.set(id, next);
    void next.then(() => {
      if (writes.get(id) === next) writes.delete(id);
    });
    return next;
  }

  /**
   * A transition the store refused (disk full, database locked past its limit): the task cannot go on
   * without losing what it did, so its actor stops where the store last has it and the failure is on
   * the bus; the next start resumes it from its last written snapshot.
   */
  function writeFailed(id: string, error: unknown): void {
    const actor = actors.get(id);
    if (!actor) return;
    actor.stop();
    actors.delete(id);
    deadlines.delete(id);
    queue.remove(id);
    const text = `task ${id} stopped: the store refused its state (${errorMessage(error)}); it resumes from its last saved state when the server restarts`;
    bus.publish(Topics.Logs, 'log.entry', { level: 'error', source: 'tasks', text }, { from: 'server:tasks', taskId: id });
    pump();
  }

  function persist(id: string, actor: TaskActor, previousStage: string): string {
    const snapshot = actor.getSnapshot();
    const stage = String(snapshot.value);
    const context = snapshot.context;
    const now = clock.now();
    // A store that writes data down gets the persisted copy (actor refs stripped, restorable after a
    // restart); the volatile store keeps objects, and a snapshot is immutable: it takes the live one.
    const persisted = store.persistent ? actor.getPersistedSnapshot() : snapshot;
    void write(
      id,
      () =>
        store.commit(id, {
          snapshot: { machineVersion: PIPELINE_MACHINE_VERSION, snapshot: persisted, updatedAt: now },
          events: stage !== previousStage ? [{ ts: now, type: 'task.stage', data: { from: previousStage, to: stage, iteration: context.iteration } }] : [],
          patch: { stage, status: statusOf(stage), updatedAt: now, error: context.error ? JSON.stringify(context.error) : null, result: context.result },
        }),
      context,
    );
    return stage;
  }

  function attach(id: string, actor: TaskActor): void {
    let stage = String(actor.getSnapshot().value);
    actor.subscribe({
      next: () => {
        if (stopped) return;
        const before = stage;
        stage = persist(id, actor, before);
        if (FINAL_STAGES.has(stage) && !FINAL_STAGES.has(before)) {
          actors.delete(id);
          deadlines.delete(id);
          const error = actor.getSnapshot().context.error;
          options.models?.ended(id, error?.reason === ErrorCode.LlmOutput ? stageRole(error.stage) : undefined);
          pump();
        }
      },
      error: (error) => {
        // A machine that throws is a defect; the task still ends failed with the reason, never hangs.
        if (stopped) return;
        const failedAt = stage;
        void write(id, () => store.updateTask(id, { status: 'failed', stage: Stage.Failed, updatedAt: clock.now(), error: JSON.stringify(taskError(failedAt, 'E_HANDLER', errorMessage(error))) }));
        actors.delete(id);
        deadlines.delete(id);
        options.models?.ended(id);
        pump();
      },
    });
    actors.set(id, actor);
  }

  function running(): number {
    let n = 0;
    for (const actor of actors.values()) if (String(actor.getSnapshot().value) !== Stage.Queued) n++;
    return n;
  }

  function pump(): void {
    while (!stopped && queue.size > 0 && running() < maxRunning) {
      const id = queue.shift()!;
      deadlines.set(id, clock.now() + taskDeadlineMs);
      actors.get(id)?.send({ type: 'START' });
    }
  }

  function enqueue(row: TaskRow): void {
    if (row.attempt > 1) options.models?.retrying(row.id);
    const actor = createActor(machine, { input: { taskId: row.id, requirement: row.requirement, maxIterations } });
    attach(row.id, actor);
    actor.start();
    persist(row.id, actor, Stage.Queued);
    queue.push(row.id, row.priority);
    pump();
  }

  async function mustGet(id: string): Promise<TaskRow> {
    const row = await store.getTask(id);
    if (!row) throw new RuntimeError(ErrorCode.NotFound, `task "${id}" does not exist: list tasks with GET /api/tasks`);
    return row;
  }

  async function contextOf(id: string): Promise<PipelineContext | undefined> {
    const live = actors.get(id);
    if (live) return live.getSnapshot().context;
    let saved;
    try {
      saved = await store.loadSnapshot(id);
    } catch {
      // An unreadable snapshot already failed its task on resume (with the reason); the row still shows.
      return undefined;
    }
    // A snapshot of another machine version has another context shape: show none rather than guess.
    if (!saved || saved.machineVersion !== PIPELINE_MACHINE_VERSION) return undefined;
    return (saved.snapshot as { context?: PipelineContext } | undefined)?.context;
  }

  /** The view of a task once the writes queued for it are in (a caller's own change included). */
  async function settledView(id: string): Promise<TaskView> {
    await writes.get(id);
    return toView(await mustGet(id), await contextOf(id));
  }

  /** Ends a task that cannot be resumed as failed (E_MIGRATION), in one commit with its stage event. */
  async function failResume(row: TaskRow, message: string): Promise<void> {
    const now = clock.now();
    await write(row.id, () =>
      store.commit(row.id, {
        events: [{ ts: now, type: 'task.stage', data: { from: row.stage, to: Stage.Failed, iteration: 0 } }],
        patch: { status: 'failed', stage: Stage.Failed, updatedAt: now, error: JSON.stringify(taskError(row.stage, 'E_MIGRATION', message)) },
      }),
    );
  }

  return {
    async submit({ requirement, priority }) {
      if (stopped) throw new RuntimeError(ErrorCode.Stopped, 'the server is shutting down: submit again once it is back');
      const id = nextId();
      const now = clock.now();
      const row = await store.createTask({ id, requirement, priority, createdAt: now }, { events: [{ ts: now, type: 'task.submitted', data: { requirement, priority } }] });
      // Saved as the server began to stop: the task is accepted (a client that resubmitted would make
      // a second one) and the next start resumes it, like every queued task.
      if (stopped) return toView(row);
      enqueue(row);
      return settledView(id);
    },
    async get(id) {
      await writes.get(id);
      const row = await store.getTask(id);
      if (!row) return null;
      const context = await contextOf(id);
      // Rows written behind (the message log) are part of what events() answers.
      const events = await store.events(id, { limit: 5000 });
      return {
        ...toView(row, context),
        prompt: context?.prompt ?? null,
        analysis: context?.analysis ?? null,
        plan: context?.plan ?? null,
        report: context?.report ?? null,
        findings: context?.findings ?? [],
        generated: context?.implementation?.files ?? [],
        stages: events.filter((e) => e.type === 'task.stage').map((e) => ({ stage: (e.data as { to: string }).to, at: e.ts })),
        messages: events.filter((e) => e.type === 'message').map((e) => e.data as TaskDetail['messages'][number]),
        modelAttempts: events.filter((e) => e.type === 'llm.attempt').map((e) => {
          const a = e.data as TaskDetail['modelAttempts'][number];
          return { at: e.ts, role: a.role, deployment: a.deployment, attempt: a.attempt, kind: a.kind, text: a.text };
        }),
      };
    },
    async view(id) {
      await writes.get(id);
      const row = await store.getTask(id);
      return row ? toView(row, await contextOf(id)) : null;
    },
    async list(o = {}) {
      const rows = await store.listTasks({ limit: o.limit ?? 100, offset: o.offset ?? 0 });
      return rows.map((row) => toView(row, actors.get(row.id)?.getSnapshot().context));
    },
    async cancel(id) {
      await writes.get(id);
      const row = await mustGet(id);
      const actor = actors.get(id);
      if (!actor || FINAL_STAGES.has(row.stage)) {
        throw new RuntimeError(ErrorCode.Conflict, `task ${id} is ${row.status} and cannot be cancelled; only queued or running tasks can`);
      }
      if (String(actor.getSnapshot().value) === Stage.Integrating) {
        // Its validated files are being written and archived; a cancel now would leave a "cancelled"
        // task with files in the workspace. It completes in a moment.
        throw new RuntimeError(ErrorCode.Conflict, `task ${id} is integrating (writing its validated files) and cannot be cancelled now; wait for it to complete`);
      }
      queue.remove(id);
      actor.send({ type: 'CANCEL', reason: 'cancelled by request' });
      return settledView(id);
    },
    async retry(id) {
      await writes.get(id);
      const row = await mustGet(id);
      if (row.status !== 'failed' && row.status !== 'cancelled') {
        throw new RuntimeError(ErrorCode.Conflict, `task ${id} is ${row.status}; only failed or cancelled tasks can be retried`);
      }
      if (actors.has(id)) throw new RuntimeError(ErrorCode.Conflict, `task ${id} is being retried already: watch it with GET /api/tasks/${id}`);
      const now = clock.now();
      const fresh = await store.commit(id, {
        events: [{ ts: now, type: 'task.retried', data: { attempt: row.attempt + 1, previousError: row.error } }],
        patch: { status: 'queued', stage: Stage.Queued, error: null, result: null, attempt: row.attempt + 1, updatedAt: now },
      });
      enqueue(fresh);
      return settledView(id);
    },
    async resume() {
      let resumed = 0;
      let failed = 0;
      // Tasks that were mid-stage first: they hold their slots again before any queued task is
      // scheduled, or a restart would run more than `maxRunning` tasks at once.
      const rows = await store.unfinishedTasks();
      const startsOver = (row: TaskRow) => row.stage === Stage.Queued;
      for (const row of [...rows.filter((r) => !startsOver(r)), ...rows.filter(startsOver)]) {
        // One task that cannot be restored fails alone, with the reason; it never stops the others
        // (or the server) from starting.
        try {
          const saved = await store.loadSnapshot(row.id);
          if (!saved || startsOver(row)) {
            enqueue(row);
            resumed++;
            continue;
          }
          const refusal = restoreRefusal(row, saved);
          if (refusal) {
            await failResume(row, refusal);
            failed++;
            continue;
          }
          const actor = createActor(machine, { snapshot: saved.snapshot as never, input: { taskId: row.id, requirement: row.requirement, maxIterations } });
          const broken = restoredRefusal(row, actor);
          if (broken) {
            await failResume(row, broken);
            failed++;
            continue;
          }
          attach(row.id, actor);
          if (row.attempt > 1) options.models?.retrying(row.id);
          deadlines.set(row.id, clock.now() + taskDeadlineMs);
          await store.appendEvent({ taskId: row.id, ts: clock.now(), type: 'task.resumed', data: { stage: row.stage, machineVersion: saved.machineVersion } });
          actor.start();
          resumed++;
        } catch (error) {
          actors.get(row.id)?.stop();
          actors.delete(row.id);
          await failResume(row, `the snapshot of task ${row.id} could not be restored (${errorMessage(error)}): retry the task (POST /api/tasks/${row.id}/retry)`);
          failed++;
        }
      }
      pump();
      return { resumed, failed };
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stats: () => ({ queued: queue.size, running: running(), maxRunning }),
    deadline: (id) => deadlines.get(id) ?? null,
    async running() {
      const live = [...actors.entries()].filter(([, actor]) => !FINAL_STAGES.has(String(actor.getSnapshot().value)) && String(actor.getSnapshot().value) !== Stage.Queued);
      const views = await Promise.all(
        live.map(async ([id, actor]) => {
          const row = await store.getTask(id);
          return row ? toView(row, actor.getSnapshot().context) : undefined;
        }),
      );
      return views.filter((view): view is TaskView => view !== undefined);
    },
    async stop() {
      // Every transition is written as it happens; stopping must not record the stop as a transition,
      // so the next start resumes these tasks where they were. What is still being written goes in first.
      stopped = true;
      for (const actor of actors.values()) actor.stop();
      actors.clear();
      await Promise.all(writes.values());
    },
  };
}
