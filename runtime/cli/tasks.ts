/**
 * `runtime tasks [list|show|cancel|retry]`, `runtime inspect ID` and `runtime agents`: the task and
 * agent views of a running server, as text or `--json`.
 * @module
 */
import type { AgentState, TaskDetail, TaskView } from '../protocol/mod.ts';
import { resolveDataDir } from '../server/mod.ts';
import { CliError, COMMON, Exit, duration, forCli, intFlag, painter, parseCommand, printJson, table } from './_output.ts';
import type { Command } from './_output.ts';
import { call, requireServer } from './_server.ts';
import { agentTable, statusColour } from './status.ts';

const TASKS_HELP = `runtime tasks — list, show, cancel or retry tasks

Usage:
  runtime tasks [list] [--limit N] [--data-dir D] [--json]
  runtime tasks show ID [--data-dir D] [--json]
  runtime tasks cancel ID [--data-dir D] [--json]
  runtime tasks retry ID [--data-dir D] [--json]

list: newest first (default 20). show: status, stage, error, files, stages with times. cancel: a
queued or running task. retry: a failed or cancelled task (it starts again from the beginning).

Options:
  --limit N     how many tasks list shows (default 20, at most 1000)
  --data-dir D  the server's data dir (default .orchestrator, env ORCHESTRATOR_DATA_DIR)
  --json        print the API's JSON

Examples:
  runtime tasks
  runtime tasks show t-m3x9k2-1a2b3c4d
  runtime tasks retry t-m3x9k2-1a2b3c4d --json
`;

const INSPECT_HELP = `runtime inspect — the state history of one task, as text

Usage:
  runtime inspect ID [--data-dir D] [--json]

Every state the task's pipeline machine entered, with the time since submission, followed by the
messages its stages exchanged with the agents and the final error or files.

Options:
  --data-dir D  the server's data dir (default .orchestrator, env ORCHESTRATOR_DATA_DIR)
  --json        print { id, status, stages, messages, error, files } as JSON

Examples:
  runtime inspect t-m3x9k2-1a2b3c4d
`;

const AGENTS_HELP = `runtime agents — the agents of the running server and their status

Usage:
  runtime agents [--data-dir D] [--json]

Options:
  --data-dir D  the server's data dir (default .orchestrator, env ORCHESTRATOR_DATA_DIR)
  --json        print { agents, failures } as JSON

Examples:
  runtime agents
  runtime agents --json | jq '.agents[] | select(.status == "failed")'
`;

const clock = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);

function taskLines(task: TaskView, paint: ReturnType<typeof painter>): string[] {
  return [
    `${task.id}  ${paint(statusColour(task.status), task.status)} (${task.stage})  priority ${task.priority}  attempt ${task.attempt}  iteration ${task.iteration}/${task.maxIterations}`,
    `  requirement: ${task.requirement}`,
    `  submitted ${clock(task.createdAt)}, updated ${clock(task.updatedAt)} (${duration(task.updatedAt - task.createdAt)})`,
    ...(task.error ? [paint('red', `  failed at ${task.error.stage}: ${task.error.reason}: ${forCli(task.error.message)}`)] : []),
    ...(task.files.length ? ['  files:', ...task.files.map((f) => `    ${f}`)] : []),
  ];
}

export const tasksCommand: Command = {
  name: 'tasks',
  summary: 'list tasks; show, cancel or retry one',
  help: TASKS_HELP,
  async run(argv, env) {
    const args = parseCommand(argv, tasksCommand, { ...COMMON, limit: { type: 'string' } }, 2);
    if (!args) return Exit.Ok;
    const [action = 'list', id] = args.positionals;
    const actions = ['list', 'show', 'cancel', 'retry'];
    if (!actions.includes(action)) throw new CliError(`unknown action "${action}": use list, show ID, cancel ID or retry ID (runtime tasks --help)`, Exit.Usage, { word: action, candidates: actions, after: `"${action}"` });
    if (action !== 'list' && !id) throw new CliError(`name the task: runtime tasks ${action} ID (ids are in "runtime tasks")`, Exit.Usage);
    const server = await requireServer(resolveDataDir(args.values['data-dir'], env));
    const paint = painter();
    if (action === 'list') {
      const limit = intFlag(args.values.limit, '--limit', 1, 1000, 20);
      const { tasks } = await call<{ tasks: TaskView[] }>(server, `/api/tasks?limit=${limit}`);
      if (args.values.json) return printJson({ tasks }), Exit.Ok;
      if (!tasks.length) return console.log('no tasks yet; submit one with: runtime submit "Write a fizzbuzz module with tests"'), Exit.Ok;
      const short = (text: string) => (text.length > 60 ? `${text.slice(0, 57)}...` : text);
      console.log(table([['ID', 'STATUS', 'STAGE', 'PRI', 'AGE', 'REQUIREMENT'], ...tasks.map((t) => [t.id, paint(statusColour(t.status), t.status), t.stage, String(t.priority), duration(Date.now() - t.createdAt), short(t.requirement)])]));
      return Exit.Ok;
    }
    const path = `/api/tasks/${encodeURIComponent(id)}`;
    const task = action === 'show' ? await call<TaskDetail>(server, path) : await call<TaskView>(server, `${path}/${action}`, { method: 'POST' });
    if (args.values.json) return printJson(task), Exit.Ok;
    if (action !== 'show') console.log(action === 'cancel' ? `cancelled ${id}` : `retrying ${id} (attempt ${task.attempt})`);
    console.log(taskLines(task, paint).join('\n'));
    if (action === 'show') console.log(`  stages: ${(task as TaskDetail).stages.map((s) => s.stage).join(' → ')}\n  history: runtime inspect ${id}`);
    return Exit.Ok;
  },
};

export const inspectCommand: Command = {
  name: 'inspect',
  summary: "a task's state history as text",
  help: INSPECT_HELP,
  async run(argv, env) {
    const args = parseCommand(argv, inspectCommand, COMMON, 1);
    if (!args) return Exit.Ok;
    const id = args.positionals[0];
    if (!id) throw new CliError('name the task: runtime inspect ID (ids are in "runtime tasks")', Exit.Usage);
    const server = await requireServer(resolveDataDir(args.values['data-dir'], env));
    const task = await call<TaskDetail>(server, `/api/tasks/${encodeURIComponent(id)}`);
    if (args.values.json) {
      return printJson({ id: task.id, status: task.status, stage: task.stage, requirement: task.requirement, stages: task.stages, messages: task.messages, error: task.error, files: task.files }), Exit.Ok;
    }
    const paint = painter();
    const at = (ms: number) => `+${((ms - task.createdAt) / 1000).toFixed(3)}s`.padStart(10);
    const lines = [`task ${task.id}: ${paint(statusColour(task.status), task.status)}`, `requirement: ${task.requirement}`, '', 'state history:'];
    lines.push(`  ${at(task.createdAt)}  submitted (priority ${task.priority})`);
    for (const stage of task.stages) lines.push(`  ${at(stage.at)}  → ${stage.stage}`);
    if (task.messages.length) {
      lines.push('', 'messages:');
      for (const m of task.messages) lines.push(`  ${at(m.at)}  ${m.from} → ${m.to}: ${m.summary}`);
    }
    if (task.error) lines.push('', paint('red', `failed at ${task.error.stage}: ${task.error.reason}: ${forCli(task.error.message)}`));
    if (task.files.length) lines.push('', 'files:', ...task.files.map((f) => `  ${f}`));
    console.log(lines.join('\n'));
    return Exit.Ok;
  },
};

export const agentsCommand: Command = {
  name: 'agents',
  summary: 'the agents and their status',
  help: AGENTS_HELP,
  async run(argv, env) {
    const args = parseCommand(argv, agentsCommand, COMMON);
    if (!args) return Exit.Ok;
    const server = await requireServer(resolveDataDir(args.values['data-dir'], env));
    const body = await call<{ agents: AgentState[]; failures: Array<{ message: string }> }>(server, '/api/agents');
    if (args.values.json) return printJson(body), Exit.Ok;
    const paint = painter();
    console.log(agentTable(body.agents, paint));
    for (const failure of body.failures) console.log(paint('red', `plugin not loaded: ${failure.message}`));
    return Exit.Ok;
  },
};
