import type { ReactiveController, ReactiveControllerHost } from 'lit';
import type { ReadableAtom } from 'nanostores';
import { getClient } from './client.ts';
import type { Client } from './client.ts';

type Host = ReactiveControllerHost & HTMLElement & { server?: string | null };

/**
 * Keeps a component subscribed to some of its server's stores while it is connected, and re-renders
 * it when they change (the stores already change at most once per animation frame).
 * @example
 * class AgentCard extends LitElement {
 *   readonly stores = new ClientController(this, (c) => [c.$agents]);
 *   render() { return html`${Object.keys(this.stores.client.$agents.get()).length}`; }
 * }
 */
export class ClientController implements ReactiveController {
  readonly host: Host;
  readonly pick: (client: Client) => ReadableAtom<unknown>[];
  client: Client;
  private offs: Array<() => void> = [];

  constructor(host: Host, pick: (client: Client) => ReadableAtom<unknown>[]) {
    this.host = host;
    this.pick = pick;
    this.client = getClient(host.server);
    host.addController(this);
  }

  hostConnected(): void {
    this.client = getClient(this.host.server);
    this.offs = this.pick(this.client).map((store) => store.listen(() => this.host.requestUpdate()));
    this.host.requestUpdate();
  }

  hostDisconnected(): void {
    for (const off of this.offs) off();
    this.offs = [];
  }

  /** Call when the host's `server` changes. */
  rebind(): void {
    if (getClient(this.host.server) === this.client) return;
    this.hostDisconnected();
    if (this.host.isConnected) this.hostConnected();
  }
}
