/**
 * `runtime logs`: the daemon's JSON-lines log (`<data-dir>/logs/server.log` and its rotated files),
 * filtered by level and task, optionally followed across rotations.
 * @module
 */
import { existsSync, openSync, readSync, closeSync, readFileSync, statSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import type { LogLevel } from '../protocol/mod.ts';
import { dataPaths, resolveDataDir } from '../server/mod.ts';
import { CliError, COMMON, Exit, intFlag, painter, parseCommand } from './_output.ts';
import type { Command } from './_output.ts';
import { LEVEL_RANK } from './_log.ts';

const HELP = `runtime logs — the server's log, filtered, optionally followed

Usage:
  runtime logs [--follow] [--level L] [--task ID] [--lines N] [--data-dir D] [--json]

Reads <data-dir>/logs/server.log and its rotated files (server.log.1 …), which a server started with
--daemon (or by submit/launch) writes. A foreground "runtime start" logs to its own stdout instead.

Options:
  --follow, -f  keep printing new lines as they are written (Ctrl-C stops), across rotations
  --level L     only lines at this level or above: debug, info, warn, error
  --task ID     only lines about this task
  --lines N     how many of the last matching lines to print first (default 50; 0 = all)
  --data-dir D  the server's data dir (default .orchestrator, env ORCHESTRATOR_DATA_DIR)
  --json        print the raw JSON lines

Examples:
  runtime logs
  runtime logs --follow --task t-m3x9k2-1a2b3c4d
  runtime logs --level warn --lines 0 --json | jq -r .msg
`;

interface Line {
  ts?: string;
  level?: LogLevel;
  msg?: string;
  taskId?: string;
}

export const logsCommand: Command = {
  name: 'logs',
  summary: "the server's log; --follow, --level, --task",
  help: HELP,
  async run(argv, env) {
    const args = parseCommand(argv, logsCommand, { ...COMMON, follow: { type: 'boolean', short: 'f' }, level: { type: 'string' }, task: { type: 'string' }, lines: { type: 'string' } });
    if (!args) return Exit.Ok;
    const v = args.values;
    const level = v.level as LogLevel | undefined;
    if (level !== undefined && !(level in LEVEL_RANK)) throw new CliError(`--level is ${JSON.stringify(level)}: use debug, info, warn or error`, Exit.Usage);
    const count = intFlag(v.lines, '--lines', 0, 1_000_000, 50);
    const file = dataPaths(resolveDataDir(v['data-dir'], env)).log;
    if (!existsSync(file) && !v.follow) throw new CliError(`no log at ${file}: a server started with "runtime start --daemon" writes it (a foreground server logs to its stdout)`);
    const paint = painter();
    const keep = (text: string): Line | string | undefined => {
      let line: Line;
      try {
        line = JSON.parse(text);
      } catch {
        return level || v.task ? undefined : text;
      }
      if (level && LEVEL_RANK[line.level ?? 'info'] < LEVEL_RANK[level]) return undefined;
      if (v.task && line.taskId !== v.task && !line.msg?.includes(v.task)) return undefined;
      return line;
    };
    const show = (text: string, line: Line | string) => {
      if (typeof line === 'string' || v.json) return void console.log(typeof line === 'string' ? line : text);
      const colour = line.level === 'error' ? 'red' : line.level === 'warn' ? 'yellow' : line.level === 'debug' ? 'gray' : 'blue';
      console.log(`${paint('gray', (line.ts ?? '').replace('T', ' ').slice(0, 23))} ${paint(colour, (line.level ?? '?').toUpperCase().padEnd(5))} ${line.msg ?? ''}`);
    };
    // History: rotated files oldest first, then the live one.
    const history: Array<[string, Line | string]> = [];
    const files = [...Array.from({ length: 20 }, (_, i) => `${file}.${20 - i}`).filter(existsSync), ...(existsSync(file) ? [file] : [])];
    for (const f of files) for (const text of readFileSync(f, 'utf8').split('\n')) if (text) history.push([text, keep(text)!]);
    const matching = history.filter(([, line]) => line !== undefined);
    for (const [text, line] of count ? matching.slice(-count) : matching) show(text, line);
    if (!v.follow) return Exit.Ok;
    await followFile(file, (text) => {
      const line = keep(text);
      if (line !== undefined) show(text, line);
    });
    return Exit.Ok;
  },
};

/** Calls `onLine` for every line appended to `file` from now on; a rotation (file shrank or replaced) restarts at its top. Never resolves. */
function followFile(file: string, onLine: (text: string) => void): Promise<never> {
  let offset = existsSync(file) ? statSync(file).size : 0;
  let ino = existsSync(file) ? statSync(file).ino : 0;
  let partial = '';
  let decoder = new StringDecoder('utf8'); // a character split across two reads stays whole
  const buffer = Buffer.alloc(64 * 1024);
  return new Promise(() => {
    setInterval(() => {
      const stat = statSync(file, { throwIfNoEntry: false });
      if (!stat) return;
      if (stat.ino !== ino || stat.size < offset) {
        ino = stat.ino;
        offset = 0;
        partial = '';
        decoder = new StringDecoder('utf8');
      }
      if (stat.size === offset) return;
      const fd = openSync(file, 'r');
      try {
        for (;;) {
          const n = readSync(fd, buffer, 0, buffer.length, offset);
          if (n <= 0) break;
          offset += n;
          partial += decoder.write(buffer.subarray(0, n));
        }
      } finally {
        closeSync(fd);
      }
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const text of lines) if (text) onLine(text);
    }, 100);
  });
}
