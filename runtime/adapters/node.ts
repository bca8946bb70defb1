import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { bufferedBodies, refusalBody, wsHandlersFor } from './types.ts';
import type { GuardInput, PlainHandler, RunningServer, ServeOptions, WsPeer } from './types.ts';

// Bodies up to this size are read into memory before the Request is made: a web stream over the
// socket costs more per request than the whole of a small proxied call. Larger ones stream.
const BUFFER_BODY_BYTES = 1024 * 1024;

async function toRequest(req: IncomingMessage, host: string, port: number): Promise<Request> {
  const url = new URL(req.url ?? '/', `http://${req.headers.host ?? `${host}:${port}`}`);
  const headers = new Headers();
  for (const [key, value] of Object.entries(req.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(key, v);
    else if (value !== undefined) headers.set(key, value);
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  const length = Number(req.headers['content-length'] ?? NaN);
  if (hasBody && Number.isFinite(length) && length <= BUFFER_BODY_BYTES) {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const request = new Request(url, { method: req.method, headers });
    bufferedBodies.set(request, Buffer.concat(chunks));
    return request;
  }
  return new Request(url, {
    method: req.method,
    headers,
    body: hasBody ? (Readable.toWeb(req) as ReadableStream) : undefined,
    duplex: 'half',
  } as RequestInit);
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

// The plain path's own cap; the handler applies its (smaller) limit with a provider-shaped error.
const MAX_PLAIN_BODY = 64 * 1024 * 1024;

/** Serves a plain handler straight from node:http objects: no web Request/Response in between. */
async function servePlain(req: IncomingMessage, res: ServerResponse, handler: PlainHandler): Promise<void> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).byteLength;
    if (size > MAX_PLAIN_BODY) {
      res.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ error: { code: 'E_INVALID', message: `request body is over ${MAX_PLAIN_BODY} bytes` } }));
      req.destroy();
      return;
    }
    chunks.push(chunk as Buffer);
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  const response = await handler({ method: req.method ?? 'POST', url: req.url ?? '/', headers, body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks) });
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

function peerOf(socket: WebSocket): WsPeer {
  return {
    send: (text) => socket.send(text),
    close: (code, reason) => socket.close(code, reason),
    get buffered() {
      return socket.bufferedAmount;
    },
  };
}

function guardInput(req: IncomingMessage, upgrade: boolean): GuardInput {
  return {
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    header: (name) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value[0] : value;
    },
    upgrade,
  };
}

/** Serves `options.fetch` and the ws paths on Node with node:http and ws. */
export function serveNode(options: ServeOptions): Promise<RunningServer> {
  const server = createServer((req, res) => {
    const refusal = options.guard?.(guardInput(req, false));
    if (refusal) {
      const body = refusalBody(refusal);
      res.writeHead(refusal.status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), 'cache-control': 'no-store' });
      res.end(body);
      return;
    }
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const plain = options.plain?.(req.method ?? 'GET', query < 0 ? url : url.slice(0, query));
    if (plain) {
      servePlain(req, res, plain).catch((error) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'E_INTERNAL', message: String((error as Error)?.message ?? error) } }));
      });
      return;
    }
    toRequest(req, options.host, options.port)
      .then((request) => options.fetch(request))
      .then((response) => send(res, response))
      .catch((error) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'E_INTERNAL', message: String((error as Error)?.message ?? error) } }));
      });
  });
  server.requestTimeout = 60_000;
  server.headersTimeout = 15_000;
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.wsMaxPayload });
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const handlers = options.wsPaths.includes(path) ? wsHandlersFor(options.ws, path) : undefined;
    if (!handlers) {
      // e.g. Codex tries a WebSocket on /v1/responses first: say plainly that this path is HTTP only.
      socket.end('HTTP/1.1 426 Upgrade Required\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 70\r\n\r\n{"error":{"code":"E_UPGRADE","message":"no WebSocket here: use HTTP"}}');
      return;
    }
    // After the 426 above (which serves nothing), before any handler: the token and Host checks.
    const refusal = options.guard?.(guardInput(req, true));
    if (refusal) {
      const body = refusalBody(refusal);
      socket.end(`HTTP/1.1 ${refusal.status} ${refusal.status === 401 ? 'Unauthorized' : 'Forbidden'}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      return;
    }
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
