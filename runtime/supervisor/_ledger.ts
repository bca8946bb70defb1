// What each agent instance is doing right now: the hot path of a pool, two changes per request (taken,
// answered). It lives beside the root actor, not in it: the actor owns each instance's life (its
// generation, restarts, crashes, a failed pool), which changes rarely and is supervision; a request
// taken or answered is bookkeeping, and routing it through the actor cost two macrosteps per request
// (about an eighth of a task's orchestration overhead, bench/ab.ts). Views merge both.
import { AgentStatus } from '../protocol/mod.ts';
import type { AgentInstanceState, AgentState } from '../protocol/mod.ts';
import { instanceId } from './machine.ts';
import type { Instance, PoolSpec } from './machine.ts';

/** One instance's work: what it serves now and what it served. */
interface Work {
  /** The request it serves (its id), or null when free. */
  request: string | null;
  taskId: string | null;
  done: number;
  failed: number;
  lastLatencyMs: number | null;
}

export interface Ledger {
  /** The first instance of pool `name` that is up (per `life`) and free, or undefined. */
  free(name: string, life: Record<string, Instance>): Instance | undefined;
  /** Instance `id` took `request` (of `taskId`). */
  take(id: string, request: string, taskId: string | null): void;
  /** Instance `id` answered (`ok`) or gave up (`ok: null`, not counted: it crashed) after `latencyMs`. */
  finish(id: string, ok: boolean | null, latencyMs: number): void;
  /** Counts a request no instance took as failed (its pool is failed): on the pool's first instance. */
  refused(name: string): void;
  /** The pool's view: life from the actor, work from here. */
  view(spec: PoolSpec, life: Record<string, Instance>): AgentState;
}

/** A ledger for `pools`: every instance free, nothing served yet. Its instances are `name#1` … `name#size`, as the root actor names them. */
export function createLedger(pools: PoolSpec[]): Ledger {
  const work = new Map<string, Work>();
  const members = new Map<string, string[]>();
  for (const spec of pools) {
    const ids = Array.from({ length: spec.size }, (_, i) => instanceId(spec.loaded.plugin.name, i + 1));
    members.set(spec.loaded.plugin.name, ids);
    for (const id of ids) work.set(id, { request: null, taskId: null, done: 0, failed: 0, lastLatencyMs: null });
  }
  const statusOf = (instance: Instance) => (instance.status === AgentStatus.Ready && work.get(instance.id)!.request !== null ? AgentStatus.Working : instance.status);
  return {
    free(name, life) {
      for (const id of members.get(name)!) if (life[id].status === AgentStatus.Ready && work.get(id)!.request === null) return life[id];
      return undefined;
    },
    take(id, request, taskId) {
      const w = work.get(id)!;
      w.request = request;
      w.taskId = taskId;
    },
    finish(id, ok, latencyMs) {
      const w = work.get(id)!;
      w.request = null;
      w.taskId = null;
      if (ok === null) return;
      if (ok) w.done++;
      else w.failed++;
      w.lastLatencyMs = latencyMs;
    },
    refused(name) {
      work.get(members.get(name)![0])!.failed++;
    },
    view(spec, life) {
      const { plugin } = spec.loaded;
      // One pass: this runs on every change a listener hears.
      const instances: AgentInstanceState[] = [];
      let busy = 0;
      let idle = 0;
      let failed = 0;
      let done = 0;
      let failedRequests = 0;
      let restarts = 0;
      let taskId: string | null = null;
      let lastError: string | null = null;
      let lastLatencyMs: number | null = null;
      for (const id of members.get(plugin.name)!) {
        const instance = life[id];
        const w = work.get(id)!;
        const status = statusOf(instance);
        const serving = w.request === null ? null : w.taskId;
        instances.push({ id, status, taskId: serving, done: w.done, failed: w.failed, restarts: instance.restarts, lastError: instance.lastError });
        if (status === AgentStatus.Working) {
          busy++;
          if (busy === 1) taskId = serving;
        } else if (status === AgentStatus.Ready) idle++;
        else if (status === AgentStatus.Failed) failed++;
        done += w.done;
        failedRequests += w.failed;
        restarts += instance.restarts;
        lastError = instance.lastError ?? lastError;
        lastLatencyMs = w.lastLatencyMs ?? lastLatencyMs;
      }
      const status = instances.length > 0 && failed === instances.length ? AgentStatus.Failed : busy ? AgentStatus.Working : idle ? AgentStatus.Ready : AgentStatus.Restarting;
      return {
        name: plugin.name,
        version: plugin.version,
        role: plugin.role,
        status,
        taskId,
        done,
        failed: failedRequests,
        restarts,
        lastError,
        lastLatencyMs,
        concurrency: spec.size,
        busy,
        idle,
        down: instances.length - busy - idle,
        instances,
      };
    },
  };
}
