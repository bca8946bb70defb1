import { refusalBody, wsHandlersFor } from './types.ts';
import type { RunningServer, ServeOptions, WsPeer } from './types.ts';

// The few Deno APIs used, declared here so the project typechecks with Node's types only.
interface DenoServer {
  finished: Promise<void>;
  shutdown(): Promise<void>;
  addr: { port: number };
}
interface DenoApi {
  serve(options: { port: number; hostname: string; onListen?: (addr: { port: number }) => void }, handler: (req: Request) => Response | Promise<Response>): DenoServer;
  upgradeWebSocket(req: Request, options?: { idleTimeout?: number }): { socket: WebSocket; response: Response };
}

/** Serves `options.fetch` and the ws paths with Deno.serve and Deno.upgradeWebSocket. */
export function serveDeno(options: ServeOptions): Promise<RunningServer> {
  const deno = (globalThis as unknown as { Deno: DenoApi }).Deno;
  const sockets = new Set<WebSocket>();
  return new Promise((resolve) => {
    const server = deno.serve(
      { port: options.port, hostname: options.host, onListen: () => undefined },
      (req) => {
        const url = new URL(req.url);
        const path = url.pathname;
        const upgrade = req.headers.get('upgrade')?.toLowerCase() === 'websocket';
        const refusal = options.guard?.({ method: req.method, url: path + url.search, header: (name) => req.headers.get(name), upgrade });
        if (refusal) return new Response(refusalBody(refusal), { status: refusal.status, headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' } });
        if (upgrade) {
          const handlers = options.wsPaths.includes(path) ? wsHandlersFor(options.ws, path) : undefined;
          if (!handlers) return new Response('not found', { status: 404 });
          const { socket, response } = deno.upgradeWebSocket(req);
          const peer: WsPeer = {
            send: (text) => socket.readyState === WebSocket.OPEN && socket.send(text),
            close: (code, reason) => socket.close(code, reason),
            get buffered() {
              return socket.bufferedAmount;
            },
          };
          socket.onopen = () => {
            sockets.add(socket);
            handlers.open(peer);
          };
          socket.onmessage = (event) => {
            const text = typeof event.data === 'string' ? event.data : '';
            if (text.length > options.wsMaxPayload) return socket.close(1009, 'message too big');
            handlers.message(peer, text);
          };
          socket.onclose = () => {
            sockets.delete(socket);
            handlers.close(peer);
          };
          return response;
        }
        return options.fetch(req);
      },
    );
    resolve({
      port: server.addr.port,
      host: options.host,
      async close() {
        for (const socket of sockets) socket.close(1001, 'server stopping');
        await server.shutdown();
      },
    });
  });
}
