import type { DatabaseSync } from 'node:sqlite';
import { ErrorCode, RuntimeError } from '../protocol/mod.ts';

/**
 * The schema as an ordered list of steps. Step i brings a database from `user_version` i to i + 1.
 * Steps are append-only: never edit a shipped step (databases in the field already ran it), add a
 * new one instead.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: tasks, the append-only event log, and one machine snapshot per task.
  `
  CREATE TABLE tasks (
    id          TEXT    PRIMARY KEY NOT NULL,
    requirement TEXT    NOT NULL,
    priority    INTEGER NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    stage       TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    error       TEXT,
    result      TEXT,
    attempt     INTEGER NOT NULL DEFAULT 1
  ) STRICT;
  -- The scheduler picks by status, then priority, then age.
  CREATE INDEX tasks_by_status ON tasks (status, priority, created_at);

  -- AUTOINCREMENT so a seq is never reused, even after the newest row is gone: clients resume
  -- streams with afterSeq and must never see two different events under one number.
  CREATE TABLE events (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT,
    ts      INTEGER NOT NULL,
    type    TEXT    NOT NULL,
    data    TEXT    NOT NULL
  ) STRICT;
  CREATE INDEX events_by_task ON events (task_id, seq);

  -- The log is the audit trail and the source for replay, so SQLite itself refuses to rewrite it.
  CREATE TRIGGER events_no_update BEFORE UPDATE ON events
  BEGIN
    SELECT RAISE(ABORT, 'events are append-only: UPDATE is refused; append a new event instead');
  END;
  CREATE TRIGGER events_no_delete BEFORE DELETE ON events
  BEGIN
    SELECT RAISE(ABORT, 'events are append-only: DELETE is refused; append a new event instead');
  END;

  CREATE TABLE snapshots (
    task_id         TEXT    PRIMARY KEY NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    machine_version TEXT    NOT NULL,
    snapshot        TEXT    NOT NULL,
    updated_at      INTEGER NOT NULL
  ) STRICT;
  `,
  // 2: the LLM gateway's persistent cache tier and its usage ledger (queries in _llm_tables.ts, policy in runtime/llm).
  // Cache rows hold answers only: the namespace is a one-way hash of the caller's credential, never the key.
  `
  CREATE TABLE llm_cache (
    namespace  TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('json', 'sse', 'text')),
    body       TEXT    NOT NULL,
    meta       TEXT    NOT NULL,
    bytes      INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, key)
  ) STRICT;
  CREATE INDEX llm_cache_expires ON llm_cache (expires_at);

  CREATE TABLE llm_usage (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    ts                 INTEGER NOT NULL,
    task_id            TEXT,
    agent              TEXT    NOT NULL,
    provider           TEXT    NOT NULL,
    model              TEXT    NOT NULL,
    input_tokens       INTEGER NOT NULL,
    output_tokens      INTEGER NOT NULL,
    cache_read_tokens  INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    cost_usd           REAL    NOT NULL,
    latency_ms         REAL    NOT NULL,
    cached             INTEGER NOT NULL,
    attempts           INTEGER NOT NULL,
    ok                 INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX llm_usage_task ON llm_usage (task_id);
  CREATE INDEX llm_usage_ts ON llm_usage (ts);
  `,
  // 3: how each model call ended: a call withdrawn by its task (cancelled) or its stage (timeout) is
  // neither a success nor a provider failure.
  `
  ALTER TABLE llm_usage ADD COLUMN outcome TEXT NOT NULL DEFAULT 'ok' CHECK (outcome IN ('ok', 'failed', 'cancelled', 'timeout'));
  UPDATE llm_usage SET outcome = 'failed' WHERE ok = 0;
  `,
];

/** The schema version this code writes and understands. */
export const SCHEMA_VERSION = MIGRATIONS.length;

function userVersion(db: DatabaseSync): number {
  const row = db.prepare('PRAGMA user_version').get() as { user_version: number } | undefined;
  return Number(row?.user_version ?? 0);
}

/**
 * Brings `db` to SCHEMA_VERSION, one transaction per step, so a crash mid-way leaves the database at
 * the last completed step and the next open resumes from there. Returns the version reached.
 */
export function migrate(db: DatabaseSync, path: string): number {
  const found = userVersion(db);
  if (found > SCHEMA_VERSION) {
    throw new RuntimeError(
      ErrorCode.Invalid,
      `database ${path} has schema version ${found}, but this Orchestrator only knows versions up to ${SCHEMA_VERSION}: ` +
        'it was written by a newer Orchestrator; upgrade Orchestrator, or point it at another data file',
      { details: { path, found, known: SCHEMA_VERSION } },
    );
  }
  for (let version = found; version < SCHEMA_VERSION; version++) {
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec(MIGRATIONS[version]);
      // PRAGMA takes no bound parameters; the value is our own integer.
      db.exec(`PRAGMA user_version = ${version + 1}`);
      db.exec('COMMIT');
    } catch (error) {
      db.exec('ROLLBACK');
      throw new RuntimeError(
        ErrorCode.Invalid,
        `database ${path}: migration to schema version ${version + 1} failed (${(error as Error).message}): ` +
          'restore the file from a backup or move it away to start fresh',
        { cause: error, details: { path, from: version, to: version + 1 } },
      );
    }
  }
  return SCHEMA_VERSION;
}
