/**
 * The pipeline's stages: the states of the task machine (runtime/tasks/pipeline.ts), the `stage` of
 * every TaskView, and the role each working stage asks. One list for the runtime, the CLI and the UI;
 * the machine persists these names in its snapshots, so renaming one is a machine version bump.
 */
export const Stage = {
  Queued: 'queued',
  Enhancing: 'enhancing',
  Analyzing: 'analyzing',
  Reasoning: 'reasoning',
  Implementing: 'implementing',
  Validating: 'validating',
  Reviewing: 'reviewing',
  Integrating: 'integrating',
  Completed: 'completed',
  Failed: 'failed',
  Cancelled: 'cancelled',
} as const;
export type Stage = (typeof Stage)[keyof typeof Stage];

/** The stages a task ends in; they are also its final status. */
export const FINAL_STAGES: ReadonlySet<string> = new Set([Stage.Completed, Stage.Failed, Stage.Cancelled]);

/**
 * The way through the pipeline in order, as views draw it: a task fails or is cancelled from any of
 * these, so those two ends are not on the line.
 */
export const STAGE_ORDER = [
  Stage.Queued,
  Stage.Enhancing,
  Stage.Analyzing,
  Stage.Reasoning,
  Stage.Implementing,
  Stage.Validating,
  Stage.Reviewing,
  Stage.Integrating,
  Stage.Completed,
] as const;

/** Stages a task may pass by: reasoning runs for complex requirements only, reviewing with a reviewer only. */
export const OPTIONAL_STAGES: ReadonlySet<string> = new Set([Stage.Reasoning, Stage.Reviewing]);

/** The stages in which the task waits on an agent. */
export type WorkingStage = Exclude<
  Stage,
  typeof Stage.Queued | typeof Stage.Completed | typeof Stage.Failed | typeof Stage.Cancelled
>;

/** The role each working stage asks (its answer is what the stage parses). */
export const STAGE_ROLES = {
  enhancing: 'enhancer',
  analyzing: 'analyst',
  reasoning: 'reasoner',
  implementing: 'implementer',
  validating: 'validator',
  reviewing: 'reviewer',
  integrating: 'integrator',
} as const satisfies Record<WorkingStage, string>;

/**
 * The role a stage asks, or undefined for a stage that asks no one (queued, the final ones) or a name
 * that is no stage.
 * @example stageRole('implementing'); // 'implementer'
 * @example stageRole('completed'); // undefined
 */
export function stageRole(stage: string): string | undefined {
  return Object.hasOwn(STAGE_ROLES, stage) ? STAGE_ROLES[stage as WorkingStage] : undefined;
}

/**
 * Tasks in flight per worker by default (`maxTasks` = this × `--workers`): every task asks a model in
 * three stages (enhancing, analyzing, implementing; reasoning only when complex), each served by a pool
 * of `workers` instances, so this many tasks keep every such pool busy at once while tasks pipeline.
 */
export const TASKS_PER_WORKER = 3;
