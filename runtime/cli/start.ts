/**
 * `runtime start`: serve the API, the dashboard, /ws and the gateway for a data dir, in the
 * foreground (JSON-lines log on stdout/stderr) or detached with `--daemon` (rotating log file).
 * SIGTERM or Ctrl-C drains: no new submissions, running tasks finish their current stage (at most
 * the drain timeout), then it stops; a second signal stops at once. In-flight stages resume at the
 * next start from their last snapshot.
 * @module
 */
import { readFileSync, rmSync } from 'node:fs';
import type { LogLevel } from '../protocol/mod.ts';
import { dataPaths, resolveConfig, startApp } from '../server/mod.ts';
import type { ServerConfig } from '../server/mod.ts';
import { CliError, Exit, parseCommand, printJson } from './_output.ts';
import type { Command } from './_output.ts';
import { findServer, spawnDaemon } from './_server.ts';

type Env = Record<string, string | undefined>;

const HELP = `runtime start — serve the HTTP API, the dashboard, /ws and the LLM gateway

Usage:
  runtime start [--port N] [--host H [--remote]] [--allow-host NAMES] [--ui-origin ORIGINS] [--workers N] [--cache-size N] [--cache-ttl S] [--log-level L] [--data-dir D] [--daemon] [--json]

Foreground by default: the log (JSON lines) goes to stdout and stderr; Ctrl-C stops it. With --daemon
it detaches, writes server.pid, server.port and server.json in the data dir, and logs to
<data-dir>/logs/server.log (rotated at 5 MB, 5 files kept; ORCHESTRATOR_LOG_MAX_BYTES, ORCHESTRATOR_LOG_KEEP).
Stopping (SIGTERM, Ctrl-C, "runtime stop") drains first: new submissions get 503, running tasks finish
their current stage (up to ORCHESTRATOR_DRAIN_TIMEOUT, 25 s); a second signal stops at once. A stage
cut short resumes from the task's last snapshot at the next start.

Options:
  --port N        port (default 8100, env ORCHESTRATOR_PORT; 0 picks a free one)
  --host H        address to bind (default 127.0.0.1, env ORCHESTRATOR_HOST); an address other
                  machines can reach (0.0.0.0, a LAN address) also needs --remote
  --remote        confirm listening beyond loopback: every request then needs the launch token
                  (<data-dir>/token; open the dashboard as http://<host>:<port>/?token=…; docs/security.md)
  --allow-host N  host names accepted in the Host header besides localhost, 127.0.0.1 and ::1,
                  comma-separated (env ORCHESTRATOR_ALLOWED_HOSTS); other names get 403 (DNS rebinding)
  --ui-origin O   origins of pages that embed the dashboard (scheme://host[:port], comma-separated;
                  env ORCHESTRATOR_UI_ORIGINS): they may read the API and get the token for /ws
  --workers N     requests each role serves at once, its pool of agent instances (default 2, env
                  ORCHESTRATOR_WORKERS); 3 × N tasks are in flight (ORCHESTRATOR_MAX_TASKS), the rest queued
  --cache-size N  entries in the gateway's in-memory cache (default 1000, env ORCHESTRATOR_CACHE_SIZE)
  --cache-ttl S   seconds a cached answer lives (default 3600, 0 turns the cache off, env ORCHESTRATOR_CACHE_TTL)
  --log-level L   debug, info, warn or error (default info, env ORCHESTRATOR_LOG_LEVEL)
  --data-dir D    database, workspace/, completed_archive/, logs/ (default .orchestrator, env ORCHESTRATOR_DATA_DIR)
  --daemon        run in the background; prints the pid and URL once it answers
  --log-to-file   log to <data-dir>/logs/server.log instead of stdout (what --daemon runs)
  --json          with --daemon: print { pid, url, port, version, startedAt, log } as JSON

Examples:
  runtime start
  runtime start --port 8200 --data-dir /tmp/orch
  runtime start --daemon --port 0 --log-level debug
  ORCHESTRATOR_WORKERS=4 runtime start --daemon
`;

const OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  remote: { type: 'boolean' },
  'allow-host': { type: 'string' },
  'ui-origin': { type: 'string' },
  workers: { type: 'string' },
  'cache-size': { type: 'string' },
  'cache-ttl': { type: 'string' },
  'log-level': { type: 'string' },
  'data-dir': { type: 'string' },
  daemon: { type: 'boolean' },
  'log-to-file': { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const startCommand: Command = {
  name: 'start',
  summary: 'serve the API, dashboard, /ws and gateway (foreground, or --daemon)',
  help: HELP,
  async run(argv, env) {
    const args = parseCommand(argv, startCommand, OPTIONS);
    if (!args) return Exit.Ok;
    const v = args.values;
    const flags = {
      port: v.port, host: v.host, remote: v.remote ? '1' : undefined, allowedHosts: v['allow-host'], uiOrigins: v['ui-origin'], dataDir: v['data-dir'],
      workers: v.workers, cacheSize: v['cache-size'], cacheTtl: v['cache-ttl'], logLevel: v['log-level'],
    };
    const config = await resolveConfig(flags, env);
    const running = await findServer(config.dataDir);
    if (running) {
      throw new CliError(`a server already runs for ${config.dataDir} (pid ${running.pid}, ${running.url}): use it, stop it with "runtime stop --data-dir ${config.dataDir}", or start another with its own --data-dir`);
    }
    if (v.daemon) {
      // The child re-resolves the same settings; only what the user passed is forwarded.
      const forward = (['port', 'host', 'allow-host', 'ui-origin', 'workers', 'cache-size', 'cache-ttl', 'log-level'] as const).flatMap((name) => (v[name] !== undefined ? [`--${name}`, v[name]!] : []));
      if (v.remote) forward.push('--remote');
      const server = await spawnDaemon(config.dataDir, forward, { env });
      const log = dataPaths(config.dataDir).log;
      if (v.json) printJson({ ...server, dataDir: config.dataDir, log });
      else console.log(`runtime: started the server (pid ${server.pid}) at ${server.url}\n  data ${config.dataDir}\n  log  ${log}\n  stop with: runtime stop --data-dir ${config.dataDir}`);
      return Exit.Ok;
    }
    return serveForeground(config, Boolean(v['log-to-file']), env);
  },
};

async function serveForeground(config: ServerConfig, toFile: boolean, env: Env): Promise<number> {
  const { consoleSink, fileSink } = await import('./_log.ts');
  const paths = dataPaths(config.dataDir);
  const log = toFile ? fileSink(paths.log, config.logLevel, env) : consoleSink(config.logLevel);
  let app;
  try {
    app = await startApp(config, log);
  } catch (error) {
    const details = (error as { details?: { addressInUse?: boolean; port?: number } }).details;
    if (details?.addressInUse) {
      const { portHolder } = await import('./_port.ts');
      throw new CliError(`port ${details.port} on ${config.host} is in use by ${portHolder(details.port!)}: stop that process (if it is an Orchestrator server: runtime stop --data-dir <its data dir>), or choose another port with --port N (e.g. --port ${details.port! + 1}, or --port 0 for any free one) or ORCHESTRATOR_PORT`);
    }
    throw error;
  }
  // Machine-readable line for scripts and tests that start the server on port 0.
  console.log(JSON.stringify({ ts: new Date().toISOString(), level: 'info', msg: 'listening', url: app.url, port: app.server.port }));
  await new Promise<void>((resolve) => {
    let signals = 0;
    const stopNow = () => app.stop().then(resolve, resolve);
    const onSignal = (signal: string) => {
      if (++signals > 1) return void log('warn' as LogLevel, `${signal} again: stopping now; unfinished stages resume at the next start`);
      const drainMs = drainBudget(paths.stopRequest, config.drainTimeoutSeconds * 1000);
      log('info', `${signal}: stopping (draining up to ${Math.round(drainMs / 1000)} s; send it again to stop now)`);
      let stopped = false;
      const finish = () => {
        if (stopped) return;
        stopped = true;
        stopNow();
      };
      process.on('SIGINT', finish);
      process.on('SIGTERM', finish);
      app.drain(drainMs).then(({ finished, pending }) => {
        if (pending.length) log('warn', `stopping with ${pending.length} task(s) mid-stage (${pending.join(', ')}); they resume from their last snapshot at the next start`);
        else if (finished) log('info', `drained: ${finished} task(s) finished their stage`);
        finish();
      }, finish);
    };
    process.on('SIGINT', () => onSignal('SIGINT'));
    process.on('SIGTERM', () => onSignal('SIGTERM'));
  });
  rmSync(paths.stopRequest, { force: true });
  return Exit.Ok;
}

/** The drain time: the configured one, shortened to fit the deadline `runtime stop --timeout` left. */
function drainBudget(file: string, configuredMs: number): number {
  try {
    const { deadline } = JSON.parse(readFileSync(file, 'utf8'));
    rmSync(file, { force: true });
    // Leave a second to stop cleanly before the CLI's SIGKILL.
    if (typeof deadline === 'number') return Math.max(0, Math.min(configuredMs, deadline - Date.now() - 1000));
  } catch {}
  return configuredMs;
}
