import { LitElement, css, html, svg } from 'lit';
import { Graph, layout } from '@dagrejs/dagre';
import { Stage } from '../../../runtime/protocol/mod.ts';
import type { ActorNode, InspectActorId, InspectHistoryEntry, InspectMachine, InspectServerFrame } from '../frames.ts';
import { ClientController } from '../controller.ts';
import { clock, theme } from '../theme.ts';

type StateFrame = Extract<InspectServerFrame, { type: 'state' }>;
interface Laid {
  width: number;
  height: number;
  nodes: Array<{ id: string; key: string; x: number; y: number; w: number; h: number; final: boolean; any: boolean }>;
  edges: Array<{ id: string; d: string; label: string; x: number; y: number }>;
}

const MAX_LOG = 200;
const ANY = '*any*';

/** The ids of the active state nodes for an XState state value ('a' or { a: 'b' } or { a: { … } }). */
export function activeIds(root: string, value: unknown): Set<string> {
  const out = new Set<string>([root]);
  const walk = (prefix: string, v: unknown): void => {
    if (typeof v === 'string') out.add(`${prefix}.${v}`);
    else if (v && typeof v === 'object')
      for (const [k, child] of Object.entries(v)) {
        out.add(`${prefix}.${k}`);
        walk(`${prefix}.${k}`, child);
      }
  };
  walk(root, value);
  return out;
}

/** The task's stage after each persisted entry: 'queued', then every `task.stage` event's `to`. */
export function stagesOf(entries: InspectHistoryEntry[]): string[] {
  let stage: string = Stage.Queued;
  return entries.map((e) => {
    if (e.type === 'task.stage' && e.data && typeof (e.data as { to?: unknown }).to === 'string') stage = (e.data as { to: string }).to;
    else if (e.type === 'task.retried') stage = Stage.Queued;
    return stage;
  });
}

/** Lays a machine definition out with dagre (top to bottom); transitions from the root start at an "any state" node. */
function lay(def: InspectMachine): Laid {
  const g = new Graph({ multigraph: false });
  g.setGraph({ rankdir: 'TB', nodesep: 28, ranksep: 42, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  const shown = def.nodes.filter((n) => n.id !== def.root);
  for (const n of shown) g.setNode(n.id, { label: n.key, width: Math.max(70, n.key.length * 8 + 24), height: 30 });
  const labels = new Map<string, string[]>();
  for (const e of def.edges) {
    const source = e.source === def.root ? ANY : e.source;
    for (const target of e.target) {
      if (target === def.root) continue;
      const key = `${source}\u0000${target}`;
      labels.set(key, [...(labels.get(key) ?? []), e.guard ? `${e.event} [${e.guard}]` : e.event]);
    }
  }
  if ([...labels.keys()].some((k) => k.startsWith(`${ANY}\u0000`))) g.setNode(ANY, { label: 'any state', width: 80, height: 26 });
  for (const [key, list] of labels) {
    const [source, target] = key.split('\u0000');
    if (!g.hasNode(source) || !g.hasNode(target)) continue;
    const label = [...new Set(list)].join(' | ');
    g.setEdge(source, target, { label, width: Math.min(160, label.length * 5.5), height: 12, labelpos: 'c' });
  }
  layout(g);
  const final = new Set(def.nodes.filter((n) => n.type === 'final').map((n) => n.id));
  const nodes = g.nodes().map((id: string) => {
    const n = g.node(id) as { x: number; y: number; width: number; height: number; label: string };
    return { id, key: n.label, x: n.x, y: n.y, w: n.width, h: n.height, final: final.has(id), any: id === ANY };
  });
  const edges = g.edges().map((e: { v: string; w: string }) => {
    const ed = g.edge(e) as { points: Array<{ x: number; y: number }>; label: string; x: number; y: number };
    const d = ed.points.map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
    return { id: `${e.v}->${e.w}`, d, label: ed.label, x: ed.x, y: ed.y };
  });
  const graph = g.graph() as { width?: number; height?: number };
  return { width: graph.width ?? 300, height: graph.height ?? 200, nodes, edges };
}

/**
 * Any actor's state machine, live, from the server's /ws/inspect channel: the graph laid out from the
 * machine definition with the current state highlighted, the event log with payloads, the context, and
 * for a task a scrubber through its persisted history (time travel from the store's event log).
 */
export class ActorInspector extends LitElement {
  static override properties = {
    server: { type: String },
    actor: { type: String, reflect: true },
    shownState: { type: String, attribute: 'shown-state', reflect: true },
    actors: { state: true },
    tree: { state: true },
    definition: { state: true },
    live: { state: true },
    entries: { state: true },
    step: { state: true },
    log: { state: true },
    error: { state: true },
  };
  static override styles = [
    theme,
    css`
      :host { display: block; }
      .bar { display: flex; gap: 0.5rem; align-items: center; flex-wrap: wrap; margin-bottom: 0.5rem; }
      .grid { display: grid; grid-template-columns: minmax(16rem, 1fr) minmax(16rem, 1fr); gap: 0.75rem; }
      @media (max-width: 60rem) { .grid { grid-template-columns: 1fr; } }
      .graph { overflow: auto; background: var(--_bg); border: 1px solid var(--_border); border-radius: 0.3rem; max-height: 34rem; }
      svg text { fill: var(--_fg); font: 12px var(--_mono); }
      svg .edge path { fill: none; stroke: var(--_muted); stroke-width: 1.2; }
      svg .edge text { fill: var(--_muted); font-size: 9px; }
      svg .node rect { fill: var(--_card); stroke: var(--_border); stroke-width: 1.5; }
      svg .node.final rect { stroke-width: 3; stroke-dasharray: none; }
      svg .node.any rect { stroke-dasharray: 4 3; }
      svg .node[data-active='true'] rect { fill: color-mix(in srgb, var(--_accent) 30%, var(--_card)); stroke: var(--_accent); stroke-width: 3; }
      .scrub { display: flex; gap: 0.4rem; align-items: center; margin: 0.5rem 0; }
      .scrub input[type='range'] { flex: 1; }
      ol.log { list-style: none; margin: 0; padding: 0; max-height: 16rem; overflow: auto; font: 0.78rem/1.35 var(--_mono); }
      ol.log li { padding: 0.15rem 0.3rem; border-bottom: 1px solid var(--_border); cursor: pointer; }
      ol.log li[aria-current='step'] { background: color-mix(in srgb, var(--_accent) 22%, transparent); }
      ol.log .payload { color: var(--_muted); white-space: pre-wrap; word-break: break-word; }
      pre.context { background: var(--_bg); border: 1px solid var(--_border); border-radius: 0.3rem; padding: 0.5rem; overflow: auto; max-height: 20rem; font: 0.75rem/1.35 var(--_mono); margin: 0; }
      .err { color: var(--_bad); }
    `,
  ];
  declare server: string | null;
  declare actor: string | null;
  declare shownState: string | null;
  declare actors: string[];
  /** The supervision tree from the server's 'actors' frame: the picker groups actors by it. */
  declare tree: ActorNode | null;
  declare definition: InspectMachine | null;
  declare live: StateFrame | null;
  declare entries: InspectHistoryEntry[];
  /** The scrubber's position in `entries`; null follows the live end. */
  declare step: number | null;
  declare log: StateFrame[];
  declare error: string | null;
  readonly stores = new ClientController(this, (c) => [c.$agents, c.$tasks]);
  private socket: WebSocket | null = null;
  private subscribed: string | null = null;
  private laid: { def: InspectMachine; laid: Laid } | null = null;
  private retry: ReturnType<typeof setTimeout> | null = null;

  constructor() {
    super();
    this.server = null;
    this.actor = null;
    this.shownState = null;
    this.actors = [];
    this.tree = null;
    this.forget();
  }

  /** Forgets what was shown of the previous actor. */
  private forget(): void {
    this.definition = null;
    this.live = null;
    this.entries = [];
    this.step = null;
    this.log = [];
    this.error = null;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.open();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    this.socket?.close(1000, 'inspector closed');
    this.socket = null;
  }

  private open(refresh = !this.stores.client.hasToken()): void {
    if (refresh) {
      void this.stores.client.refreshToken().then(() => this.isConnected && this.open(false));
      return;
    }
    const socket = new WebSocket(this.stores.client.wsUrl('/ws/inspect'));
    let opened = false;
    socket.addEventListener('open', () => (opened = true));
    this.socket = socket;
    this.subscribed = null;
    socket.onopen = () => this.sync();
    socket.onmessage = (event) => this.receive(JSON.parse(String(event.data)) as InspectServerFrame);
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      // Refused before it opened: perhaps a token from before a server restart.
      if (this.isConnected) this.retry = setTimeout(() => this.open(!opened), 1000);
    };
  }

  private sync(): void {
    if (this.socket?.readyState !== WebSocket.OPEN || this.subscribed === this.actor) return;
    this.subscribed = this.actor;
    this.socket.send(JSON.stringify(this.actor ? { type: 'subscribe', actor: this.actor } : { type: 'unsubscribe' }));
  }

  /** Asks for the actor list and tree afresh (the picker shows what runs now when it is opened). */
  private refreshActors(): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ type: 'actors' }));
  }

  private receive(frame: InspectServerFrame): void {
    if (frame.type === 'actors') {
      this.actors = frame.actors;
      this.tree = frame.tree ?? null;
    }
    else if (frame.type === 'error') this.error = frame.message;
    else if (frame.actor !== this.actor) return;
    else if (frame.type === 'machine') {
      this.definition = frame.definition;
      this.error = null;
    } else if (frame.type === 'history') this.entries = frame.entries;
    else {
      this.live = frame;
      if (frame.event) this.log = [...this.log, frame].slice(-MAX_LOG);
    }
  }

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('server')) {
      this.stores.rebind();
      if (changed.get('server') !== undefined && this.isConnected) {
        this.socket?.close(1000, 'server changed');
        this.open();
      }
    }
    if (changed.has('actor')) {
      this.forget();
      this.sync();
    }
    this.shownState = this.highlighted();
  }

  /** The state key shown highlighted: at the scrubber's step, or the live one. */
  private highlighted(): string | null {
    if (this.step !== null && this.entries.length) return stagesOf(this.entries)[Math.min(this.step, this.entries.length - 1)] ?? null;
    const value = this.live?.value;
    if (typeof value === 'string') return value;
    if (value && typeof value === 'object') return JSON.stringify(value);
    return null;
  }

  private moveTo(step: number | null): void {
    if (step === null || !this.entries.length) return void (this.step = null);
    const last = this.entries.length - 1;
    this.step = step >= last ? null : Math.max(0, step);
  }

  private keys(event: KeyboardEvent): void {
    const at = this.step ?? this.entries.length - 1;
    if (event.key === 'ArrowLeft' || event.key === 'ArrowDown') this.moveTo(at - 1);
    else if (event.key === 'ArrowRight' || event.key === 'ArrowUp') this.moveTo(at + 1);
    else if (event.key === 'Home') this.moveTo(0);
    else if (event.key === 'End') this.moveTo(null);
    else return;
    event.preventDefault();
  }

  private graph(def: InspectMachine) {
    if (this.laid?.def !== def) this.laid = { def, laid: lay(def) };
    const { laid } = this.laid;
    let active: Set<string>;
    if (this.step !== null) active = activeIds(def.root, this.shownState);
    else active = activeIds(def.root, this.live?.value ?? null);
    return html`<svg role="img" aria-label="state machine ${def.id}${this.shownState ? `, current state ${this.shownState}` : ''}" width=${laid.width} height=${laid.height} viewBox="0 0 ${laid.width} ${laid.height}">
      <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="currentColor"></path></marker></defs>
      ${laid.edges.map((e) => svg`<g class="edge" data-edge=${e.id}><path d=${e.d} marker-end="url(#arrow)"></path><text x=${e.x} y=${e.y} text-anchor="middle">${e.label.length > 34 ? `${e.label.slice(0, 33)}…` : e.label}<title>${e.label}</title></text></g>`)}
      ${laid.nodes.map((n) => {
        const on = active.has(n.id);
        return svg`<g class="node ${n.final ? 'final' : ''} ${n.any ? 'any' : ''}" data-state=${n.key} data-id=${n.id} data-active=${String(on)} aria-current=${on ? 'step' : 'false'}>
          <rect x=${n.x - n.w / 2} y=${n.y - n.h / 2} width=${n.w} height=${n.h} rx="6"></rect>
          <text x=${n.x} y=${n.y + 4} text-anchor="middle">${n.key}</text></g>`;
      })}
    </svg>`;
  }

  /**
   * The picker's groups, in the supervision tree's order: the root, each pool with its instances (the
   * agents subtree), the running tasks (the tasks subtree), then every other actor known (finished and
   * queued tasks). Without a tree yet, one group holds them all.
   */
  private pickerGroups(known: Set<string>): Array<[string, Array<[string, string]>]> {
    const tree = this.tree;
    if (!tree) return [['actors', [...known].map((id) => [id, id])]];
    const placed = new Set<string>();
    const entry = (node: ActorNode, text: string): Array<[string, string]> => {
      if (!node.actor || placed.has(node.actor)) return [];
      placed.add(node.actor);
      return [[node.actor, text]];
    };
    const agents = tree.children.find((c) => c.kind === 'agents');
    const tasks = tree.children.find((c) => c.kind === 'tasks');
    const groups: Array<[string, Array<[string, string]>]> = [['root supervisor', entry(tree, `supervisor (${tree.status})`)]];
    for (const pool of agents?.children ?? []) {
      groups.push([`agents › ${pool.id.replace(/^pool:/, '')} (${pool.detail?.busy ?? 0}/${pool.detail?.concurrency ?? 0} busy)`,
        pool.children.flatMap((instance) => entry(instance, `${instance.id} · ${instance.status}${instance.detail?.task ? ` · ${instance.detail.task}` : ''}`))]);
    }
    groups.push([`tasks › running (${tasks?.children.length ?? 0} of at most ${tasks?.detail?.maxRunning ?? '?'})`,
      (tasks?.children ?? []).flatMap((task) => entry(task, `${task.id} · ${task.detail?.stage ?? task.status}`))]);
    const rest = [...known].filter((id) => !placed.has(id));
    if (rest.length) groups.push(['other tasks (queued or finished)', rest.map((id) => [id, id])]);
    return groups.filter(([, ids]) => ids.length > 0);
  }

  override render() {
    const client = this.stores.client;
    const options = new Set<string>(['supervisor', ...Object.keys(client.$agents.get()).map((n) => `agent:${n}`), ...Object.keys(client.$tasks.get()).reverse().map((id) => `task:${id}`), ...this.actors]);
    if (this.actor) options.add(this.actor);
    const def = this.definition;
    const isTask = this.actor?.startsWith('task:') ?? false;
    const last = this.entries.length - 1;
    const at = this.step ?? last;
    const stages = stagesOf(this.entries);
    return html`
      <div class="bar">
        <label>Actor <select class="actor" aria-label="actor to inspect" @focus=${() => this.refreshActors()} @change=${(e: Event) => (this.actor = (e.target as HTMLSelectElement).value || null)}>
          <option value="" ?selected=${!this.actor}>choose…</option>
          ${this.pickerGroups(options).map(([label, ids]) => html`<optgroup label=${label}>${ids.map(([id, text]) => html`<option value=${id} ?selected=${id === this.actor}>${text}</option>`)}</optgroup>`)}
        </select></label>
        ${def ? html`<span class="muted">${def.id}${def.version ? ` (${def.version})` : ''} · state <strong class="current">${this.shownState ?? '—'}</strong>${this.step !== null ? html` <span class="past">(history ${this.step + 1}/${this.entries.length})</span>` : html` <span class="ok">live</span>`}</span>` : ''}
      </div>
      ${this.error ? html`<p class="err" role="alert">${this.error}</p>` : ''}
      ${!this.actor ? html`<p class="muted">Choose an actor to see its state machine.</p>` : !def ? html`<p class="muted" role="status">loading ${this.actor}…</p>` : html`
        <div class="graph">${this.graph(def)}</div>
        ${isTask && this.entries.length
          ? html`<div class="scrub" role="group" aria-label="history scrubber" @keydown=${this.keys}>
              <button class="back" aria-label="step back" ?disabled=${at <= 0} @click=${() => this.moveTo(at - 1)}>◀</button>
              <input type="range" aria-label="history position" min="0" max=${last} .value=${String(at)} aria-valuetext="${at + 1} of ${this.entries.length}: ${stages[at]}" @input=${(e: Event) => this.moveTo(Number((e.target as HTMLInputElement).value))} />
              <button class="forward" aria-label="step forward" ?disabled=${this.step === null} @click=${() => this.moveTo(at + 1)}>▶</button>
              <button class="live" ?disabled=${this.step === null} @click=${() => this.moveTo(null)}>Live</button>
            </div>`
          : ''}
        <div class="grid">
          <section aria-label="event log"><h3>Events</h3>
            ${isTask
              ? html`<ol class="log">${this.entries.map((e, i) => html`<li data-seq=${e.seq} data-type=${e.type} aria-current=${i === at ? 'step' : 'false'} @click=${() => this.moveTo(i)}><span class="muted">${clock(e.at)}</span> <strong>${e.type}</strong> → ${stages[i]}<div class="payload">${JSON.stringify(e.data)}</div></li>`)}</ol>`
              : html`<ol class="log">${this.log.map((f) => html`<li data-type=${f.event!.type}><span class="muted">${clock(f.at)}</span> <strong>${f.event!.type}</strong> → ${JSON.stringify(f.value)}<div class="payload">${JSON.stringify(f.event!.payload)}</div></li>`)}</ol>
                 ${this.log.length ? '' : html`<p class="muted">No events since you opened it.</p>`}`}
          </section>
          <section aria-label="context"><h3>Context${isTask && this.step !== null ? html` <span class="muted">(now; history keeps events, not contexts)</span>` : ''}</h3>
            <pre class="context">${JSON.stringify(this.live?.context ?? null, null, 2)}</pre>
          </section>
        </div>`}
    `;
  }
}
