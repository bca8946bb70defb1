/**
 * `runtime launch claude|codex [-- args]`: finds the server of a data dir (or starts one, detached),
 * then runs Claude Code or Codex CLI with its environment pointed at the gateway, so the user's own
 * sessions get the gateway's cache, routing, retries and usage accounting.
 * @module
 */
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveDataDir } from '../server/mod.ts';
import { ensureServer } from './_server.ts';
import type { ServerInfo } from './_server.ts';
import type { Command } from './_output.ts';

export { ensureServer, findServer } from './_server.ts';
export type { ServerInfo } from './_server.ts';

/** The clients `runtime launch` knows. */
export const LaunchTarget = { Claude: 'claude', Codex: 'codex' } as const;
export type LaunchTarget = (typeof LaunchTarget)[keyof typeof LaunchTarget];

type Env = Record<string, string | undefined>;

/** The key a client sends when the user has none: the gateway replaces it with the server's own key. */
export const PLACEHOLDER_KEY = 'orchestrator-gateway';
/** The Codex model provider that `runtime launch codex` defines on the command line. */
export const CODEX_PROVIDER = 'orchestrator';
const CODEX_KEY_ENV = 'ORCHESTRATOR_GATEWAY_KEY';
/** Codex reads the launch token from this variable (env_http_headers), so it never shows in `ps`. */
const CODEX_TOKEN_ENV = 'ORCHESTRATOR_TOKEN';

const CLIENTS: Record<LaunchTarget, { binEnv: string; install: string; name: string }> = {
  claude: { binEnv: 'ORCHESTRATOR_CLAUDE_BIN', install: 'npm install -g @anthropic-ai/claude-code', name: 'Claude Code' },
  codex: { binEnv: 'ORCHESTRATOR_CODEX_BIN', install: 'npm install -g @openai/codex', name: 'Codex CLI' },
};

export const LAUNCH_HELP = `runtime launch — run Claude Code or Codex CLI through the Orchestrator gateway

Usage:
  runtime launch claude|codex [--data-dir DIR] [--port N] [--bin PATH] [-- client args]

Uses the server that runs for the data dir (its <data-dir>/server.json), or starts one in the
background (log in <data-dir>/logs/server.log), then runs the client with:
  claude  ANTHROPIC_BASE_URL, ORCHESTRATOR_URL, ORCHESTRATOR_DATA_DIR (and ANTHROPIC_AUTH_TOKEN=${PLACEHOLDER_KEY}
          when you set neither ANTHROPIC_API_KEY nor ANTHROPIC_AUTH_TOKEN)
  codex   -c model_provider=${CODEX_PROVIDER} -c model_providers.${CODEX_PROVIDER}={…base_url="<server>/v1"…}
          and ${CODEX_KEY_ENV} (your OPENAI_API_KEY, else a placeholder)
The gateway calls the providers with the server's own keys (ANTHROPIC_API_KEY / OPENAI_API_KEY where
the server runs); a server without a key passes your key through. The client's exit code is ours.

Options:
  --data-dir D   the server's data dir (default .orchestrator, env ORCHESTRATOR_DATA_DIR)
  --port N       port for a server that launch starts (default: as "runtime start", 8100)
  --bin PATH     the client executable (default: env ORCHESTRATOR_CLAUDE_BIN / ORCHESTRATOR_CODEX_BIN, else PATH)

Examples:
  runtime launch claude
  runtime launch claude -- -p "explain this repo" --output-format json
  runtime launch codex -- exec --skip-git-repo-check "add a test for parse()"
  runtime launch claude --data-dir /tmp/orch --port 8200
  curl -s localhost:8100/api/usage     # calls per client: byAgent["claude-code"], byAgent.codex
`;

/**
 * The client's environment: the caller's, pointed at the gateway.
 * @example
 * clientEnv('claude', { pid: 1, url: 'http://127.0.0.1:8100', port: 8100 }, '/d', {}).ANTHROPIC_BASE_URL; // 'http://127.0.0.1:8100'
 */
export function clientEnv(target: LaunchTarget, server: ServerInfo, dataDir: string, env: Env): Env {
  const out: Env = { ...env, ORCHESTRATOR_URL: server.url, ORCHESTRATOR_DATA_DIR: dataDir };
  switch (target) {
    case 'claude':
      out.ANTHROPIC_BASE_URL = server.url;
      // ANTHROPIC_AUTH_TOKEN (sent as a Bearer token) rather than ANTHROPIC_API_KEY: interactive Claude
      // Code asks before it uses a custom API key, with "No (recommended)" preselected; a token it uses as is.
      if (!env.ANTHROPIC_API_KEY && !env.ANTHROPIC_AUTH_TOKEN) out.ANTHROPIC_AUTH_TOKEN = PLACEHOLDER_KEY;
      // The launch token rides in its own header (a server started with --remote demands it); the
      // proxy never forwards x-orchestrator-* headers upstream.
      if (server.token) out.ANTHROPIC_CUSTOM_HEADERS = [env.ANTHROPIC_CUSTOM_HEADERS, `x-orchestrator-token: ${server.token}`].filter(Boolean).join('\n');
      return out;
    case 'codex':
      out[CODEX_KEY_ENV] = env.OPENAI_API_KEY || PLACEHOLDER_KEY;
      if (server.token) out[CODEX_TOKEN_ENV] = server.token;
      return out;
    default:
      throw new Error(`unknown target ${JSON.stringify(target satisfies never)}`);
  }
}

/**
 * The client's arguments: Codex gets its gateway provider as global `-c` overrides before the user's
 * own arguments (they work before a subcommand such as `exec`); Claude Code's pass as they are.
 * @example
 * clientArgs('codex', { pid: 1, url: 'http://127.0.0.1:8100', port: 8100 }, ['exec', 'hi']);
 * // ['-c', 'model_provider=orchestrator', '-c', 'model_providers.orchestrator={…}', 'exec', 'hi']
 */
export function clientArgs(target: LaunchTarget, server: ServerInfo, args: string[]): string[] {
  if (target === 'claude') return args;
  const headers = server.token ? `,env_http_headers={"x-orchestrator-token"="${CODEX_TOKEN_ENV}"}` : '';
  const provider = `{name="Orchestrator",base_url="${server.url}/v1",env_key="${CODEX_KEY_ENV}",wire_api="responses"${headers}}`;
  return ['-c', `model_provider=${CODEX_PROVIDER}`, '-c', `model_providers.${CODEX_PROVIDER}=${provider}`, ...args];
}

/**
 * The client executable: `--bin`, else ORCHESTRATOR_CLAUDE_BIN / ORCHESTRATOR_CODEX_BIN, else the
 * first match on PATH; undefined when none exists.
 * @example
 * resolveClientBin('claude', undefined, process.env); // '/usr/local/bin/claude' | undefined
 */
export function resolveClientBin(target: LaunchTarget, flag: string | undefined, env: Env): string | undefined {
  const explicit = flag || env[CLIENTS[target].binEnv];
  if (explicit) return existsSync(explicit) ? resolve(explicit) : undefined;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, target);
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {}
  }
  return undefined;
}

/** `runtime launch` as a command of the dispatcher. */
export const launchAsCommand: Command = {
  name: 'launch',
  summary: 'run Claude Code or Codex CLI through the gateway',
  help: LAUNCH_HELP,
  run: (argv, env) => launchCommand(argv, env),
};

/**
 * The `launch` command: argv after the word `launch`; resolves to the exit code.
 * @example
 * process.exitCode = await launchCommand(['claude', '--', '-p', 'hi']);
 */
export async function launchCommand(argv: string[], env: Env = process.env): Promise<number> {
  const dash = argv.indexOf('--');
  const own = dash === -1 ? argv : argv.slice(0, dash);
  const passed = dash === -1 ? [] : argv.slice(dash + 1);
  let parsed;
  try {
    parsed = parseArgs({
      args: own,
      allowPositionals: true,
      options: { 'data-dir': { type: 'string' }, port: { type: 'string' }, bin: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (error) {
    console.error(`runtime launch: ${(error as Error).message}; client arguments go after "--", e.g. runtime launch claude -- -p "hi"`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) return void console.log(LAUNCH_HELP), 0;
  const target = positionals[0];
  if (target !== 'claude' && target !== 'codex') {
    console.error(`runtime launch: ${target ? `unknown client "${target}"` : 'name the client'}: use claude or codex, e.g. runtime launch claude -- -p "hi" (runtime launch --help)`);
    return 2;
  }
  const client = CLIENTS[target];
  const bin = resolveClientBin(target, values.bin, env);
  if (!bin) {
    const where = values.bin ? `--bin ${values.bin} does not exist` : env[client.binEnv] ? `${client.binEnv}=${env[client.binEnv]} does not exist` : `"${target}" is not on PATH`;
    console.error(`runtime launch: ${client.name} not found: ${where}; install it with "${client.install}" or pass --bin /path/to/${target} (or set ${client.binEnv})`);
    return 127;
  }
  const dataDir = resolveDataDir(values['data-dir'], env);
  const { server, started } = await ensureServer(dataDir, { port: values.port, env: { ...env } });
  console.error(`runtime launch: ${started ? 'started' : 'using'} the Orchestrator server at ${server.url} (pid ${server.pid}, data ${dataDir}); running ${client.name}`);
  return run(bin, clientArgs(target, server, [...positionals.slice(1), ...passed]), clientEnv(target, server, dataDir, env));
}

/** Runs the client in the foreground; resolves to its exit code (128 + n when a signal ended it). */
function run(bin: string, args: string[], env: Env): Promise<number> {
  return new Promise((resolvePromise) => {
    const child = spawn(bin, args, { stdio: 'inherit', env });
    // Ctrl-C in a terminal reaches the client directly (same process group): forwarding it too would
    // count as a second Ctrl-C. A SIGINT sent to us alone (no terminal) is forwarded.
    const forward = (signal: NodeJS.Signals) => () => {
      if (signal === 'SIGINT' && process.stdin.isTTY) return;
      child.kill(signal);
    };
    const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((signal) => [signal, forward(signal)] as const);
    for (const [signal, handler] of handlers) process.on(signal, handler);
    const done = (code: number) => {
      for (const [signal, handler] of handlers) process.off(signal, handler);
      resolvePromise(code);
    };
    child.on('error', (error) => {
      console.error(`runtime launch: could not run ${bin}: ${error.message}`);
      done(127);
    });
    child.on('exit', (code, signal) => done(signal ? 128 + (constants.signals[signal] ?? 1) : (code ?? 1)));
  });
}
