// The gateway under load: requests/s and latency when autocannon, in its own process, drives the fake
// upstream directly, our proxy (cache miss: every body unique; cache hit: one body repeated) and
// Portkey's gateway (no cache) with 1 and 16 connections, interleaved in rounds so machine noise hits
// every target alike. The fake upstream, our server, Portkey and each autocannon run are separate processes.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensurePeers, PEERS } from './peers.ts';
import { startFake, startGatewayServer, startPortkey, stop } from './_procs.ts';
import { notMeasured, ratio, stats, type Figure, type Section } from './lib.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const ROUNDS = 3;
const DURATION = 3;
const WARMUP = 1;
const CONNECTIONS = [1, 16] as const;

interface Target { label: string; key: string; url: string; headers: Record<string, string>; unique: boolean }
interface Run { rps: number; p50: number; p99: number }

const BODY = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 64, system: 'x'.repeat(200), messages: [{ role: 'user', content: 'question __UNIQUE__' }] });

/** One autocannon run in its own process (bench/peers/load.js); fails on any non-2xx, error or timeout. */
function load(target: Target, connections: number, duration: number): Promise<Run> {
  const config = { url: new URL('/v1/messages', target.url).href, connections, duration, unique: target.unique, body: BODY, headers: { 'content-type': 'application/json', 'x-api-key': 'bench-client', 'anthropic-version': '2023-06-01', ...target.headers } };
  const proc = spawn(process.execPath, [join(PEERS, 'load.js'), JSON.stringify(config)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.on('data', (c: Buffer) => (out += c));
  proc.stderr.on('data', (c: Buffer) => (err += c));
  return new Promise((resolve, reject) => {
    proc.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`autocannon on ${target.label} exited with ${code}: ${err}`));
      const r = JSON.parse(out) as { duration: number; errors: number; timeouts: number; non2xx: number; requests: { total: number }; latency: { p50: number; p99: number } };
      if (r.errors || r.timeouts || r.non2xx) return reject(new Error(`${target.label}, ${connections} connections: ${r.errors} errors, ${r.timeouts} timeouts, ${r.non2xx} non-2xx`));
      resolve({ rps: r.requests.total / r.duration, p50: r.latency.p50, p99: r.latency.p99 });
    });
  });
}

export async function gatewayLoadBench(): Promise<Section> {
  const ready = ensurePeers();
  if (!ready.ok) return { title: 'LLM gateway under load (autocannon)', figures: [notMeasured('gateway under load', ready.reason)], ratios: {}, notes: [] };
  const fake = await startFake();
  const dataDir = mkdtempSync(join(tmpdir(), 'orch-bench-gwl-'));
  const server = await startGatewayServer(fake.url, dataDir);
  const portkey = await startPortkey(fake.url);
  const peer = 'proc' in portkey ? portkey : null;
  try {
    const targets: Target[] = [
      { label: 'direct to upstream', key: 'direct', url: fake.url, headers: {}, unique: true },
      { label: 'proxy, cache miss', key: 'miss', url: server.url, headers: {}, unique: true },
      { label: 'proxy, cache hit', key: 'hit', url: server.url, headers: {}, unique: false },
    ];
    if (peer) targets.push({ label: 'Portkey gateway 1.15.2 (no cache)', key: 'portkey', url: peer.url, headers: peer.headers, unique: true });
    // Warm-up: every target once at the highest concurrency (also fills the cache for the hit path).
    for (const t of targets) await load(t, CONNECTIONS[CONNECTIONS.length - 1], WARMUP);
    const runs = new Map<string, Run[]>();
    for (let round = 0; round < ROUNDS; round++)
      for (const c of CONNECTIONS)
        for (const t of targets) {
          const key = `${t.key}:${c}`;
          runs.set(key, [...(runs.get(key) ?? []), await load(t, c, DURATION)]);
        }
    const figures: Figure[] = [];
    if (!peer) figures.push(notMeasured('Portkey gateway (@portkey-ai/gateway)', 'reason' in portkey ? portkey.reason : 'unknown'));
    const ratios: Record<string, number> = {};
    const notes: string[] = [];
    const median = (key: string) => stats('', '', runs.get(key)!.map((r) => r.rps)).median;
    for (const c of CONNECTIONS) {
      for (const t of targets) {
        const r = runs.get(`${t.key}:${c}`)!;
        const name = `${t.label}, ${c} connection${c === 1 ? '' : 's'}`;
        const rps = stats(`${name} req/s`, 'req/s', r.map((x) => Math.round(x.rps)));
        figures.push(rps, stats(`${name} latency p50`, 'ms', r.map((x) => x.p50)), stats(`${name} latency p99`, 'ms', r.map((x) => x.p99)));
      }
      ratios[`c${c}MissVsDirectRps`] = ratio(median(`miss:${c}`), median(`direct:${c}`));
      ratios[`c${c}HitVsDirectRps`] = ratio(median(`hit:${c}`), median(`direct:${c}`));
      let line = `${c} connection${c === 1 ? '' : 's'}: our proxy on a cache miss serves **${ratios[`c${c}MissVsDirectRps`]}×** the direct call's req/s; a cache hit ${ratios[`c${c}HitVsDirectRps`]}×`;
      if (peer) {
        ratios[`c${c}MissVsPortkeyRps`] = ratio(median(`miss:${c}`), median(`portkey:${c}`));
        line += `; our miss req/s / Portkey's = **${ratios[`c${c}MissVsPortkeyRps`]}×**`;
      }
      notes.push(`${line}.`);
    }
    notes.push(
      `Each target: ${ROUNDS} interleaved rounds of ${DURATION} s of autocannon 8.0.0 (run programmatically in its own process by bench/peers/load.js) at ${CONNECTIONS.join(' and ')} connections, after a ${WARMUP} s warm-up per target at ${CONNECTIONS[CONNECTIONS.length - 1]} connections; 1 KB Anthropic request bodies, made unique per request with autocannon's \`setupRequest\` for the direct, miss and Portkey paths. Fake upstream, our server and Portkey (\`--headless\`, routed by \`x-portkey-provider: anthropic\` + \`x-portkey-custom-host\`) each run in their own process; any non-2xx, error or timeout fails the run. Req/s is completed requests / elapsed time; median (min–max) over rounds. autocannon records latency in whole milliseconds (HDR histogram, lowest discernible value 1 ms), so sub-millisecond latencies show as 0 or 1 ms — the sequential \`gateway\` section has the fine-grained latency.`,
    );
    return { title: 'LLM gateway under load (autocannon: proxy vs direct vs Portkey)', figures, ratios, notes };
  } finally {
    if (peer) await stop(peer.proc);
    await stop(server.proc);
    await stop(fake.proc);
    rmSync(dataDir, { recursive: true, force: true });
  }
}
