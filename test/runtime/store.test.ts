import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode, RuntimeError } from '../../runtime/protocol/mod.ts';
import { openStore, TaskStatus, type Store, type UsageRow } from '../../runtime/store/mod.ts';
import { MIGRATIONS, migrate } from '../../runtime/store/_migrations.ts';
import { createStore } from '../../runtime/store/_store.ts';

const dirs: string[] = [];
function tempFile(name = 'state.db'): string {
  const dir = mkdtempSync(join(tmpdir(), 'orch-store-'));
  dirs.push(dir);
  return join(dir, 'nested', 'folder', name);
}

function throwsCode(fn: () => unknown, code: string, ...fragments: string[]): RuntimeError {
  try {
    fn();
  } catch (error) {
    assert.instance(error, RuntimeError);
    const e = error as RuntimeError;
    assert.is(e.code, code, e.message);
    for (const fragment of fragments) assert.ok(e.message.includes(fragment), `"${e.message}" should mention "${fragment}"`);
    return e;
  }
  throw new Error(`expected a ${code} error`);
}

function seed(store: Store): void {
  store.createTask({ id: 'a', requirement: 'first', priority: 5, createdAt: 100 });
  store.createTask({ id: 'b', requirement: 'second', priority: 7, createdAt: 200 });
  store.createTask({ id: 'c', requirement: 'third', priority: 1, createdAt: 300 });
}

test('create, get, update and list tasks', () => {
  const store = openStore(':memory:');
  const created = store.createTask({ id: 't1', requirement: 'a fizzbuzz module', priority: 5, createdAt: 1000 });
  assert.equal(created, {
    id: 't1', requirement: 'a fizzbuzz module', priority: 5, status: 'queued', stage: 'queued',
    createdAt: 1000, updatedAt: 1000, error: null, result: null, attempt: 1,
  });
  assert.equal(store.getTask('t1'), created);
  assert.is(store.getTask('nope'), null);

  const updated = store.updateTask('t1', { status: TaskStatus.Running, stage: 'analysis', updatedAt: 1500 });
  assert.is(updated.status, 'running');
  assert.is(updated.stage, 'analysis');
  assert.is(updated.updatedAt, 1500);
  assert.is(updated.requirement, 'a fizzbuzz module');

  const done = store.updateTask('t1', { status: 'completed', result: { files: ['a.js'], score: 0.9 }, attempt: 2 });
  assert.equal(done.result, { files: ['a.js'], score: 0.9 });
  assert.is(done.attempt, 2);
  assert.is(done.updatedAt, 1500, 'updatedAt only moves when passed');
  assert.is(store.updateTask('t1', { result: null, error: 'boom' }).result, null);
  assert.is(store.getTask('t1')?.error, 'boom');
  store.close();
});

test('listTasks is newest first, filters by status and pages', () => {
  const store = openStore(':memory:');
  seed(store);
  store.updateTask('b', { status: 'running' });
  store.updateTask('c', { status: 'failed', error: 'x' });
  assert.equal(store.listTasks().map((t) => t.id), ['c', 'b', 'a']);
  assert.equal(store.listTasks({ status: ['queued', 'running'] }).map((t) => t.id), ['b', 'a']);
  assert.equal(store.listTasks({ status: [] }), []);
  assert.equal(store.listTasks({ limit: 1, offset: 1 }).map((t) => t.id), ['b']);
  assert.equal(store.unfinishedTasks().map((t) => t.id), ['a', 'b']);
  throwsCode(() => store.listTasks({ status: ['bogus' as TaskStatus] }), ErrorCode.Invalid, 'bogus', 'queued');
  throwsCode(() => store.listTasks({ limit: -2 }), ErrorCode.Invalid, 'limit');
  store.close();
});

test('duplicate id is a conflict; unknown id is not found; bad values are invalid', () => {
  const store = openStore(':memory:');
  seed(store);
  throwsCode(() => store.createTask({ id: 'a', requirement: 'again', priority: 1, createdAt: 1 }), ErrorCode.Conflict, 'a', 'already exists');
  assert.is(store.getTask('a')?.requirement, 'first', 'the original row is untouched');
  throwsCode(() => store.updateTask('ghost', { stage: 'x' }), ErrorCode.NotFound, 'ghost');
  throwsCode(() => store.updateTask('ghost', {}), ErrorCode.NotFound, 'ghost');
  throwsCode(() => store.updateTask('a', { status: 'done' as TaskStatus }), ErrorCode.Invalid, '"done"', 'completed');
  throwsCode(() => store.createTask({ id: 'z', requirement: 'r', priority: 1.5, createdAt: 1 }), ErrorCode.Invalid, 'priority', '1.5');
  store.close();
});

test('events are ordered, filtered by task and resumable with afterSeq', () => {
  const store = openStore(':memory:');
  seed(store);
  const first = store.appendEvent({ taskId: 'a', ts: 1, type: 'task.submitted', data: { n: 1 } });
  store.appendEvent({ taskId: 'b', ts: 2, type: 'task.submitted', data: null });
  store.appendEvent({ taskId: null, ts: 3, type: 'runtime.started', data: undefined });
  const third = store.appendEvent({ taskId: 'a', ts: 4, type: 'task.stage', data: { stage: 'analysis' } });
  store.appendEvent({ taskId: 'a', ts: 5, type: 'task.stage', data: ['x', 2] });
  assert.equal(first, { seq: 1, taskId: 'a', ts: 1, type: 'task.submitted', data: { n: 1 } });
  const all = store.events('a');
  assert.equal(all.map((e) => e.ts), [1, 4, 5]);
  assert.ok(all.every((e, i) => i === 0 || e.seq > all[i - 1].seq));
  assert.equal(store.events('a', { afterSeq: first.seq }).map((e) => e.seq), [third.seq, third.seq + 1]);
  assert.equal(store.events('a', { afterSeq: first.seq, limit: 1 }).map((e) => e.data), [{ stage: 'analysis' }]);
  assert.equal(store.events('nobody'), []);
  store.close();
});

test('the event log refuses UPDATE and DELETE', () => {
  const file = tempFile();
  const store = openStore(file);
  store.appendEvent({ taskId: null, ts: 1, type: 'runtime.started', data: {} });
  store.close();
  const raw = new DatabaseSync(file);
  assert.throws(() => raw.exec("UPDATE events SET type = 'forged'"), /append-only/);
  assert.throws(() => raw.exec('DELETE FROM events'), /append-only/);
  assert.is((raw.prepare('SELECT type FROM events').get() as { type: string }).type, 'runtime.started');
  raw.close();
});

test('snapshots upsert and load', () => {
  const store = openStore(':memory:');
  seed(store);
  assert.is(store.loadSnapshot('a'), null);
  store.saveSnapshot({ taskId: 'a', machineVersion: '1', snapshot: { value: 'analysis' }, updatedAt: 10 });
  store.saveSnapshot({ taskId: 'a', machineVersion: '2', snapshot: { value: 'coding', context: { n: 1 } }, updatedAt: 20 });
  assert.equal(store.loadSnapshot('a'), { taskId: 'a', machineVersion: '2', snapshot: { value: 'coding', context: { n: 1 } }, updatedAt: 20 });
  throwsCode(() => store.saveSnapshot({ taskId: 'ghost', machineVersion: '1', snapshot: {}, updatedAt: 1 }), ErrorCode.NotFound, 'ghost');
  store.close();
});

test('transaction commits, rolls back on throw, and nests', () => {
  const store = openStore(':memory:');
  const value = store.transaction(() => {
    store.createTask({ id: 'kept', requirement: 'r', priority: 1, createdAt: 1 });
    return store.transaction(() => 42);
  });
  assert.is(value, 42);
  assert.ok(store.getTask('kept'));
  assert.throws(() =>
    store.transaction(() => {
      store.createTask({ id: 'lost', requirement: 'r', priority: 1, createdAt: 2 });
      store.appendEvent({ taskId: 'lost', ts: 2, type: 'task.submitted', data: {} });
      store.updateTask('kept', { stage: 'changed' });
      throw new Error('boom');
    }), /boom/);
  assert.is(store.getTask('lost'), null);
  assert.equal(store.events('lost'), []);
  assert.is(store.getTask('kept')?.stage, 'queued');
  throwsCode(() => store.transaction(() => Promise.resolve(1)), ErrorCode.Invalid, 'synchronous');
  store.close();
});

test('a file store persists across reopen, runs in WAL mode and checks ok', () => {
  const file = tempFile();
  const store = openStore(file);
  assert.is(store.path, file);
  assert.is(store.schemaVersion, 3);
  seed(store);
  store.updateTask('b', { status: 'running', result: { partial: true } });
  store.appendEvent({ taskId: 'b', ts: 9, type: 'task.stage', data: { stage: 'coding' } });
  store.saveSnapshot({ taskId: 'b', machineVersion: '1', snapshot: { s: 1 }, updatedAt: 9 });
  assert.ok(existsSync(`${file}-wal`), 'a WAL file sits next to the database');
  store.close();
  store.close(); // harmless twice
  throwsCode(() => store.getTask('a'), ErrorCode.Invalid, 'closed');

  const raw = new DatabaseSync(file);
  assert.is((raw.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode, 'wal');
  raw.close();

  const again = openStore(file);
  assert.equal(again.listTasks().map((t) => t.id), ['c', 'b', 'a']);
  assert.equal(again.getTask('b')?.result, { partial: true });
  assert.equal(again.unfinishedTasks().map((t) => t.id), ['a', 'b', 'c']);
  assert.equal(again.events('b').map((e) => e.data), [{ stage: 'coding' }]);
  assert.equal(again.loadSnapshot('b')?.snapshot, { s: 1 });
  assert.is(again.integrityCheck(), 'ok');
  again.close();
});

test('a database from a newer Orchestrator is refused with a clear message', () => {
  const file = tempFile();
  openStore(file).close();
  const raw = new DatabaseSync(file);
  raw.exec('PRAGMA user_version = 99');
  raw.close();
  throwsCode(() => openStore(file), ErrorCode.Invalid, file, '99', 'up to 3', 'upgrade Orchestrator');
});

test('a version-1 database (the first release) upgrades in place and keeps its tasks', () => {
  const file = tempFile();
  mkdirSync(dirname(file), { recursive: true });
  const raw = new DatabaseSync(file);
  raw.exec(MIGRATIONS[0]);
  raw.exec('PRAGMA user_version = 1');
  raw.exec("INSERT INTO tasks (id, requirement, priority, status, stage, attempt, created_at, updated_at) VALUES ('old', 'fizzbuzz', 5, 'completed', 'completed', 1, 1, 2)");
  raw.close();
  const store = openStore(file);
  assert.is(store.schemaVersion, 3);
  assert.is(store.getTask('old')?.requirement, 'fizzbuzz');
  store.close();
  const check = new DatabaseSync(file, { readOnly: true });
  const row = check.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name IN ('llm_cache', 'llm_usage')").get() as { n: number };
  check.close();
  assert.is(row.n, 2);
});

test('rows written behind commit together: on their own within ~50 ms, at once with flush(), and on close', async () => {
  const file = tempFile();
  const store = openStore(file);
  const usage = (ts: number): UsageRow => ({ ts, taskId: 't1', agent: 'a', provider: 'p', model: 'm', inputTokens: 1, outputTokens: 1, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0.5, latencyMs: 1, cached: false, attempts: 1, ok: true, outcome: 'ok' });
  const raw = new DatabaseSync(file, { readOnly: true });
  const count = () => Number((raw.prepare('SELECT count(*) AS n FROM llm_usage').get() as { n: number }).n);
  store.usage.appendLater(usage(1));
  assert.is(count(), 0, 'not yet written');
  await new Promise((r) => setTimeout(r, 120));
  assert.is(count(), 1, 'written by the timer');
  store.usage.appendLater(usage(2));
  store.flush();
  assert.is(count(), 2, 'written by flush()');
  store.usage.appendLater(usage(3));
  assert.equal(store.usage.taskTotals('t1'), { turns: 3, tokens: 6, costUsd: 1.5 }, 'totals count the queued row');
  store.usage.appendLater({ ...usage(4), cached: true });
  store.cache.putLater({ namespace: 'ns', key: 'k', kind: 'json', body: '{}', meta: '{"status":200}', bytes: 16, createdAt: 1, expiresAt: 2 });
  store.close();
  raw.close();
  const reopened = new DatabaseSync(file, { readOnly: true });
  assert.is(Number((reopened.prepare('SELECT count(*) AS n FROM llm_usage').get() as { n: number }).n), 4, 'written by close()');
  assert.is(Number((reopened.prepare('SELECT count(*) AS n FROM llm_cache').get() as { n: number }).n), 1, 'written by close()');
  reopened.close();
  const again = openStore(file);
  assert.equal(again.usage.taskTotals('t1'), { turns: 3, tokens: 6, costUsd: 1.5 }, 'a cache hit is not a call to a provider');
  assert.equal(again.cache.get('ns', 'k'), { namespace: 'ns', key: 'k', kind: 'json', body: '{}', meta: '{"status":200}', bytes: 16, createdAt: 1, expiresAt: 2 });
  assert.is(again.cache.prune(2), 1, 'expired at its expiresAt');
  again.close();
});

test('a batch written behind relaxes the fsync for itself only: task rows are back to synchronous=FULL after it', () => {
  // synchronous is a setting of one connection: the test holds the store's own.
  const file = tempFile();
  mkdirSync(dirname(file), { recursive: true });
  const db = new DatabaseSync(file);
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = FULL');
  const store = createStore(db, file, migrate(db, file));
  const synchronous = () => Number((db.prepare('PRAGMA synchronous').get() as { synchronous: number }).synchronous);
  store.usage.appendLater({ ts: 1, taskId: null, agent: 'a', provider: 'p', model: 'm', inputTokens: 1, outputTokens: 1, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0, latencyMs: 1, cached: false, attempts: 1, ok: true, outcome: 'ok' });
  store.flush();
  assert.is(synchronous(), 2, 'FULL (2) again after the batch');
  store.close();
});

test('written-behind events ride in the next commit, before it: the log keeps the order things happened in; a rollback keeps them queued', () => {
  const store = openStore(tempFile());
  store.createTask({ id: 't1', requirement: 'r', priority: 5, createdAt: 1 });
  store.appendEventLater({ taskId: 't1', ts: 10, type: 'message', data: { n: 1 } });
  store.appendEventLater({ taskId: 't1', ts: 11, type: 'message', data: { n: 2 } });
  assert.is(store.events('t1').length, 0, 'not yet written');
  store.appendEvent({ taskId: 't1', ts: 12, type: 'task.stage', data: { to: 'enhancing' } });
  assert.equal(store.events('t1').map((e) => e.type), ['message', 'message', 'task.stage'], 'the queued messages got the lower seqs');
  store.appendEventLater({ taskId: 't1', ts: 13, type: 'message', data: { n: 3 } });
  assert.throws(() => store.transaction(() => { throw new Error('boom'); }), /boom/);
  assert.is(store.events('t1').length, 3, 'rolled back with the transaction');
  store.flush();
  assert.equal(store.events('t1').map((e) => (e.data as { n?: number }).n ?? e.type), [1, 2, 'task.stage', 3], 'still queued after the rollback, then written');
  store.close();
});

test('a file that is not a database is refused with the path named', () => {
  const file = tempFile('junk.db');
  const store = openStore(file); // creates the folders
  store.close();
  const junk = join(file, '..', 'not-a-db');
  writeFileSync(junk, 'this is not sqlite '.repeat(100));
  throwsCode(() => openStore(junk), ErrorCode.Invalid, junk);
});

test.after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test.run();
