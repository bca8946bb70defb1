import { LitElement, css, html } from 'lit';
import { OPTIONAL_STAGES, STAGE_ORDER, Stage } from '../../../runtime/protocol/mod.ts';
import type { TaskView } from '../frames.ts';
import type { StageStep } from '../client.ts';
import { ClientController } from '../controller.ts';
import { theme } from '../theme.ts';

/**
 * Every task's stage, live, with the stages it went through (its trail as seen on /ws) and the fix-loop
 * iteration. `task` shows one task; otherwise the `limit` newest. Each task row reflects `data-stage`.
 */
export class PipelineView extends LitElement {
  static override properties = { server: { type: String }, task: { type: String }, limit: { type: Number } };
  static override styles = [
    theme,
    css`
      :host { display: block; }
      ol.tasks { list-style: none; margin: 0; padding: 0; display: grid; gap: 0.6rem; }
      li.task { background: var(--_card); border: 1px solid var(--_border); border-radius: var(--_radius); padding: 0.5rem 0.7rem; }
      .head { display: flex; gap: 0.6rem; align-items: baseline; flex-wrap: wrap; }
      .req { flex: 1; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; min-width: 8rem; }
      ol.stages { list-style: none; display: flex; flex-wrap: wrap; gap: 0.25rem; margin: 0.4rem 0 0; padding: 0; }
      ol.stages li { font-size: 0.78rem; padding: 0.05rem 0.45rem; border-radius: 1rem; border: 1px solid var(--_border); color: var(--_muted); }
      ol.stages li.visited { color: var(--_fg); border-color: var(--_ok); }
      ol.stages li[aria-current='step'] { background: var(--_work); color: #000; border-color: var(--_work); font-weight: 600; }
      ol.stages li.completed[aria-current='step'] { background: var(--_ok); }
      ol.stages li.skipped { opacity: 0.45; text-decoration: line-through; }
      .trail { font-size: 0.75rem; margin-top: 0.3rem; }
      .failedat { background: var(--_bad) !important; color: #000 !important; }
      .waiting { font-size: 0.8rem; margin-top: 0.3rem; }
      .waiting .retry { color: var(--_work); }
    `,
  ];
  declare server: string | null;
  declare task: string | null;
  declare limit: number;
  readonly stores = new ClientController(this, (c) => [c.$tasks, c.$trails]);

  /** Re-renders once a second while a task waits, so "waiting … 2 min" keeps counting. */
  private ticker: ReturnType<typeof setInterval> | null = null;

  constructor() {
    super();
    this.server = null;
    this.task = null;
    this.limit = 8;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.ticker = setInterval(() => {
      if (Object.values(this.stores.client.$tasks.get()).some((t) => t.waiting)) this.requestUpdate();
    }, 1000);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
  }

  /** "waiting on the implementer · 2 min", and the last failed attempt of its model call, if any. */
  private waiting(task: TaskView) {
    const w = task.waiting;
    if (!w || task.status !== 'running') return '';
    const a = w.lastAttempt;
    return html`<div class="waiting" data-role=${w.role}>waiting on the ${w.role} · <span class="for">${since(Date.now() - w.since)}</span>${a
      ? html` · <span class="retry" title=${a.text}>attempt ${a.attempt} on ${a.deployment} failed (${a.kind}) ${since(Date.now() - a.at)} ago</span>`
      : ''}</div>`;
  }

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('server')) this.stores.rebind();
  }

  private row(task: TaskView, trail: StageStep[]) {
    const seen = new Set(trail.map((s) => s.stage));
    const finished = task.status !== 'running' && task.status !== 'queued';
    const errorStage = task.error?.stage;
    const stages = STAGE_ORDER.filter((s) => !OPTIONAL_STAGES.has(s) || seen.has(s) || task.stage === s);
    const currentIndex = stages.indexOf(task.stage as (typeof STAGE_ORDER)[number]);
    const loops = trail.filter((s) => s.stage === Stage.Implementing).length;
    return html`
      <li class="task" data-task=${task.id} data-stage=${task.stage} data-status=${task.status} data-iteration=${task.iteration}>
        <div class="head">
          <strong>${task.id}</strong>
          <span class="req" title=${task.requirement}>${task.requirement}</span>
          <span class="status ${task.status}">${task.status}</span>
          <span class="iteration" title="implementer attempts (fix loop)">attempt ${task.iteration}/${task.maxIterations}${loops > 1 ? ` · ${loops - 1} fix loop${loops > 2 ? 's' : ''}` : ''}</span>
        </div>
        <ol class="stages" aria-label="stages of ${task.id}">
          ${stages.map((stage, i) => {
            const current = stage === task.stage;
            const visited = seen.has(stage) || (currentIndex >= 0 && i < currentIndex && task.status !== 'failed' && task.status !== 'cancelled');
            const cls = `${stage} ${visited && !current ? 'visited' : ''} ${errorStage === stage && task.status === 'failed' ? 'failedat' : ''} ${finished && !visited && !current ? 'skipped' : ''}`;
            return html`<li class=${cls} aria-current=${current ? 'step' : 'false'}>${stage}</li>`;
          })}
          ${task.status === 'failed' || task.status === 'cancelled' ? html`<li class="failedat" aria-current="step">${task.status}</li>` : ''}
        </ol>
        ${this.waiting(task)}
        <div class="trail muted" aria-label="stage history">${trail.map((s) => `${s.stage}${s.stage === Stage.Implementing ? ` #${s.iteration + 1}` : ''}`).join(' → ')}</div>
      </li>
    `;
  }

  override render() {
    const tasks = this.stores.client.$tasks.get();
    const trails = this.stores.client.$trails.get();
    const list = this.task ? [tasks[this.task]].filter(Boolean) : Object.values(tasks).sort((a, b) => b.createdAt - a.createdAt).slice(0, this.limit);
    const active = list.filter((t) => t.status === 'running');
    return html`
      <p class="sr-only" aria-live="polite">${active.map((t) => `${t.id} ${t.stage}`).join('; ')}</p>
      ${list.length ? html`<ol class="tasks">${list.map((t) => this.row(t, trails[t.id] ?? []))}</ol>` : html`<p class="muted">No tasks yet: submit a requirement.</p>`}
    `;
  }
}

/** A duration as a person reads it: "8 s", "2 min", "1 h 5 min". */
function since(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const min = Math.floor(s / 60);
  return min < 60 ? `${min} min` : `${Math.floor(min / 60)} h ${min % 60} min`;
}
