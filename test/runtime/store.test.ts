import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode, RuntimeError } from '../../runtime/protocol/mod.ts';
import { createVolatileStore, openStore, TaskStatus, type Store, type UsageRow } from '../../runtime/store/mod.ts';
import { MIGRATIONS, migrate } from '../../runtime/store/_migrations.ts';
import { createSyncStore, type SyncStore } from '../../runtime/store/_store.ts';

const dirs: string[] = [];
function tempFile(name = 'state.db'): string {
  const dir = mkdtempSync(join(tmpdir(), 'orch-store-'));
  dirs.push(dir);
  return join(dir, 'nested', 'folder', name);
}

/** Expects `fn` to throw or reject with `code` and a message naming every fragment. */
async function throwsCode(fn: () => unknown, code: string, ...fragments: string[]): Promise<RuntimeError> {
  try {
    await fn();
  } catch (error) {
    assert.instance(error, RuntimeError);
    const e = error as RuntimeError;
    assert.is(e.code, code, e.message);
    for (const fragment of fragments) assert.ok(e.message.includes(fragment), `"${e.message}" should mention "${fragment}"`);
    return e;
  }
  throw new Error(`expected a ${code} error`);
}

async function seed(store: Store): Promise<void> {
  await store.createTask({ id: 'a', requirement: 'first', priority: 5, createdAt: 100 });
  await store.createTask({ id: 'b', requirement: 'second', priority: 7, createdAt: 200 });
  await store.createTask({ id: 'c', requirement: 'third', priority: 1, createdAt: 300 });
}





test('the event log refuses UPDATE and DELETE', async () => {
  const file = tempFile();
  const store = openStore(file);
  await store.appendEvent({ taskId: null, ts: 1, type: 'runtime.started', data: {} });
  await store.close();
  const raw = new DatabaseSync(file);
  assert.throws(() => raw.exec("UPDATE events SET type = 'forged'"), /append-only/);
  assert.throws(() => raw.exec('DELETE FROM events'), /append-only/);
  assert.is((raw.prepare('SELECT type FROM events').get() as { type: string }).type, 'runtime.started');
  raw.close();
});


// The Store contract, on both implementations: SQLite (':memory:' here; files below) and volatile.
const STORES: Array<[string, () => Store]> = [['sqlite', () => openStore(':memory:')], ['volatile', createVolatileStore]];
for (const [kind, make] of STORES) {
  test(`${kind}: create, get, update and list tasks`, async () => {
    const store = make();
    const created = await store.createTask({ id: 't1', requirement: 'a fizzbuzz module', priority: 5, createdAt: 1000 });
    assert.equal(created, {
      id: 't1', requirement: 'a fizzbuzz module', priority: 5, status: 'queued', stage: 'queued',
      createdAt: 1000, updatedAt: 1000, error: null, result: null, attempt: 1,
    });
    assert.equal(await store.getTask('t1'), created);
    assert.is(await store.getTask('nope'), null);

    const updated = await store.updateTask('t1', { status: TaskStatus.Running, stage: 'analysis', updatedAt: 1500 });
    assert.is(updated.status, 'running');
    assert.is(updated.stage, 'analysis');
    assert.is(updated.updatedAt, 1500);
    assert.is(updated.requirement, 'a fizzbuzz module');

    const done = await store.updateTask('t1', { status: 'completed', result: { files: ['a.js'], score: 0.9 }, attempt: 2 });
    assert.equal(done.result, { files: ['a.js'], score: 0.9 });
    assert.is(done.attempt, 2);
    assert.is(done.updatedAt, 1500, 'updatedAt only moves when passed');
    assert.is((await store.updateTask('t1', { result: null, error: 'boom' })).result, null);
    assert.is((await store.getTask('t1'))?.error, 'boom');
    await store.close();
  });

  test(`${kind}: listTasks is newest first, filters by status and pages`, async () => {
    const store = make();
    await seed(store);
    await store.updateTask('b', { status: 'running' });
    await store.updateTask('c', { status: 'failed', error: 'x' });
    assert.equal((await store.listTasks()).map((t) => t.id), ['c', 'b', 'a']);
    assert.equal((await store.listTasks({ status: ['queued', 'running'] })).map((t) => t.id), ['b', 'a']);
    assert.equal(await store.listTasks({ status: [] }), []);
    assert.equal((await store.listTasks({ limit: 1, offset: 1 })).map((t) => t.id), ['b']);
    assert.equal((await store.unfinishedTasks()).map((t) => t.id), ['a', 'b']);
    await throwsCode(() => store.listTasks({ status: ['bogus' as TaskStatus] }), ErrorCode.Invalid, 'bogus', 'queued');
    await throwsCode(() => store.listTasks({ limit: -2 }), ErrorCode.Invalid, 'limit');
    await store.close();
  });

  test(`${kind}: duplicate id is a conflict; unknown id is not found; bad values are invalid`, async () => {
    const store = make();
    await seed(store);
    await throwsCode(() => store.createTask({ id: 'a', requirement: 'again', priority: 1, createdAt: 1 }), ErrorCode.Conflict, 'a', 'already exists');
    assert.is((await store.getTask('a'))?.requirement, 'first', 'the original row is untouched');
    await throwsCode(() => store.updateTask('ghost', { stage: 'x' }), ErrorCode.NotFound, 'ghost');
    await throwsCode(() => store.updateTask('ghost', {}), ErrorCode.NotFound, 'ghost');
    await throwsCode(() => store.updateTask('a', { status: 'done' as TaskStatus }), ErrorCode.Invalid, '"done"', 'completed');
    await throwsCode(() => store.createTask({ id: 'z', requirement: 'r', priority: 1.5, createdAt: 1 }), ErrorCode.Invalid, 'priority', '1.5');
    await store.close();
  });

  test(`${kind}: events are ordered, filtered by task and resumable with afterSeq`, async () => {
    const store = make();
    await seed(store);
    const first = await store.appendEvent({ taskId: 'a', ts: 1, type: 'task.submitted', data: { n: 1 } });
    await store.appendEvent({ taskId: 'b', ts: 2, type: 'task.submitted', data: null });
    await store.appendEvent({ taskId: null, ts: 3, type: 'runtime.started', data: undefined });
    const third = await store.appendEvent({ taskId: 'a', ts: 4, type: 'task.stage', data: { stage: 'analysis' } });
    await store.appendEvent({ taskId: 'a', ts: 5, type: 'task.stage', data: ['x', 2] });
    assert.equal(first, { seq: 1, taskId: 'a', ts: 1, type: 'task.submitted', data: { n: 1 } });
    const all = await store.events('a');
    assert.equal(all.map((e) => e.ts), [1, 4, 5]);
    assert.ok(all.every((e, i) => i === 0 || e.seq > all[i - 1].seq));
    assert.equal((await store.events('a', { afterSeq: first.seq })).map((e) => e.seq), [third.seq, third.seq + 1]);
    assert.equal((await store.events('a', { afterSeq: first.seq, limit: 1 })).map((e) => e.data), [{ stage: 'analysis' }]);
    assert.equal(await store.events('nobody'), []);
    await store.close();
  });

  test(`${kind}: snapshots upsert and load`, async () => {
    const store = make();
    await seed(store);
    assert.is(await store.loadSnapshot('a'), null);
    await store.saveSnapshot({ taskId: 'a', machineVersion: '1', snapshot: { value: 'analysis' }, updatedAt: 10 });
    await store.saveSnapshot({ taskId: 'a', machineVersion: '2', snapshot: { value: 'coding', context: { n: 1 } }, updatedAt: 20 });
    assert.equal(await store.loadSnapshot('a'), { taskId: 'a', machineVersion: '2', snapshot: { value: 'coding', context: { n: 1 } }, updatedAt: 20 });
    await throwsCode(() => store.saveSnapshot({ taskId: 'ghost', machineVersion: '1', snapshot: {}, updatedAt: 1 }), ErrorCode.NotFound, 'ghost');
    await store.close();
  });

  test(`${kind}: createTask with its events and commit are all or nothing; the promise is settled when the call returns`, async () => {
    const store = make();
    const created = await store.createTask({ id: 't1', requirement: 'r', priority: 5, createdAt: 1 }, { events: [{ ts: 1, type: 'task.submitted', data: { requirement: 'r' } }], snapshot: { machineVersion: '1', snapshot: { value: 'queued' }, updatedAt: 1 } });
    assert.is(created.status, 'queued');
    assert.equal((await store.events('t1')).map((e) => e.type), ['task.submitted']);
    assert.equal((await store.loadSnapshot('t1'))?.snapshot, { value: 'queued' });
    await throwsCode(() => store.createTask({ id: 't1', requirement: 'again', priority: 5, createdAt: 2 }, { events: [{ ts: 2, type: 'task.submitted', data: {} }] }), ErrorCode.Conflict, 't1');
    assert.is((await store.events('t1')).length, 1, 'the refused create wrote no event');
    await throwsCode(() => store.createTask({ id: 't2', requirement: 'r', priority: 5, createdAt: 2 }, { events: [{ ts: 2, type: 'task.submitted', data: {} }], snapshot: { machineVersion: '', snapshot: {}, updatedAt: 2 } }), ErrorCode.Invalid, 'machineVersion');
    assert.is(await store.getTask('t2'), null, 'a refused snapshot takes its task and events with it');
    assert.equal(await store.events('t2'), []);

    const row = await store.commit('t1', {
      snapshot: { machineVersion: '1', snapshot: { value: 'enhancing' }, updatedAt: 5 },
      events: [{ ts: 5, type: 'task.stage', data: { from: 'queued', to: 'enhancing' } }],
      patch: { status: 'running', stage: 'enhancing', updatedAt: 5 },
    });
    assert.equal([row.status, row.stage, row.updatedAt], ['running', 'enhancing', 5]);
    assert.equal((await store.loadSnapshot('t1'))?.snapshot, { value: 'enhancing' });
    // A patch the store refuses takes the snapshot and the events of its commit with it.
    await throwsCode(
      () => store.commit('t1', { snapshot: { machineVersion: '1', snapshot: { value: 'lost' }, updatedAt: 6 }, events: [{ ts: 6, type: 'task.stage', data: {} }], patch: { status: 'bogus' as TaskStatus } }),
      ErrorCode.Invalid,
      'bogus',
    );
    assert.equal((await store.loadSnapshot('t1'))?.snapshot, { value: 'enhancing' });
    assert.equal((await store.events('t1')).map((e) => e.type), ['task.submitted', 'task.stage']);
    await throwsCode(() => store.commit('ghost', { events: [{ ts: 7, type: 'task.stage', data: {} }] }), ErrorCode.NotFound, 'ghost');
    assert.equal(await store.events('ghost'), [], 'nothing written for an unknown task');

    // The embedded store does its work before the call returns: a commit nobody awaits is on disk.
    void store.updateTask('t1', { stage: 'analyzing' });
    const seen = await Promise.race([store.getTask('t1'), new Promise((r) => setImmediate(() => r('not yet')))]);
    assert.is((seen as { stage: string }).stage, 'analyzing');
    await store.close();
  });

  test(`${kind}: cache rows and usage totals`, async () => {
    const store = make();
    const row = (key: string, bytes: number, createdAt: number) => ({ namespace: 'ns', key, kind: 'json' as const, body: '{}', meta: '{}', bytes, createdAt, expiresAt: createdAt + 10 });
    for (const [i, key] of ['a', 'b', 'c'].entries()) store.cache.putLater(row(key, 10, i + 1));
    await store.flush();
    assert.equal(await store.cache.totals(), { size: 3, bytes: 30 });
    assert.equal(await store.cache.get('ns', 'b'), row('b', 10, 2));
    assert.is(await store.cache.evictTo(20), 1, 'the oldest goes');
    assert.is(await store.cache.get('ns', 'a'), null);
    assert.is(await store.cache.delete('ns', 'b'), true);
    assert.is(await store.cache.delete('ns', 'b'), false);
    assert.is(await store.cache.prune(13), 1, 'c expires at 13');
    store.cache.putLater(row('d', 5, 20));
    await store.flush();
    assert.is(await store.cache.clear([['ns', 'd'], ['ns', 'never']]), 2, 'one row and one key without a row');
    const usage = (cached: boolean): UsageRow => ({ ts: 1, taskId: 't1', agent: 'a', provider: 'p', model: 'm', inputTokens: 2, outputTokens: 3, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0.25, latencyMs: 1, cached, attempts: 1, ok: true, outcome: 'ok' });
    store.usage.appendLater(usage(false));
    store.usage.appendLater(usage(false));
    store.usage.appendLater(usage(true));
    assert.equal(await store.usage.taskTotals('t1'), { turns: 2, tokens: 10, costUsd: 0.5 });
    assert.is(store.persistent, kind === 'sqlite');
    await store.close();
    await throwsCode(() => store.getTask('t1'), ErrorCode.Invalid, 'closed');
  });
}

/** The synchronous SQLite work under the Store, on its own connection (for what the promise API hides: transactions, per-connection settings). */
function syncStore(): { store: SyncStore; db: DatabaseSync; file: string } {
  const file = tempFile();
  mkdirSync(dirname(file), { recursive: true });
  const db = new DatabaseSync(file);
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = FULL');
  return { store: createSyncStore(db, file, migrate(db, file)), db, file };
}

test('transaction commits, rolls back on throw, and nests', () => {
  const { store } = syncStore();
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
  assert.throws(() => store.transaction(() => Promise.resolve(1)), /synchronous/);
  store.close();
});


test('a file store persists across reopen, runs in WAL mode and checks ok', async () => {
  const file = tempFile();
  const store = openStore(file);
  assert.is(store.path, file);
  assert.is(store.schemaVersion, 3);
  await seed(store);
  await store.updateTask('b', { status: 'running', result: { partial: true } });
  await store.appendEvent({ taskId: 'b', ts: 9, type: 'task.stage', data: { stage: 'coding' } });
  await store.saveSnapshot({ taskId: 'b', machineVersion: '1', snapshot: { s: 1 }, updatedAt: 9 });
  assert.ok(existsSync(`${file}-wal`), 'a WAL file sits next to the database');
  await store.close();
  await store.close(); // harmless twice
  await throwsCode(() => store.getTask('a'), ErrorCode.Invalid, 'closed');

  const raw = new DatabaseSync(file);
  assert.is((raw.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode, 'wal');
  raw.close();

  const again = openStore(file);
  assert.equal((await again.listTasks()).map((t) => t.id), ['c', 'b', 'a']);
  assert.equal((await again.getTask('b'))?.result, { partial: true });
  assert.equal((await again.unfinishedTasks()).map((t) => t.id), ['a', 'b', 'c']);
  assert.equal((await again.events('b')).map((e) => e.data), [{ stage: 'coding' }]);
  assert.equal((await again.loadSnapshot('b'))?.snapshot, { s: 1 });
  assert.is(await again.integrityCheck(), 'ok');
  await again.close();
});

test('a database from a newer Orchestrator is refused with a clear message', async () => {
  const file = tempFile();
  openStore(file).close();
  const raw = new DatabaseSync(file);
  raw.exec('PRAGMA user_version = 99');
  raw.close();
  await throwsCode(() => openStore(file), ErrorCode.Invalid, file, '99', 'up to 3', 'upgrade Orchestrator');
});

test('a version-1 database (the first release) upgrades in place and keeps its tasks', async () => {
  const file = tempFile();
  mkdirSync(dirname(file), { recursive: true });
  const raw = new DatabaseSync(file);
  raw.exec(MIGRATIONS[0]);
  raw.exec('PRAGMA user_version = 1');
  raw.exec("INSERT INTO tasks (id, requirement, priority, status, stage, attempt, created_at, updated_at) VALUES ('old', 'fizzbuzz', 5, 'completed', 'completed', 1, 1, 2)");
  raw.close();
  const store = openStore(file);
  assert.is(store.schemaVersion, 3);
  assert.is((await store.getTask('old'))?.requirement, 'fizzbuzz');
  await store.close();
  const check = new DatabaseSync(file, { readOnly: true });
  const row = check.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name IN ('llm_cache', 'llm_usage')").get() as { n: number };
  await check.close();
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
  await store.flush();
  assert.is(count(), 2, 'written by flush()');
  store.usage.appendLater(usage(3));
  assert.equal(await store.usage.taskTotals('t1'), { turns: 3, tokens: 6, costUsd: 1.5 }, 'totals count the queued row');
  store.usage.appendLater({ ...usage(4), cached: true });
  store.cache.putLater({ namespace: 'ns', key: 'k', kind: 'json', body: '{}', meta: '{"status":200}', bytes: 16, createdAt: 1, expiresAt: 2 });
  await store.close();
  raw.close();
  const reopened = new DatabaseSync(file, { readOnly: true });
  assert.is(Number((reopened.prepare('SELECT count(*) AS n FROM llm_usage').get() as { n: number }).n), 4, 'written by close()');
  assert.is(Number((reopened.prepare('SELECT count(*) AS n FROM llm_cache').get() as { n: number }).n), 1, 'written by close()');
  reopened.close();
  const again = openStore(file);
  assert.equal(await again.usage.taskTotals('t1'), { turns: 3, tokens: 6, costUsd: 1.5 }, 'a cache hit is not a call to a provider');
  assert.equal(await again.cache.get('ns', 'k'), { namespace: 'ns', key: 'k', kind: 'json', body: '{}', meta: '{"status":200}', bytes: 16, createdAt: 1, expiresAt: 2 });
  assert.is(await again.cache.prune(2), 1, 'expired at its expiresAt');
  await again.close();
});

test('a batch written behind relaxes the fsync for itself only: task rows are back to synchronous=FULL after it', () => {
  // synchronous is a setting of one connection: the test holds the store's own.
  const { store, db } = syncStore();
  const synchronous = () => Number((db.prepare('PRAGMA synchronous').get() as { synchronous: number }).synchronous);
  store.usage.appendLater({ ts: 1, taskId: null, agent: 'a', provider: 'p', model: 'm', inputTokens: 1, outputTokens: 1, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0, latencyMs: 1, cached: false, attempts: 1, ok: true, outcome: 'ok' });
  store.flush();
  assert.is(synchronous(), 2, 'FULL (2) again after the batch');
  store.close();
});

test('written-behind events ride in the next commit, before it: the log keeps the order things happened in; a rollback keeps them queued', () => {
  const { store, file } = syncStore();
  const reader = new DatabaseSync(file, { readOnly: true });
  const written = () => (reader.prepare("SELECT type, data FROM events WHERE task_id = 't1' ORDER BY seq").all() as Array<{ type: string; data: string }>).map((r) => (JSON.parse(r.data) as { n?: number }).n ?? r.type);
  store.createTask({ id: 't1', requirement: 'r', priority: 5, createdAt: 1 });
  store.appendEventLater({ taskId: 't1', ts: 10, type: 'message', data: { n: 1 } });
  store.appendEventLater({ taskId: 't1', ts: 11, type: 'message', data: { n: 2 } });
  assert.equal(written(), [], 'not yet written');
  store.appendEvent({ taskId: 't1', ts: 12, type: 'task.stage', data: { to: 'enhancing' } });
  assert.equal(written(), [1, 2, 'task.stage'], 'the queued messages got the lower seqs');
  store.appendEventLater({ taskId: 't1', ts: 13, type: 'message', data: { n: 3 } });
  assert.throws(() => store.transaction(() => { throw new Error('boom'); }), /boom/);
  assert.equal(written(), [1, 2, 'task.stage'], 'rolled back with the transaction');
  assert.equal(store.events('t1').map((e) => (e.data as { n?: number }).n ?? e.type), [1, 2, 'task.stage', 3], 'still queued after the rollback; a reader of the log gets it');
  reader.close();
  store.close();
});

test('a file that is not a database is refused with the path named', async () => {
  const file = tempFile('junk.db');
  const store = openStore(file); // creates the folders
  await store.close();
  const junk = join(file, '..', 'not-a-db');
  writeFileSync(junk, 'this is not sqlite '.repeat(100));
  await throwsCode(() => openStore(junk), ErrorCode.Invalid, junk);
});

test.after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test.run();
