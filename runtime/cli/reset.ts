/**
 * `runtime reset` (back up workspace, archive and logs into one tar.gz, then clear them) and
 * `runtime archive prune --older-than 30d`. Neither stops or kills anything: reset refuses while a
 * server runs for the data dir.
 * @module
 */
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { dataPaths, resolveDataDir } from '../server/mod.ts';
import { CliError, COMMON, Exit, duration, parseAge, parseCommand, printJson } from './_output.ts';
import type { Command } from './_output.ts';
import { findServer } from './_server.ts';
import { filesUnder, tarGz } from './_tar.ts';

const RESET_HELP = `runtime reset — back up, then clear the workspace, the archive and the logs

Usage:
  runtime reset [--yes] [--data-dir D] [--json]

Writes <data-dir>/backups/reset-<time>.tar.gz with workspace/, completed_archive/ and logs/, then
empties those folders. The database (tasks, history, cache, usage) is kept. Refuses while a server
runs for the data dir (stop it with "runtime stop"); never stops or kills a process itself.
Asks for confirmation on a terminal; elsewhere pass --yes.

Options:
  --yes         do not ask
  --data-dir D  the data dir (default .orchestrator, env ORCHESTRATOR_DATA_DIR)
  --json        print { backup, bytes, removed } as JSON

Examples:
  runtime stop && runtime reset --yes
  tar -tzf .orchestrator/backups/reset-2025-01-01T00-00-00-000Z.tar.gz
`;

const ARCHIVE_HELP = `runtime archive — manage completed_archive/

Usage:
  runtime archive prune --older-than AGE [--dry-run] [--data-dir D] [--json]

prune removes archived tasks whose manifest is older than AGE (30d, 12h, 2w, 45m, 90s).

Options:
  --older-than AGE  required: the age beyond which an archive goes
  --dry-run         list what would go, remove nothing
  --data-dir D      the data dir (default .orchestrator, env ORCHESTRATOR_DATA_DIR)
  --json            print { removed: [{ taskId, ageMs }], dryRun } as JSON

Examples:
  runtime archive prune --older-than 30d
  runtime archive prune --older-than 2w --dry-run
`;

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

export const resetCommand: Command = {
  name: 'reset',
  summary: 'back up, then clear workspace, archive and logs',
  help: RESET_HELP,
  async run(argv, env) {
    const args = parseCommand(argv, resetCommand, { ...COMMON, yes: { type: 'boolean', short: 'y' } });
    if (!args) return Exit.Ok;
    const dataDir = resolveDataDir(args.values['data-dir'], env);
    const running = await findServer(dataDir);
    if (running) throw new CliError(`a server runs for ${dataDir} (pid ${running.pid}): stop it first with "runtime stop --data-dir ${dataDir}", then reset`);
    const paths = dataPaths(dataDir);
    const folders = [[paths.workspace, 'workspace'], [paths.archive, 'completed_archive'], [paths.logs, 'logs']] as const;
    if (!args.values.yes) {
      if (!process.stdin.isTTY) throw new CliError('reset clears workspace/, completed_archive/ and logs/ (after a backup): pass --yes to confirm', 2);
      if (!(await confirm(`back up and clear ${folders.map(([dir]) => dir).join(', ')}? [y/N] `))) return console.log('nothing changed'), Exit.Failed;
    }
    const entries = folders.flatMap(([dir, as]) => filesUnder(dir, as));
    mkdirSync(paths.backups, { recursive: true });
    const backup = join(paths.backups, `reset-${new Date().toISOString().replace(/[:.]/g, '-')}.tar.gz`);
    const data = tarGz(entries);
    // The backup is on disk (and fsynced by writeFileSync's close) before anything is removed.
    writeFileSync(backup, data);
    for (const [dir] of folders) {
      for (const name of safeList(dir)) rmSync(join(dir, name), { recursive: true, force: true });
    }
    if (args.values.json) printJson({ backup, bytes: data.length, removed: entries.length });
    else console.log(`backed up ${entries.length} file(s) to ${backup}\ncleared ${folders.map(([, as]) => `${as}/`).join(', ')} (the database is kept)`);
    return Exit.Ok;
  },
};

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export const archiveCommand: Command = {
  name: 'archive',
  summary: 'archive prune --older-than 30d',
  help: ARCHIVE_HELP,
  async run(argv, env) {
    const args = parseCommand(argv, archiveCommand, { ...COMMON, 'older-than': { type: 'string' }, 'dry-run': { type: 'boolean' } }, 1);
    if (!args) return Exit.Ok;
    if (args.positionals[0] !== 'prune') throw new CliError(`${args.positionals[0] ? `unknown action "${args.positionals[0]}"` : 'name the action'}: runtime archive prune --older-than 30d`, Exit.Usage);
    if (!args.values['older-than']) throw new CliError('say how old: runtime archive prune --older-than 30d', Exit.Usage);
    const maxAge = parseAge(args.values['older-than'], '--older-than');
    const root = dataPaths(resolveDataDir(args.values['data-dir'], env)).archive;
    const now = Date.now();
    const removed: Array<{ taskId: string; ageMs: number }> = [];
    for (const taskId of safeList(root)) {
      if (taskId.startsWith('.')) continue;
      const manifest = statSync(join(root, taskId, 'manifest.json'), { throwIfNoEntry: false });
      if (!manifest?.isFile()) continue; // not an archive entry
      const ageMs = now - manifest.mtimeMs;
      if (ageMs <= maxAge) continue;
      if (!args.values['dry-run']) rmSync(join(root, taskId), { recursive: true, force: true });
      removed.push({ taskId, ageMs });
    }
    if (args.values.json) printJson({ removed, dryRun: Boolean(args.values['dry-run']) });
    else if (!removed.length) console.log(`no archive in ${root} is older than ${args.values['older-than']}`);
    else console.log(`${args.values['dry-run'] ? 'would remove' : 'removed'} ${removed.length} archive(s) from ${root}:\n${removed.map((r) => `  ${r.taskId} (${duration(r.ageMs)} old)`).join('\n')}`);
    return Exit.Ok;
  },
};
