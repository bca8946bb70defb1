// The proxy's upstream client: node:http(s) with one keep-alive pool per origin. fetch costs ~0.2 ms
// more per call (bench/gateway.ts), which is most of the proxy's budget. Compressed answers are
// decoded here, so the proxy reads usage and the cache stores plain text.
import { request as httpRequest, Agent as HttpAgent, type IncomingMessage } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import * as zlib from 'node:zlib';
import type { Readable } from 'node:stream';

const pools = new Map<string, HttpAgent>();

function pool(url: URL): HttpAgent {
  let agent = pools.get(url.origin);
  if (!agent) {
    const options = { keepAlive: true, keepAliveMsecs: 10_000, maxSockets: 256, maxFreeSockets: 64, timeout: 600_000 };
    agent = url.protocol === 'https:' ? new HttpsAgent(options) : new HttpAgent(options);
    pools.set(url.origin, agent);
  }
  return agent;
}

export interface UpstreamAnswer {
  status: number;
  /** Lower-case names; repeated headers joined with ', '. */
  headers: Record<string, string>;
  /** The decoded body as it arrives. */
  body: Readable;
  /** The whole decoded body as text. */
  text(): Promise<string>;
}

function decoded(res: IncomingMessage): Readable {
  const encoding = String(res.headers['content-encoding'] ?? '').trim().toLowerCase();
  const z = zlib as unknown as Record<string, (() => NodeJS.ReadWriteStream) | undefined>;
  const make = encoding === 'gzip' || encoding === 'x-gzip' ? zlib.createGunzip : encoding === 'br' ? zlib.createBrotliDecompress : encoding === 'deflate' ? zlib.createInflate : encoding === 'zstd' ? z.createZstdDecompress : undefined;
  if (!make) return res;
  const stream = make() as unknown as Readable;
  res.on('error', (error) => stream.destroy(error));
  return res.pipe(stream as unknown as NodeJS.WritableStream) as unknown as Readable;
}

/**
 * POSTs `body` and resolves when the status and headers arrive. `signal` aborts the call until the
 * caller says it is done waiting (`settled()`), so a retry loop's timeout never cuts a stream it
 * already handed to a client.
 * @example
 * const answer = await postUpstream('https://api.anthropic.com/v1/messages', { 'x-api-key': key }, JSON.stringify(body), signal);
 * if (answer.status === 200) console.log(await answer.text());
 */
export function postUpstream(target: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<UpstreamAnswer & { settled(): void }> {
  const url = new URL(target);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Error('aborted before the request was sent'));
    const req = send(
      { protocol: url.protocol, hostname: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, method: 'POST', agent: pool(url), headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } },
      (res) => {
        const flat: Record<string, string> = {};
        for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
        const stream = decoded(res);
        resolve({
          status: res.statusCode ?? 502,
          headers: flat,
          body: stream,
          async text() {
            const chunks: Buffer[] = [];
            for await (const chunk of stream) chunks.push(chunk as Buffer);
            if (!res.complete) throw new Error('the connection closed before the answer was complete');
            return Buffer.concat(chunks).toString('utf8');
          },
          settled: () => signal.removeEventListener('abort', onAbort),
        });
      },
    );
    const onAbort = () => req.destroy(new Error('aborted: the attempt timed out or the caller gave up'));
    signal.addEventListener('abort', onAbort, { once: true });
    req.on('error', (error) => {
      signal.removeEventListener('abort', onAbort);
      reject(error);
    });
    req.end(body);
  });
}
