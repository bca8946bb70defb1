import { chmodSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { ErrorCode, RuntimeError, Topics } from '../protocol/mod.ts';
import type { LogLevel, Message, MessageMap } from '../protocol/mod.ts';
import { createBus } from '../bus/mod.ts';
import type { Bus } from '../bus/mod.ts';
import { openStore } from '../store/mod.ts';
import type { Store } from '../store/mod.ts';
import { createWorkspace } from '../workspace/mod.ts';
import { loadPlugins } from '../plugin/mod.ts';
import { startSupervisor } from '../supervisor/mod.ts';
import type { Supervisor } from '../supervisor/mod.ts';
import { createTaskManager, summarize } from '../tasks/mod.ts';
import type { TaskManager } from '../tasks/mod.ts';
import { demoSamples, unknownRoutedRoles } from '../llm/mod.ts';
import { builtinAgents } from '../../agents/mod.ts';
import { createSandbox } from '../../sandbox/mod.ts';
import { runtimeVersion, sandboxDriver, serve } from '../adapters/mod.ts';
import type { RunningServer } from '../adapters/mod.ts';
import { createHub } from './hub.ts';
import { createInspector } from './inspect.ts';
import type { Hub } from './hub.ts';
import { dataPaths } from './config.ts';
import type { ServerConfig } from './config.ts';
import { createRoutes } from './routes.ts';
import { MAX_BODY_BYTES, errorResponse } from './http.ts';
import { startLlm } from './llm.ts';
import { scrubbingLog, wireConsole } from './console.ts';
import { corsFor } from './http.ts';
import { createGuard } from './guard.ts';
import type { Llm } from './llm.ts';

export const VERSION = '0.1.0';

export interface App {
  readonly config: ServerConfig;
  readonly server: RunningServer;
  readonly url: string;
  readonly bus: Bus;
  readonly store: Store;
  readonly tasks: TaskManager;
  readonly supervisor: Supervisor;
  readonly hub: Hub;
  readonly llm: Llm;
  /**
   * Stops accepting submissions and retries (503 E_STOPPED), then waits until every task that was
   * running has finished its current stage (its snapshot is on disk) or `timeoutMs` passes. Tasks
   * still mid-stage resume from their last snapshot at the next start.
   */
  drain(timeoutMs: number): Promise<{ finished: number; pending: string[] }>;
  stop(): Promise<void>;
}

/** Where the server's log lines go; `fields.taskId` names the task a line is about. */
export type LogSink = (level: LogLevel, text: string, fields?: { taskId?: string }) => void;

/** A stage's timeout when neither config nor a model route sets one (demo, transcripts). */
const DEFAULT_STAGE_TIMEOUT_MS = 10 * 60_000;

/**
 * Builds and starts the whole runtime under `config.dataDir`: store, workspace, bus, plugins,
 * supervisor, tasks (resumed), sandbox, HTTP API and /ws.
 * @example const app = await startApp(resolveConfig({ port: 0 }, process.env));
 */

export async function startApp(config: ServerConfig, log: LogSink = defaultLog): Promise<App> {
  const paths = dataPaths(config.dataDir);
  mkdirSync(config.dataDir, { recursive: true });
  const startedAt = Date.now();
  const store = openStore(paths.db);
  const bus = createBus();
  // A new token at every start: a page that learned an old one (or a stale CLI) cannot use it again.
  const token = randomBytes(32).toString('base64url');
  // No log line and no console entry carries a provider key or the token, whoever wrote it.
  const secrets = () => [...config.providers.map((p) => p.apiKey), token];
  log = scrubbingLog(log, secrets);
  let llm: Llm;
  try {
    // The proxy must know the token: a client that sends it as its API key must not have it forwarded upstream.
    llm = startLlm(config, { store, bus, log, version: VERSION, launchToken: token });
  } catch (error) {
    bus.close();
    await store.close();
    throw error;
  }
  const provider = llm.provider;
  const workspace = createWorkspace({ root: paths.workspace, archiveRoot: paths.archive });
  // One validation per task at a time: a task's fix loop never runs two at once, and a runaway task
  // cannot hold the whole pool. As many workers as the validator's pool has instances, up to the cores:
  // a run spinning to its deadline must not stall every other task's validation.
  const sandbox = createSandbox({ driver: sandboxDriver(), perTask: 1, poolSize: Math.min(config.workers, availableParallelism()) });

  // Every message about a task goes to its log: this is what GET /api/tasks/:id shows as "messages".
  bus.intercept({
    name: 'task-log',
    onSend(message: Message) {
      // Written behind (one commit per ~50 ms, not one fsync per message): the message log is a
      // diagnostic trail; task rows, snapshots and stage events stay on synchronous commits.
      if (message.taskId) store.appendEventLater({ taskId: message.taskId, ts: message.ts, type: 'message', data: { type: message.type, from: message.from, to: message.to, at: message.ts, summary: summarize(message) } });
    },
  });
  const agentLog = (level: LogLevel, text: string, taskId?: string) =>
    void bus.publish(Topics.Logs, 'log.entry', { level, source: 'agents', text }, { from: 'supervisor:root', taskId });
  // Every failed model-call attempt (before a retry, a fallback or giving up) is on its task and in the log.
  bus.subscribe(Topics.Tokens, (message: Message) => {
    if (message.type !== 'llm.attempt' || !message.taskId) return;
    const event = message.payload as MessageMap['llm.attempt'];
    store.appendEventLater({ taskId: message.taskId, ts: message.ts, type: 'llm.attempt', data: event });
    agentLog('warn', event.text, message.taskId);
    tasks.modelAttempt(message.taskId, event, message.ts);
  });

  const { loaded, failures } = await loadPlugins({ builtins: builtinAgents, dirs: config.pluginDirs, configs: config.plugins });
  for (const failure of failures) log('error', `plugin not loaded: ${failure.message}`);
  // A routed role no agent serves is a typo (or a plugin that did not load): refuse to start, naming it.
  llm.servedRoles(loaded.map((l) => l.plugin.role));
  const misrouted = unknownRoutedRoles(llm.routing(), loaded.map((l) => l.plugin.role));
  if (misrouted) {
    llm.stop();
    bus.close();
    await store.close();
    throw misrouted;
  }
  // Every role is served by a pool as large as `workers` unless config says otherwise, so `workers`
  // tasks at the same stage call their models side by side; `maxTasks` (3 × workers) tasks are in
  // flight, so while some wait on the implementer others are already being enhanced or analysed.
  const roles = Object.fromEntries(Object.entries(config.agents).flatMap(([role, a]) => (a.concurrency ? [[role, a.concurrency]] : [])));
  const supervisor = startSupervisor({
    bus, plugins: loaded, failures, capabilities: { llm: provider, sandbox, workspace, log: agentLog }, concurrency: { default: config.workers, roles },
  });
  const tasks = createTaskManager({
    bus, store, maxRunning: config.maxTasks, maxIterations: config.maxIterations, hasReviewer: () => supervisor.servesRole('reviewer'), models: llm.tasks,
    // The task actors are the root supervisor's tasks subtree: one tree, one actor system.
    home: supervisor,
    // Explicit, or derived per role from its model route (attempts × timeoutMs + backoff), else 10 min.
    stageTimeoutMs: (role: string) => config.stageTimeoutMs ?? llm.stageTimeoutMs(role) ?? DEFAULT_STAGE_TIMEOUT_MS,
    ...(config.taskDeadlineMs === undefined ? {} : { taskDeadlineMs: config.taskDeadlineMs }),
  });

  const hub = createHub({
    demo: provider.demo,
    agents: Object.fromEntries(supervisor.agents().map((a) => [a.name, a])),
    tasks: Object.fromEntries((await tasks.list({ limit: 100 })).reverse().map((t) => [t.id, t])),
  });
  supervisor.onAgentChange((agent) => hub.push({ kind: 'agent', agent }));
  tasks.onChange((task) => hub.push({ kind: 'task', task }));
  wireConsole({ bus, tasks, hub, log, secrets });

  const resumed = await tasks.resume();
  if (resumed.resumed || resumed.failed) log('info', `resumed ${resumed.resumed} unfinished task(s); ${resumed.failed} could not be restored`);

  // The /ws/inspect channel (docs/ui.md): machine definitions, live states and a task's persisted history.
  const inspector = createInspector({ supervisor, tasks, store });

  const guard = createGuard({ token, allowedHosts: config.allowedHosts, uiOrigins: config.uiOrigins, remote: config.remote });

  let draining = false;
  const routes = createRoutes({
    session: { token, remote: config.remote },
    sandboxProbe: () => sandbox.probe(),
    inspector,
    bus,
    version: VERSION,
    startedAt,
    provider,
    samples: provider.demo ? demoSamples() : [],
    tasks,
    supervisor,
    workspace,
    store,
    hub,
    llm,
  });
  const withCors = corsFor(config.uiOrigins);
  const fetch = (request: Request): Promise<Response> => withCors(request, () => serveRequest(request));
  const serveRequest = (request: Request): Promise<Response> => {
    if (draining && request.method === 'POST' && /^\/api\/(requirements|tasks\/[^/]+\/retry)$/.test(new URL(request.url).pathname)) {
      return Promise.resolve(errorResponse(new RuntimeError(ErrorCode.Stopped, 'the server is shutting down: submit again once it is back (runtime start)')));
    }
    return routes(request);
  };
  let server: RunningServer;
  try {
    server = await serve({
      port: config.port,
      host: config.host,
      guard,
      bodyLimit: (method, path) => llm.proxy.bodyLimit(method, path) ?? MAX_BODY_BYTES,
      wsPaths: ['/ws', '/ws/inspect'],
      wsMaxPayload: 64 * 1024,
      fetch,
      plain: llm.proxy.plain,
      ws: { '/ws': hub.ws, '/ws/inspect': inspector.ws },
    });
  } catch (error) {
    inspector.close();
    await tasks.stop();
    supervisor.stop();
    llm.stop();
    await store.close();
    await sandbox.close();
    if ((error as { code?: string }).code === 'EADDRINUSE') {
      throw new RuntimeError(ErrorCode.Conflict, `port ${config.port} on ${config.host} is in use: stop the other server or choose another port with --port (or ORCHESTRATOR_PORT)`, { details: { addressInUse: true, port: config.port, host: config.host } });
    }
    throw error;
  }
  // Written once listening: a second server that fails to bind must not replace the running one's token.
  writeFileSync(paths.token, `${token}\n`, { mode: 0o600 });
  chmodSync(paths.token, 0o600);
  writeFileSync(paths.pid, `${process.pid}\n`);
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${server.port}`;
  writeFileSync(paths.port, `${server.port}\n`);
  writeFileSync(paths.server, JSON.stringify({ pid: process.pid, url, port: server.port, version: VERSION, startedAt }) + '\n');
  log('info', `Orchestrator ${VERSION} on ${runtimeVersion()} serving ${url} (data in ${config.dataDir}; ${provider.demo ? 'DEMO MODE: bundled transcripts answer, no model is called' : `provider ${provider.name}`})`);

  return {
    config,
    server,
    url,
    bus,
    store,
    tasks,
    supervisor,
    hub,
    llm,
    async drain(timeoutMs) {
      draining = true;
      // Listening before asking: a stage that ends while the list is read still counts as finished.
      const moved = new Map<string, string>();
      const early = tasks.onChange((task) => void moved.set(task.id, task.stage));
      const waiting = new Map((await tasks.running()).map((t) => [t.id, t.stage]));
      early();
      for (const [id, stage] of moved) if (waiting.get(id) !== undefined && waiting.get(id) !== stage) waiting.delete(id);
      const total = waiting.size;
      if (!total) return { finished: 0, pending: [] };
      log('info', `draining: waiting up to ${Math.round(timeoutMs / 1000)} s for the current stage of ${total} running task(s)`);
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          off();
          resolve({ finished: total - waiting.size, pending: [...waiting.keys()] });
        };
        const off = tasks.onChange((task) => {
          if (waiting.has(task.id) && waiting.get(task.id) !== task.stage) waiting.delete(task.id);
          if (!waiting.size) done();
        });
        const timer = setTimeout(done, timeoutMs);
      });
    },
    async stop() {
      await tasks.stop();
      hub.close();
      inspector.close();
      await server.close();
      llm.stop();
      supervisor.stop();
      bus.close();
      await sandbox.close();
      await store.close();
      rmSync(paths.pid, { force: true });
      rmSync(paths.port, { force: true });
      rmSync(paths.server, { force: true });
      rmSync(paths.token, { force: true });
    },
  };
}

function defaultLog(level: LogLevel, text: string, fields?: { taskId?: string }): void {
  const line = JSON.stringify({ ts: new Date().toISOString(), level, msg: text, ...fields });
  if (level === 'error' || level === 'warn') console.error(line);
  else console.log(line);
}

