// Helpers of the load suite (test/reliability/load.test.ts): dashboard clients that check what /ws
// promises (a snapshot, then frames whose seq grows by one), the server's resident memory and its
// sandbox worker processes read from /proc, a bounded-concurrency submitter and percentiles.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { ROOT, api } from '../helpers/server.ts';

const FINAL = new Set(['completed', 'failed', 'cancelled']);
const fizzbuzz = JSON.parse(readFileSync(join(ROOT, 'runtime/llm/transcripts/fizzbuzz.json'), 'utf8'));

/** One dashboard connection and what it saw. */
export interface DashboardClient {
  socket: WebSocket;
  frames: number;
  bytes: number;
  events: number;
  /** Update frames replaced by a snapshot (the hub does that for a flood); counted, not an error. */
  snapshots: number;
  /** Frames whose seq was not the previous seq + 1: a change this client never saw. */
  gaps: Array<{ expected: number; got: number }>;
  /** Set when the server closed the socket (code and reason). */
  closed: { code: number; reason: string } | null;
  /** Per task: the status it last saw, and when (client clock) it first saw it running and final. */
  tasks: Map<string, { status: string; runningAt?: number; finalAt?: number }>;
}

/** Opens `count` /ws connections at `url` and resolves once every one has its snapshot. */
export async function connectDashboards(url: string, count: number): Promise<DashboardClient[]> {
  return Promise.all(Array.from({ length: count }, () => connectDashboard(url)));
}

function connectDashboard(url: string): Promise<DashboardClient> {
  const socket = new WebSocket(url);
  const client: DashboardClient = { socket, frames: 0, bytes: 0, events: 0, snapshots: 0, gaps: [], closed: null, tasks: new Map() };
  let seq: number | null = null;
  const see = (task: { id: string; status: string }, at: number) => {
    const seen = client.tasks.get(task.id) ?? { status: task.status };
    seen.status = task.status;
    if (task.status === 'running') seen.runningAt ??= at;
    if (FINAL.has(task.status)) seen.finalAt ??= at;
    client.tasks.set(task.id, seen);
  };
  return new Promise((resolve, reject) => {
    socket.onmessage = (message) => {
      const at = performance.now();
      const text = String(message.data);
      client.frames++;
      client.bytes += text.length;
      const frame = JSON.parse(text);
      if (frame.type === 'snapshot' || frame.type === 'update') {
        if (seq !== null && frame.seq !== seq + 1) client.gaps.push({ expected: seq + 1, got: frame.seq });
        seq = frame.seq;
      }
      if (frame.type === 'snapshot') {
        if (client.frames > 1) client.snapshots++;
        for (const task of Object.values(frame.state.tasks) as Array<{ id: string; status: string }>) see(task, at);
        if (client.frames === 1) resolve(client);
      } else if (frame.type === 'update') {
        client.events += frame.events.length;
        for (const event of frame.events) if (event.kind === 'task') see(event.task, at);
      }
    };
    socket.onclose = (event) => {
      client.closed = { code: event.code, reason: event.reason };
      reject(new Error(`ws ${url} closed before its snapshot: ${event.code} ${event.reason}`));
    };
    socket.onerror = () => reject(new Error(`ws connection to ${url} failed`));
  });
}

/** VmRSS of a process in MB (Linux /proc), or null once it is gone. */
export function rssMb(pid: number): number | null {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return kb ? Number(kb[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/**
 * A full garbage collection in a server started with NODE_OPTIONS=--inspect=127.0.0.1:0, through the
 * inspector (`HeapProfiler.collectGarbage`): memory is then compared at the same point of the
 * collector's cycle, before and after the run, instead of wherever V8 happened to be.
 */
export async function collectGarbage(output: string): Promise<void> {
  const url = /Debugger listening on (ws:\/\/\S+)/.exec(output)?.[1];
  if (!url) throw new Error('no "Debugger listening on ws://…" line in the server output: start it with NODE_OPTIONS=--inspect=127.0.0.1:0');
  const socket = new WebSocket(url);
  try {
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new Error(`the inspector at ${url} refused the connection`));
    });
    await new Promise<void>((resolve, reject) => {
      socket.onmessage = (message) => {
        const reply = JSON.parse(String(message.data));
        if (reply.id !== 1) return;
        if (reply.error) reject(new Error(`HeapProfiler.collectGarbage failed: ${reply.error.message}`));
        else resolve();
      };
      socket.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
    });
  } finally {
    socket.close();
  }
}

/** The pids whose parent is `pid`, with their command lines. */
export function childrenOf(pid: number): Array<{ pid: number; cmd: string }> {
  const out: Array<{ pid: number; cmd: string }> = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push({ pid: Number(name), cmd: readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ').trim() });
    } catch {
      // it exited while we looked
    }
  }
  return out;
}

/** Whether a pid is a live process (a zombie, already dead and waiting to be reaped, is not). */
export function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Polls the server's children every `everyMs` and remembers every sandbox worker it ever had. */
export function watchSandboxWorkers(pid: number, everyMs = 200): { pids: Set<number>; stop(): void } {
  const pids = new Set<number>();
  const look = () => {
    for (const child of childrenOf(pid)) if (/sandbox[/\\]_(quickjs_)?worker\.ts/.test(child.cmd)) pids.add(child.pid);
  };
  look();
  const timer = setInterval(look, everyMs);
  timer.unref();
  return { pids, stop: () => clearInterval(timer) };
}

/** Posts `count` requirements, `concurrency` at a time; returns every answer in submission order. */
export async function submitAll(server: { url: string }, count: number, concurrency: number, requirement: (i: number) => string): Promise<Array<{ status: number; body: any; at: number }>> {
  const answers: Array<{ status: number; body: any; at: number }> = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const answer = await api(server, '/api/requirements', { body: { requirement: requirement(i), priority: 1 + (i % 10) } });
        answers[i] = { ...answer, at: Date.now() };
      }
    }),
  );
  return answers;
}

/** The p-th percentile (0–100) of `values`, nearest rank. */
export function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/**
 * A fake provider with realistic timing, in its own process (so the dashboards parsing frames in the
 * test process cannot delay its answers), and the server settings that route the agents to it:
 * every call streams; the enhancer (Anthropic) answers in ~5 ms, the analyst (OpenAI chat, JSON)
 * in ~20 ms, the implementer (Anthropic) in ~40 ms with its SSE events spread out, its fallback
 * (OpenAI) in ~30 ms; `slow` multiplies these. The first `failing` implementer calls are refused with
 * a 400 (fatal: the task fails with E_LLM), the next `overloaded` get a 529 (retried with backoff;
 * after three in a row the circuit opens and the fallback answers).
 */
export async function realisticUpstream(dir: string, options: { failing: number; overloaded: number; slow?: number }): Promise<{ url: string; env: Record<string, string>; hold(on: boolean): Promise<number>; close(): Promise<void> }> {
  const child = spawn(process.execPath, [join(ROOT, 'test/fakes/upstream.ts'), '--no-record'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk;
      const line = out.split('\n')[0];
      if (out.includes('\n')) resolve(JSON.parse(line).url);
    });
    child.on('exit', (code) => reject(new Error(`the fake upstream exited with ${code} before listening`)));
  });
  const slow = options.slow ?? 1;
  const rules = [
    { match: { model: 'impl-model' }, times: options.failing, respond: { status: 400, error: { message: 'prompt is too long (fake upstream)' } } },
    { match: { model: 'impl-model' }, times: options.overloaded, respond: { status: 529, delayMs: 5 * slow } },
    { match: { model: 'enhance-model' }, times: null, respond: { text: fizzbuzz.turns.enhancer[0], delayMs: 5 * slow } },
    { match: { model: 'analyse-model' }, times: null, respond: { text: fizzbuzz.turns.analyst[0], delayMs: 10 * slow, eventDelayMs: 2 * slow } },
    { match: { model: 'impl-model' }, times: null, respond: { text: fizzbuzz.turns.implementer.at(-1), delayMs: 15 * slow, eventDelayMs: 3 * slow } },
    { match: { model: 'impl-fallback' }, times: null, respond: { text: fizzbuzz.turns.implementer.at(-1), delayMs: 15 * slow, eventDelayMs: 2 * slow } },
  ];
  const scripted = await fetch(`${url}/__fake/script`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(rules) });
  if (!scripted.ok) throw new Error(`scripting the fake upstream failed: ${scripted.status} ${await scripted.text()}`);
  const routing = {
    routes: {
      default: ['anthropic/plan-model'],
      enhancer: ['anthropic/enhance-model'],
      analyst: ['openai/analyse-model'],
      implementer: ['anthropic/impl-model', 'openai/impl-fallback'],
    },
  };
  writeFileSync(join(dir, 'model-routing.json'), JSON.stringify(routing));
  // The retry policy is the default one (backoff from 500 ms, a circuit opening after 3 failures).
  writeFileSync(join(dir, 'orchestrator.config.json'), JSON.stringify({}));
  const env = {
    ANTHROPIC_API_KEY: 'sk-ant-load-test-key',
    OPENAI_API_KEY: 'sk-openai-load-test-key',
    ANTHROPIC_BASE_URL: url,
    OPENAI_BASE_URL: `${url}/v1`,
    ORCHESTRATOR_CONFIG: join(dir, 'orchestrator.config.json'),
    ORCHESTRATOR_ROUTING: join(dir, 'model-routing.json'),
  };
  return {
    url,
    env,
    /** Holds (or releases) every model call at the fake; answers how many calls wait on the hold. */
    async hold(on: boolean) {
      const answer = await fetch(`${url}/__fake/hold`, { method: 'POST', body: JSON.stringify({ on }) });
      if (!answer.ok) throw new Error(`holding the fake upstream failed: ${answer.status} ${await answer.text()}`);
      return ((await answer.json()) as { held: number }).held;
    },
    async close() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    },
  };
}

export { FINAL };
