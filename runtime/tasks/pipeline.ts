import { assign, fromPromise, setup } from 'xstate';
import { Stage, TEXT_LIMITS, boundFindings, cutText, errorMessage } from '../protocol/mod.ts';
import type { Analysis, Feedback, Implementation, MessageMap, SandboxReport, TaskError } from '../protocol/mod.ts';
import { boundReport } from '../../sandbox/mod.ts';

/**
 * Bumped whenever states, events, invoked actors or context change shape; persisted snapshots carry
 * it, and a task saved by another version fails on resume with E_MIGRATION naming both versions
 * (manager.ts), unless a migration is added there.
 *
 * When the machine changes: bump this ('pipeline@2'), then run
 * `node --no-node-snapshot test/reliability/replay.test.ts --capture` to write real snapshots of the
 * new machine to test/fixtures/snapshots/pipeline@2/, and keep the older folders: the replay suite
 * checks that every current fixture resumes and completes, and that older ones restore or fail with
 * E_MIGRATION. It also fails when the machine's shape changed but this version did not.
 */
export const PIPELINE_MACHINE_VERSION = 'pipeline@1';

export interface PipelineContext {
  taskId: string;
  requirement: string;
  maxIterations: number;
  prompt: string | null;
  analysis: Analysis | null;
  plan: string | null;
  implementation: Implementation | null;
  report: SandboxReport | null;
  findings: string[];
  feedback: Feedback | null;
  /** Implementer attempts made so far. */
  iteration: number;
  result: MessageMap['integration.result'] | null;
  error: TaskError | null;
}

export interface PipelineInput {
  taskId: string;
  requirement: string;
  maxIterations: number;
}

/**
 * What the stages call: one request to a role each. The manager binds them to the bus. `signal`
 * aborts when the task leaves the stage otherwise (cancelled) or its actor stops (drain): the call
 * is withdrawn, and the model call or sandbox run under it stops.
 */
export interface StageCalls {
  enhance(c: PipelineContext, signal: AbortSignal): Promise<MessageMap['enhance.result']>;
  analyze(c: PipelineContext, signal: AbortSignal): Promise<MessageMap['analysis.result']>;
  reason(c: PipelineContext, signal: AbortSignal): Promise<MessageMap['reasoning.result']>;
  implement(c: PipelineContext, signal: AbortSignal): Promise<MessageMap['implementation.result']>;
  validate(c: PipelineContext, signal: AbortSignal): Promise<MessageMap['validation.result']>;
  review(c: PipelineContext, signal: AbortSignal): Promise<MessageMap['review.result']>;
  integrate(c: PipelineContext, signal: AbortSignal): Promise<MessageMap['integration.result']>;
  hasReviewer(): boolean;
}

// `calls` stays in the closure, never in the invoked actor's input: inputs are persisted with the
// snapshot, and functions do not survive a restart. XState aborts `signal` when the stage is left.
const stageOf = (calls: StageCalls) => <T>(name: keyof Omit<StageCalls, 'hasReviewer'>) =>
  fromPromise<T, { context: PipelineContext }>(({ input, signal }) => calls[name](input.context, signal) as Promise<T>);

/**
 * A task's error, with its message cut to TEXT_LIMITS.taskError: it is stored in the task row and
 * the snapshot, shown in every view and /ws frame and logged, and may quote what a model or
 * generated code said (a 20 MB exception message must not become a 20 MB row).
 */
export function taskError(stage: string, reason: string, message: string): TaskError {
  return { stage, reason: cutText(reason, 200), message: cutText(message, TEXT_LIMITS.taskError) };
}

function failure(stageName: string, error: unknown): TaskError {
  const code = (error as { code?: unknown })?.code;
  return taskError(stageName, typeof code === 'string' ? code : 'E_HANDLER', errorMessage(error));
}

/** A reviewer's error findings as the fix loop sends them back, bounded. */
function reviewFindings(findings: MessageMap['review.result']['findings']): string[] {
  return boundFindings(findings.filter((f) => f.severity === 'error').map((f) => `${f.file}:${f.line}: ${f.message}`));
}

/**
 * The one place that decides a validation passed: the report says ok AND shows a test run that passed
 * (at least one test, every one ok). A validator is a plugin role, so "ok" alone is a claim: a drop-in
 * validator answering `{ ok: true, tests: [] }` or ok with a failed test once got its code integrated.
 */
function passed(report: SandboxReport | null | undefined): report is SandboxReport & { ok: true } {
  return !!report && report.ok === true && Array.isArray(report.tests) && report.tests.length > 0
    && report.tests.every((test) => test !== null && typeof test === 'object' && test.ok === true);
}

/**
 * One task's life: queued → enhancing → analyzing → (reasoning) → implementing → validating →
 * (reviewing) → integrating → completed, with a bounded fix loop back to implementing. `integrating`
 * has exactly two ways in, both guarded by `passed(report)`: unchecked code cannot reach the workspace.
 * @example const actor = createActor(createPipelineMachine(calls), { input: { taskId, requirement, maxIterations: 3 } });
 */
export function createPipelineMachine(calls: StageCalls) {
  const stage = stageOf(calls);
  return setup({
    types: {
      input: {} as PipelineInput,
      context: {} as PipelineContext,
      events: {} as { type: 'START' } | { type: 'CANCEL'; reason?: string },
    },
    actors: {
      enhance: stage<MessageMap['enhance.result']>('enhance'),
      analyze: stage<MessageMap['analysis.result']>('analyze'),
      reason: stage<MessageMap['reasoning.result']>('reason'),
      implement: stage<MessageMap['implementation.result']>('implement'),
      validate: stage<MessageMap['validation.result']>('validate'),
      review: stage<MessageMap['review.result']>('review'),
      integrate: stage<MessageMap['integration.result']>('integrate'),
    },
    guards: {
      complex: ({ context }) => context.analysis?.complexity === 'complex',
      canRetry: ({ context }) => context.iteration < context.maxIterations,
    },
  }).createMachine({
    id: 'task',
    context: ({ input }) => ({
      taskId: input.taskId,
      requirement: input.requirement,
      maxIterations: input.maxIterations,
      prompt: null,
      analysis: null,
      plan: null,
      implementation: null,
      report: null,
      findings: [],
      feedback: null,
      iteration: 0,
      result: null,
      error: null,
    }),
    initial: Stage.Queued,
    on: {
      CANCEL: {
        target: `.${Stage.Cancelled}`,
        actions: assign({ error: ({ event, context }) => ({ stage: Stage.Cancelled, reason: 'cancelled', message: event.reason ?? `task ${context.taskId} was cancelled` }) }),
      },
    },
    states: {
      [Stage.Queued]: { on: { START: Stage.Enhancing } },
      [Stage.Enhancing]: {
        invoke: {
          src: 'enhance',
          input: ({ context }) => ({ context }),
          onDone: { target: Stage.Analyzing, actions: assign({ prompt: ({ event }) => event.output.prompt }) },
          onError: { target: Stage.Failed, actions: assign({ error: ({ event }) => failure(Stage.Enhancing, event.error) }) },
        },
      },
      [Stage.Analyzing]: {
        invoke: {
          src: 'analyze',
          input: ({ context }) => ({ context }),
          onDone: [
            { guard: ({ event }) => event.output.complexity === 'complex', target: Stage.Reasoning, actions: assign({ analysis: ({ event }) => event.output }) },
            { target: Stage.Implementing, actions: assign({ analysis: ({ event }) => event.output }) },
          ],
          onError: { target: Stage.Failed, actions: assign({ error: ({ event }) => failure(Stage.Analyzing, event.error) }) },
        },
      },
      [Stage.Reasoning]: {
        invoke: {
          src: 'reason',
          input: ({ context }) => ({ context }),
          onDone: { target: Stage.Implementing, actions: assign({ plan: ({ event }) => event.output.plan }) },
          onError: { target: Stage.Failed, actions: assign({ error: ({ event }) => failure(Stage.Reasoning, event.error) }) },
        },
      },
      [Stage.Implementing]: {
        invoke: {
          src: 'implement',
          input: ({ context }) => ({ context }),
          onDone: {
            target: Stage.Validating,
            actions: assign({ implementation: ({ event }) => event.output, iteration: ({ context }) => context.iteration + 1, report: null, findings: [] }),
          },
          onError: { target: Stage.Failed, actions: assign({ error: ({ event }) => failure(Stage.Implementing, event.error) }) },
        },
      },
      [Stage.Validating]: {
        invoke: {
          src: 'validate',
          input: ({ context }) => ({ context }),
          onDone: [
            {
              guard: ({ event }) => passed(event.output.report) && calls.hasReviewer(),
              target: Stage.Reviewing,
              actions: assign({ report: ({ event }) => boundReport(event.output.report), findings: ({ event }) => boundFindings(event.output.findings) }),
            },
            {
              guard: ({ event }) => passed(event.output.report),
              target: Stage.Integrating,
              actions: assign({ report: ({ event }) => boundReport(event.output.report), findings: ({ event }) => boundFindings(event.output.findings) }),
            },
            {
              guard: 'canRetry',
              target: Stage.Implementing,
              actions: assign({
                report: ({ event }) => boundReport(event.output.report),
                findings: ({ event }) => boundFindings(event.output.findings),
                feedback: ({ event, context }) => ({ iteration: context.iteration, findings: boundFindings(event.output.findings), report: boundReport(event.output.report) }),
              }),
            },
            {
              target: Stage.Failed,
              actions: assign({
                report: ({ event }) => boundReport(event.output.report),
                findings: ({ event }) => boundFindings(event.output.findings),
                error: ({ event, context }) => {
                  // "ok" is judged on what the validator said, before bounding turns a malformed ok into 'threw'.
                  const claimed = (event.output.report as { ok?: unknown } | null)?.ok === true;
                  const report = boundReport(event.output.report);
                  const reason = claimed || report.ok ? 'invalid-report' : report.reason;
                  const message = claimed || report.ok
                    ? 'the validator said ok without a passing test run (no test results, or a test that failed): fix or replace the validator plugin'
                    : report.message;
                  return taskError(Stage.Validating, reason, `validation failed after ${context.iteration} attempt(s): ${reason}: ${message}`);
                },
              }),
            },
          ],
          onError: { target: Stage.Failed, actions: assign({ error: ({ event }) => failure(Stage.Validating, event.error) }) },
        },
      },
      [Stage.Reviewing]: {
        invoke: {
          src: 'review',
          input: ({ context }) => ({ context }),
          onDone: [
            { guard: ({ event, context }) => passed(context.report) && !event.output.findings.some((f) => f.severity === 'error'), target: Stage.Integrating },
            {
              guard: 'canRetry',
              target: Stage.Implementing,
              actions: assign({
                findings: ({ event }) => boundFindings(event.output.findings.map((f) => `${f.file}:${f.line}: ${f.message}`)),
                feedback: ({ event, context }) => ({ iteration: context.iteration, findings: reviewFindings(event.output.findings), report: context.report! }),
              }),
            },
            {
              target: Stage.Failed,
              actions: assign({
                error: ({ event, context }) =>
                  taskError(Stage.Reviewing, 'review-failed', `review failed after ${context.iteration} attempt(s): ${reviewFindings(event.output.findings).join('; ')}`),
              }),
            },
          ],
          onError: { target: Stage.Failed, actions: assign({ error: ({ event }) => failure(Stage.Reviewing, event.error) }) },
        },
      },
      [Stage.Integrating]: {
        invoke: {
          src: 'integrate',
          input: ({ context }) => ({ context }),
          onDone: { target: Stage.Completed, actions: assign({ result: ({ event }) => event.output }) },
          onError: { target: Stage.Failed, actions: assign({ error: ({ event }) => failure(Stage.Integrating, event.error) }) },
        },
      },
      [Stage.Completed]: { type: 'final' },
      [Stage.Failed]: { type: 'final' },
      [Stage.Cancelled]: { type: 'final' },
    },
  });
}

export type PipelineMachine = ReturnType<typeof createPipelineMachine>;
export { passed as isPassingReport };
