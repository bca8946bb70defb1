// The `runtime` command: cold start (spawn `runtime start` → first 200 from /api/health) and
// `runtime status` against a running daemon, each a real subprocess, wall time. `runtime --version`
// is the floor (Node start + our launcher); status is also measured without the compile cache.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measure } from './lib.ts';
import { startOrchestrator, stop } from './_procs.ts';
import type { Figure, Section } from './lib.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const BIN = join(ROOT, 'runtime/cli/bin.js');
const ENV = { ...process.env, ORCHESTRATOR_DEMO_DELAY_MS: '0', ANTHROPIC_API_KEY: '', OPENAI_API_KEY: '', DEEPSEEK_API_KEY: '' };

function healthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/api/health' }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** `runtime start` as a user runs it (bin.js, no extra Node flags), resolved once /api/health answers 200. */
async function healthyServer(prefix: string): Promise<{ port: number; stop(): Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  const { proc, url } = await startOrchestrator(dataDir, ENV, [], []);
  const port = Number(new URL(url).port);
  while (!(await healthy(port))) await new Promise((r) => setTimeout(r, 2));
  return {
    port,
    async stop() {
      await stop(proc);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Spawn `runtime start` to a 200 from /api/health. */
async function coldStart(): Promise<number> {
  const started = performance.now();
  const server = await healthyServer('orch-bench-cli-');
  const ms = performance.now() - started;
  await server.stop();
  return ms;
}

/** RSS of a freshly started server after a second with no work, as its own GET /api/machine reports it. */
async function idleRss(): Promise<number> {
  const server = await healthyServer('orch-bench-cli-rss-');
  await new Promise((r) => setTimeout(r, 1000));
  const machine = (await (await fetch(`http://127.0.0.1:${server.port}/api/machine`)).json()) as { memory: { rss: number } };
  await server.stop();
  return machine.memory.rss / 1024 / 1024;
}

function timed(args: string[], env: Record<string, string | undefined> = ENV): number {
  const started = performance.now();
  const run = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = performance.now() - started;
  if (run.status !== 0) throw new Error(`runtime ${args.join(' ')} exited ${run.status}: ${run.stderr}`);
  return ms;
}

export async function cliBench(): Promise<Section> {
  const figures: Figure[] = [];
  figures.push(await measure('cold start: spawn `runtime start` → 200 from /api/health', 'ms', coldStart));
  figures.push(await measure('idle RSS: server 1 s after start, no work (GET /api/machine)', 'MB', idleRss, 3));
  const dataDir = mkdtempSync(join(tmpdir(), 'orch-bench-cli-daemon-'));
  try {
    timed(['start', '--daemon', '--port', '0', '--data-dir', dataDir]);
    figures.push(await measure('`runtime status` against a running daemon', 'ms', () => timed(['status', '--data-dir', dataDir])));
    figures.push(await measure('`runtime status`, compile cache off (NODE_DISABLE_COMPILE_CACHE=1)', 'ms', () => timed(['status', '--data-dir', dataDir], { ...ENV, NODE_DISABLE_COMPILE_CACHE: '1' })));
    figures.push(await measure('`runtime --version` (Node start + launcher: the floor)', 'ms', () => timed(['--version'])));
  } finally {
    spawnSync(process.execPath, [BIN, 'stop', '--data-dir', dataDir, '--timeout', '10'], { cwd: ROOT, env: ENV });
    rmSync(dataDir, { recursive: true, force: true });
  }
  const [cold, rss, status, uncached, floor] = figures.map((f) => f.median);
  return {
    title: 'CLI (`runtime` command)',
    figures,
    ratios: { coldStartMs: +cold.toFixed(1), idleRssMb: +rss.toFixed(1), statusMs: +status.toFixed(1), statusUncachedMs: +uncached.toFixed(1), versionMs: +floor.toFixed(1) },
    notes: [
      `Cold start to a healthy /api/health: **${cold.toFixed(0)} ms** median (goal ≤ 500 ms); idle RSS **${rss.toFixed(0)} MB** (a server 1 s after start, no work). \`runtime status\` against a running daemon: **${status.toFixed(0)} ms** median (goal ≤ 150 ms), of which ${floor.toFixed(0)} ms is starting Node and the launcher; without Node's compile cache (enabled by bin.js) status takes ${uncached.toFixed(0)} ms. Wall time of real subprocesses, first run of each discarded.`,
    ],
  };
}
