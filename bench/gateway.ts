// The gateway's cost: latency a client sees calling the fake upstream directly, next to the same call
// through our proxy (cache miss: every request unique; cache hit: one request repeated), measured in
// the same run, interleaved in rounds so machine noise hits all three alike. The fake upstream and the
// server each run in their own process; the client here is node:http with one keep-alive socket.
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensurePeers } from './peers.ts';
import { startFake, startGatewayServer, startPortkey, stop } from './_procs.ts';
import { notMeasured, quantile, ratio, type Figure, type Section } from './lib.ts';

const ROUNDS = 7;
const PER_ROUND = 300;
const WARMUP = 300;

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

/** One POST; resolves with the milliseconds from write to the last byte. */
function post(base: string, path: string, body: string, extra: Record<string, string> = {}): Promise<number> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const req = request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-api-key': 'bench-client', 'anthropic-version': '2023-06-01', ...extra } },
      (res) => {
        res.on('data', () => {});
        res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t) : reject(new Error(`${path}: status ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

let counter = 0;
const body = (unique: boolean, padding: string) =>
  JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 64, system: padding, messages: [{ role: 'user', content: unique ? `question ${counter++}` : 'the same question' }] });

function figure(name: string, samples: number[]): Figure[] {
  const q = (x: number) => +quantile(samples, x).toFixed(4);
  return [
    { name: `${name} p50`, unit: 'ms', median: q(0.5), min: q(0), max: q(0.99) },
    { name: `${name} p99`, unit: 'ms', median: q(0.99), min: q(0.9), max: q(1) },
  ];
}

/** Latency samples for each path with a system prompt of `padBytes` bytes, interleaved in rounds. */
async function measurePaths(fake: string, server: string, portkey: { url: string; headers: Record<string, string> } | null, padBytes: number) {
  const padding = 'x'.repeat(padBytes);
  const direct: number[] = [];
  const miss: number[] = [];
  const hit: number[] = [];
  const peer: number[] = [];
  for (let i = 0; i < WARMUP; i++) {
    await post(fake, '/v1/messages', body(true, padding));
    await post(server, '/v1/messages', body(true, padding));
    await post(server, '/v1/messages', body(false, padding));
    if (portkey) await post(portkey.url, '/v1/messages', body(true, padding), portkey.headers);
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < PER_ROUND; i++) direct.push(await post(fake, '/v1/messages', body(true, padding)));
    for (let i = 0; i < PER_ROUND; i++) miss.push(await post(server, '/v1/messages', body(true, padding)));
    for (let i = 0; i < PER_ROUND; i++) hit.push(await post(server, '/v1/messages', body(false, padding)));
    if (portkey) for (let i = 0; i < PER_ROUND; i++) peer.push(await post(portkey.url, '/v1/messages', body(true, padding), portkey.headers));
  }
  return { direct, miss, hit, peer };
}

export async function gatewayBench(): Promise<Section> {
  const fake = await startFake();
  const dataDir = mkdtempSync(join(tmpdir(), 'orch-bench-gw-'));
  const server = await startGatewayServer(fake.url, dataDir);
  const portkey = await startPortkey(fake.url);
  const peer = 'proc' in portkey ? portkey : null;
  try {
    const small = await measurePaths(fake.url, server.url, peer, 200);
    const large = await measurePaths(fake.url, server.url, peer, 100_000);
    const figures: Figure[] = [];
    if (!peer) figures.push(notMeasured('Portkey gateway (@portkey-ai/gateway)', 'reason' in portkey ? portkey.reason : 'unknown'));
    const ratios: Record<string, number> = {};
    const notes: string[] = [];
    for (const [label, run] of [['1 KB request', small], ['100 KB request (Claude Code size)', large]] as const) {
      figures.push(...figure(`direct to upstream, ${label}`, run.direct), ...figure(`proxy, cache miss, ${label}`, run.miss), ...figure(`proxy, cache hit, ${label}`, run.hit));
      const added50 = quantile(run.miss, 0.5) - quantile(run.direct, 0.5);
      const added99 = quantile(run.miss, 0.99) - quantile(run.direct, 0.99);
      const key = label.startsWith('1 KB') ? 'small' : 'large';
      ratios[`${key}MissAddedP50Ms`] = +added50.toFixed(4);
      ratios[`${key}MissAddedP99Ms`] = +added99.toFixed(4);
      ratios[`${key}HitP50Ms`] = +quantile(run.hit, 0.5).toFixed(4);
      ratios[`${key}HitVsDirect`] = ratio(quantile(run.hit, 0.5), quantile(run.direct, 0.5));
      if (peer) {
        figures.push(...figure(`Portkey gateway 1.15.2 (no cache), ${label}`, run.peer));
        const peer50 = quantile(run.peer, 0.5) - quantile(run.direct, 0.5);
        const peer99 = quantile(run.peer, 0.99) - quantile(run.direct, 0.99);
        ratios[`${key}PortkeyAddedP50Ms`] = +peer50.toFixed(4);
        ratios[`${key}MissAddedVsPortkeyP50`] = ratio(added50, peer50);
        ratios[`${key}MissAddedVsPortkeyP99`] = ratio(added99, peer99);
        notes.push(`${label}: Portkey adds **${peer50.toFixed(3)} ms** at p50 and ${peer99.toFixed(3)} ms at p99; our miss overhead / Portkey's = **${ratios[`${key}MissAddedVsPortkeyP50`]}×** at p50 and ${ratios[`${key}MissAddedVsPortkeyP99`]}× at p99 (goal ≤ 0.5×).`);
      }
      notes.push(
        `${label}: the proxy adds **${added50.toFixed(3)} ms** at p50 and ${added99.toFixed(3)} ms at p99 on a cache miss (goal ≤ 0.25 ms p50); a cache hit takes **${quantile(run.hit, 0.5).toFixed(3)} ms** p50 end to end (goal ≤ 0.2 ms), ${ratios[`${key}HitVsDirect`]}× the direct call.`,
      );
    }
    notes.push(`Each path: ${ROUNDS} interleaved rounds of ${PER_ROUND} sequential requests over one keep-alive connection after ${WARMUP} warm-up requests; fake upstream, our server and Portkey (started with \`--headless\`, routed by \`x-portkey-provider: anthropic\` + \`x-portkey-custom-host\`) each in their own process. For p50 rows min–max is p0–p99; for p99 rows it is p90–p100.`);
    return { title: 'LLM gateway (proxy vs direct vs Portkey)', figures, ratios, notes };
  } finally {
    agent.destroy();
    if (peer) await stop(peer.proc);
    await stop(server.proc);
    await stop(fake.proc);
    rmSync(dataDir, { recursive: true, force: true });
  }
}
