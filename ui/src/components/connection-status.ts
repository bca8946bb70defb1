import { LitElement, css, html } from 'lit';
import { ClientController } from '../controller.ts';
import { theme } from '../theme.ts';

const LABEL = { connecting: 'connecting…', connected: 'connected', reconnecting: 'reconnecting…', disconnected: 'disconnected' } as const;

/** The live connection's state: connected / reconnecting / disconnected. `state` is reflected on the host. */
export class ConnectionStatusElement extends LitElement {
  static override properties = { server: { type: String }, state: { type: String, reflect: true } };
  static override styles = [theme, css`:host { display: inline-flex; align-items: center; gap: 0.35rem; } .dot { width: 0.6rem; height: 0.6rem; border-radius: 50%; background: currentColor; }`];
  declare server: string | null;
  declare state: string;
  readonly stores = new ClientController(this, (c) => [c.$status]);

  constructor() {
    super();
    this.server = null;
    this.state = 'connecting';
  }

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('server')) this.stores.rebind();
    this.state = this.stores.client.$status.get();
  }

  override render() {
    const state = this.state as keyof typeof LABEL;
    return html`<span class=${state} role="status" aria-live="polite"><span class="dot" aria-hidden="true"></span> <span class="label">${LABEL[state] ?? state}</span></span>`;
  }
}

/** A "DEMO MODE" badge, shown only while the server's demo provider answers. */
export class DemoBadge extends LitElement {
  static override properties = { server: { type: String }, active: { type: Boolean, reflect: true } };
  static override styles = [theme, css`:host(:not([active])) { display: none; } .badge { background: var(--orch-demo-bg, #d29922); color: var(--orch-demo-fg, #000); padding: 0.1rem 0.55rem; border-radius: 1rem; font-size: 0.75rem; font-weight: 700; }`];
  declare server: string | null;
  declare active: boolean;
  readonly stores = new ClientController(this, (c) => [c.$demo]);

  constructor() {
    super();
    this.server = null;
    this.active = false;
  }

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('server')) this.stores.rebind();
    this.active = this.stores.client.$demo.get();
  }

  override render() {
    return this.active ? html`<span class="badge" role="note" title="Bundled transcripts answer; no model is called">DEMO MODE</span>` : html``;
  }
}
