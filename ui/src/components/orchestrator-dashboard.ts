import { LitElement, css, html } from 'lit';
import { ClientController } from '../controller.ts';
import { theme } from '../theme.ts';

/**
 * The whole live view: connection state and demo badge, the submit form, agent cards, the pipeline,
 * tasks with the chosen task's detail, and the console. `server` points every part at another origin.
 */
export class OrchestratorDashboard extends LitElement {
  static override properties = { server: { type: String }, selected: { state: true }, inspecting: { state: true } };
  static override styles = [
    theme,
    css`
      :host { display: block; background: var(--_bg); min-height: 100%; }
      header { display: flex; gap: 1rem; align-items: center; padding: 0.75rem 1rem; border-bottom: 1px solid var(--_border); }
      h1 { font-size: 1.1rem; margin: 0; }
      main { display: grid; grid-template-columns: minmax(20rem, 1fr) minmax(24rem, 2fr); gap: 1rem; padding: 1rem; }
      section.panel { background: var(--_card); border-radius: var(--_radius); padding: 0.75rem 1rem; min-width: 0; }
      .wide { grid-column: 1 / -1; }
      .server { display: grid; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); gap: 1rem; }
      .agents { display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr)); gap: 0.6rem; }
      @media (max-width: 60rem) { main { grid-template-columns: 1fr; } }
    `,
  ];
  declare server: string | null;
  declare selected: string | null;
  /** The actor shown in the inspector panel ('task:<id>', 'agent:<name>', 'supervisor'), null when closed. */
  declare inspecting: string | null;
  readonly stores = new ClientController(this, (c) => [c.$agents]);

  constructor() {
    super();
    this.server = null;
    this.selected = null;
    this.inspecting = null;
  }

  private async inspect(event: CustomEvent<{ actor: string }>): Promise<void> {
    this.inspecting = event.detail.actor;
    await this.updateComplete;
    this.renderRoot.querySelector('#inspector-h')?.scrollIntoView({ block: 'start' });
  }

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('server')) this.stores.rebind();
  }

  private select(event: CustomEvent<{ taskId: string }>): void {
    this.selected = event.detail.taskId;
  }

  override render() {
    const server = this.server ?? '';
    const agents = Object.values(this.stores.client.$agents.get()).sort((a, b) => a.name.localeCompare(b.name));
    return html`
      <header>
        <h1>Orchestrator</h1>
        <demo-badge server=${server}></demo-badge>
        <connection-status server=${server}></connection-status>
      </header>
      <main @task-submitted=${this.select} @task-select=${this.select} @inspect-actor=${this.inspect}>
        <section class="panel" aria-labelledby="submit-h"><h2 id="submit-h">Submit</h2><submit-form server=${server}></submit-form></section>
        <section class="panel" aria-labelledby="agents-h"><h2 id="agents-h">Agents</h2>
          <div class="agents" role="list">${agents.map((a) => html`<agent-card role="listitem" server=${server} name=${a.name}></agent-card>`)}</div>
        </section>
        <section class="panel wide" aria-labelledby="pipeline-h"><h2 id="pipeline-h">Pipeline</h2><pipeline-view server=${server}></pipeline-view></section>
        <section class="panel" aria-labelledby="tasks-h"><h2 id="tasks-h">Tasks</h2><task-list server=${server} .selected=${this.selected}></task-list></section>
        <section class="panel" aria-labelledby="detail-h"><h2 id="detail-h">Task detail</h2><task-detail server=${server} .taskId=${this.selected}></task-detail></section>
        <section class="panel wide" aria-labelledby="server-h"><h2 id="server-h">Server</h2>
          <div class="server">
            <div><h3>Model cache</h3><cache-panel server=${server}></cache-panel></div>
            <div><h3>Usage</h3><usage-chart server=${server}></usage-chart></div>
            <div><h3>Process</h3><machine-stats server=${server}></machine-stats></div>
          </div>
        </section>
        <section class="panel wide inspector" aria-labelledby="inspector-h">
          <h2 id="inspector-h">Inspector ${this.inspecting ? html`<button class="close-inspector" @click=${() => (this.inspecting = null)}>Close</button>` : html`<button class="open-inspector" @click=${() => (this.inspecting = 'supervisor')}>Open</button>`}</h2>
          ${this.inspecting ? html`<actor-inspector server=${server} actor=${this.inspecting}></actor-inspector>` : html`<p class="muted">Inspect a task from its detail, or open the inspector for any actor.</p>`}
        </section>
        <section class="panel wide" aria-labelledby="console-h"><h2 id="console-h">Console</h2><agent-console server=${server}></agent-console></section>
      </main>
    `;
  }
}
