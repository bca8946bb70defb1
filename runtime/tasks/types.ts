// The task manager's contract: its options, its API, and where its task actors live.
import { createActor } from 'xstate';
import type { Actor, ActorOptions } from 'xstate';
import type { LlmAttemptEvent, TaskDetail, TaskView } from '../protocol/mod.ts';
import type { Bus } from '../bus/mod.ts';
import type { Store } from '../store/mod.ts';
import type { PipelineMachine } from './pipeline.ts';

export interface TaskManagerOptions {
  bus: Bus;
  store: Store;
  /**
   * How many tasks are in flight at once (the server's `maxTasks`, default 3 × `--workers`); the rest
   * wait in the priority queue. Not the agents' concurrency: each role's pool has its own size, and a
   * task holds an instance only while one of its stages runs, so tasks pipeline through the pools.
   */
  maxRunning?: number;
  /** Implementer attempts before a task fails validation for good. */
  maxIterations?: number;
  /**
   * How long one stage may wait for its agent's reply: a number for every stage, or per role (the
   * server derives it from the role's model route: attempts × timeoutMs + backoff). Past it the
   * request is withdrawn: the model call under it is aborted and no further attempt starts.
   */
  stageTimeoutMs?: number | ((role: string) => number);
  /**
   * The task's deadline budget from its start; each stage gets the smaller of its own timeout and what
   * is left. Default: the implementer's stage timeout × (3 + 2 × maxIterations), enough for every stage
   * and every fix-loop turn to use its full timeout.
   */
  taskDeadlineMs?: number;
  hasReviewer?: () => boolean;
  ids?: () => string;
  /**
   * Where the task actors live: the root supervisor's tasks subtree (runtime/supervisor createChild /
   * stopChild: one supervision tree, one actor system), or, without it, each on its own.
   */
  home?: TaskActorHome;
  /** Told about each task's life, for the model gateway (runtime/llm TaskLifecycle); the manager never waits on it. */
  models?: {
    /** The task runs again after a retry: its models are asked afresh, not replayed from the cache. */
    retrying(taskId: string): void;
    /** The task ended; `unusableRole` names the role whose answer failed it (E_LLM_OUTPUT), if any. */
    ended(taskId: string, unusableRole?: string): void;
  };
}

export interface TaskManager {
  submit(input: { requirement: string; priority: number }): Promise<TaskView>;
  get(id: string): Promise<TaskDetail | null>;
  view(id: string): Promise<TaskView | null>;
  list(options?: { limit?: number; offset?: number }): Promise<TaskView[]>;
  cancel(id: string): Promise<TaskView>;
  retry(id: string): Promise<TaskView>;
  /** Resumes every unfinished task from its last snapshot, then starts scheduling. */
  resume(): Promise<{ resumed: number; failed: number }>;
  onChange(listener: (task: TaskView) => void): () => void;
  stats(): { queued: number; running: number; maxRunning: number };
  /**
   * A failed attempt of a model call made for a task (the gateway's llm.attempt): the task's view says
   * so while its stage still waits on that role ("attempt 2 after timeout"), and the view is emitted.
   */
  modelAttempt(taskId: string, event: LlmAttemptEvent, at: number): void;
  /** When a running task's deadline budget runs out (epoch ms), or null when it is not running. */
  deadline(id: string): number | null;
  /** Every task whose stage is running now (not queued, not final), however old. */
  running(): Promise<TaskView[]>;
  /** The tasks subtree of the supervision tree: the bound, the queue, each running task's stage and deadline. */
  subtree(): Promise<{ maxRunning: number; queued: number; running: Array<{ id: string; stage: string; status: string; deadline: number | null }> }>;
  /** Stops every task actor where it is (the next start resumes them) once their writes are in. */
  stop(): Promise<void>;
}

export type TaskActor = Actor<PipelineMachine>;

/** Creates and stops task actors; the root supervisor is one (its tasks subtree). */
export interface TaskActorHome {
  createChild(logic: PipelineMachine, options: ActorOptions<PipelineMachine>): TaskActor;
  stopChild(actor: TaskActor): void;
}

/** Task actors on their own: each its own root. */
export const ownRoots: TaskActorHome = { createChild: (logic, options) => createActor(logic, options as never), stopChild: (actor) => actor.stop() };
