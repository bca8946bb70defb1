// Starts the real `runtime start` in a child process on an ephemeral port with its own data dir.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = new URL('../..', import.meta.url).pathname;

export interface StartedServer {
  url: string;
  port: number;
  dataDir: string;
  proc: ChildProcess;
  /** The per-launch token the server wrote to `<dataDir>/token` (null if it wrote none). */
  token: string | null;
  /** `ws://127.0.0.1:<port><path>` carrying the launch token, as the dashboard connects. */
  wsUrl(path?: string): string;
  output: () => string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit: no cleanup runs. */
  kill(): Promise<void>;
}

export function tempDir(prefix = 'orch-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function startServer(options: { dataDir?: string; env?: Record<string, string>; args?: string[]; command?: string[] } = {}): Promise<StartedServer> {
  const dataDir = options.dataDir ?? tempDir();
  const command = options.command ?? [process.execPath, join(ROOT, 'runtime/cli/bin.js')];
  const proc = spawn(command[0], [...command.slice(1), 'start', '--port', '0', '--data-dir', dataDir, ...(options.args ?? [])], {
    cwd: ROOT,
    // No provider key from the developer's shell leaks into a test: each test says what it configures.
    env: { ...process.env, ANTHROPIC_API_KEY: '', OPENAI_API_KEY: '', DEEPSEEK_API_KEY: '', ANTHROPIC_BASE_URL: '', OPENAI_BASE_URL: '', DEEPSEEK_BASE_URL: '', ORCHESTRATOR_DEMO_DELAY_MS: '0', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    // A safety limit, not a speed: a start takes a second or two, longer on a busy machine.
    const timer = setTimeout(() => reject(new Error(`server did not start within 60 s:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk;
      const match = /"msg":"listening","url":"[^"]+","port":(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (chunk: Buffer) => (output += chunk));
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${output}`));
    });
  });
  const token = launchToken(dataDir);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dataDir,
    proc,
    token,
    wsUrl: (path = '/ws') => wsUrlFor({ port, token }, path),
    output: () => output,
    async stop() {
      proc.kill('SIGTERM');
      await exited;
    },
    async kill() {
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** The launch token in a data dir, or null. */
export function launchToken(dataDir: string): string | null {
  try {
    return readFileSync(join(dataDir, 'token'), 'utf8').trim() || null;
  } catch {
    return null;
  }
}

function wsUrlFor(server: { port: number; token?: string | null }, path: string): string {
  const url = new URL(`ws://127.0.0.1:${server.port}${path}`);
  if (server.token) url.searchParams.set('token', server.token);
  return url.href;
}

export async function api(server: { url: string }, path: string, init?: { method?: string; body?: unknown; raw?: string; headers?: Record<string, string> }): Promise<{ status: number; body: any }> {
  const response = await fetch(server.url + path, {
    method: init?.method ?? (init?.body !== undefined || init?.raw !== undefined ? 'POST' : 'GET'),
    headers: { 'content-type': 'application/json', ...init?.headers },
    body: init?.raw ?? (init?.body !== undefined ? JSON.stringify(init.body) : undefined),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: response.status, body };
}

/** Every task the server knows, newest first, read a page of 1,000 at a time. */
export async function allTasks(server: { url: string }): Promise<any[]> {
  const tasks: any[] = [];
  for (let offset = 0; ; offset += 1000) {
    const { body } = await api(server, `/api/tasks?limit=1000&offset=${offset}`);
    tasks.push(...body.tasks);
    if (body.tasks.length < 1000) return tasks;
  }
}

/** Polls until `check` returns a value, or fails after `ms` with the last value seen. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | null | false>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    const value = await check();
    if (value) return value;
    last = value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
}

/** Collects every /ws frame; `frames` grows as they arrive. */
export function watch(server: { port: number; token?: string | null }): Promise<{ frames: any[]; close(): void }> {
  const socket = new WebSocket(wsUrlFor(server, '/ws'));
  const frames: any[] = [];
  socket.onmessage = (event) => frames.push(JSON.parse(String(event.data)));
  return new Promise((resolve, reject) => {
    socket.onopen = () => resolve({ frames, close: () => socket.close() });
    socket.onerror = () => reject(new Error('ws connection failed'));
  });
}

/** Polls GET /api/tasks/:id until the task is completed, failed or cancelled; returns its detail. */
export function finished(server: { url: string }, id: string, ms = 30_000): Promise<any> {
  return waitFor(`task ${id} to finish`, async () => {
    const { body } = await api(server, `/api/tasks/${id}`);
    return ['completed', 'failed', 'cancelled'].includes(body.status) ? body : null;
  }, ms);
}
