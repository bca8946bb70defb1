/** A connected WebSocket peer, the same on every runtime. */
export interface WsPeer {
  send(text: string): void;
  close(code?: number, reason?: string): void;
  /** Bytes queued and not yet sent: a slow client is dropped rather than buffered without bound. */
  readonly buffered: number;
}

export interface WsHandlers {
  open(peer: WsPeer): void;
  message(peer: WsPeer, text: string): void;
  close(peer: WsPeer): void;
}

export interface ServeOptions {
  port: number;
  host: string;
  /** Paths that accept a WebSocket upgrade. */
  wsPaths: string[];
  wsMaxPayload: number;
  fetch(request: Request): Promise<Response>;
  ws: WsHandlers;
}

export interface RunningServer {
  readonly port: number;
  readonly host: string;
  close(): Promise<void>;
}
