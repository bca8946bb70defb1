import { ErrorCode, RuntimeError, STAGE_ROLES } from '../protocol/mod.ts';
import type { MessageMap, ResultOf } from '../protocol/mod.ts';
import type { Bus } from '../bus/mod.ts';
import { isPassingReport } from './pipeline.ts';
import type { PipelineContext, StageCalls } from './pipeline.ts';

export interface StageCallOptions {
  bus: Bus;
  /** A stage's own limit, per role (explicit, or derived from the role's model route). */
  stageTimeoutMs(role: string): number;
  /** The whole task's budget, for the messages. */
  taskDeadlineMs: number;
  /** When the task's budget runs out (epoch ms), once it started. */
  deadlineOf(taskId: string): number | undefined;
  hasReviewer(): boolean;
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * The pipeline's stage calls bound to the bus: one request per stage to its role, withdrawn when the
 * stage's signal aborts (cancel, stop), at the stage's timeout (counted from when an instance takes it),
 * or when the task's deadline budget runs out (counted from the task's start), whichever comes first. A timeout names the role and the limit that ended it.
 * @example const machine = createPipelineMachine(createStageCalls({ bus, stageTimeoutMs: () => 60_000, … }));
 */
export function createStageCalls(options: StageCallOptions): StageCalls {
  const { bus, stageTimeoutMs, taskDeadlineMs, deadlineOf } = options;
  const clock = bus.clock;

  async function ask<K extends Parameters<Bus['send']>[1]>(
    c: PipelineContext,
    signal: AbortSignal,
    role: string,
    type: K,
    payload: MessageMap[K],
  ): Promise<MessageMap[ResultOf<K>]> {
    const own = stageTimeoutMs(role);
    const deadline = deadlineOf(c.taskId) ?? clock.now() + taskDeadlineMs;
    const left = Math.max(0, deadline - clock.now());
    if (left <= 0) {
      throw new RuntimeError(ErrorCode.Timeout, `task ${c.taskId} ran out of its ${seconds(taskDeadlineMs)} deadline before asking the ${role}: ` +
        'retry it, or raise taskDeadlineMs');
    }
    try {
      // The stage's own limit counts from when an instance of the role takes the request (a wait behind
      // busy instances is not the stage's work); the task's deadline counts everything.
      return await bus.send(`role:${role}`, type, payload, { from: `task:${c.taskId}`, taskId: c.taskId, timeoutMs: left, workTimeoutMs: own, signal });
    } catch (error) {
      if (!(error instanceof RuntimeError) || error.code !== ErrorCode.Timeout || signal.aborted) throw error;
      const work = (error.details as { limit?: string } | undefined)?.limit === 'work';
      if (!work && (error.details as { limit?: string } | undefined)?.limit !== 'total') throw error;
      const which = work ? `the ${role} stage's ${seconds(own)} timeout` : `the task's ${seconds(taskDeadlineMs)} deadline`;
      throw new RuntimeError(ErrorCode.Timeout, `the ${role} gave no answer within ${which}; its model call was cancelled and no further ` +
        "attempt starts. Retry the task, or raise the route's timeoutMs or stageTimeoutMs", { cause: error });
    }
  }

  const { enhancing, analyzing, reasoning, implementing, validating, reviewing, integrating } = STAGE_ROLES;
  return {
    enhance: (c, signal) => ask(c, signal, enhancing, 'enhance.request', { requirement: c.requirement }),
    analyze: (c, signal) =>
      ask(c, signal, analyzing, 'analysis.request', { requirement: c.requirement, prompt: c.prompt! }),
    reason: (c, signal) =>
      ask(c, signal, reasoning, 'reasoning.request', {
        requirement: c.requirement,
        prompt: c.prompt!,
        analysis: c.analysis!,
      }),
    implement: (c, signal) =>
      ask(c, signal, implementing, 'implementation.request', {
        requirement: c.requirement,
        prompt: c.prompt!,
        analysis: c.analysis!,
        plan: c.plan,
        feedback: c.feedback,
        previous: c.feedback ? (c.implementation?.files ?? null) : null,
      }),
    validate: (c, signal) =>
      ask(c, signal, validating, 'validation.request', {
        requirement: c.requirement,
        implementation: c.implementation!,
      }),
    review: (c, signal) =>
      ask(c, signal, reviewing, 'review.request', { requirement: c.requirement, implementation: c.implementation! }),
    integrate: (c, signal) => {
      // Second lock on the workspace door; the machine's guards are the first.
      if (!isPassingReport(c.report)) {
        return Promise.reject(new RuntimeError(ErrorCode.Invalid, `task ${c.taskId} has no passing sandbox report`));
      }
      const payload = { implementation: c.implementation!, report: c.report };
      return ask(c, signal, integrating, 'integration.request', payload);
    },
    hasReviewer: options.hasReviewer,
  };
}
