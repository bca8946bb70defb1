import { LitElement, css, html } from 'lit';
import { ClientController } from '../controller.ts';
import { clock, theme } from '../theme.ts';

/**
 * Tasks, newest first. Choosing one (click, Enter or Space) fires `task-select` with `{ taskId }` and
 * marks it `aria-selected`. Arrow keys move between rows.
 */
export class TaskList extends LitElement {
  static override properties = { server: { type: String }, selected: { type: String, reflect: true }, limit: { type: Number } };
  static override styles = [
    theme,
    css`
      :host { display: block; overflow-x: auto; }
      tr[role='row'] { cursor: pointer; }
      tr[aria-selected='true'] { background: color-mix(in srgb, var(--_accent) 18%, transparent); }
      td.req { max-width: 22rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    `,
  ];
  declare server: string | null;
  declare selected: string | null;
  declare limit: number;
  readonly stores = new ClientController(this, (c) => [c.$tasks]);

  constructor() {
    super();
    this.server = null;
    this.selected = null;
    this.limit = 50;
  }

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('server')) this.stores.rebind();
  }

  private choose(taskId: string): void {
    this.selected = taskId;
    this.dispatchEvent(new CustomEvent('task-select', { detail: { taskId }, bubbles: true, composed: true }));
  }

  private onKey(event: KeyboardEvent, taskId: string): void {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      this.choose(taskId);
    } else if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      const row = event.currentTarget as HTMLElement;
      const next = (event.key === 'ArrowDown' ? row.nextElementSibling : row.previousElementSibling) as HTMLElement | null;
      next?.focus();
    }
  }

  override render() {
    const tasks = Object.values(this.stores.client.$tasks.get()).sort((a, b) => b.createdAt - a.createdAt).slice(0, this.limit);
    if (!tasks.length) return html`<p class="muted">No tasks yet.</p>`;
    return html`
      <table role="grid" aria-label="tasks">
        <thead><tr><th>task</th><th>requirement</th><th>status</th><th>stage</th><th>attempt</th><th>updated</th></tr></thead>
        <tbody>
          ${tasks.map(
            (t) => html`<tr role="row" tabindex="0" data-task=${t.id} data-status=${t.status} aria-selected=${t.id === this.selected ? 'true' : 'false'}
                @click=${() => this.choose(t.id)} @keydown=${(e: KeyboardEvent) => this.onKey(e, t.id)}>
              <td>${t.id}</td><td class="req" title=${t.requirement}>${t.requirement}</td><td class="status ${t.status}">${t.status}</td><td>${t.stage}</td>
              <td>${t.iteration}/${t.maxIterations}</td><td>${clock(t.updatedAt)}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    `;
  }
}
