/**
 * Finding, starting and talking to the server of a data dir. A running server writes
 * `<dataDir>/server.json` ({ pid, url, port, version, startedAt }); it is "running" when that pid lives
 * and its URL answers GET /api/hello. Shared by `launch`, `start --daemon`, `submit`, `status`, …
 * @module
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { dataPaths } from '../server/mod.ts';
import { CliError } from './_output.ts';

/** What a running server wrote to `<dataDir>/server.json`. */
export interface ServerInfo {
  pid: number;
  url: string;
  port: number;
  version?: string;
  startedAt?: number;
  /** The launch token from `<dataDir>/token`, sent with every call (runtime/server/guard.ts). */
  token?: string;
}

type Env = Record<string, string | undefined>;

const START_TIMEOUT_MS = 20_000;

/** `<dataDir>/server.json`, or undefined when it is missing or unreadable. */
export function readServerInfo(dataDir: string): ServerInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(dataPaths(dataDir).server, 'utf8'));
    if (!Number.isInteger(info?.pid) || typeof info?.url !== 'string') return undefined;
    return { ...info, token: readToken(dataDir) };
  } catch {
    return undefined;
  }
}

/** The running server's launch token, or undefined when it wrote none (older servers) or it is unreadable. */
export function readToken(dataDir: string): string | undefined {
  try {
    return readFileSync(dataPaths(dataDir).token, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether a process with this pid exists (EPERM: it does, but is not ours). A zombie (exited, not yet
 * reaped: a daemon's parent is init, which may reap late) counts as gone.
 */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] !== 'Z';
  } catch {
    return true;
  }
}

/**
 * One HTTP exchange with node:http (not fetch: undici's first call costs ~35 ms, a third of the
 * `runtime status` budget). Rejects on connection errors and after `timeoutMs`.
 */
export function request(url: string, init: { method?: string; body?: string; timeoutMs?: number; token?: string } = {}): Promise<{ status: number; text: string }> {
  const headers: Record<string, string | number> = init.body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(init.body) } : {};
  if (init.token) headers['x-orchestrator-token'] = init.token;
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method ?? 'GET', headers, timeout: init.timeoutMs ?? 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${(init.timeoutMs ?? 10_000) / 1000} s`)));
    req.on('error', reject);
    req.end(init.body);
  });
}

/**
 * The ws address of `path` on the server, carrying its launch token.
 * @example new WebSocket(wsUrl(server, '/ws'))
 */
export function wsUrl(server: { url: string; token?: string }, path: string): string {
  return `${server.url.replace(/^http/, 'ws')}${path}${server.token ? `?token=${encodeURIComponent(server.token)}` : ''}`;
}

/** Whether `url` is an Orchestrator server: GET /api/hello answers `{ ok: true }`. */
export async function hello(url: string, timeoutMs = 2000): Promise<boolean> {
  try {
    const response = await request(`${url}/api/hello`, { timeoutMs });
    return response.status === 200 && JSON.parse(response.text)?.ok === true;
  } catch {
    return false;
  }
}

/**
 * The server that runs for `dataDir`, or undefined: server.json names a live pid whose URL answers
 * GET /api/hello with `{ ok: true }`.
 * @example
 * const server = await findServer('.orchestrator'); // { pid, url, port, … } | undefined
 */
export async function findServer(dataDir: string): Promise<ServerInfo | undefined> {
  const info = readServerInfo(dataDir);
  if (!info || !alive(info.pid)) return undefined;
  return (await hello(info.url)) ? info : undefined;
}

/**
 * The running server of `dataDir`, or a CliError that says how to start one.
 * @example const server = await requireServer('/tmp/orch');
 */
export async function requireServer(dataDir: string): Promise<ServerInfo> {
  const server = await findServer(dataDir);
  if (!server) throw new CliError(`no server runs for ${dataDir}: start one with "runtime start --daemon --data-dir ${dataDir}" (or pass the --data-dir of the running one)`);
  return server;
}

/**
 * Starts `runtime start --log-to-file` for `dataDir` as a detached process (its stdout and stderr go
 * to `<dataDir>/logs/daemon.out`, its log to the rotating `logs/server.log`) and resolves once its
 * /api/hello answers. If it exits first, the error carries what it printed (e.g. "port 8100 … in use").
 * @example const server = await spawnDaemon('/tmp/orch', ['--port', '0']);
 */
export async function spawnDaemon(dataDir: string, startArgs: string[] = [], options: { env?: Env; timeoutMs?: number } = {}): Promise<ServerInfo> {
  const paths = dataPaths(dataDir);
  mkdirSync(paths.logs, { recursive: true });
  const outFile = join(paths.logs, 'daemon.out');
  const offset = existsSync(outFile) ? statSync(outFile).size : 0;
  const fd = openSync(outFile, 'a');
  const bin = new URL('./bin.js', import.meta.url).pathname;
  const args = [bin, 'start', '--data-dir', dataDir, '--log-to-file', ...startArgs];
  let exited: number | string | null | undefined;
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', fd, fd], env: options.env ?? process.env });
  closeSync(fd);
  child.on('exit', (code, signal) => (exited = code ?? signal));
  child.on('error', (error) => (exited = error.message));
  child.unref();
  const timeoutMs = options.timeoutMs ?? START_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited !== undefined) throw new CliError(`the server exited (${exited}) before it answered${printedSince(outFile, offset, paths.log)}`);
    const info = readServerInfo(dataDir);
    if (info && info.pid === child.pid && (await hello(info.url))) return info;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new CliError(`the server (pid ${child.pid}) did not answer /api/hello within ${timeoutMs / 1000} s: see ${paths.log} and ${outFile}`);
}

/**
 * The running server of `dataDir`, or a new detached one (see spawnDaemon) once it answers.
 * @example
 * const { server, started } = await ensureServer('/tmp/orch', { port: '0' });
 */
export async function ensureServer(dataDir: string, options: { port?: string; env?: Env; timeoutMs?: number } = {}): Promise<{ server: ServerInfo; started: boolean }> {
  const running = await findServer(dataDir);
  if (running) return { server: running, started: false };
  const server = await spawnDaemon(dataDir, options.port !== undefined ? ['--port', options.port] : [], options);
  return { server, started: true };
}

/** What the daemon printed since `offset` (its error, usually), else the tail of its log. */
function printedSince(outFile: string, offset: number, logFile: string): string {
  try {
    const text = readFileSync(outFile).subarray(offset).toString('utf8').trim();
    if (text) return `:\n  ${text.split('\n').slice(-10).join('\n  ')}`;
  } catch {}
  try {
    const lines = readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-10);
    if (lines[0]) return `; the last lines of ${logFile}:\n  ${lines.join('\n  ')}`;
  } catch {}
  return `: see ${outFile}`;
}

/**
 * A JSON call to the server's API. An error answer (`{ error: { code, message } }`) becomes a CliError
 * with the server's message; a connection failure says the server stopped answering.
 * @example const health = await call(server, '/api/health', { allowStatus: [503] });
 */
export async function call<T = any>(server: { url: string; token?: string }, path: string, init: { method?: string; body?: unknown; allowStatus?: number[]; timeoutMs?: number } = {}): Promise<T> {
  let response: { status: number; text: string };
  try {
    response = await request(server.url + path, {
      method: init.method ?? (init.body !== undefined ? 'POST' : 'GET'),
      body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
      timeoutMs: init.timeoutMs,
      token: server.token,
    });
  } catch (error) {
    throw new CliError(`the server at ${server.url} did not answer ${path} (${(error as Error).message}): check it with "runtime status"`);
  }
  let body: any;
  try {
    body = JSON.parse(response.text);
  } catch {
    body = response.text;
  }
  if ((response.status < 200 || response.status > 299) && !init.allowStatus?.includes(response.status)) {
    const message = body?.error?.message ?? `HTTP ${response.status}`;
    throw new CliError(message);
  }
  return body as T;
}
