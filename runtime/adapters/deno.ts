import { DEFAULT_BODY_LIMIT, bufferedBodies, refusalBody, wsHandlersFor } from './types.ts';
import type { Refusal, RunningServer, ServeOptions, WsPeer } from './types.ts';
import { admit, isRefusal, normalizeTarget } from './_target.ts';
import { BodyRefused, createBodyBudget, readBody } from './_body.ts';

const NO_BODY = new Set(['GET', 'HEAD', 'OPTIONS']);

function refused(refusal: Refusal, headers: Record<string, string> = {}): Response {
  return new Response(refusalBody(refusal), { status: refusal.status, headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers } });
}

/**
 * The target as the client sent it. Deno's `req.url` is "http://" + the Host header + the raw target
 * (nothing resolved yet), so the same normalisation as on Node sees the same input; a Host that is
 * not a host makes the URL unparseable, which the guard answers with 400 anyway.
 */
function rawTarget(req: Request): string | undefined {
  const prefix = `http://${req.headers.get('host') ?? ''}`;
  if (req.url.startsWith(prefix) && req.url[prefix.length] === '/') return req.url.slice(prefix.length);
  try {
    const url = new URL(req.url);
    return url.pathname + url.search;
  } catch {
    return undefined;
  }
}

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
  const budget = createBodyBudget();
  // Routes see URLs on the server's own address, never one built from the Host header.
  let base = '';
  return new Promise((resolve) => {
    const server = deno.serve(
      { port: options.port, hostname: options.host, onListen: () => undefined },
      async (req) => {
        const upgrade = req.headers.get('upgrade')?.toLowerCase() === 'websocket';
        const header = (name: string) => req.headers.get(name);
        const raw = rawTarget(req);
        if (raw === undefined) return refused({ status: 400, code: 'E_HOST', message: 'the request target or its Host header cannot be read: send a path and "Host: 127.0.0.1:<port>"' });
        if (upgrade) {
          const target = normalizeTarget(raw);
          if (isRefusal(target)) return refused(target);
          const handlers = options.wsPaths.includes(target.path) ? wsHandlersFor(options.ws, target.path) : undefined;
          if (!handlers) return new Response('{"error":{"code":"E_UPGRADE","message":"no WebSocket here: use HTTP"}}', { status: 426, headers: { 'content-type': 'application/json' } });
          const refusal = options.guard?.({ method: req.method, path: target.path, query: target.query, header, upgrade: true });
          if (refusal) return refused(refusal);
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
        const admitted = admit({ method: req.method, target: raw, header, upgrade: false }, options.guard);
        if (isRefusal(admitted)) return refused(admitted);
        const headers = new Headers(req.headers);
        let body: Uint8Array | undefined;
        let held = 0;
        if (!NO_BODY.has(req.method) && req.body) {
          try {
            const read = await readBody(req.body as unknown as AsyncIterable<Uint8Array>, {
              limit: options.bodyLimit?.(req.method, admitted.target.path) ?? DEFAULT_BODY_LIMIT,
              declared: header('content-length'),
              encoding: header('content-encoding'),
              budget,
            });
            body = read.bytes;
            held = read.held;
          } catch (error) {
            if (error instanceof BodyRefused) return refused(error.refusal, { ...error.headers, connection: 'close' });
            throw error;
          }
          headers.delete('content-encoding');
          headers.set('content-length', String(body.byteLength));
        }
        const request = new Request(base + admitted.url, { method: req.method, headers });
        if (body) bufferedBodies.set(request, body);
        try {
          return await options.fetch(request);
        } finally {
          budget.give(held);
        }
      },
    );
    base = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${server.addr.port}`;
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
