import { ErrorCode, FINAL_STAGES, RuntimeError, Stage, Topics, errorMessage, stageRole } from '../protocol/mod.ts';
import type { TaskView } from '../protocol/mod.ts';
import type { TaskRow } from '../store/mod.ts';
import { PIPELINE_MACHINE_VERSION, createPipelineMachine, taskError } from './pipeline.ts';
import type { PipelineContext, PipelineMachine } from './pipeline.ts';
import { PriorityQueue } from './queue.ts';
import { restoreRefusal, restoredRefusal } from './_restore.ts';
import { createStageCalls } from './_stages.ts';
import { newTaskId, statusOf, taskDetail, taskView } from './_view.ts';
import { ownRoots } from './types.ts';
import type { TaskActor, TaskManager, TaskManagerOptions } from './types.ts';

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
  const home = options.home ?? ownRoots;
  const actors = new Map<string, TaskActor>();
  // The tasks past their START (or resumed mid-stage) whose actors have not ended: what maxRunning bounds.
  const started = new Set<string>();
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

  // The last failed model-call attempt of each running task's current stage (toView adds it).
  const attempts = new Map<string, { stage: string; note: NonNullable<TaskView['waiting']>['lastAttempt'] }>();

  /** A row as the API shows it, with the last failed attempt of the model call its stage waits on. */
  function toView(row: TaskRow, context?: PipelineContext): TaskView {
    const view = taskView(row, context, maxIterations);
    const attempt = attempts.get(row.id);
    if (!attempt) return view;
    if (attempt.stage !== row.stage || !view.waiting) {
      attempts.delete(row.id);
      return view;
    }
    return { ...view, waiting: { ...view.waiting, lastAttempt: attempt.note } };
  }

  function emit(view: TaskView): void {
    bus.publish(Topics.Tasks, 'task.updated', view, { from: 'server:tasks', taskId: view.id });
    for (const listener of listeners) listener(view);
  }

  // Each task's writes, in the order its transitions happened: a transition is written (and its view
  // emitted) after the one before it, whatever the store's latency.
  const writes = new Map<string, Promise<unknown>>();
  function write(id: string, work: () => Promise<TaskRow>, context?: PipelineContext): Promise<TaskRow | undefined> {
    // Nothing pending: start at once (a store that throws instead of rejecting still fails the write).
    const before = writes.get(id);
    const first = () => {
      try {
        return work();
      } catch (error) {
        return Promise.reject(error);
      }
    };
    const next = (before ? before.then(work) : first()).then(
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
    home.stopChild(actor);
    actors.delete(id);
    started.delete(id);
    deadlines.delete(id);
    queue.remove(id);
    attempts.delete(id);
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
    // What the store has already: start() hands observers the snapshot they could read before it
    // (the queued one of a new task, the restored one of a resumed task); that is not a transition.
    let written = actor.getSnapshot();
    actor.subscribe({
      next: (snapshot) => {
        if (stopped || snapshot === written) return;
        written = snapshot;
        const before = stage;
        stage = persist(id, actor, before);
        if (FINAL_STAGES.has(stage) && !FINAL_STAGES.has(before)) {
          actors.delete(id);
          started.delete(id);
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
        started.delete(id);
        deadlines.delete(id);
        options.models?.ended(id);
        pump();
      },
    });
    actors.set(id, actor);
  }

  function pump(): void {
    while (!stopped && queue.size > 0 && started.size < maxRunning) {
      const id = queue.shift()!;
      const actor = actors.get(id);
      if (!actor) continue;
      started.add(id);
      deadlines.set(id, clock.now() + taskDeadlineMs);
      actor.send({ type: 'START' });
    }
  }

  function enqueue(row: TaskRow): void {
    if (row.attempt > 1) options.models?.retrying(row.id);
    const actor = home.createChild(machine, { id: `task:${row.id}`, input: { taskId: row.id, requirement: row.requirement, maxIterations } });
    attach(row.id, actor);
    actor.start();
    // Nothing to write while it waits: a queued task's row says so, and a queued task always starts
    // over from a fresh actor (resume does the same), so its first snapshot is written by START.
    emit(toView(row, actor.getSnapshot().context));
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

  /** Every task whose stage is running now (not queued, not final), however old. */
  async function runningViews(): Promise<TaskView[]> {
    const live = [...actors.entries()].filter(([, actor]) => statusOf(String(actor.getSnapshot().value)) === 'running');
    const views = await Promise.all(live.map(async ([id, actor]) => {
      const row = await store.getTask(id);
      return row ? toView(row, actor.getSnapshot().context) : undefined;
    }));
    return views.filter((view): view is TaskView => view !== undefined);
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
      return taskDetail(toView(row, context), context, events);
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
          const actor = home.createChild(machine, { id: `task:${row.id}`, snapshot: saved.snapshot as never, input: { taskId: row.id, requirement: row.requirement, maxIterations } });
          const broken = restoredRefusal(row, actor);
          if (broken) {
            home.stopChild(actor);
            await failResume(row, broken);
            failed++;
            continue;
          }
          attach(row.id, actor);
          started.add(row.id);
          if (row.attempt > 1) options.models?.retrying(row.id);
          deadlines.set(row.id, clock.now() + taskDeadlineMs);
          await store.appendEvent({ taskId: row.id, ts: clock.now(), type: 'task.resumed', data: { stage: row.stage, machineVersion: saved.machineVersion } });
          actor.start();
          resumed++;
        } catch (error) {
          const half = actors.get(row.id);
          if (half) home.stopChild(half);
          actors.delete(row.id);
          started.delete(row.id);
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
    stats: () => ({ queued: queue.size, running: started.size, maxRunning }),
    modelAttempt(taskId, event, at) {
      // Only while the task's stage still waits on that role: a late attempt of an earlier stage is history.
      const stage = actors.get(taskId) ? String(actors.get(taskId)!.getSnapshot().value) : undefined;
      if (stage === undefined || stageRole(stage) !== event.role) return;
      attempts.set(taskId, { stage, note: { at, deployment: event.deployment, attempt: event.attempt, kind: event.kind, text: event.text } });
      // The view after the writes queued before it, with the attempt (toView adds it).
      void settledView(taskId).then(emit, () => {});
    },
    deadline: (id) => deadlines.get(id) ?? null,
    running: runningViews,
    async subtree() {
      const running = (await runningViews()).map((task) => ({ id: task.id, stage: task.stage, status: task.status, deadline: deadlines.get(task.id) ?? null }));
      return { maxRunning, queued: queue.size, running };
    },
    async stop() {
      // Every transition is written as it happens; stopping must not record the stop as a transition,
      // so the next start resumes these tasks where they were. What is still being written goes in first.
      stopped = true;
      for (const actor of actors.values()) home.stopChild(actor);
      actors.clear();
      started.clear();
      await Promise.all(writes.values());
    },
  };
}
