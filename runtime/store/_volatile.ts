// The volatile Store: the same contract as the SQLite store, kept in this process's memory only.
import { ErrorCode, RuntimeError } from '../protocol/mod.ts';
import type { CacheRow, CacheTable, EventRow, SnapshotRow, Store, TaskChange, TaskPatch, TaskRow, UsageRow, UsageTable } from './mod.ts';
import { checkInteger, checkStatus, checkText } from './_rows.ts';

const PATH = ':volatile:';

function notFound(id: string): RuntimeError {
  return new RuntimeError(ErrorCode.NotFound, `task ${id} does not exist: check the id, or create the task first`, { details: { id } });
}

/** Refuses what the SQLite store refuses (a value JSON cannot hold), without copying what it accepts. */
function checkJson(value: unknown, what: string): unknown {
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') {
    throw new RuntimeError(ErrorCode.Invalid, `${what} is not JSON (${typeof value}): pass plain data`);
  }
  return value;
}

function checkPatch(patch: TaskPatch): TaskPatch {
  const out: TaskPatch = {};
  if (patch.status !== undefined) out.status = checkStatus(patch.status);
  if (patch.stage !== undefined) out.stage = checkText(patch.stage, 'task stage');
  if (patch.error !== undefined) {
    if (patch.error !== null && typeof patch.error !== 'string') {
      throw new RuntimeError(ErrorCode.Invalid, `task error is ${JSON.stringify(patch.error)}: pass a message string, or null to clear it`);
    }
    out.error = patch.error;
  }
  if (patch.result !== undefined) out.result = patch.result === null ? null : checkJson(patch.result, 'task result');
  if (patch.updatedAt !== undefined) out.updatedAt = checkInteger(patch.updatedAt, 'task updatedAt', 0);
  if (patch.attempt !== undefined) out.attempt = checkInteger(patch.attempt, 'task attempt', 1);
  return out;
}

/**
 * A Store that keeps everything in this process's memory (plain maps, no SQL, no serialisation):
 * nothing survives the process, so `persistent` is false and a restart starts empty. For embedding,
 * tests and runs that need no history; `openStore(path)` is the durable default. Values are kept as
 * given, not copied: a caller must not change an object after handing it over (the runtime never does).
 * @example
 * const store = createVolatileStore();
 * await store.createTask({ id: 't1', requirement: 'a fizzbuzz module', priority: 5, createdAt: Date.now() });
 */
export function createVolatileStore(): Store {
  const tasks = new Map<string, TaskRow>();
  // Insertion order is creation order: the tie-break for equal createdAt, like SQLite's rowid.
  const order = new Map<string, number>();
  const eventsOf = new Map<string | null, EventRow[]>();
  const snapshots = new Map<string, SnapshotRow>();
  const cacheRows = new Map<string, CacheRow & { order: number }>();
  const usageRows: UsageRow[] = [];
  let seq = 0;
  let rows = 0;
  let closed = false;

  function open(): void {
    if (closed) throw new RuntimeError(ErrorCode.Invalid, `store ${PATH} is closed: create a new one with createVolatileStore()`);
  }
  /** Runs `fn` when the store is open and hands its outcome over as a settled promise. */
  function settled<T>(fn: () => T): Promise<T> {
    try {
      open();
      return Promise.resolve(fn());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The row an event becomes, checked as the SQLite store checks it (nothing is kept yet). */
  function eventRow(event: { taskId: string | null; ts: number; type: string; data: unknown }): Omit<EventRow, 'seq'> {
    if (event.taskId !== null) checkText(event.taskId, 'event taskId');
    const ts = checkInteger(event.ts, `event ${event.type} ts`, 0);
    const type = checkText(event.type, 'event type');
    return { taskId: event.taskId, ts, type, data: event.data === undefined ? null : checkJson(event.data, `event ${type} data`) };
  }

  function keepEvent(row: Omit<EventRow, 'seq'>): EventRow {
    const kept: EventRow = { seq: ++seq, ...row };
    const list = eventsOf.get(row.taskId);
    if (list) list.push(kept);
    else eventsOf.set(row.taskId, [kept]);
    return kept;
  }

  function snapshotRow(row: SnapshotRow): SnapshotRow {
    const machineVersion = checkText(row.machineVersion, `snapshot of task ${row.taskId} machineVersion`);
    const updatedAt = checkInteger(row.updatedAt, `snapshot of task ${row.taskId} updatedAt`, 0);
    if (!tasks.has(row.taskId)) {
      throw new RuntimeError(ErrorCode.NotFound, `cannot save a snapshot for task ${row.taskId}: no such task; create the task before saving its snapshot`, { details: { id: row.taskId } });
    }
    return { taskId: row.taskId, machineVersion, snapshot: checkJson(row.snapshot, `snapshot of task ${row.taskId}`), updatedAt };
  }

  function update(id: string, patch: TaskPatch): TaskRow {
    const row = tasks.get(id);
    if (!row) throw notFound(id);
    const next = { ...row, ...patch };
    tasks.set(id, next);
    return { ...next };
  }

  function byNewest(a: TaskRow, b: TaskRow): number {
    return b.createdAt - a.createdAt || (order.get(b.id) ?? 0) - (order.get(a.id) ?? 0);
  }

  const cache: CacheTable = {
    get: (namespace, key) => settled(() => {
      const row = cacheRows.get(`${namespace}\u0000${key}`);
      if (!row) return null;
      const { order: _, ...plain } = row;
      return plain;
    }),
    putLater(row) {
      if (!closed) cacheRows.set(`${row.namespace}\u0000${row.key}`, { ...row, order: ++rows });
    },
    delete: (namespace, key) => settled(() => cacheRows.delete(`${namespace}\u0000${key}`)),
    prune: (now) => settled(() => {
      let gone = 0;
      for (const [key, row] of cacheRows) if (row.expiresAt <= now && cacheRows.delete(key)) gone++;
      return gone;
    }),
    totals: () => settled(() => {
      let bytes = 0;
      for (const row of cacheRows.values()) bytes += row.bytes;
      return { size: cacheRows.size, bytes };
    }),
    evictTo: (maxBytes) => settled(() => {
      // Keeps the newest rows whose running total fits; the rest go (oldest first), as the SQLite store does.
      const newest = [...cacheRows.entries()].sort(([, a], [, b]) => b.createdAt - a.createdAt || b.order - a.order);
      let running = 0;
      let gone = 0;
      for (const [key, row] of newest) {
        running += row.bytes;
        if (running > maxBytes && cacheRows.delete(key)) gone++;
      }
      return gone;
    }),
    clear: (alsoCount) => settled(() => {
      let without = 0;
      for (const [namespace, key] of alsoCount ?? []) if (!cacheRows.has(`${namespace}\u0000${key}`)) without++;
      const count = cacheRows.size + without;
      cacheRows.clear();
      return count;
    }),
  };

  const usage: UsageTable = {
    appendLater(row) {
      if (!closed) usageRows.push(row);
    },
    taskTotals: (taskId) => settled(() => {
      const totals = { turns: 0, tokens: 0, costUsd: 0 };
      for (const row of usageRows) {
        if (row.taskId !== taskId || row.cached) continue;
        totals.turns++;
        totals.tokens += row.inputTokens + row.outputTokens;
        totals.costUsd += row.costUsd;
      }
      return totals;
    }),
  };

  return {
    path: PATH,
    schemaVersion: 0,
    persistent: false,
    createTask: (task, first = {}) => settled(() => {
      const id = checkText(task.id, 'task id');
      const requirement = checkText(task.requirement, `task ${id} requirement`);
      const priority = checkInteger(task.priority, `task ${id} priority`);
      const createdAt = checkInteger(task.createdAt, `task ${id} createdAt`, 0);
      if (tasks.has(id)) throw new RuntimeError(ErrorCode.Conflict, `task ${id} already exists: give the new task another id`, { details: { id } });
      const row: TaskRow = { id, requirement, priority, status: 'queued', stage: 'queued', createdAt, updatedAt: createdAt, error: null, result: null, attempt: 1 };
      // All or nothing: everything is checked before anything is kept.
      const events = (first.events ?? []).map((event) => eventRow({ taskId: id, ...event }));
      tasks.set(id, row);
      let snapshot: SnapshotRow | undefined;
      try {
        snapshot = first.snapshot ? snapshotRow({ taskId: id, ...first.snapshot }) : undefined;
      } catch (error) {
        tasks.delete(id);
        throw error;
      }
      order.set(id, ++rows);
      for (const event of events) keepEvent(event);
      if (snapshot) snapshots.set(id, snapshot);
      return { ...row };
    }),
    commit: (id: string, change: TaskChange) => settled(() => {
      if (!tasks.has(id)) throw notFound(id);
      // Checked before anything is kept: a refused change leaves nothing behind.
      const patch = checkPatch(change.patch ?? {});
      const snapshot = change.snapshot ? snapshotRow({ taskId: id, ...change.snapshot }) : undefined;
      const events = (change.events ?? []).map((event) => eventRow({ taskId: id, ...event }));
      if (snapshot) snapshots.set(id, snapshot);
      for (const event of events) keepEvent(event);
      return update(id, patch);
    }),
    updateTask: (id, patch) => settled(() => update(id, checkPatch(patch))),
    getTask: (id) => settled(() => {
      const row = tasks.get(id);
      return row ? { ...row } : null;
    }),
    listTasks: (options = {}) => settled(() => {
      const limit = options.limit === undefined ? Infinity : checkInteger(options.limit, 'limit', 0);
      const offset = options.offset === undefined ? 0 : checkInteger(options.offset, 'offset', 0);
      const wanted = options.status ? new Set<string>(options.status.map(checkStatus)) : undefined;
      const list = [...tasks.values()].filter((row) => !wanted || wanted.has(row.status)).sort(byNewest);
      return list.slice(offset, offset + limit).map((row) => ({ ...row }));
    }),
    unfinishedTasks: () => settled(() => [...tasks.values()].filter((row) => row.status === 'queued' || row.status === 'running').sort((a, b) => byNewest(b, a)).map((row) => ({ ...row }))),
    appendEvent: (event) => settled(() => keepEvent(eventRow(event))),
    appendEventLater(event) {
      if (!closed) keepEvent(eventRow(event));
    },
    events: (taskId, options = {}) => settled(() => {
      const after = options.afterSeq ?? 0;
      const limit = options.limit ?? Infinity;
      const list = eventsOf.get(taskId) ?? [];
      const out: EventRow[] = [];
      for (const row of list) {
        if (row.seq <= after) continue;
        if (out.length >= limit) break;
        out.push(row);
      }
      return out;
    }),
    saveSnapshot: (row) => settled(() => void snapshots.set(row.taskId, snapshotRow(row))),
    loadSnapshot: (taskId) => settled(() => snapshots.get(taskId) ?? null),
    cache,
    usage,
    flush: () => settled(() => undefined),
    info: () => settled(() => ({ journalMode: 'none (volatile: kept in memory, lost when the process ends)', synchronous: 'OFF' as const, busyTimeoutMs: 0, foreignKeys: true, bytes: 0 })),
    integrityCheck: () => settled(() => 'ok'),
    close() {
      closed = true;
      return Promise.resolve();
    },
  };
}
