import { STATUS_CODES, createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { DEFAULT_BODY_LIMIT, bufferedBodies, refusalBody, wsHandlersFor } from './types.ts';
import type { PlainHandler, Refusal, RunningServer, ServeOptions, WsPeer } from './types.ts';
import { admit, isRefusal, normalizeTarget } from './_target.ts';
import { BodyRefused, createBodyBudget, readBody } from './_body.ts';
import type { BodyBudget } from './_body.ts';

const NO_BODY = new Set(['GET', 'HEAD', 'OPTIONS']);

/** After refusing a body, how long the connection stays open, unread, so the client reads the answer. */
const LINGER_MS = 1000;

/**
 * Answers a refusal. Past a body limit (`drop`) nothing more of the body is read: the connection
 * stays open, unread, for a moment, so the client reads the answer instead of a reset (closing a
 * socket with unread bytes sends one), then it is closed.
 */
function refuse(res: ServerResponse, refusal: Refusal, headers: Record<string, string> = {}, drop = false): void {
  if (res.headersSent) return void res.destroy();
  const body = refusalBody(refusal);
  const socket = res.req.socket;
  if (drop) {
    // The connection cannot be reused (the rest of the body is never read), so the answer says
    // "connection: close": a client that kept it for its next request would see it closed under
    // that request ("other side closed"). node:http destroys such a socket as soon as the answer is
    // written, unread bytes and all, which sends a reset that can beat the answer: this socket only
    // half-closes instead (the answer, then FIN), and is closed after the linger below.
    socket.destroySoon = () => void socket.end();
  }
  res.writeHead(refusal.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
    ...(drop ? { connection: 'close' } : {}),
    ...headers,
  });
  res.end(body);
  if (!drop) return;
  // Nor may node:http drop the rest of the body to keep the connection (it reads it all, gigabytes
  // if declared): a body being consumed (read(0) marks it so, for one refused before its first
  // byte) is left alone, and its paused stream reads no further.
  res.req.read(0);
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/** The headers a route sees: as sent, but for the body's encoding and length, which reading undid. */
function routeHeaders(req: IncomingMessage, bodyLength: number | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  if (bodyLength !== undefined) {
    delete headers['content-encoding'];
    delete headers['transfer-encoding'];
    headers['content-length'] = String(bodyLength);
  }
  return headers;
}

async function send(res: ServerResponse, response: Response): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, key) => {
    headers[key] = key === 'set-cookie' ? [...((headers[key] as string[]) ?? []), value] : value;
  });
  if (!response.body) {
    res.writeHead(response.status, headers);
    return void res.end();
  }
  if (!(response.headers.get('content-type') ?? '').includes('event-stream')) {
    // A whole answer: one write with its length, no chunked encoding.
    const body = Buffer.from(await response.arrayBuffer());
    headers['content-length'] = String(body.byteLength);
    res.writeHead(response.status, headers);
    return void res.end(body);
  }
  res.writeHead(response.status, headers);
  res.flushHeaders();
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) res.write(chunk);
  res.end();
}

/** Serves a plain handler straight from node:http objects: no web Request/Response in between. */
async function servePlain(res: ServerResponse, handler: PlainHandler, request: Parameters<PlainHandler>[0]): Promise<void> {
  const response = await handler(request);
  const body = response.body;
  if (typeof body === 'string' || body instanceof Uint8Array) {
    res.writeHead(response.status, { ...response.headers, 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
    return;
  }
  res.writeHead(response.status, response.headers);
  res.flushHeaders();
  let gone = false;
  res.once('close', () => (gone = true));
  for await (const chunk of body) {
    if (gone) break; // the client left: stop reading upstream (the iterator's finally cleans up)
    if (!res.write(chunk)) await new Promise<void>((resolve) => (res.once('drain', resolve), res.once('close', resolve)));
  }
  res.end();
}

/** One request: admitted on its normalised target, its body read within its limit, then routed. */
async function handle(req: IncomingMessage, res: ServerResponse, options: ServeOptions, budget: BodyBudget, base: string): Promise<void> {
  const method = req.method ?? 'GET';
  const header = (name: string) => {
    const value = req.headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const admitted = admit({ method, target: req.url ?? '/', header, upgrade: false }, options.guard);
  if (isRefusal(admitted)) return refuse(res, admitted);
  let body: Uint8Array | undefined;
  if (!NO_BODY.has(method)) {
    try {
      const read = await readBody(req.iterator({ destroyOnReturn: false }), {
        limit: options.bodyLimit?.(method, admitted.target.path) ?? DEFAULT_BODY_LIMIT,
        declared: header('content-length'),
        encoding: header('content-encoding'),
        budget,
      });
      body = read.bytes;
      res.once('close', () => budget.give(read.held));
    } catch (error) {
      if (error instanceof BodyRefused) return refuse(res, error.refusal, error.headers, true);
      throw error;
    }
  }
  const headers = routeHeaders(req, body?.byteLength);
  const plain = options.plain?.(method, admitted.target.path);
  if (plain) return servePlain(res, plain, { method, url: admitted.url, headers, body: body ?? new Uint8Array() });
  const request = new Request(base + admitted.url, { method, headers });
  if (body) bufferedBodies.set(request, body);
  await send(res, await options.fetch(request));
}

function peerOf(socket: WebSocket): WsPeer {
  return {
    send: (text) => socket.send(text),
    close: (code, reason) => socket.close(code, reason),
    get buffered() {
      return socket.bufferedAmount;
    },
  };
}

/** Serves `options.fetch` and the ws paths on Node with node:http and ws. */
export function serveNode(options: ServeOptions): Promise<RunningServer> {
  const budget = createBodyBudget();
  // Routes see URLs on the server's own address, never one built from the Host header (a Host such
  // as "[::1" is refused by the guard, but must not even reach a URL parser).
  const authority = (port: number) => `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`;
  let base = authority(options.port);
  const server = createServer((req, res) => {
    handle(req, res, options, budget, base).catch((error) => {
      // Mid-answer (a stream whose source failed): end what was sent; the body's own events tell.
      if (res.headersSent) return void res.end();
      refuse(res, { status: 500, code: 'E_INTERNAL', message: String((error as Error)?.message ?? error) });
    });
  });
  server.requestTimeout = 60_000;
  server.headersTimeout = 15_000;
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.wsMaxPayload });
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    const header = (name: string) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    const refuseUpgrade = (refusal: Refusal) => {
      const body = refusalBody(refusal);
      socket.end(`HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? 'Refused'}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    };
    const target = normalizeTarget(req.url ?? '/');
    if (isRefusal(target)) return refuseUpgrade(target);
    const handlers = options.wsPaths.includes(target.path) ? wsHandlersFor(options.ws, target.path) : undefined;
    if (!handlers) {
      // e.g. Codex tries a WebSocket on /v1/responses first: say plainly that this path is HTTP only.
      socket.end('HTTP/1.1 426 Upgrade Required\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 70\r\n\r\n{"error":{"code":"E_UPGRADE","message":"no WebSocket here: use HTTP"}}');
      return;
    }
    // Serving nothing above; before any handler, the Host and token checks on that same path.
    const refusal = options.guard?.({ method: req.method ?? 'GET', path: target.path, query: target.query, header, upgrade: true });
    if (refusal) return refuseUpgrade(refusal);
    wss.handleUpgrade(req, socket, head, (ws) => {
      const peer = peerOf(ws);
      ws.on('message', (data) => handlers.message(peer, data.toString()));
      ws.on('close', () => handlers.close(peer));
      ws.on('error', () => ws.terminate());
      handlers.open(peer);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : options.port;
      base = authority(port);
      resolve({
        port,
        host: options.host,
        close: () =>
          new Promise<void>((done) => {
            for (const client of wss.clients) client.terminate();
            wss.close();
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
