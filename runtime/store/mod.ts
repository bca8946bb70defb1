/**
 * Durable state of the runtime in one SQLite file (node:sqlite): tasks, the append-only event log
 * and one state-machine snapshot per task, so a restart resumes where the process stopped.
 * The store never reads the clock: every timestamp comes from the caller.
 * @module
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { ErrorCode, RuntimeError } from '../protocol/mod.ts';
import { migrate } from './_migrations.ts';
import { createStore } from './_store.ts';

/**
 * Where a task is in its life. Queued and running tasks are unfinished and resumed after a restart.
 * @example if (task.status === TaskStatus.Failed) console.log(task.error);
 */
export const TaskStatus = {
  Queued: 'queued',
  Running: 'running',
  Completed: 'completed',
  Failed: 'failed',
  Cancelled: 'cancelled',
} as const;
export type TaskStatus = (typeof TaskStatus)[keyof typeof TaskStatus];

/**
 * One task as stored. `result` is any JSON value (null until there is one).
 * @example const row: TaskRow = store.createTask({ id: 't1', requirement: 'fizzbuzz', priority: 5, createdAt: Date.now() });
 */
export interface TaskRow {
  id: string;
  requirement: string;
  priority: number;
  status: TaskStatus;
  stage: string;
  createdAt: number;
  updatedAt: number;
  error: string | null;
  result: unknown | null;
  attempt: number;
}

/**
 * One entry of the event log. `seq` grows strictly and is never reused; `taskId` is null for
 * runtime-wide events.
 * @example for (const e of store.events('t1', { afterSeq: lastSeen })) send(e);
 */
export interface EventRow {
  seq: number;
  taskId: string | null;
  ts: number;
  type: string;
  data: unknown;
}

/**
 * The persisted state of one task's state machine, tagged with the machine version that wrote it so
 * a changed machine can refuse or migrate an old snapshot.
 * @example store.saveSnapshot({ taskId: 't1', machineVersion: '1', snapshot: actor.getPersistedSnapshot(), updatedAt: Date.now() });
 */
export interface SnapshotRow {
  taskId: string;
  machineVersion: string;
  snapshot: unknown;
  updatedAt: number;
}

/**
 * The store API. All calls are synchronous (node:sqlite) and run in the caller's turn.
 * @example
 * const store = openStore('.orchestrator/state.db');
 * store.transaction(() => {
 *   store.updateTask('t1', { status: TaskStatus.Running, stage: 'analysis', updatedAt: Date.now() });
 *   store.appendEvent({ taskId: 't1', ts: Date.now(), type: 'task.stage', data: { stage: 'analysis' } });
 * });
 */
export interface Store {
  /** The file (or ':memory:') the store was opened on. */
  readonly path: string;
  /** The schema version of the open database (always the newest this code knows). */
  readonly schemaVersion: number;
  /** Inserts a queued task (stage 'queued', attempt 1). E_CONFLICT when the id exists. */
  createTask(task: { id: string; requirement: string; priority: number; createdAt: number }): TaskRow;
  /** Changes the given fields only; updatedAt is not touched unless passed. E_NOT_FOUND for an unknown id. */
  updateTask(id: string, patch: Partial<Pick<TaskRow, 'status' | 'stage' | 'error' | 'result' | 'updatedAt' | 'attempt'>>): TaskRow;
  getTask(id: string): TaskRow | null;
  /** Newest first; all statuses unless `status` is given. */
  listTasks(options?: { status?: TaskStatus[]; limit?: number; offset?: number }): TaskRow[];
  /** Queued or running tasks, oldest first: what to resume after a restart. */
  unfinishedTasks(): TaskRow[];
  /** Appends to the log; rows can never be updated or deleted (SQLite triggers refuse it). */
  appendEvent(event: { taskId: string | null; ts: number; type: string; data: unknown }): EventRow;
  /**
   * Appends an event within ~50 ms, in one commit with the other deferred rows (see `defer`): for the
   * per-message task log, which a crash may lose the last moments of. State transitions use appendEvent.
   */
  appendEventLater(event: { taskId: string | null; ts: number; type: string; data: unknown }): void;
  /** The events of one task after `afterSeq` (default 0), oldest first. */
  events(taskId: string, options?: { afterSeq?: number; limit?: number }): EventRow[];
  /** Inserts or replaces the snapshot of a task. E_NOT_FOUND when the task does not exist. */
  saveSnapshot(row: SnapshotRow): void;
  loadSnapshot(taskId: string): SnapshotRow | null;
  /** Runs `fn` in BEGIN IMMEDIATE / COMMIT, rolling back if it throws; nested calls join the outer one. `fn` must be synchronous. */
  transaction<T>(fn: () => T): T;
  /**
   * A cached prepared statement, for the runtime modules that own tables of their own (runtime/llm:
   * llm_cache, llm_usage). Task, event and snapshot rows go through the methods above.
   */
  prepare(sql: string): StatementSync;
  /**
   * Queues a write to run within ~50 ms in one transaction with the other queued writes (or at once
   * when 512 are queued). For rows a crash may lose the last moments of (usage ledger, cache tier):
   * a model call must not pay an fsync. `flush()` and `close()` write the queue.
   */
  defer(sql: string, params: Array<string | number | null>): void;
  /** Writes every deferred row now. */
  flush(): void;
  /** The result of PRAGMA integrity_check: 'ok' for a healthy file. */
  integrityCheck(): string;
  /** Closes the database; later calls fail with E_INVALID. Calling it twice is harmless. */
  close(): void;
}

function openDatabase(path: string): DatabaseSync {
  const inMemory = path === ':memory:' || path === '';
  try {
    if (!inMemory) mkdirSync(dirname(path), { recursive: true });
    const db = new DatabaseSync(path);
    // The busy timeout first: switching to WAL already takes a lock another process may hold.
    db.exec('PRAGMA busy_timeout = 5000');
    // WAL: readers never block the writer; FULL: a committed transaction survives a power loss.
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = FULL');
    db.exec('PRAGMA foreign_keys = ON');
    return db;
  } catch (error) {
    throw new RuntimeError(
      ErrorCode.Invalid,
      `store file ${path} could not be opened as an SQLite database (${(error as Error).message}): ` +
        'check that the folder is writable and the file is an Orchestrator database, or choose another path',
      { cause: error, details: { path } },
    );
  }
}

/**
 * Opens (creating the file and its parent folders when missing) and migrates the store at `path`.
 * ':memory:' gives a throw-away store for tests. Fails with E_INVALID when the file was written by a
 * newer Orchestrator.
 * @example
 * const store = openStore(':memory:');
 * store.createTask({ id: 't1', requirement: 'a fizzbuzz module', priority: 5, createdAt: Date.now() });
 * store.getTask('t1')?.status; // 'queued'
 * store.close();
 */
export function openStore(path: string): Store {
  const db = openDatabase(path);
  try {
    const schemaVersion = migrate(db, path);
    return createStore(db, path, schemaVersion);
  } catch (error) {
    db.close();
    throw error;
  }
}
