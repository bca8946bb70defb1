// The Store's promise API over the synchronous SQLite work of _store.ts.
import type { DatabaseSync } from 'node:sqlite';
import type { CacheTable, Store, UsageTable } from './mod.ts';
import { createSyncStore } from './_store.ts';

/** Runs `fn` now and hands its outcome over as a settled promise: the work is done when the call returns. */
function settled<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * The Store (promise API) over the synchronous SQLite work. Each call does its work before it returns,
 * so calls keep their order and a transition is on disk when `commit` returns, awaited or not.
 */
export function createStore(db: DatabaseSync, path: string, schemaVersion: number): Store {
  const sync = createSyncStore(db, path, schemaVersion);
  const cache: CacheTable = {
    get: (namespace, key) => settled(() => sync.cache.get(namespace, key)),
    putLater: (row) => sync.cache.putLater(row),
    delete: (namespace, key) => settled(() => sync.cache.delete(namespace, key)),
    prune: (now) => settled(() => sync.cache.prune(now)),
    totals: () => settled(() => sync.cache.totals()),
    evictTo: (maxBytes) => settled(() => sync.cache.evictTo(maxBytes)),
    clear: (alsoCount) => settled(() => sync.cache.clear(alsoCount)),
  };
  const usage: UsageTable = {
    appendLater: (row) => sync.usage.appendLater(row),
    taskTotals: (taskId) => settled(() => sync.usage.taskTotals(taskId)),
  };
  return {
    path,
    schemaVersion,
    persistent: true,
    createTask: (task, first) => settled(() => sync.createTask(task, first)),
    commit: (id, change) => settled(() => sync.commit(id, change)),
    updateTask: (id, patch) => settled(() => sync.updateTask(id, patch)),
    getTask: (id) => settled(() => sync.getTask(id)),
    listTasks: (options) => settled(() => sync.listTasks(options)),
    unfinishedTasks: () => settled(() => sync.unfinishedTasks()),
    appendEvent: (event) => settled(() => sync.appendEvent(event)),
    appendEventLater: (event) => sync.appendEventLater(event),
    events: (taskId, options) => settled(() => sync.events(taskId, options)),
    saveSnapshot: (row) => settled(() => sync.saveSnapshot(row)),
    loadSnapshot: (taskId) => settled(() => sync.loadSnapshot(taskId)),
    cache,
    usage,
    flush: () => settled(() => sync.flush()),
    info: () => settled(() => sync.info()),
    integrityCheck: () => settled(() => sync.integrityCheck()),
    close: () => settled(() => sync.close()),
  };
}
