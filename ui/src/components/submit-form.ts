import { LitElement, css, html } from 'lit';
import { ClientController } from '../controller.ts';
import { theme } from '../theme.ts';

const MAX = 20_000;

/**
 * A requirement and its priority (1–10), validated before it is sent (and the server's own error
 * shown when it refuses). Fires `task-submitted` with `{ taskId }`. Demo samples fill the field.
 */
export class SubmitForm extends LitElement {
  static override properties = { server: { type: String }, invalid: { state: true }, message: { state: true }, busy: { state: true }, samples: { state: true } };
  static override styles = [
    theme,
    css`
      :host { display: block; }
      form { display: grid; gap: 0.4rem; }
      textarea { width: 100%; min-height: 4.5rem; resize: vertical; }
      .row { display: flex; gap: 0.5rem; align-items: center; flex-wrap: wrap; }
      textarea[aria-invalid='true'] { border-color: var(--_bad); }
      .samples button { font-size: 0.78rem; padding: 0.1rem 0.45rem; }
    `,
  ];
  declare server: string | null;
  declare invalid: string | null;
  declare message: string | null;
  declare busy: boolean;
  declare samples: Array<{ id: string; title: string; requirement: string }>;
  readonly stores = new ClientController(this, () => []);

  constructor() {
    super();
    this.server = null;
    this.invalid = null;
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

  private validate(requirement: string, priority: number): string | null {
    if (!requirement.trim()) return 'Write a requirement: what should the agents build?';
    if (requirement.length > MAX) return `The requirement is ${requirement.length} characters: shorten it to ${MAX} or fewer.`;
    if (!Number.isInteger(priority) || priority < 1 || priority > 10) return 'Priority must be a whole number from 1 to 10.';
    return null;
  }

  private async submit(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const requirement = (form.elements.namedItem('requirement') as HTMLTextAreaElement).value;
    const priority = Number((form.elements.namedItem('priority') as HTMLInputElement).value);
    this.invalid = this.validate(requirement, priority);
    this.message = null;
    if (this.invalid) {
      (form.elements.namedItem('requirement') as HTMLTextAreaElement).focus();
      return;
    }
    this.busy = true;
    try {
      const { taskId } = await this.stores.client.submit(requirement.trim(), priority);
      this.message = `Submitted ${taskId}.`;
      form.reset();
      this.dispatchEvent(new CustomEvent('task-submitted', { detail: { taskId }, bubbles: true, composed: true }));
    } catch (error) {
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
          aria-invalid=${this.invalid ? 'true' : 'false'} aria-describedby="problem"></textarea>
        <div class="row">
          <label for="priority">Priority</label>
          <input id="priority" name="priority" type="number" min="1" max="10" step="1" value="5" style="width:4.5rem">
          <button type="submit" ?disabled=${this.busy}>${this.busy ? 'Submitting…' : 'Submit'}</button>
          <span class="ok" role="status" aria-live="polite">${this.message ?? ''}</span>
        </div>
        <p id="problem" class="error" role="alert" ?hidden=${!this.invalid}>${this.invalid ?? ''}</p>
        ${this.samples.length
          ? html`<div class="samples row" role="group" aria-label="demo samples"><span class="muted">Samples:</span>${this.samples.map((s) => html`<button type="button" title=${s.requirement} @click=${() => this.fill(s.requirement)}>${s.title}</button>`)}</div>`
          : ''}
      </form>
    `;
  }
}
