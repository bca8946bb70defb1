/**
 * How each driver starts its worker process. Both get a scrubbed environment (no secrets) and
 * nothing of the server's but a pipe.
 *
 * - 'node-process': `_worker.ts` forked on Node with --no-node-snapshot (isolated-vm needs it).
 * - 'quickjs-process': `_quickjs_worker.ts` on Deno with no permission but reading the packages
 *   it loads; on Node under the permission model (read-only, no child processes, no addons).
 */
import { fork, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ISOLATED_VM_WORKER = fileURLToPath(new URL('./_worker.ts', import.meta.url));
const QUICKJS_WORKER = fileURLToPath(new URL('./_quickjs_worker.ts', import.meta.url));
const SANDBOX_DIR = fileURLToPath(new URL('.', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NODE_MODULES = fileURLToPath(new URL('../node_modules', import.meta.url));
/** The QuickJS worker's own V8 heap: QuickJS's memory lives inside it, in the WebAssembly memory. */
const QUICKJS_WORKER_HEAP_MB = 512;

export function isolatedVmLaunch(nodePath: string, nodeArgs: string[]): () => ChildProcess {
  return () => fork(ISOLATED_VM_WORKER, [], {
    execPath: nodePath,
    execArgv: ['--no-node-snapshot', '--disable-warning=ExperimentalWarning', ...nodeArgs],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: workerEnv(),
  });
}

export function quickjsLaunch(options: { nodePath: string; nodeArgs: string[] }): () => ChildProcess {
  const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
  if (deno !== undefined) {
    const env = workerEnv();
    // Deno keeps its module cache under DENO_DIR or the home directory; neither is a secret.
    for (const key of ['DENO_DIR', 'HOME', 'XDG_CACHE_HOME']) {
      const value = process.env[key];
      if (value !== undefined) env[key] = value;
    }
    env.DENO_NO_UPDATE_CHECK = '1';
    const args = ['run', '--quiet', '--no-prompt', `--allow-read=${SANDBOX_DIR},${NODE_MODULES}`,
      `--v8-flags=--max-old-space-size=${QUICKJS_WORKER_HEAP_MB}`, QUICKJS_WORKER];
    return () => spawn(deno.execPath(), args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], env });
  }
  const args = ['--permission', `--allow-fs-read=${SANDBOX_DIR}`, `--allow-fs-read=${NODE_MODULES}`,
    `--max-old-space-size=${QUICKJS_WORKER_HEAP_MB}`, '--disable-warning=ExperimentalWarning', ...options.nodeArgs, QUICKJS_WORKER];
  return () => spawn(options.nodePath, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: workerEnv() });
}

/** The worker needs no secrets: it gets PATH and temp dirs, not the server's environment. */
export function workerEnv(): Record<string, string> {
  const keep = ['PATH', 'SYSTEMROOT', 'TMPDIR', 'TEMP', 'TMP', 'LANG'];
  const env: Record<string, string> = {};
  for (const key of keep) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return env;
}
