/**
 * Durable state of the runtime in one SQLite file (node:sqlite): tasks, the append-only event log
 * and one state-machine snapshot per task, so a restart resumes where the process stopped. The same
 * Store contract is also kept in memory only (createVolatileStore: nothing persisted).
 * The store never reads the clock: every timestamp comes from the caller.
 * @module
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { ErrorCode, RuntimeError } from '../protocol/mod.ts';
import { migrate } from './_migrations.ts';
import { createStore } from './_promises.ts';

export { createVolatileStore } from './_volatile.ts';

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
 * @example const row: TaskRow = await store.createTask({ id: 't1', requirement: 'fizzbuzz', priority: 5, createdAt: Date.now() });
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
 * @example for (const e of await store.events('t1', { afterSeq: lastSeen })) send(e);
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
 * @example await store.saveSnapshot({ taskId: 't1', machineVersion: '1', snapshot: actor.getPersistedSnapshot(), updatedAt: Date.now() });
 */
export interface SnapshotRow {
  taskId: string;
  machineVersion: string;
  snapshot: unknown;
  updatedAt: number;
}

/**
 * One answer of the gateway's cache as stored: `meta` is JSON (never headers or credentials); the
 * namespace is a one-way hash of the caller's credential. Times are clock ms.
 */
export interface CacheRow {
  namespace: string;
  key: string;
  kind: 'json' | 'sse' | 'text';
  body: string;
  meta: string;
  bytes: number;
  createdAt: number;
  expiresAt: number;
}

/**
 * The cache table (see runtime/llm/cache.ts for the policy: bounds, TTL, eviction).
 * @example store.cache.putLater({ namespace, key, kind: 'json', body, meta: '{"status":200}', bytes, createdAt: now, expiresAt: now + 3_600_000 });
 */
export interface CacheTable {
  /** The row, expired or not (the caller judges expiry), or null. Does not wait for rows queued behind. */
  get(namespace: string, key: string): Promise<CacheRow | null>;
  /** Inserts or replaces the row within ~50 ms, with the other rows written behind. */
  putLater(row: CacheRow): void;
  /** True when a row was deleted. */
  delete(namespace: string, key: string): Promise<boolean>;
  /** Deletes rows expired at `now`; returns how many. */
  prune(now: number): Promise<number>;
  totals(): Promise<{ size: number; bytes: number }>;
  /** Deletes the oldest rows until the rest fit in `maxBytes`; returns how many went. */
  evictTo(maxBytes: number): Promise<number>;
  /** Deletes every row; returns their number plus the keys of `alsoCount` that had no row (each key counted once). */
  clear(alsoCount?: Iterable<readonly [namespace: string, key: string]>): Promise<number>;
}

/** One model call in the usage ledger. `outcome` says how it ended; `taskId` is null for proxied calls. */
export interface UsageRow {
  ts: number;
  taskId: string | null;
  agent: string;
  provider: string;
  model: string;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  costUsd: number;
  latencyMs: number;
  cached: boolean;
  attempts: number;
  ok: boolean;
  outcome: 'ok' | 'failed' | 'cancelled' | 'timeout';
}

/**
 * The usage table.
 * @example await store.usage.taskTotals('t1'); // { turns: 4, tokens: 12_345, costUsd: 0.0421 } (cache hits excluded)
 */
export interface UsageTable {
  /** Appends the row within ~50 ms, with the other rows written behind. */
  appendLater(row: UsageRow): void;
  /** Calls that reached a provider (cache hits excluded) for one task, rows still queued included. */
  taskTotals(taskId: string): Promise<{ turns: number; tokens: number; costUsd: number }>;
}

/**
 * What `store.info()` reports: the durability settings of the store's own connection (they are per
 * connection: another one cannot see them) and the database's size in bytes (pages × page size).
 */
export interface StoreInfo {
  journalMode: string;
  /** 'FULL' for task state; a batch written behind commits at 'NORMAL' and puts it back. */
  synchronous: 'OFF' | 'NORMAL' | 'FULL' | 'EXTRA';
  busyTimeoutMs: number;
  foreignKeys: boolean;
  bytes: number;
}

/** The fields of a task row that change after it is created. */
export type TaskPatch = Partial<Pick<TaskRow, 'status' | 'stage' | 'error' | 'result' | 'updatedAt' | 'attempt'>>;

/** An event of one task, as `createTask` and `commit` take it (the task id is theirs). */
export interface TaskEvent {
  ts: number;
  type: string;
  data: unknown;
}

/**
 * What one transition of a task writes, all or nothing: its snapshot, its events (in this order, after
 * any rows written behind that were queued before), then the row's patch.
 */
export interface TaskChange {
  snapshot?: Omit<SnapshotRow, 'taskId'>;
  events?: TaskEvent[];
  patch?: TaskPatch;
}

/**
 * The store API. Every call returns a promise, so a networked store (cluster mode) implements the same
 * interface; the embedded SQLite store does its work before the call returns (the promise is already
 * settled), so calls made in order are written in order and a committed transition survives a crash
 * even if nobody awaits it. A unit of work that must be atomic is one call (`createTask` with its
 * events, `commit`): there is no open transaction to hold across an await.
 * @example
 * const store = openStore('.orchestrator/state.db');
 * await store.createTask({ id: 't1', requirement: 'a fizzbuzz module', priority: 5, createdAt: Date.now() }, { events: [{ ts: Date.now(), type: 'task.submitted', data: {} }] });
 * await store.commit('t1', { events: [{ ts: Date.now(), type: 'task.stage', data: { to: 'enhancing' } }], patch: { status: TaskStatus.Running, stage: 'enhancing', updatedAt: Date.now() } });
 */
export interface Store {
  /** The file (or ':memory:') the store was opened on. */
  readonly path: string;
  /** The schema version of the open database (always the newest this code knows). */
  readonly schemaVersion: number;
  /**
   * True when the store writes what it is given down as data that a later process can read (SQLite, on
   * disk or ':memory:'); false for the volatile store (createVolatileStore), which keeps the objects
   * themselves and loses them with the process, so a caller may hand it live state (the task manager
   * saves its actors' own snapshots there instead of persisted copies).
   */
  readonly persistent: boolean;
  /** Inserts a queued task (stage 'queued', attempt 1) with its first events and snapshot, in one commit. E_CONFLICT when the id exists. */
  createTask(task: { id: string; requirement: string; priority: number; createdAt: number }, first?: Omit<TaskChange, 'patch'>): Promise<TaskRow>;
  /** One transition in one commit (see TaskChange); answers the row as written. E_NOT_FOUND for an unknown id, and nothing is written. */
  commit(id: string, change: TaskChange): Promise<TaskRow>;
  /** Changes the given fields only; updatedAt is not touched unless passed. E_NOT_FOUND for an unknown id. */
  updateTask(id: string, patch: TaskPatch): Promise<TaskRow>;
  getTask(id: string): Promise<TaskRow | null>;
  /** Newest first; all statuses unless `status` is given. */
  listTasks(options?: { status?: TaskStatus[]; limit?: number; offset?: number }): Promise<TaskRow[]>;
  /** Queued or running tasks, oldest first: what to resume after a restart. */
  unfinishedTasks(): Promise<TaskRow[]>;
  /** Appends to the log; rows can never be updated or deleted (SQLite triggers refuse it). */
  appendEvent(event: { taskId: string | null; ts: number; type: string; data: unknown }): Promise<EventRow>;
  /**
   * Appends an event within ~50 ms, in one commit with the other rows written behind (see `flush`): for
   * the per-message task log, which a crash may lose the last moments of. State transitions use `commit`.
   */
  appendEventLater(event: { taskId: string | null; ts: number; type: string; data: unknown }): void;
  /** The events of one task after `afterSeq` (default 0), oldest first, rows written behind included. */
  events(taskId: string, options?: { afterSeq?: number; limit?: number }): Promise<EventRow[]>;
  /** Inserts or replaces the snapshot of a task. E_NOT_FOUND when the task does not exist. */
  saveSnapshot(row: SnapshotRow): Promise<void>;
  loadSnapshot(taskId: string): Promise<SnapshotRow | null>;
  /** The LLM gateway's answer cache rows (table llm_cache); what to cache is runtime/llm's call. */
  readonly cache: CacheTable;
  /** The usage ledger's rows (table llm_usage), written behind. */
  readonly usage: UsageTable;
  /**
   * Writes every row queued to be written behind now (the per-message task log, usage and cache rows
   * commit together within ~50 ms, or at once when 512 are queued; a crash may lose their last moments,
   * a model call never pays an fsync for them). `close()` writes them too.
   */
  flush(): Promise<void>;
  /** How the connection is set up and how big the database is, for health and diagnostics. */
  info(): Promise<StoreInfo>;
  /** The result of PRAGMA integrity_check: 'ok' for a healthy file. */
  integrityCheck(): Promise<string>;
  /** Writes what is queued and closes the database; later calls fail with E_INVALID. Calling it twice is harmless. */
  close(): Promise<void>;
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
 * await store.createTask({ id: 't1', requirement: 'a fizzbuzz module', priority: 5, createdAt: Date.now() });
 * (await store.getTask('t1'))?.status; // 'queued'
 * await store.close();
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

/**
 * PRAGMA quick_check of a store file, opened read-only beside whatever server uses it: 'ok' for a
 * healthy file, else SQLite's findings. Throws when the file cannot be opened.
 * @example if (checkStoreFile('.orchestrator/orchestrator.db') !== 'ok') console.error('restore it from a backup');
 */
export function checkStoreFile(path: string): string {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const rows = db.prepare('PRAGMA quick_check').all() as Array<Record<string, string>>;
    return rows.map((row) => Object.values(row)[0]).join('\n');
  } finally {
    db.close();
  }
}
