import { LitElement, css, html } from 'lit';
import type { TaskDetail as Detail } from '../frames.ts';
import { ClientController } from '../controller.ts';
import { highlight } from '../highlight.ts';
import { clock, theme } from '../theme.ts';

/**
 * One task in full: stage history, the messages its agents exchanged, the sandbox report with each
 * test's result, the generated files (highlighted), and cancel / retry. Follows the task live: it
 * reloads GET /api/tasks/:id whenever the task changes on /ws.
 */
export class TaskDetailElement extends LitElement {
  static override properties = { server: { type: String }, taskId: { type: String, attribute: 'task-id', reflect: true }, detail: { state: true }, error: { state: true }, busy: { state: true } };
  static override styles = [
    theme,
    css`
      :host { display: block; }
      header { display: flex; gap: 0.6rem; align-items: center; flex-wrap: wrap; margin-bottom: 0.5rem; }
      header h3 { margin: 0; }
      .actions { margin-left: auto; display: flex; gap: 0.4rem; }
      section { margin: 0.7rem 0; }
      ul.tests { list-style: none; padding: 0; margin: 0; }
      ul.tests li { padding: 0.1rem 0; }
      ul.tests li[data-ok='true'] .mark { color: var(--_ok); }
      ul.tests li[data-ok='false'] .mark { color: var(--_bad); }
      pre { background: var(--_bg); border: 1px solid var(--_border); border-radius: 0.3rem; padding: 0.5rem; overflow: auto; max-height: 22rem; font: 0.8rem/1.4 var(--_mono); margin: 0.3rem 0 0; }
      details { margin: 0.3rem 0; } summary { cursor: pointer; font-family: var(--_mono); }
      .tok-keyword { color: var(--orch-tok-keyword, #ff7b72); } .tok-string { color: var(--orch-tok-string, #a5d6ff); }
      .tok-comment { color: var(--orch-tok-comment, #8b949e); font-style: italic; } .tok-number { color: var(--orch-tok-number, #79c0ff); } .tok-tag { color: var(--orch-tok-tag, #7ee787); }
      .err { border-left: 3px solid var(--_bad); padding-left: 0.5rem; }
      ol.stages { margin: 0; padding-left: 1.2rem; font-size: 0.85rem; }
      table.messages td { font-size: 0.8rem; }
    `,
  ];
  declare server: string | null;
  declare taskId: string | null;
  declare detail: Detail | null;
  declare error: string | null;
  declare busy: boolean;
  readonly stores = new ClientController(this, (c) => [c.$tasks]);
  private loadedAt = -1;
  private loading: Promise<void> | null = null;

  constructor() {
    super();
    this.server = null;
    this.taskId = null;
    this.detail = null;
    this.error = null;
    this.busy = false;
  }

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('server')) this.stores.rebind();
    if (changed.has('taskId')) {
      this.detail = null;
      this.loadedAt = -1;
    }
    const live = this.taskId ? this.stores.client.$tasks.get()[this.taskId] : undefined;
    const version = live ? live.updatedAt : 0;
    if (this.taskId && version !== this.loadedAt && !this.loading) void this.load(version);
  }

  private async load(version: number): Promise<void> {
    const id = this.taskId!;
    this.loadedAt = version;
    this.loading = (async () => {
      try {
        const detail = await this.stores.client.detail(id);
        if (id === this.taskId) {
          this.detail = detail;
          this.error = null;
        }
      } catch (error) {
        this.error = (error as Error).message;
      } finally {
        this.loading = null;
      }
      // A change that arrived while loading: load again.
      const live = this.taskId ? this.stores.client.$tasks.get()[this.taskId] : undefined;
      if (live && live.updatedAt !== this.loadedAt) this.requestUpdate();
    })();
  }

  private async act(action: 'cancel' | 'retry'): Promise<void> {
    if (!this.taskId) return;
    this.busy = true;
    try {
      await this.stores.client[action](this.taskId);
      this.error = null;
    } catch (error) {
      this.error = (error as Error).message;
    } finally {
      this.busy = false;
    }
  }

  override render() {
    if (!this.taskId) return html`<p class="muted">Choose a task to see its detail.</p>`;
    const d = this.detail;
    if (!d) return html`<p class="muted" role="status">${this.error ?? `loading ${this.taskId}…`}</p>`;
    const live = this.stores.client.$tasks.get()[d.id] ?? d;
    const running = live.status === 'queued' || live.status === 'running';
    const report = d.report;
    const tests = report?.tests ?? [];
    const passed = tests.filter((t) => t.ok).length;
    return html`
      <article aria-label="task ${d.id}" data-status=${live.status}>
        <header>
          <h3>${d.id}</h3>
          <span class="status ${live.status}">${live.status}</span>
          <span class="muted">${live.stage} · attempt ${live.iteration}/${live.maxIterations} · priority ${d.priority}</span>
          <span class="actions">
            <button class="cancel" ?disabled=${!running || this.busy} @click=${() => this.act('cancel')}>Cancel</button>
            <button class="inspect" @click=${() => this.dispatchEvent(new CustomEvent('inspect-actor', { detail: { actor: `task:${d.id}` }, bubbles: true, composed: true }))}>Inspect</button>
            <button class="retry" ?disabled=${running || live.status === 'completed' || this.busy} @click=${() => this.act('retry')}>Retry</button>
          </span>
        </header>
        <p>${d.requirement}</p>
        ${this.error ? html`<p class="err" role="alert">${this.error}</p>` : ''}
        ${live.error ? html`<p class="err" role="alert">failed at ${live.error.stage} (${live.error.reason}): ${live.error.message}</p>` : ''}
        <section aria-label="sandbox report" class="report">
          <h3>Sandbox report</h3>
          ${report
            ? html`<p class="summary ${report.ok ? 'ok' : 'failed'}">${report.ok ? 'passed' : `failed: ${report.reason}`} — ${passed} of ${tests.length} test${tests.length === 1 ? '' : 's'} passed${report.ms !== undefined ? ` in ${Math.round(report.ms)} ms` : ''}</p>
                ${!report.ok && report.message ? html`<p class="err">${report.message}</p>` : ''}
                <ul class="tests" aria-label="test results">
                  ${tests.map((t) => html`<li data-ok=${String(t.ok)}><span class="mark" aria-hidden="true">${t.ok ? '✓' : '✗'}</span> <span class="sr-only">${t.ok ? 'passed' : 'failed'}:</span> <span class="name">${t.name}</span> <span class="muted">${Math.round(t.ms)} ms</span>${t.message ? html` — <span class="error">${t.message}</span>` : ''}</li>`)}
                </ul>
                ${report.console?.length ? html`<details><summary>console (${report.console.length})</summary><pre>${report.console.join('\n')}</pre></details>` : ''}`
            : html`<p class="muted">No validation yet.</p>`}
          ${d.findings.length ? html`<h3>Findings</h3><ul>${d.findings.map((f) => html`<li>${f}</li>`)}</ul>` : ''}
        </section>
        <section aria-label="files" class="files">
          <h3>Files</h3>
          ${d.generated.length
            ? d.generated.map((f) => html`<details open data-path=${f.path}><summary>${f.path}${d.files.includes(f.path) ? html` <span class="ok">(written)</span>` : ''}</summary><pre><code>${highlight(f.content)}</code></pre></details>`)
            : html`<p class="muted">No files yet.</p>`}
          <output-preview .files=${d.generated}></output-preview>
          <slot name="preview"></slot>
        </section>
        <section aria-label="stage history">
          <h3>Stages</h3>
          <ol class="stages">${d.stages.map((s) => html`<li>${s.stage} <span class="muted">${clock(s.at)}</span></li>`)}</ol>
        </section>
        <section aria-label="messages">
          <details><summary>Messages (${d.messages.length})</summary>
            <table class="messages"><thead><tr><th>at</th><th>from</th><th>to</th><th>message</th></tr></thead>
              <tbody>${d.messages.map((m) => html`<tr><td>${clock(m.at)}</td><td>${m.from}</td><td>${m.to}</td><td>${m.summary}</td></tr>`)}</tbody>
            </table>
          </details>
        </section>
      </article>
    `;
  }
}
