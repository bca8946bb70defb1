// How a stored task row reads as a view, and the helpers the manager names tasks and messages with.
import { FINAL_STAGES, Stage, stageRole } from '../protocol/mod.ts';
import type { Message, TaskDetail, TaskView } from '../protocol/mod.ts';
import type { EventRow, TaskRow } from '../store/mod.ts';
import type { PipelineContext } from './pipeline.ts';

export function statusOf(stage: string): TaskView['status'] {
  if (stage === Stage.Queued) return 'queued';
  if (FINAL_STAGES.has(stage)) return stage as TaskView['status'];
  return 'running';
}

export function newTaskId(): string {
  return `t-${Date.now().toString(36)}-${crypto.randomUUID().slice(0, 8)}`;
}

/** A short, secret-free line for a bus message in the task's message log. */
export function summarize(message: Message): string {
  const payload = message.payload as Record<string, unknown>;
  const keys = payload && typeof payload === 'object' ? Object.keys(payload).slice(0, 6).join(', ') : typeof payload;
  return `${message.type} {${keys}}`;
}

/** A stored row as the API shows it; `context` (the live or saved machine's) adds the iteration. */
export function taskView(row: TaskRow, context: PipelineContext | undefined, maxIterations: number): TaskView {
  const result = (row.result ?? null) as { written?: string[] } | null;
  return {
    id: row.id,
    requirement: row.requirement,
    priority: row.priority,
    status: row.status,
    stage: row.stage,
    iteration: context?.iteration ?? 0,
    maxIterations: context?.maxIterations ?? maxIterations,
    attempt: row.attempt,
    error: row.error ? (JSON.parse(row.error) as TaskView['error']) : null,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    files: result?.written ?? [],
    ...waitingOn(row),
    ...validationOf(context),
  };
}

/** The last validation's outcome, from the context's report (the failed one stays there while the implementer fixes it). */
function validationOf(context: PipelineContext | undefined): Pick<TaskView, 'validation'> {
  const report = context?.report;
  if (!report) return {};
  const tests = report.tests ?? [];
  return { validation: { ok: report.ok, tests: tests.length, failed: tests.filter((t) => !t.ok).length, reason: report.ok ? null : report.reason } };
}

/** For a running task, the role its stage waits on and since when (its stage began at updatedAt). */
function waitingOn(row: TaskRow): Pick<TaskView, 'waiting'> {
  const role = row.status === 'running' ? stageRole(row.stage) : undefined;
  return role ? { waiting: { role, since: row.updatedAt } } : {};
}

/** A task's detail (GET /api/tasks/:id): its view, what each stage produced, and its log read as stages, messages and model attempts. */
export function taskDetail(view: TaskView, context: PipelineContext | undefined, events: EventRow[]): TaskDetail {
  return {
    ...view,
    prompt: context?.prompt ?? null,
    analysis: context?.analysis ?? null,
    plan: context?.plan ?? null,
    report: context?.report ?? null,
    findings: context?.findings ?? [],
    generated: context?.implementation?.files ?? [],
    stages: events.filter((e) => e.type === 'task.stage').map((e) => ({ stage: (e.data as { to: string }).to, at: e.ts })),
    messages: events.filter((e) => e.type === 'message').map((e) => e.data as TaskDetail['messages'][number]),
    modelAttempts: events.filter((e) => e.type === 'llm.attempt').map((e) => {
      const a = e.data as TaskDetail['modelAttempts'][number];
      return { at: e.ts, role: a.role, deployment: a.deployment, attempt: a.attempt, kind: a.kind, text: a.text };
    }),
  };
}
