// @serial (20 SIGKILLs of a server under load)
// Crash recovery, proven by killing the real server. What it proves:
// - 20 SIGKILLs of `runtime start` (5 during LLM calls at the fake upstream, 5 during sandbox runs,
//   5 during file writes, 5 at random points) on one data dir, with tasks submitted, cancelled and
//   retried in between: after every kill the database passes PRAGMA integrity_check (read-only, as
//   the crash left it), no acknowledged task is missing, no finished task changed, and temp files exist
//   only for a task still integrating; after the last restart every task ends completed or failed with
//   a reason, each completed task's folder holds exactly its final generated files (byte for byte, no
//   file of an earlier attempt, no temp file) and its archive mirrors them, and no restart runs more
//   tasks than maxTasks (3 × --workers).
// - The store's SQLite settings hold on every connection: WAL, synchronous=FULL (restored after the
//   deferred write-behind commits, which run at NORMAL), busy_timeout, eight writers committing
//   concurrently to one file never surface SQLITE_BUSY nor lose a row, and a write that waits past
//   the busy timeout (SQLite's busy handler is not fair) is tried again instead of failing.
// Seeded: the seed is printed; CHAOS_SEED=<n> replays the same choices. `npm run soak` runs 100 kills.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { DatabaseSync } from 'node:sqlite';
import { checkStoreFile, openStore } from '../../runtime/store/mod.ts';
import { expectFigure, reportMeasured } from '../helpers/reliability.ts';
import { tempDir } from '../helpers/server.ts';
import { concurrentWriters, describeRun, runChaos } from './_chaos.ts';

const KILLS = 20;

test(`${KILLS} SIGKILLs at LLM calls, sandbox runs, file writes and random points: nothing lost, stuck, partial or duplicated`, async () => {
  const seed = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
  console.log(`[chaos] seed ${seed} (replay with CHAOS_SEED=${seed})`);
  const result = await runChaos({ kills: KILLS, seed, log: (line) => line.startsWith('PROBLEM') && console.log(`[chaos] ${line}`) });
  for (const line of describeRun(result)) console.log(`[chaos] ${line}`);
  assert.equal(result.problems, [], `seed ${seed}: every promise holds`);
  assert.is(result.kills, KILLS);
  for (const aim of ['llm', 'validating', 'integrating', 'random']) assert.is(result.aimed[aim], KILLS / 4, `${KILLS / 4} kills aimed at ${aim}`);
  assert.ok(result.submitted >= KILLS, 'at least one submission per cycle');
  assert.ok(result.completed > 0, 'tasks complete across kills');
  const zero = result.lost + result.stuck + result.regressed + result.leftovers + result.mismatched + result.unvalidatedWrites + result.overWorkers;
  assert.is(zero, 0);
  assert.is(result.integrityChecks, KILLS);
  assert.is(result.integrityOk, KILLS);
  assert.is(result.finalIntegrity, 'ok');
  reportMeasured('crash.kill', describeRun(result).join('; '));
  expectFigure(
    'crash.kill',
    `${result.kills} SIGKILLs: ${result.lost} lost tasks, ${result.stuck} stuck, ${result.leftovers + result.mismatched + result.unvalidatedWrites} partial, leftover or duplicate files, integrity_check ok ${result.integrityOk}/${result.integrityChecks}`,
  );
});

test('SQLite: WAL, synchronous=FULL, busy_timeout on every connection; concurrent writers get no SQLITE_BUSY and lose nothing', async () => {
  const path = join(tempDir('orch-sqlite-'), 'orchestrator.db');
  const store = openStore(path);
  const { bytes: _bytes, ...settings } = await store.info();
  assert.equal(settings, { journalMode: 'wal', synchronous: 'FULL', busyTimeoutMs: 5000, foreignKeys: true });
  // The write-behind rows (usage ledger, cache tier) commit at NORMAL; task rows must be back at FULL after.
  store.usage.appendLater({ ts: 1, taskId: null, agent: 'a', provider: 'p', model: 'm', inputTokens: 1, outputTokens: 1, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0, latencyMs: 1, cached: false, attempts: 1, ok: true, outcome: 'ok' });
  await store.flush();
  assert.is((await store.info()).synchronous, 'FULL', 'FULL again after a deferred commit');
  assert.is(await store.integrityCheck(), 'ok');
  await store.close();

  const writers = 8;
  const commits = 125;
  const { errors, ms } = await concurrentWriters(path, writers, commits);
  assert.is(checkStoreFile(path), 'ok');
  const check = new DatabaseSync(path, { readOnly: true });
  const tasks = Number((check.prepare('SELECT count(*) AS n FROM tasks').get() as { n: number }).n);
  const events = Number((check.prepare("SELECT count(*) AS n FROM events WHERE type = 'task.submitted'").get() as { n: number }).n);
  const snapshots = Number((check.prepare('SELECT count(*) AS n FROM snapshots').get() as { n: number }).n);
  await check.close();
  assert.equal(errors, [], 'no writer saw an error (SQLITE_BUSY or any other)');
  assert.equal([tasks, events, snapshots], [writers * commits, writers * commits, writers * commits], 'every committed row is there');
  reportMeasured('store.sqlite', `${writers} writers × ${commits} commits (task + event + snapshot, synchronous=FULL) in ${ms} ms`);
  const busy = errors.filter((e) => /busy|locked/i.test(e)).length;
  expectFigure('store.sqlite', `WAL, synchronous=FULL, busy_timeout=5000 ms; ${writers} writers × ${commits} commits: ${busy} SQLITE_BUSY, ${writers * commits - tasks} lost`);
});

// Runs in a thread: takes the write lock of the file and, once the writer says it starts (a shared
// flag, not a message a busy machine may deliver late), holds it for holdMs more: past the busy timeout
// from the writer's first attempt however slowly the machine runs.
const HOLDER = `
const { workerData, parentPort } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
const db = new DatabaseSync(workerData.path);
db.exec('BEGIN IMMEDIATE');
db.exec("INSERT INTO events (task_id, ts, type, data) VALUES (NULL, 1, 'holder', '{}')");
parentPort.postMessage('locked');
const flag = new Int32Array(workerData.flag);
Atomics.wait(flag, 0, 0);
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, workerData.holdMs);
db.exec('COMMIT');
db.close();
`;

test('a write that waits past busy_timeout (another connection holds the lock 5.4 s) still commits, instead of surfacing SQLITE_BUSY', async () => {
  const path = join(tempDir('orch-sqlite-'), 'orchestrator.db');
  const store = openStore(path);
  const flag = new SharedArrayBuffer(4);
  const holder = new Worker(HOLDER, { eval: true, workerData: { path, holdMs: 5400, flag } });
  await new Promise((resolve) => holder.once('message', resolve));
  const started = Date.now();
  Atomics.store(new Int32Array(flag), 0, 1);
  Atomics.notify(new Int32Array(flag), 0);
  const event = await store.appendEvent({ taskId: null, ts: 2, type: 'after-the-holder', data: {} });
  const waited = Date.now() - started;
  await new Promise((resolve) => holder.once('exit', resolve));
  assert.ok(waited >= 5000, `it waited for the holder (${waited} ms)`);
  assert.is(event.type, 'after-the-holder');
  await store.close();
  const check = new DatabaseSync(path, { readOnly: true });
  assert.equal((check.prepare('SELECT type FROM events ORDER BY seq').all() as Array<{ type: string }>).map((r) => r.type), ['holder', 'after-the-holder']);
  await check.close();
});

test.run();
