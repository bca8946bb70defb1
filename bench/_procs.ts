// The processes a bench section starts: the fake upstream, an Orchestrator server, Portkey's gateway.
// Each runs in its own process so a section's client never shares an event loop with what it measures.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { peerFile } from './peers.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const LISTENING = /"msg":"listening","url":"([^"]+)"/;

/**
 * Runs `node [nodeArgs] args` from the project root and resolves once its output matches `pattern`
 * (the first group is the URL); fails with the output if it exits first or takes over 20 s.
 * @example const fake = await startChild(['test/fakes/upstream.ts', '--port', '0'], {}, /"url":"([^"]+)"/);
 */
export function startChild(args: string[], env: Record<string, string | undefined>, pattern: RegExp, nodeArgs = ['--no-node-snapshot']): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(process.execPath, [...nodeArgs, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args[0]} did not start:\n${output}`)), 20_000);
    proc.stdout!.on('data', (chunk: Buffer) => {
      output += chunk;
      const match = pattern.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ proc, url: match[1] });
      }
    });
    proc.stderr!.on('data', (chunk: Buffer) => (output += chunk));
    proc.on('exit', (code) => reject(new Error(`${args[0]} exited with ${code}:\n${output}`)));
  });
}

/** SIGTERM, and wait for the exit. */
export function stop(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null) return resolve();
    proc.once('exit', () => resolve());
    proc.kill('SIGTERM');
  });
}

/** The fake upstream (test/fakes/upstream.ts) without request recording. */
export function startFake(): Promise<{ proc: ChildProcess; url: string }> {
  return startChild(['test/fakes/upstream.ts', '--port', '0', '--no-record'], {}, /"url":"([^"]+)"/);
}

/**
 * `runtime start --port 0 --data-dir <dataDir> [...extra]`, resolved at its "listening" line, with the
 * launch token it wrote (WebSockets need it: docs/security.md).
 */
export async function startOrchestrator(dataDir: string, env: Record<string, string | undefined>, extra: string[] = [], nodeArgs?: string[]): Promise<{ proc: ChildProcess; url: string; token: string }> {
  const started = await startChild(['runtime/cli/bin.js', 'start', '--port', '0', '--data-dir', dataDir, ...extra], env, LISTENING, nodeArgs);
  return { ...started, token: readFileSync(join(dataDir, 'token'), 'utf8').trim() };
}

/** A server whose only provider is "Anthropic" at the fake upstream, with room for every cached answer. */
export function startGatewayServer(fake: string, dataDir: string): Promise<{ proc: ChildProcess; url: string }> {
  const env = { ANTHROPIC_API_KEY: 'sk-ant-bench', ANTHROPIC_BASE_URL: fake, OPENAI_API_KEY: '', DEEPSEEK_API_KEY: '', ORCHESTRATOR_ROUTING: `${dataDir}/none.json` };
  return startOrchestrator(dataDir, env, ['--cache-size', '100000']);
}

/** A free local port, for Portkey (it takes `--port=N` and has no port-0 mode). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Portkey's gateway routed as Anthropic to the fake upstream (its cache is off unless a config asks), or why it did not start. */
export async function startPortkey(fake: string): Promise<{ proc: ChildProcess; url: string; headers: Record<string, string> } | { reason: string }> {
  const port = await freePort();
  try {
    const started = await startChild([peerFile('@portkey-ai/gateway/build/start-server.js'), `--port=${port}`, '--headless'], {}, /(Ready for connections)/);
    return { proc: started.proc, url: `http://127.0.0.1:${port}`, headers: { 'x-portkey-provider': 'anthropic', 'x-portkey-custom-host': `${fake}/v1` } };
  } catch (error) {
    return { reason: `Portkey gateway did not start: ${(error as Error).message.split('\n')[0]}` };
  }
}
