import { ErrorCode, RuntimeError } from '../protocol/mod.ts';
import type { EventRow, SnapshotRow, TaskRow, TaskStatus } from './mod.ts';

/**
 * Conversion between SQLite rows (snake_case, JSON as TEXT) and the store's row types, plus the
 * checks on values going in. STRICT tables would refuse bad values too, but with a bare SQLite
 * message; these checks name the field, the value and the fix.
 */

// `satisfies` makes the compiler fail if TaskStatus gains or loses a member without this list.
const KNOWN_STATUS = {
  queued: true,
  running: true,
  completed: true,
  failed: true,
  cancelled: true,
} satisfies Record<TaskStatus, true>;

export interface TaskRecord {
  id: string;
  requirement: string;
  priority: number;
  status: string;
  stage: string;
  created_at: number;
  updated_at: number;
  error: string | null;
  result: string | null;
  attempt: number;
}

export interface EventRecord {
  seq: number;
  task_id: string | null;
  ts: number;
  type: string;
  data: string;
}

export interface SnapshotRecord {
  task_id: string;
  machine_version: string;
  snapshot: string;
  updated_at: number;
}

/** JSON text for a TEXT column; undefined becomes null because JSON has no undefined. */
export function toJson(value: unknown, what: string): string {
  try {
    return JSON.stringify(value === undefined ? null : value);
  } catch (error) {
    throw new RuntimeError(
      ErrorCode.Invalid,
      `${what} is not JSON-serialisable (${(error as Error).message}): pass plain data without cycles or BigInts`,
      { cause: error },
    );
  }
}

export function taskFromRecord(r: TaskRecord): TaskRow {
  return {
    id: r.id,
    requirement: r.requirement,
    priority: Number(r.priority),
    status: r.status as TaskStatus,
    stage: r.stage,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    error: r.error,
    result: r.result === null ? null : JSON.parse(r.result),
    attempt: Number(r.attempt),
  };
}

export function eventFromRecord(r: EventRecord): EventRow {
  return { seq: Number(r.seq), taskId: r.task_id, ts: Number(r.ts), type: r.type, data: JSON.parse(r.data) };
}

export function snapshotFromRecord(r: SnapshotRecord): SnapshotRow {
  return {
    taskId: r.task_id,
    machineVersion: r.machine_version,
    snapshot: JSON.parse(r.snapshot),
    updatedAt: Number(r.updated_at),
  };
}

export function checkStatus(status: unknown): TaskStatus {
  if (typeof status === 'string' && Object.hasOwn(KNOWN_STATUS, status)) return status as TaskStatus;
  throw new RuntimeError(
    ErrorCode.Invalid,
    `task status ${JSON.stringify(status)} is unknown: use one of ${Object.keys(KNOWN_STATUS).join(', ')}`,
  );
}

/** Integers only: the columns are STRICT INTEGER, and timestamps are epoch milliseconds. */
export function checkInteger(value: unknown, what: string, min = Number.MIN_SAFE_INTEGER): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= min) return value;
  throw new RuntimeError(
    ErrorCode.Invalid,
    `${what} is ${JSON.stringify(value) ?? String(value)}: it must be an integer` +
      (min > Number.MIN_SAFE_INTEGER ? ` of at least ${min}` : '') +
      ' (timestamps are epoch milliseconds, e.g. Date.now())',
  );
}

export function checkText(value: unknown, what: string): string {
  if (typeof value === 'string' && value.length > 0) return value;
  throw new RuntimeError(ErrorCode.Invalid, `${what} is ${JSON.stringify(value) ?? String(value)}: it must be a non-empty string`);
}
