/**
 * `runtime stop` and `runtime restart`: SIGTERM to the pid in server.json (never a process found by
 * name), the server drains within the time left, then SIGKILL if it is still there at the timeout.
 * @module
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dataPaths, resolveConfig, resolveDataDir } from '../server/mod.ts';
import { CliError, COMMON, Exit, duration, intFlag, parseCommand, printJson } from './_output.ts';
import type { Command } from './_output.ts';
import { alive, hello, readServerInfo, spawnDaemon } from './_server.ts';
import type { ServerInfo } from './_server.ts';

const STOP_HELP = `runtime stop — stop the server of a data dir gracefully

Usage:
  runtime stop [--timeout S] [--data-dir D] [--json]

Sends SIGTERM to the pid in <data-dir>/server.json. The server stops accepting submissions (503),
lets running tasks finish their current stage (every transition is already persisted), then exits.
If it is still running after --timeout seconds it gets SIGKILL; tasks cut short resume from their
last snapshot at the next start. Processes are never looked up by name.

Options:
  --timeout S   seconds to wait before SIGKILL (default 30)
  --data-dir D  the server's data dir (default .orchestrator, env ORCHESTRATOR_DATA_DIR)
  --json        print { stopped, pid, forced, ms } as JSON

Examples:
  runtime stop
  runtime stop --timeout 5 --data-dir /tmp/orch
`;

const RESTART_HELP = `runtime restart — stop the server of a data dir, then start it again in the background

Usage:
  runtime restart [--timeout S] [--port N] [--host H] [--workers N] [--log-level L] [--data-dir D] [--json]

Stops as "runtime stop" does, then starts as "runtime start --daemon" on the same port (unless --port
says otherwise). Unfinished tasks resume. Starts the server if none was running.

Options:
  --timeout S   seconds to wait for the old server before SIGKILL (default 30)
  --port N, --host H, --workers N, --log-level L   as for runtime start
  --data-dir D  the server's data dir (default .orchestrator, env ORCHESTRATOR_DATA_DIR)
  --json        print the new server's { pid, url, port, … } as JSON

Examples:
  runtime restart
  runtime restart --workers 4 --data-dir /tmp/orch
`;

export interface StopResult {
  stopped: boolean;
  pid?: number;
  forced?: boolean;
  ms?: number;
}

/**
 * Stops the server of `dataDir` and resolves once its process is gone.
 * @example const { stopped, forced } = await stopServer('/tmp/orch', 30_000);
 */
export async function stopServer(dataDir: string, timeoutMs: number): Promise<StopResult & { info?: ServerInfo }> {
  const paths = dataPaths(dataDir);
  const info = readServerInfo(dataDir);
  if (!info || !alive(info.pid) || !(await isOurs(info))) {
    for (const file of [paths.server, paths.pid, paths.port]) rmSync(file, { force: true });
    return { stopped: false };
  }
  const started = Date.now();
  writeFileSync(paths.stopRequest, JSON.stringify({ deadline: started + timeoutMs }) + '\n');
  process.kill(info.pid, 'SIGTERM');
  while (alive(info.pid) && Date.now() - started < timeoutMs) await new Promise((r) => setTimeout(r, 50));
  let forced = false;
  if (alive(info.pid)) {
    forced = true;
    process.kill(info.pid, 'SIGKILL');
    while (alive(info.pid)) await new Promise((r) => setTimeout(r, 20));
    // A killed server cannot remove its files; leaving them would point the CLI at a dead pid.
    for (const file of [paths.server, paths.pid, paths.port, paths.stopRequest]) rmSync(file, { force: true });
  }
  return { stopped: true, pid: info.pid, forced, ms: Date.now() - started, info };
}

/** The pid is still the server that wrote server.json: it answers, or its command line is ours. */
async function isOurs(info: ServerInfo): Promise<boolean> {
  if (await hello(info.url, 1000)) return true;
  try {
    const cmd = readFileSync(`/proc/${info.pid}/cmdline`, 'utf8');
    return /cli[/\\](bin\.js|main\.ts)\0start/.test(cmd);
  } catch {
    // No /proc: a live pid that does not answer may be starting or hung; it is the one server.json names.
    return process.platform !== 'linux';
  }
}

export const stopCommand: Command = {
  name: 'stop',
  summary: 'stop the server gracefully (drain, then SIGKILL after --timeout)',
  help: STOP_HELP,
  async run(argv, env) {
    const args = parseCommand(argv, stopCommand, { ...COMMON, timeout: { type: 'string' } });
    if (!args) return Exit.Ok;
    const dataDir = resolveDataDir(args.values['data-dir'], env);
    const timeoutMs = intFlag(args.values.timeout, '--timeout', 0, 3600, 30) * 1000;
    const result = await stopServer(dataDir, timeoutMs);
    const { info: _info, ...shown } = result;
    if (args.values.json) printJson({ ...shown, dataDir });
    else if (!result.stopped) console.log(`runtime: no server was running for ${dataDir}`);
    else if (result.forced) console.log(`runtime: the server (pid ${result.pid}) did not stop within ${duration(timeoutMs)}: killed it (SIGKILL); tasks it was running resume from their last snapshot at the next start`);
    else console.log(`runtime: stopped the server (pid ${result.pid}) in ${duration(result.ms!)}`);
    return Exit.Ok;
  },
};

export const restartCommand: Command = {
  name: 'restart',
  summary: 'stop, then start the server again in the background',
  help: RESTART_HELP,
  async run(argv, env) {
    const args = parseCommand(argv, restartCommand, { ...COMMON, timeout: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' }, workers: { type: 'string' }, 'log-level': { type: 'string' } });
    if (!args) return Exit.Ok;
    const v = args.values;
    const dataDir = resolveDataDir(v['data-dir'], env);
    // Settings are checked before the old server goes away.
    await resolveConfig({ port: v.port, host: v.host, dataDir, workers: v.workers, logLevel: v['log-level'] }, env);
    const old = await stopServer(dataDir, intFlag(v.timeout, '--timeout', 0, 3600, 30) * 1000);
    const port = v.port ?? (old.info ? String(old.info.port) : undefined);
    const forward = [...(port !== undefined ? ['--port', port] : []), ...(['host', 'workers', 'log-level'] as const).flatMap((n) => (v[n] !== undefined ? [`--${n}`, v[n]!] : []))];
    let server;
    try {
      server = await spawnDaemon(dataDir, forward, { env });
    } catch (error) {
      throw new CliError(`${old.stopped ? `stopped pid ${old.pid}, but ` : ''}${(error as Error).message}`);
    }
    if (v.json) printJson({ ...server, dataDir, previousPid: old.pid ?? null });
    else console.log(`runtime: ${old.stopped ? `stopped pid ${old.pid}${old.forced ? ' (killed after the timeout)' : ''}; ` : ''}started the server (pid ${server.pid}) at ${server.url}`);
    return Exit.Ok;
  },
};
