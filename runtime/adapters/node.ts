import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import type { RunningServer, ServeOptions, WsPeer } from './types.ts';

function toRequest(req: IncomingMessage, host: string, port: number): Request {
  const url = new URL(req.url ?? '/', `http://${req.headers.host ?? `${host}:${port}`}`);
  const headers = new Headers();
  for (const [key, value] of Object.entries(req.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(key, v);
    else if (value !== undefined) headers.set(key, value);
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
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
  res.writeHead(response.status, headers);
  if (!response.body) return void res.end();
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) res.write(chunk);
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

/** Serves `options.fetch` and the ws paths on Node with node:http and ws. */
export function serveNode(options: ServeOptions): Promise<RunningServer> {
  const server = createServer((req, res) => {
    options
      .fetch(toRequest(req, options.host, options.port))
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
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (!options.wsPaths.includes(path)) return void socket.destroy();
    wss.handleUpgrade(req, socket, head, (ws) => {
      const peer = peerOf(ws);
      ws.on('message', (data) => options.ws.message(peer, data.toString()));
      ws.on('close', () => options.ws.close(peer));
      ws.on('error', () => ws.terminate());
      options.ws.open(peer);
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
