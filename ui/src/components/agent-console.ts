import { LitElement, css, html } from 'lit';
import type { ConsoleLine } from '../client.ts';
import { ClientController } from '../controller.ts';
import { clock, theme } from '../theme.ts';

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
const VISIBLE = 400;

/**
 * The agents' log lines and streamed tokens as they happen, filtered by agent, level and task; it
 * follows the tail unless the reader scrolls up (or unticks "follow"). A `role="log"` region.
 */
export class AgentConsole extends LitElement {
  static override properties = {
    server: { type: String },
    agent: { type: String, reflect: true },
    level: { type: String, reflect: true },
    task: { type: String, reflect: true },
    tokens: { type: Boolean },
    follow: { type: Boolean },
  };
  static override styles = [
    theme,
    css`
      :host { display: block; }
      .filters { display: flex; gap: 0.5rem; flex-wrap: wrap; align-items: center; margin-bottom: 0.4rem; font-size: 0.85rem; }
      .log { height: var(--orch-console-height, 16rem); overflow: auto; background: var(--_bg); border: 1px solid var(--_border); border-radius: 0.3rem; padding: 0.3rem 0.5rem; font: 0.78rem/1.35 var(--_mono); }
      .line { white-space: pre-wrap; overflow-wrap: anywhere; }
      .line .src { color: var(--_accent); }
      .line.warn .lvl { color: var(--_work); } .line.error .lvl { color: var(--_bad); } .line.token { color: var(--_muted); }
    `,
  ];
  declare server: string | null;
  declare agent: string;
  declare level: string;
  declare task: string;
  declare tokens: boolean;
  declare follow: boolean;
  readonly stores = new ClientController(this, (c) => [c.$lines, c.$agents]);

  constructor() {
    super();
    this.server = null;
    this.agent = '';
    this.level = 'debug';
    this.task = '';
    this.tokens = true;
    this.follow = true;
  }

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('server')) this.stores.rebind();
  }

  private visible(lines: ConsoleLine[]): ConsoleLine[] {
    const min = LEVELS.indexOf(this.level as (typeof LEVELS)[number]);
    const out = lines.filter(
      (l) =>
        (!this.agent || l.source === this.agent) &&
        (!this.task || l.taskId === this.task) &&
        (l.level === 'token' ? this.tokens : LEVELS.indexOf(l.level) >= min),
    );
    return out.slice(-VISIBLE);
  }

  override updated(): void {
    if (!this.follow) return;
    const log = this.renderRoot.querySelector('.log');
    if (log) log.scrollTop = log.scrollHeight;
  }

  private onScroll(event: Event): void {
    const log = event.currentTarget as HTMLElement;
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 8;
    if (this.follow !== atBottom) this.follow = atBottom;
  }

  override render() {
    const lines = this.stores.client.$lines.get();
    const sources = [...new Set([...Object.values(this.stores.client.$agents.get()).map((a) => a.role), ...lines.map((l) => l.source)])].sort();
    const tasks = [...new Set(lines.map((l) => l.taskId).filter((t): t is string => !!t))];
    const shown = this.visible(lines);
    return html`
      <div class="filters" role="group" aria-label="console filters">
        <label>agent <select class="agent" @change=${(e: Event) => (this.agent = (e.target as HTMLSelectElement).value)}>
          <option value="">all</option>${sources.map((s) => html`<option value=${s} ?selected=${s === this.agent}>${s}</option>`)}
        </select></label>
        <label>level <select class="level" @change=${(e: Event) => (this.level = (e.target as HTMLSelectElement).value)}>
          ${LEVELS.map((l) => html`<option value=${l} ?selected=${l === this.level}>${l}+</option>`)}
        </select></label>
        <label>task <select class="task" @change=${(e: Event) => (this.task = (e.target as HTMLSelectElement).value)}>
          <option value="">all</option>${tasks.map((t) => html`<option value=${t} ?selected=${t === this.task}>${t}</option>`)}
        </select></label>
        <label><input type="checkbox" class="tokens" .checked=${this.tokens} @change=${(e: Event) => (this.tokens = (e.target as HTMLInputElement).checked)}> tokens</label>
        <label><input type="checkbox" class="follow" .checked=${this.follow} @change=${(e: Event) => (this.follow = (e.target as HTMLInputElement).checked)}> follow</label>
        <span class="muted count">${shown.length} of ${lines.length} lines</span>
      </div>
      <div class="log" role="log" aria-live="polite" aria-label="agent console" tabindex="0" @scroll=${this.onScroll}>
        ${shown.map(
          (l) => html`<div class="line ${l.level}" data-source=${l.source} data-task=${l.taskId ?? ''}><span class="muted">${clock(l.ts)}</span> <span class="lvl">${l.level === 'token' ? '…' : l.level}</span> <span class="src">${l.source}</span> ${l.text}</div>`,
        )}
      </div>
    `;
  }
}
