/**
 * The commands of `runtime` and the dispatcher: one module per command, loaded only when that command
 * runs (so `runtime status` never loads the server, the gateway or zod). main.ts runs it.
 * @module
 */
import { readFileSync } from 'node:fs';
import { CliError, Exit, withHint } from './_output.ts';
import type { Command } from './_output.ts';

const VERSION: string = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;

/** Every command, in the order `runtime --help` lists them, with its loader. */
export const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  start: { summary: 'serve the API, dashboard, /ws and gateway (foreground, or --daemon)', load: async () => (await import('./start.ts')).startCommand },
  stop: { summary: 'stop the server gracefully (drain, then SIGKILL after --timeout)', load: async () => (await import('./stop.ts')).stopCommand },
  restart: { summary: 'stop, then start the server again in the background', load: async () => (await import('./stop.ts')).restartCommand },
  status: { summary: 'pid, port, uptime, version, agents, queue length, cache hit rate', load: async () => (await import('./status.ts')).statusCommand },
  logs: { summary: "the server's log; --follow, --level, --task", load: async () => (await import('./logs.ts')).logsCommand },
  submit: { summary: 'submit a requirement; --wait follows it live and lists the files', load: async () => (await import('./submit.ts')).submitCommand },
  tasks: { summary: 'list tasks; show, cancel or retry one', load: async () => (await import('./tasks.ts')).tasksCommand },
  inspect: { summary: "a task's state history as text", load: async () => (await import('./tasks.ts')).inspectCommand },
  agents: { summary: 'the agents and their status', load: async () => (await import('./tasks.ts')).agentsCommand },
  health: { summary: 'check server, ws, agents, store, workspace, sandbox, providers (exit 0/1)', load: async () => (await import('./health.ts')).healthCommand },
  diagnostics: { summary: 'a tar.gz of versions, config, logs, health and stats, secrets redacted', load: async () => (await import('./diagnostics.ts')).diagnosticsCommand },
  config: { summary: 'the effective config, where each setting came from, secrets masked', load: async () => (await import('./config.ts')).configCommand },
  reset: { summary: 'back up, then clear workspace, archive and logs', load: async () => (await import('./reset.ts')).resetCommand },
  archive: { summary: 'archive prune --older-than 30d', load: async () => (await import('./reset.ts')).archiveCommand },
  launch: { summary: 'run Claude Code or Codex CLI through the gateway', load: async () => (await import('./launch.ts')).launchAsCommand },
  demo: { summary: 'the sample requirements demo mode answers (no key needed)', load: async () => (await import('./demo.ts')).demoCommand },
};

const HELP = `runtime — Orchestrator: AI agents turn a requirement into validated code

Usage:
  runtime <command> [options]      (runtime <command> --help for its options and examples)
  runtime --version | --help

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`).join('\n')}

Every command takes --data-dir (default .orchestrator in the project root, found by walking up from
here like git; env ORCHESTRATOR_DATA_DIR); commands that print data take --json. Colours only on a
terminal, never with NO_COLOR set.
Settings: flags > environment > .env > orchestrator.config.json > defaults ("runtime config --help").
Models: set ANTHROPIC_API_KEY, OPENAI_API_KEY or DEEPSEEK_API_KEY (or a local server in
orchestrator.config.json); without any, the bundled demo transcripts answer, labelled DEMO.

Examples:
  runtime start --daemon
  runtime submit "Write a fizzbuzz module with tests" --wait
  runtime status
  runtime logs --follow --task t-m3x9k2-1a2b3c4d
  runtime health
  runtime stop
`;

/**
 * Runs the command line; resolves to the exit code. `runtime help --markdown` prints every command's
 * help as Markdown (docs/cli.md is that output).
 * @example process.exitCode = await main(['status', '--json']);
 */
export async function main(argv: string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  const [first, ...rest] = argv;
  if (first === '--version' || first === '-v') return void console.log(VERSION), Exit.Ok;
  if (!first || first === '--help' || first === '-h') return void (first ? console.log(HELP) : console.error(HELP)), first ? Exit.Ok : Exit.Usage;
  if (first === 'help') {
    if (rest[0] === '--markdown') return void process.stdout.write(await markdown()), Exit.Ok;
    if (rest[0] && COMMANDS[rest[0]]) return (await COMMANDS[rest[0]].load()).run(['--help'], env);
    return void console.log(HELP), Exit.Ok;
  }
  const entry = COMMANDS[first];
  if (!entry) {
    const typo = new CliError(`unknown command "${first}"; the commands are: ${Object.keys(COMMANDS).join(', ')} (runtime --help)`, Exit.Usage, { word: first, candidates: Object.keys(COMMANDS), after: `"${first}"` });
    console.error(`runtime: ${await withHint(typo)}`);
    return Exit.Usage;
  }
  const command = await entry.load();
  try {
    return await command.run(rest, env);
  } catch (error) {
    console.error(`runtime ${first}: ${await withHint(error)}`);
    return error instanceof CliError ? error.exitCode : Exit.Failed;
  }
}

/** Every command's help as one Markdown document. */
export async function markdown(): Promise<string> {
  const parts = [
    '# The `runtime` command',
    '',
    '<!-- Generated by `runtime help --markdown`; test/cli/help.test.ts checks it is current. -->',
    '',
    'In a clone, run it as `npx runtime …` (after `npm install`); `npm link` or `npm install -g .` puts a plain `runtime` on your PATH. ' +
      'It finds the project root by walking up from the current folder, like git (see the README, "CLI").',
    '',
    '```text',
    HELP.trimEnd(),
    '```',
    '',
  ];
  for (const [name, entry] of Object.entries(COMMANDS)) {
    const command = await entry.load();
    parts.push(`## runtime ${name}`, '', '```text', command.help.trimEnd(), '```', '');
  }
  return parts.join('\n');
}
