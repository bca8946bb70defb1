// Runs the real `runtime` binary (runtime/cli/bin.js) in a subprocess, in a clean environment: no
// provider key or colour setting from the developer's shell, demo transcripts without delay.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, tempDir } from '../helpers/server.ts';

export { ROOT, tempDir };
export const BIN = join(ROOT, 'runtime/cli/bin.js');

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^(ORCHESTRATOR_|ANTHROPIC_|OPENAI_|DEEPSEEK_)/.test(k) || k === 'NO_COLOR' || k === 'FORCE_COLOR') continue;
    env[k] = v;
  }
  return { ...env, ORCHESTRATOR_DEMO_DELAY_MS: '0', ...extra };
}

/**
 * `runtime ...args`; resolves when it exits (killed after `timeoutMs`). `bareEnv` gives the child only
 * `env` (nothing of this process's environment), for clients that must run as on a bare machine.
 */
export function runtime(args: string[], options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number; bareEnv?: boolean } = {}): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const env = options.bareEnv ? (options.env ?? {}) : cleanEnv(options.env);
    const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd ?? ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`runtime ${args.join(' ')} did not finish within ${(options.timeoutMs ?? 60_000) / 1000} s\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** `runtime ...args` left running (e.g. logs --follow); `output()` grows as it prints. */
export function spawnRuntime(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd ?? ROOT, env: cleanEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  return { child, output: () => output };
}

export function show(run: Run): string {
  return `exit ${run.code} after ${run.ms} ms\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`;
}

export function serverJson(dataDir: string): { pid: number; url: string; port: number } | undefined {
  try {
    return JSON.parse(readFileSync(join(dataDir, 'server.json'), 'utf8'));
  } catch {
    return undefined;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] !== 'Z';
  } catch {
    return true;
  }
}

/** Stops a daemon a test started, whatever state the test left it in (by its pid, never by name). */
export async function cleanup(dataDir: string): Promise<void> {
  const info = serverJson(dataDir);
  await runtime(['stop', '--data-dir', dataDir, '--timeout', '5']).catch(() => undefined);
  if (info && alive(info.pid)) process.kill(info.pid, 'SIGKILL');
}
