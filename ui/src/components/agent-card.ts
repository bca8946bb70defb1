import { LitElement, css, html } from 'lit';
import type { AgentState } from '../frames.ts';
import { ClientController } from '../controller.ts';
import { theme } from '../theme.ts';

/**
 * One agent's pool: status (ready / working / failed / restarting), how many of its instances are busy,
 * idle and down, the tasks they work on, counts, last latency and the model in use. Give it `name` (it follows that agent on its server) or set `.agent` yourself.
 * Reflects `status`, `done` and `failed` on the host, so a page can style or query them.
 */
/** "2/4 busy" (and "1 down"), from the pool counts; a server without pools shows its one agent. */
function poolLine(agent: AgentState): string {
  if (agent.concurrency === undefined) return '1 instance';
  const down = agent.down ? `, ${agent.down} down` : '';
  return `${agent.busy}/${agent.concurrency} busy${down}`;
}

function poolTitle(agent: AgentState): string {
  return (agent.instances ?? []).map((i) => `${i.id}: ${i.status}${i.taskId ? ` (${i.taskId})` : ''}`).join('\n');
}

/** Every busy instance's task, or the one task of a single agent. */
function tasksOf(agent: AgentState): string {
  const tasks = (agent.instances ?? []).flatMap((i) => (i.taskId ? [i.taskId] : []));
  if (tasks.length > 1) return tasks.join(', ');
  return agent.taskId ?? '—';
}

export class AgentCard extends LitElement {
  static override properties = {
    server: { type: String },
    name: { type: String, reflect: true },
    agent: { attribute: false },
    status: { type: String, reflect: true },
    done: { type: Number, reflect: true },
  };
  static override styles = [
    theme,
    css`
      :host { display: block; background: var(--_card); border: 1px solid var(--_border); border-radius: var(--_radius); padding: 0.6rem 0.8rem; min-width: 11rem; }
      :host([status='working']) { border-color: var(--_work); }
      :host([status='failed']) { border-color: var(--_bad); }
      header { display: flex; justify-content: space-between; gap: 0.5rem; align-items: baseline; }
      .name { font-weight: 600; }
      dl { display: grid; grid-template-columns: auto 1fr; gap: 0.1rem 0.6rem; margin: 0.4rem 0 0; font-size: 0.85rem; }
      dt { color: var(--_muted); } dd { margin: 0; overflow-wrap: anywhere; }
    `,
  ];
  declare server: string | null;
  declare name: string;
  declare agent: AgentState | undefined;
  declare status: string;
  declare done: number;
  readonly stores = new ClientController(this, (c) => [c.$agents, c.$models, c.$demo]);

  constructor() {
    super();
    this.server = null;
    this.name = '';
    this.status = '';
    this.done = 0;
  }

  private current(): AgentState | undefined {
    return this.agent ?? this.stores.client.$agents.get()[this.name];
  }

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('server')) this.stores.rebind();
    const agent = this.current();
    this.status = agent?.status ?? 'unknown';
    this.done = agent?.done ?? 0;
  }

  override render() {
    const agent = this.current();
    if (!agent) return html`<p class="muted">agent ${this.name || '(no name)'} is not known to the server</p>`;
    const model = this.stores.client.$models.get()[agent.name] ?? this.stores.client.$models.get()[agent.role] ?? (this.stores.client.$demo.get() ? 'demo transcripts' : '—');
    return html`
      <article aria-label="agent ${agent.name}">
        <header><span class="name">${agent.name}</span><span class="status ${agent.status}" aria-label="status ${agent.status}">${agent.status}</span></header>
        <dl>
          <dt>role</dt><dd>${agent.role}</dd>
          <dt>pool</dt><dd class="pool" title=${poolTitle(agent)}>${poolLine(agent)}</dd>
          <dt>task</dt><dd class="task">${tasksOf(agent)}</dd>
          <dt>done</dt><dd class="count-done">${agent.done}</dd>
          <dt>failed</dt><dd class="count-failed">${agent.failed}</dd>
          <dt>restarts</dt><dd>${agent.restarts}</dd>
          <dt>latency</dt><dd>${agent.lastLatencyMs === null ? '—' : `${Math.round(agent.lastLatencyMs)} ms`}</dd>
          <dt>model</dt><dd class="model">${model}</dd>
          ${agent.lastError ? html`<dt>error</dt><dd class="error">${agent.lastError}</dd>` : ''}
        </dl>
      </article>
    `;
  }
}
