// The supervision tree as data: what GET /api/actors, the inspector and the dashboard draw.
import type { ActorNode, AgentState } from '../protocol/mod.ts';
import type { SupervisorPolicy } from './machine.ts';

/** The tasks subtree as the task manager sees it: how many may run, how many wait, the running ones. */
export interface TasksSubtree {
  maxRunning: number;
  queued: number;
  running: Array<{ id: string; stage: string; status: string; deadline: number | null }>;
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

/** What each level does when something under it fails (docs/architecture.md, "The supervision tree"). */
export function strategies(policy: SupervisorPolicy): Record<'root' | 'agents' | 'pool' | 'tasks', string> {
  return {
    root: 'an escalation from either subtree is logged and shown on /api/health; the other subtree and every other pool keep running; stopping the root stops the tasks (they resume at the next start), then the pools',
    agents: `one pool per agent plugin; a pool that fails escalates to the root`,
    pool: `one for one: a crashed or hung instance restarts alone after a backoff (${seconds(policy.backoffMs)} doubling to ${seconds(policy.maxBackoffMs)}) while its siblings serve; ${policy.maxCrashes} crashes within ${seconds(policy.windowMs)} fail the pool (its requests get E_AGENT_FAILED)`,
    tasks: 'a task fails alone, with its reason, and is never restarted on its own (retry is explicit); one whose state the store refuses stops where it was and resumes at the next start; cancel, a stage timeout, its deadline or a drain abort its model call and sandbox run',
  };
}

/**
 * The whole tree: the root, the agents subtree (pools and their instances, with the task each instance
 * serves) and the tasks subtree (the running tasks, with the instance serving their stage).
 * @example actorTree(supervisor.agents(), supervisorPolicy, { maxRunning: 6, queued: 0, running: [] }).children.map((c) => c.id); // ['agents', 'tasks']
 */
export function actorTree(agents: AgentState[], policy: SupervisorPolicy, tasks: TasksSubtree): ActorNode {
  const strategy = strategies(policy);
  const servedBy = new Map<string, string>();
  for (const pool of agents) for (const instance of pool.instances) if (instance.taskId) servedBy.set(instance.taskId, instance.id);
  const pools: ActorNode[] = agents.map((pool) => ({
    id: `pool:${pool.name}`,
    kind: 'pool',
    status: pool.status,
    actor: `agent:${pool.name}`,
    strategy: strategy.pool,
    detail: { role: pool.role, version: pool.version, concurrency: pool.concurrency, busy: pool.busy, idle: pool.idle, down: pool.down, restarts: pool.restarts },
    children: pool.instances.map((instance, i) => ({
      id: instance.id,
      kind: 'instance',
      status: instance.status,
      // Instance 1 is inspected through its pool's name; the others by their own id.
      actor: i === 0 ? `agent:${pool.name}` : `agent:${instance.id}`,
      detail: { task: instance.taskId, done: instance.done, failed: instance.failed, restarts: instance.restarts, lastError: instance.lastError },
      children: [],
    })),
  }));
  const running: ActorNode[] = tasks.running.map((task) => ({
    id: `task:${task.id}`,
    kind: 'task',
    status: task.status,
    actor: `task:${task.id}`,
    detail: { stage: task.stage, deadline: task.deadline, servedBy: servedBy.get(task.id) ?? null },
    children: [],
  }));
  const failedPools = agents.filter((pool) => pool.status === 'failed').length;
  return {
    id: 'root',
    kind: 'root',
    status: failedPools ? 'degraded' : 'running',
    actor: 'supervisor',
    strategy: strategy.root,
    detail: { failedPools },
    children: [
      { id: 'agents', kind: 'agents', status: failedPools ? 'degraded' : 'running', strategy: strategy.agents, detail: { pools: agents.length }, children: pools },
      { id: 'tasks', kind: 'tasks', status: 'running', strategy: strategy.tasks, detail: { maxRunning: tasks.maxRunning, running: running.length, queued: tasks.queued }, children: running },
    ],
  };
}
