import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import { ErrorCode, RuntimeError } from '../protocol/mod.ts';
import type { EventRow, SnapshotRow, StoreInfo, TaskChange, TaskPatch, TaskRow, TaskStatus } from './mod.ts';
import {
  checkInteger,
  checkStatus,
  checkText,
  eventFromRecord,
  snapshotFromRecord,
  taskFromRecord,
  toJson,
  type EventRecord,
  type SnapshotRecord,
  type TaskRecord,
} from './_rows.ts';
import { cacheTable, usageTable } from './_llm_tables.ts';


// Patch field -> column. Column names come from here only, never from the caller, so building the
// UPDATE statement from the patch cannot inject SQL.
const PATCH_COLUMNS = {
  status: 'status',
  stage: 'stage',
  error: 'error',
  result: 'result',
  updatedAt: 'updated_at',
  attempt: 'attempt',
} as const satisfies Record<keyof TaskPatch, string>;

function isThenable(value: unknown): boolean {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function';
}

function patchValue(key: keyof TaskPatch, value: unknown): SQLInputValue {
  switch (key) {
    case 'status':
      return checkStatus(value);
    case 'stage':
      return checkText(value, 'task stage');
    case 'error':
      if (value === null || typeof value === 'string') return value;
      throw new RuntimeError(ErrorCode.Invalid, `task error is ${JSON.stringify(value)}: pass a message string, or null to clear it`);
    case 'result':
      return value === null ? null : toJson(value, 'task result');
    case 'updatedAt':
      return checkInteger(value, 'task updatedAt', 0);
    case 'attempt':
      return checkInteger(value, 'task attempt', 1);
  }
}

function checkPaging(options: { limit?: number; offset?: number } | undefined): { limit: number; offset: number } {
  // SQLite reads LIMIT -1 as "no limit".
  const limit = options?.limit === undefined ? -1 : checkInteger(options.limit, 'limit', 0);
  const offset = options?.offset === undefined ? 0 : checkInteger(options.offset, 'offset', 0);
  return { limit, offset };
}

const DEFER_MS = 50;
const DEFER_MAX_ROWS = 512;
/** How long BEGIN keeps trying against other connections' writes before it fails with E_CONFLICT. */
const BUSY_LIMIT_MS = 15_000;

/** SQLITE_BUSY (5) or one of its extended codes; Deno's node:sqlite only has the message. */
function isBusy(error: unknown): boolean {
  const errcode = (error as { errcode?: unknown })?.errcode;
  if (typeof errcode === 'number') return (errcode & 0xff) === 5;
  return /database is locked|SQLITE_BUSY/i.test(String((error as Error)?.message));
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** A synchronous pause: the store is synchronous, and the busy handler blocks the same way. */
function pause(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/**
 * The SQLite work on an open, migrated database, synchronous: each method runs in the caller's turn.
 * createStore wraps it in the Store's promise API.
 */
export function createSyncStore(db: DatabaseSync, path: string, schemaVersion: number) {
  const statements = new Map<string, StatementSync>();
  let closed = false;
  let depth = 0;

  function stmt(sql: string): StatementSync {
    if (closed) {
      throw new RuntimeError(ErrorCode.Invalid, `store ${path} is closed: open it again with openStore(${JSON.stringify(path)})`);
    }
    let statement = statements.get(sql);
    if (!statement) {
      statement = db.prepare(sql);
      statements.set(sql, statement);
    }
    return statement;
  }

  function getTask(id: string): TaskRow | null {
    const record = stmt('SELECT * FROM tasks WHERE id = ?').get(id) as TaskRecord | undefined;
    return record ? taskFromRecord(record) : null;
  }

  // Write-behind: rows that may wait up to DEFER_MS (usage ledger, cache tier, the per-message task log) share one commit, so a
  // model call does not pay an fsync; close() and flush() write what is queued.
  let deferred: Array<{ sql: string; params: Array<string | number | null> }> = [];
  let deferTimer: ReturnType<typeof setTimeout> | null = null;
  function flush(): void {
    if (deferTimer) clearTimeout(deferTimer);
    deferTimer = null;
    if (!deferred.length || closed) return;
    const batch = deferred;
    deferred = [];
    // These rows may lose their last moments on power loss (that is why they were deferred), so their
    // commit skips the fsync: WAL with synchronous=NORMAL. Task rows keep FULL; the next FULL commit
    // syncs the whole WAL, these frames included.
    const relax = depth === 0;
    if (relax) db.exec('PRAGMA synchronous = NORMAL');
    try {
      transaction(() => {
        for (const row of batch) stmt(row.sql).run(...row.params);
      });
    } finally {
      if (relax) db.exec('PRAGMA synchronous = FULL');
    }
  }
  function defer(sql: string, params: Array<string | number | null>): void {
    if (closed) throw new RuntimeError(ErrorCode.Invalid, `store ${path} is closed: open it again with openStore(${JSON.stringify(path)})`);
    deferred.push({ sql, params });
    if (deferred.length >= DEFER_MAX_ROWS) flush();
    else scheduleFlush();
  }
  function scheduleFlush(): void {
    if (deferTimer) return;
    deferTimer = setTimeout(flush, DEFER_MS);
    (deferTimer as { unref?: () => void }).unref?.();
  }

  // busy_timeout (5 s, set at open) makes BEGIN wait for another connection's write. SQLite's busy
  // handler is not fair, though: with several processes writing back to back, one of them can miss the
  // lock for the whole timeout and get SQLITE_BUSY (the chaos soak's 8 writers saw it). BEGIN IMMEDIATE
  // holds nothing when it fails, so it is simply tried again, after a random pause, up to BUSY_LIMIT_MS.
  function begin(): void {
    const started = Date.now();
    for (;;) {
      try {
        stmt('BEGIN IMMEDIATE').run();
        return;
      } catch (error) {
        if (!isBusy(error)) throw error;
        const waited = Date.now() - started;
        if (waited >= BUSY_LIMIT_MS) {
          throw new RuntimeError(
            ErrorCode.Conflict,
            `store ${path}: another connection kept the database locked for ${Math.round(waited / 1000)} s (SQLITE_BUSY): ` +
              'another process is writing to it; stop other Orchestrator servers or tools using this data dir, then retry',
            { cause: error, details: { path, waitedMs: waited } },
          );
        }
        pause(1 + Math.floor(Math.random() * 20));
      }
    }
  }

  function transaction<T>(fn: () => T): T {
    if (depth > 0) return fn();
    begin();
    depth++;
    // Rows waiting to be written behind go first, in this commit: the log keeps the order things
    // happened in (a message logged before a stage change gets the lower seq), and they gain this
    // commit's durability. If this transaction rolls back, they go back to the front of the queue.
    const early = deferred;
    deferred = [];
    try {
      for (const row of early) stmt(row.sql).run(...row.params);
      const result = fn();
      if (isThenable(result)) {
        throw new RuntimeError(
          ErrorCode.Invalid,
          `store ${path}: transaction() got a function that returned a promise: SQLite transactions here are synchronous; ` +
            'do the async work first, then pass a synchronous function',
        );
      }
      stmt('COMMIT').run();
      return result;
    } catch (error) {
      try {
        stmt('ROLLBACK').run();
      } catch {
        // SQLite already rolled back (e.g. after a failed COMMIT); the original error is the one to report.
      }
      if (early.length) {
        deferred = early.concat(deferred);
        scheduleFlush();
      }
      throw error;
    } finally {
      depth--;
    }
  }

  function createTask(task: { id: string; requirement: string; priority: number; createdAt: number }, first: Omit<TaskChange, 'patch'> = {}): TaskRow {
    const id = checkText(task.id, 'task id');
    const requirement = checkText(task.requirement, `task ${id} requirement`);
    const priority = checkInteger(task.priority, `task ${id} priority`);
    const createdAt = checkInteger(task.createdAt, `task ${id} createdAt`, 0);
    // ON CONFLICT DO NOTHING + changes count instead of catching a constraint error: the error
    // shape of node:sqlite differs between Node and Deno, the change count does not.
    return transaction(() => {
      const { changes } = stmt(
        `INSERT INTO tasks (id, requirement, priority, status, stage, created_at, updated_at, error, result, attempt)
         VALUES (?, ?, ?, 'queued', 'queued', ?, ?, NULL, NULL, 1) ON CONFLICT (id) DO NOTHING`,
      ).run(id, requirement, priority, createdAt, createdAt);
      if (Number(changes) === 0) {
        throw new RuntimeError(ErrorCode.Conflict, `task ${id} already exists: give the new task another id`, { details: { id } });
      }
      for (const event of first.events ?? []) appendEvent({ taskId: id, ...event });
      if (first.snapshot) saveSnapshot({ taskId: id, ...first.snapshot });
      return getTask(id) as TaskRow;
    });
  }

  function updateTask(id: string, patch: TaskPatch): TaskRow {
    const keys = (Object.keys(PATCH_COLUMNS) as (keyof TaskPatch)[]).filter((key) => patch[key] !== undefined);
    const values = keys.map((key) => patchValue(key, patch[key]));
    return transaction(() => {
      if (keys.length === 0) {
        const row = getTask(id);
        if (!row) throw notFound(id);
        return row;
      }
      // One statement: the update hands back the row it wrote.
      const sets = keys.map((key) => `${PATCH_COLUMNS[key]} = ?`).join(', ');
      const record = stmt(`UPDATE tasks SET ${sets} WHERE id = ? RETURNING *`).get(...values, id) as TaskRecord | undefined;
      if (!record) throw notFound(id);
      return taskFromRecord(record);
    });
  }

  function commit(id: string, change: TaskChange): TaskRow {
    return transaction(() => {
      // saveSnapshot and updateTask refuse an unknown task; the check comes first so nothing is written.
      if (!change.snapshot && !getTask(id)) throw notFound(id);
      if (change.snapshot) saveSnapshot({ taskId: id, ...change.snapshot });
      for (const event of change.events ?? []) appendEvent({ taskId: id, ...event });
      return updateTask(id, change.patch ?? {});
    });
  }

  function appendEvent(event: { taskId: string | null; ts: number; type: string; data: unknown }): EventRow {
    if (event.taskId !== null) checkText(event.taskId, 'event taskId');
    const ts = checkInteger(event.ts, `event ${event.type} ts`, 0);
    const type = checkText(event.type, 'event type');
    const data = toJson(event.data, `event ${type} data`);
    // The row is built from what was written (data as parsed back from its JSON, so it is exactly
    // what a later read returns) without reading it back: one statement per event on the hot path.
    const seq = transaction(() => Number(stmt('INSERT INTO events (task_id, ts, type, data) VALUES (?, ?, ?, ?)').run(event.taskId, ts, type, data).lastInsertRowid));
    return { seq, taskId: event.taskId, ts, type, data: JSON.parse(data) };
  }

  function saveSnapshot(row: SnapshotRow): void {
    const machineVersion = checkText(row.machineVersion, `snapshot of task ${row.taskId} machineVersion`);
    const updatedAt = checkInteger(row.updatedAt, `snapshot of task ${row.taskId} updatedAt`, 0);
    const snapshot = toJson(row.snapshot, `snapshot of task ${row.taskId}`);
    transaction(() => {
      // The task's existence is checked in the same statement (not through the foreign-key error,
      // whose shape differs between Node and Deno), so the message names the task.
      const { changes } = stmt(
        `INSERT INTO snapshots (task_id, machine_version, snapshot, updated_at)
         SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM tasks WHERE id = ?)
         ON CONFLICT (task_id) DO UPDATE SET machine_version = excluded.machine_version,
           snapshot = excluded.snapshot, updated_at = excluded.updated_at`,
      ).run(row.taskId, machineVersion, snapshot, updatedAt, row.taskId);
      if (Number(changes) === 0) {
        throw new RuntimeError(
          ErrorCode.NotFound,
          `cannot save a snapshot for task ${row.taskId}: no such task; create the task before saving its snapshot`,
          { details: { id: row.taskId } },
        );
      }
    });
  }

  return {
    path,
    schemaVersion,
    createTask,
    commit,
    updateTask,
    getTask,

    listTasks(options?: { status?: TaskStatus[]; limit?: number; offset?: number }): TaskRow[] {
      const { limit, offset } = checkPaging(options);
      const statuses = options?.status?.map(checkStatus);
      if (statuses && statuses.length === 0) return [];
      const where = statuses ? `WHERE status IN (${statuses.map(() => '?').join(', ')})` : '';
      const records = stmt(`SELECT * FROM tasks ${where} ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?`).all(
        ...(statuses ?? []),
        limit,
        offset,
      ) as unknown as TaskRecord[];
      return records.map(taskFromRecord);
    },

    unfinishedTasks(): TaskRow[] {
      const records = stmt(
        "SELECT * FROM tasks WHERE status IN ('queued', 'running') ORDER BY created_at ASC, rowid ASC",
      ).all() as unknown as TaskRecord[];
      return records.map(taskFromRecord);
    },

    appendEvent,

    appendEventLater(event: { taskId: string | null; ts: number; type: string; data: unknown }): void {
      if (event.taskId !== null) checkText(event.taskId, 'event taskId');
      const ts = checkInteger(event.ts, `event ${event.type} ts`, 0);
      const type = checkText(event.type, 'event type');
      defer('INSERT INTO events (task_id, ts, type, data) VALUES (?, ?, ?, ?)', [event.taskId, ts, type, toJson(event.data, `event ${type} data`)]);
    },

    events(taskId: string, options?: { afterSeq?: number; limit?: number }): EventRow[] {
      const afterSeq = options?.afterSeq === undefined ? 0 : checkInteger(options.afterSeq, 'afterSeq', 0);
      const { limit } = checkPaging({ limit: options?.limit });
      // Rows written behind (the message log) belong to what a reader asks for: they go first.
      flush();
      const records = stmt('SELECT * FROM events WHERE task_id = ? AND seq > ? ORDER BY seq ASC LIMIT ?').all(
        taskId,
        afterSeq,
        limit,
      ) as unknown as EventRecord[];
      return records.map(eventFromRecord);
    },

    saveSnapshot,

    loadSnapshot(taskId: string): SnapshotRow | null {
      const record = stmt('SELECT * FROM snapshots WHERE task_id = ?').get(taskId) as SnapshotRecord | undefined;
      return record ? snapshotFromRecord(record) : null;
    },

    transaction,
    cache: cacheTable(stmt, defer, flush, transaction),
    usage: usageTable(stmt, defer, flush),
    flush,
    info(): StoreInfo {
      const pragma = (name: string) => Object.values(stmt(`PRAGMA ${name}`).get() as Record<string, unknown>)[0];
      return {
        journalMode: String(pragma('journal_mode')),
        synchronous: (['OFF', 'NORMAL', 'FULL', 'EXTRA'] as const)[Number(pragma('synchronous'))],
        busyTimeoutMs: Number(pragma('busy_timeout')),
        foreignKeys: Number(pragma('foreign_keys')) === 1,
        bytes: Number(pragma('page_count')) * Number(pragma('page_size')),
      };
    },
    integrityCheck(): string {
      const rows = stmt('PRAGMA integrity_check').all() as { integrity_check: string }[];
      return rows.map((row) => row.integrity_check).join('\n');
    },

    close(): void {
      if (closed) return;
      flush();
      closed = true;
      statements.clear();
      db.close();
    },
  };
}

export type SyncStore = ReturnType<typeof createSyncStore>;

function notFound(id: string): RuntimeError {
  return new RuntimeError(ErrorCode.NotFound, `task ${id} does not exist: check the id, or create the task first`, {
    details: { id },
  });
}

