/**
 * The checks between a stored task snapshot and a running actor: which snapshots must not be
 * restored (another machine version, another task's), and which restored actors cannot go on (a
 * snapshot that does not fit the machine, a running stage without its call: xstate#4148).
 * @module
 */
import type { Actor } from 'xstate';
import { FINAL_STAGES, Stage, errorMessage } from '../protocol/mod.ts';
import type { TaskRow } from '../store/mod.ts';
import { PIPELINE_MACHINE_VERSION } from './pipeline.ts';
import type { PipelineMachine } from './pipeline.ts';

/** Why a stored snapshot must not be restored, or null. Checked before an actor exists. */
export function restoreRefusal(row: TaskRow, saved: { machineVersion: string; snapshot: unknown }): string | null {
  if (saved.machineVersion !== PIPELINE_MACHINE_VERSION) {
    return `task ${row.id} was saved by machine ${saved.machineVersion} and this server runs ${PIPELINE_MACHINE_VERSION}; no migration from ${saved.machineVersion} exists: retry the task (POST /api/tasks/${row.id}/retry) to run it again from the start`;
  }
  const owner = (saved.snapshot as { context?: { taskId?: unknown } } | null)?.context?.taskId;
  if (owner !== row.id) {
    return `the snapshot stored for task ${row.id} belongs to ${JSON.stringify(owner)}; restoring it would run another task's stage: retry the task (POST /api/tasks/${row.id}/retry)`;
  }
  return null;
}

/**
 * Why a restored (not yet started) actor cannot go on, or null. XState reports a snapshot that does
 * not fit the machine as an actor in status 'error', and restores a running stage whose invocation
 * is missing or unknown as a state with no child (xstate#4148): such a task would wait forever.
 */
export function restoredRefusal(row: TaskRow, actor: Actor<PipelineMachine>): string | null {
  const snapshot = actor.getSnapshot();
  const retry = `retry the task (POST /api/tasks/${row.id}/retry)`;
  if (snapshot.status === 'error') {
    return `the snapshot of task ${row.id} (${PIPELINE_MACHINE_VERSION}) does not fit the machine: ${errorMessage((snapshot as { error?: unknown }).error)}; ${retry}`;
  }
  const stage = String(snapshot.value);
  if (snapshot.status !== 'active' || stage !== row.stage) {
    return `the snapshot of task ${row.id} is ${snapshot.status} in stage "${stage}", but the task row says "${row.stage}"; ${retry}`;
  }
  if (stage !== Stage.Queued && !FINAL_STAGES.has(stage)) {
    const calls = Object.values(snapshot.children).filter((child) => child?.getSnapshot()?.status === 'active');
    if (calls.length !== 1) {
      return `the snapshot of task ${row.id} is in stage "${stage}" with ${calls.length} running stage call(s) instead of 1, so it would never move on; ${retry}`;
    }
  }
  return null;
}
