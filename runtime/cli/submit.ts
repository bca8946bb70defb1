/**
 * `runtime submit "<requirement>"`: hands a requirement to the server of the data dir (starting one in
 * the background if none runs) and, with `--wait`, follows it live over /ws to the end: stages,
 * agent output with `--verbose`, the files it wrote, or the reason it failed (exit 1).
 * @module
 */
import { join } from 'node:path';
import { FINAL_STAGES } from '../protocol/mod.ts';
import type { TaskView } from '../protocol/mod.ts';
import { dataPaths, resolveDataDir } from '../server/mod.ts';
import { CliError, COMMON, Exit, duration, forCli, intFlag, painter, parseCommand, printJson } from './_output.ts';
import type { Command } from './_output.ts';
import { createProgress } from './_progress.ts';
import { call, ensureServer, wsUrl } from './_server.ts';
import type { ServerInfo } from './_server.ts';

const HELP = `runtime submit — submit a requirement; with --wait, follow it live to the end

Usage:
  runtime submit "<requirement>" [--priority N] [--wait] [--verbose] [--timeout S] [--port N] [--data-dir D] [--json]

Starts a server in the background for the data dir if none runs (as "runtime start --daemon").
Without --wait it prints the task id and returns. With --wait it shows each stage as it happens
(a live line on a terminal, plain lines otherwise), then the files the task wrote; a failed or
cancelled task exits 1 with the reason. Ctrl-C stops following; the task keeps running.
In demo mode (no provider key) the sample requirements of GET /api/demo answer, e.g.
"Write a fizzbuzz module with tests".

Options:
  --priority N  1 (lowest) to 10 (default 5)
  --wait        follow the task until it completes or fails
  --verbose     with --wait: stream the agents' model output as it arrives (real providers;
                the demo transcripts answer whole, so demo mode shows no stream)
  --timeout S   with --wait: give up following after S seconds (exit 1; the task keeps running)
  --port N      port for a server that submit starts (default 8100; 0 picks a free one)
  --data-dir D  the server's data dir (default .orchestrator, env ORCHESTRATOR_DATA_DIR)
  --json        print the task as JSON (with --wait: the finished task; progress goes to stderr)

Examples:
  runtime submit "Write a fizzbuzz module with tests" --wait
  runtime submit "Build a small CSV parser with tests" --priority 8
  runtime submit "Draw an SVG bar chart of monthly sales" --wait --verbose
  runtime submit "Write a fizzbuzz module with tests" --wait --json | jq .files
`;

export const submitCommand: Command = {
  name: 'submit',
  summary: 'submit a requirement; --wait follows it live and lists the files',
  help: HELP,
  async run(argv, env) {
    const args = parseCommand(argv, submitCommand, { ...COMMON, priority: { type: 'string' }, wait: { type: 'boolean' }, verbose: { type: 'boolean' }, timeout: { type: 'string' }, port: { type: 'string' } }, 1);
    if (!args) return Exit.Ok;
    const v = args.values;
    const requirement = args.positionals[0]?.trim();
    if (!requirement) throw new CliError('say what to build: runtime submit "Write a fizzbuzz module with tests" (runtime submit --help)', Exit.Usage);
    const priority = intFlag(v.priority, '--priority', 1, 10, 5);
    const timeoutMs = intFlag(v.timeout, '--timeout', 0, 86_400, 0) * 1000;
    const dataDir = resolveDataDir(v['data-dir'], env);
    const { server, started } = await ensureServer(dataDir, { port: v.port, env });
    if (started) console.error(`runtime: started the server (pid ${server.pid}) at ${server.url}; stop it with "runtime stop${v['data-dir'] ? ` --data-dir ${dataDir}` : ''}"`);
    if (!v.wait) {
      const { task } = await call<{ task: TaskView }>(server, '/api/requirements', { body: { requirement, priority } });
      if (v.json) printJson(task);
      else console.log(`submitted ${task.id} (priority ${priority}); follow it with: runtime tasks show ${task.id}`);
      return Exit.Ok;
    }
    const out = v.json ? process.stderr : process.stdout;
    const progress = createProgress(out, { live: out.isTTY === true && !v.verbose, env });
    const task = await follow(server, { requirement, priority }, { verbose: Boolean(v.verbose), timeoutMs, progress, out });
    progress.done(task);
    return report(task, dataDir, Boolean(v.json));
  },
};

/** Opens /ws, submits, and resolves with the task once it is final (ws events, with polling as a safety net). */
async function follow(server: ServerInfo, body: { requirement: string; priority: number }, o: { verbose: boolean; timeoutMs: number; progress: ReturnType<typeof createProgress>; out: NodeJS.WriteStream }): Promise<TaskView> {
  let taskId: string | undefined;
  let latest: TaskView | undefined;
  // /ws events may arrive before POST answers with the id: keep them until then, in order.
  const early: TaskView[] = [];
  let settle!: (task: TaskView) => void;
  let fail!: (error: Error) => void;
  const finished = new Promise<TaskView>((resolve, reject) => ((settle = resolve), (fail = reject)));
  const seen = (task: TaskView) => {
    if (taskId === undefined) return void early.push(task);
    if (task.id !== taskId) return;
    latest = task;
    o.progress.update(task);
    if (FINAL_STAGES.has(task.status)) settle(task);
  };
  const socket = await openSocket(server);
  socket?.addEventListener('message', (event) => {
    let frame: any;
    try {
      frame = JSON.parse(String(event.data));
    } catch {
      return;
    }
    if (frame.type !== 'update') return;
    for (const e of frame.events) {
      if (e.kind === 'task') seen(e.task);
      else if (e.kind === 'token' && o.verbose && e.taskId === taskId && e.token.kind !== 'tool') o.progress.output(e.token.text);
    }
  });
  const submitted = await call<{ task: TaskView }>(server, '/api/requirements', { body });
  taskId = submitted.task.id;
  o.out.write(`submitted ${taskId}: ${body.requirement}\n`);
  if (socket) for (const task of early.splice(0)) seen(task);
  else seen(submitted.task);
  // The socket may miss the end (it closed, or the task finished before it subscribed): poll too.
  let misses = 0;
  const poll = setInterval(async () => {
    try {
      const task = await call<TaskView>(server, `/api/tasks/${taskId}`, { timeoutMs: 5000 });
      // With a socket, polling only catches an end the socket missed; stages come from the socket in order.
      if (!socket || FINAL_STAGES.has(task.status) || socket.readyState !== WebSocket.OPEN) seen(task);
      misses = 0;
    } catch (error) {
      if (++misses >= 5) fail(new CliError(`lost the server at ${server.url} while task ${taskId} ran (${(error as Error).message}); the task resumes when the server is back: runtime start --daemon, then runtime tasks show ${taskId}`));
    }
  }, socket ? 2000 : 500);
  const onSigint = () => {
    o.progress.stop();
    console.error(`\nstopped following; task ${taskId} keeps running: runtime tasks show ${taskId}`);
    process.exit(130);
  };
  process.on('SIGINT', onSigint);
  const timer = o.timeoutMs ? setTimeout(() => fail(new CliError(`task ${taskId} is still ${latest?.status ?? 'running'} (${latest?.stage}) after ${duration(o.timeoutMs)}; it keeps running: runtime tasks show ${taskId}`)), o.timeoutMs) : undefined;
  try {
    return await finished;
  } catch (error) {
    o.progress.stop();
    throw error;
  } finally {
    clearInterval(poll);
    if (timer) clearTimeout(timer);
    process.off('SIGINT', onSigint);
    socket?.close();
  }
}

/** A /ws connection that has delivered its snapshot, or undefined when /ws cannot be reached. */
function openSocket(server: ServerInfo): Promise<WebSocket | undefined> {
  return new Promise((resolve) => {
    let socket: WebSocket;
    try {
      socket = new WebSocket(wsUrl(server, '/ws'));
    } catch {
      return resolve(undefined);
    }
    const timer = setTimeout(() => (socket.close(), resolve(undefined)), 3000);
    socket.addEventListener('message', () => (clearTimeout(timer), resolve(socket)), { once: true });
    socket.addEventListener('error', () => (clearTimeout(timer), resolve(undefined)), { once: true });
  });
}

function report(task: TaskView, dataDir: string, json: boolean): number {
  const paths = dataPaths(dataDir);
  const files = task.files.map((f) => join(paths.workspace, f));
  const ok = task.status === 'completed';
  if (json) printJson({ ...task, paths: files, archive: ok ? join(paths.archive, task.id) : null });
  else {
    const paint = painter();
    const took = duration(task.updatedAt - task.createdAt);
    if (ok) {
      console.log(`${paint('green', '✓')} ${task.id} completed in ${took}; ${files.length} file(s) in ${join(paths.workspace, task.id)}:`);
      for (const file of files) console.log(`  ${file}`);
      console.log(`archived in ${join(paths.archive, task.id)}`);
    }
  }
  if (!ok) {
    const why = task.error ? `failed at ${task.error.stage}: ${task.error.reason}: ${forCli(task.error.message)}` : task.status;
    console.error(`${painter(process.stderr)('red', '✗')} ${task.id} ${why}\n  history: runtime inspect ${task.id}; try again: runtime tasks retry ${task.id}`);
    return Exit.Failed;
  }
  return Exit.Ok;
}
