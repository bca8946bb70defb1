import { LitElement, css, html } from 'lit';
import { ClientController } from '../controller.ts';
import { ConnectionStatus } from '../client.ts';
import { theme } from '../theme.ts';

const MAX = 20_000;

/**
 * A requirement and its priority (1–10), validated before it is sent (and the server's own error
 * shown when it refuses). Fires `task-submitted` with `{ taskId }`. Demo samples fill the field.
 */
export class SubmitForm extends LitElement {
  static override properties = { server: { type: String }, invalid: { state: true }, field: { state: true }, message: { state: true }, busy: { state: true }, samples: { state: true } };
  static override styles = [
    theme,
    css`
      :host { display: block; }
      form { display: grid; gap: 0.4rem; }
      textarea { width: 100%; min-height: 4.5rem; resize: vertical; }
      .row { display: flex; gap: 0.5rem; align-items: center; flex-wrap: wrap; }
      textarea[aria-invalid='true'], input[aria-invalid='true'] { border-color: var(--_bad); }
      .offline { color: var(--_muted); font-size: 0.85rem; }
      .samples button { font-size: 0.78rem; padding: 0.1rem 0.45rem; }
    `,
  ];
  declare server: string | null;
  declare invalid: string | null;
  /** The field the problem is about, marked and focused. */
  declare field: 'requirement' | 'priority';
  declare message: string | null;
  declare busy: boolean;
  declare samples: Array<{ id: string; title: string; requirement: string }>;
  readonly stores = new ClientController(this, (c) => [c.$status]);

  constructor() {
    super();
    this.server = null;
    this.invalid = null;
    this.field = 'requirement';
    this.message = null;
    this.busy = false;
    this.samples = [];
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.stores
      .client.request<{ samples: Array<{ id: string; title: string; requirement: string }> }>('/api/demo')
      .then((d) => (this.samples = d.samples))
      .catch(() => {});
  }

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('server')) this.stores.rebind();
  }

  private validate(requirement: string, priority: number): { field: 'requirement' | 'priority'; message: string } | null {
    if (!requirement.trim()) return { field: 'requirement', message: 'Write a requirement: what should the agents build?' };
    if (requirement.length > MAX) return { field: 'requirement', message: `The requirement is ${requirement.length} characters: shorten it to ${MAX} or fewer.` };
    if (!Number.isInteger(priority) || priority < 1 || priority > 10) return { field: 'priority', message: 'Priority must be a whole number from 1 to 10.' };
    return null;
  }

  /** Whether the server can take a submission now (the connection is up). */
  private get online(): boolean {
    return this.stores.client.$status.get() === ConnectionStatus.Connected;
  }

  private async submit(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const requirement = (form.elements.namedItem('requirement') as HTMLTextAreaElement).value;
    const priority = Number((form.elements.namedItem('priority') as HTMLInputElement).value);
    const problem = this.validate(requirement, priority);
    this.message = null;
    this.invalid = problem?.message ?? null;
    if (problem) {
      this.field = problem.field;
      (form.elements.namedItem(problem.field) as HTMLElement).focus();
      return;
    }
    if (!this.online) return;
    this.busy = true;
    try {
      const { taskId } = await this.stores.client.submit(requirement.trim(), priority);
      this.message = `Submitted ${taskId}.`;
      form.reset();
      this.dispatchEvent(new CustomEvent('task-submitted', { detail: { taskId }, bubbles: true, composed: true }));
    } catch (error) {
      const fields = (error as { fields?: Record<string, string> }).fields ?? {};
      this.field = 'priority' in fields && !('requirement' in fields) ? 'priority' : 'requirement';
      this.invalid = (error as Error).message;
    } finally {
      this.busy = false;
    }
  }

  private fill(requirement: string): void {
    const area = this.renderRoot.querySelector('textarea')!;
    area.value = requirement;
    this.invalid = null;
    area.focus();
  }

  override render() {
    return html`
      <form @submit=${this.submit} novalidate aria-label="submit a requirement">
        <label for="requirement">Requirement</label>
        <textarea id="requirement" name="requirement" maxlength=${MAX} placeholder="Write a fizzbuzz module with tests"
          aria-invalid=${this.invalid && this.field === 'requirement' ? 'true' : 'false'} aria-describedby="problem"></textarea>
        <div class="row">
          <label for="priority">Priority</label>
          <input id="priority" name="priority" type="number" min="1" max="10" step="1" value="5" style="width:4.5rem"
            aria-invalid=${this.invalid && this.field === 'priority' ? 'true' : 'false'} aria-describedby="problem">
          <button type="submit" ?disabled=${this.busy || !this.online} aria-describedby=${this.online ? 'problem' : 'offline'}>${this.busy ? 'Submitting…' : 'Submit'}</button>
          <span class="ok" role="status" aria-live="polite">${this.message ?? ''}</span>
          ${this.online ? '' : html`<span id="offline" class="offline" role="status">Not connected to the server: submitting waits until it is back.</span>`}
        </div>
        <p id="problem" class="error" role="alert" ?hidden=${!this.invalid}>${this.invalid ?? ''}</p>
        ${this.samples.length
          ? html`<div class="samples row" role="group" aria-label="demo samples"><span class="muted">Samples:</span>${this.samples.map((s) => html`<button type="button" title=${s.requirement} @click=${() => this.fill(s.requirement)}>${s.title}</button>`)}</div>`
          : ''}
      </form>
    `;
  }
}
