/**
 * `runtime status`: is a server running for the data dir, and how is it doing (pid, port, uptime,
 * version, agents, queue, cache hit rate). Exit 0 when it runs, 1 when it does not.
 * @module
 */
import type { AgentState } from '../protocol/mod.ts';
import { resolveDataDir } from '../server/mod.ts';
import { COMMON, Exit, duration, painter, parseCommand, printJson, table } from './_output.ts';
import type { Colour, Command } from './_output.ts';
import { call, findServer } from './_server.ts';

const HELP = `runtime status — the server of a data dir: pid, port, uptime, version, agents, queue, cache

Usage:
  runtime status [--data-dir D] [--json]

Exit code 0 when a server runs for the data dir, 1 when none does.

Options:
  --data-dir D  the server's data dir (default .orchestrator, env ORCHESTRATOR_DATA_DIR)
  --json        print { running, pid, url, port, version, uptimeMs, status, demo, queue, cache, agents } as JSON

Examples:
  runtime status
  runtime status --json | jq .cache.hitRate
`;

/** The colour of an agent or task status word. */
export function statusColour(status: string): Colour {
  if (status === 'failed') return 'red';
  if (status === 'working' || status === 'running' || status === 'restarting' || status === 'queued') return 'yellow';
  if (status === 'completed' || status === 'ready' || status === 'ok' || status === 'pass') return 'green';
  return 'gray';
}

/** The agents as a table (NAME ROLE STATUS TASK DONE FAILED RESTARTS). */
export function agentTable(agents: AgentState[], paint: ReturnType<typeof painter>): string {
  return table([
    ['NAME', 'ROLE', 'STATUS', 'TASK', 'DONE', 'FAILED', 'RESTARTS'],
    ...agents.map((a) => [a.name, a.role, paint(statusColour(a.status), a.status), a.taskId ?? '-', String(a.done), String(a.failed), String(a.restarts)]),
  ]);
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'pid, port, uptime, version, agents, queue length, cache hit rate',
  help: HELP,
  async run(argv, env) {
    const args = parseCommand(argv, statusCommand, COMMON);
    if (!args) return Exit.Ok;
    const dataDir = resolveDataDir(args.values['data-dir'], env);
    const server = await findServer(dataDir);
    if (!server) {
      if (args.values.json) printJson({ running: false, dataDir });
      else console.log(`runtime: no server runs for ${dataDir}; start one with "runtime start --daemon"`);
      return Exit.Failed;
    }
    const [health, agents, cache] = await Promise.all([
      call(server, '/api/health', { allowStatus: [503] }),
      call<{ agents: AgentState[]; failures: Array<{ message: string }> }>(server, '/api/agents'),
      call(server, '/api/cache/stats'),
    ]);
    const result = {
      running: true,
      dataDir,
      pid: server.pid,
      url: server.url,
      port: server.port,
      version: health.version,
      uptimeMs: health.uptimeMs,
      status: health.status,
      demo: health.demo,
      provider: health.provider,
      queue: health.tasks,
      cache: { hitRate: cache.hitRate, hits: cache.hits, misses: cache.misses, size: cache.size, maxSize: cache.maxSize },
      agents: agents.agents.map((a) => ({ name: a.name, role: a.role, status: a.status, taskId: a.taskId, done: a.done, failed: a.failed, restarts: a.restarts })),
      pluginFailures: agents.failures.map((f) => f.message),
    };
    if (args.values.json) return printJson(result), Exit.Ok;
    const paint = painter();
    const lookups = cache.hits + cache.misses;
    console.log(
      [
        `Orchestrator ${result.version}: ${paint(statusColour(health.status), health.status)}${health.demo ? paint('yellow', '  DEMO MODE (bundled transcripts, no model is called)') : `  provider ${health.provider}`}`,
        table([
          ['  pid', String(server.pid)],
          ['  url', server.url],
          ['  port', String(server.port)],
          ['  uptime', duration(health.uptimeMs)],
          ['  data', dataDir],
          ['  queue', `${health.tasks.queued} queued, ${health.tasks.running} running (at most ${health.tasks.maxRunning} at once)`],
          ['  cache', lookups ? `hit rate ${(cache.hitRate * 100).toFixed(1)}% (${cache.hits} hits, ${cache.misses} misses; ${cache.size}/${cache.maxSize} entries)` : `no lookups yet (${cache.size}/${cache.maxSize} entries)`],
        ]),
        `  agents (${result.agents.length}):`,
        agentTable(agents.agents, paint).replace(/^/gm, '    '),
        ...result.pluginFailures.map((m) => paint('red', `  plugin not loaded: ${m}`)),
      ].join('\n'),
    );
    return Exit.Ok;
  },
};
