/**
 * Tasks: the pipeline machine (one XState actor per task), the priority queue with a worker limit,
 * persistence after every transition and resume after a restart.
 * @module
 */
export { createTaskManager } from './manager.ts';
export { summarize } from './_view.ts';
export type { TaskActorHome, TaskManager, TaskManagerOptions } from './types.ts';
export { PIPELINE_MACHINE_VERSION, createPipelineMachine, isPassingReport } from './pipeline.ts';
export type { PipelineContext, PipelineInput, StageCalls } from './pipeline.ts';
export { PriorityQueue } from './queue.ts';
