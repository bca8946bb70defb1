/**
 * What every command shares: argument parsing with `--help`, the output mode (JSON, colours only on a
 * TTY and never with NO_COLOR), small formatters and the CLI's one error type with an exit code.
 * Imports nothing heavy: `runtime status` must start in well under 150 ms.
 * @module
 */
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';

type Env = Record<string, string | undefined>;

/** A `runtime` subcommand: its help text (with examples) and what it does; resolves to the exit code. */
export interface Command {
  name: string;
  summary: string;
  help: string;
  run(argv: string[], env: Env): Promise<number>;
}

/** Exit codes: 0 ok, 1 the thing failed, 2 the command line was wrong. */
export const Exit = { Ok: 0, Failed: 1, Usage: 2 } as const;

/**
 * An error the CLI prints as one line (`runtime <command>: <message>`) and turns into `exitCode`.
 * @example throw new CliError('no server runs for /tmp/d: start one with "runtime start --daemon"', 1);
 */
/**
 * A word the person typed that is not one of `candidates`: main() adds " (did you mean '…'?)" after
 * `after` in the message when one is close (the hint needs runtime/protocol, loaded only then).
 */
export interface Typo {
  word: string;
  candidates: readonly string[];
  after: string;
  /** How a candidate is written in the hint, e.g. as a flag: (c) => `--${c}`. */
  show?: (candidate: string) => string;
}

export class CliError extends Error {
  readonly exitCode: number;
  readonly typo: Typo | undefined;
  constructor(message: string, exitCode: number = Exit.Failed, typo?: Typo) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
    this.typo = typo;
  }
}

// The server's messages name HTTP calls (its callers are HTTP clients); a CLI user is told the command.
const HTTP_TO_CLI: Array<[RegExp, string]> = [
  [/list tasks with GET \/api\/tasks\b/g, 'list tasks with runtime tasks'],
  [/GET \/api\/tasks lists them/g, 'runtime tasks lists them'],
  [/GET \/api\/agents lists them/g, 'runtime agents lists them'],
  [/POST \/api\/tasks\/([\w-]+)\/retry/g, 'runtime tasks retry $1'],
  [/GET \/api\/tasks\/([\w-]+)/g, 'runtime tasks show $1'],
  [/listed at GET \/api\/demo/g, 'listed by runtime demo'],
];

/**
 * A server message as a CLI user should read it: HTTP calls it suggests become the matching commands.
 * @example forCli('task "t-1" does not exist: list tasks with GET /api/tasks'); // '… list tasks with runtime tasks'
 */
export function forCli(text: string): string {
  return HTTP_TO_CLI.reduce((out, [pattern, replacement]) => out.replace(pattern, replacement), text);
}

/** `error`'s message with its "did you mean" hint, when it names a typo and a close candidate exists. */
export async function withHint(error: unknown): Promise<string> {
  const message = forCli(error instanceof Error ? error.message : String(error));
  const typo = error instanceof CliError ? error.typo : undefined;
  if (!typo) return message;
  const { closest } = await import('../protocol/mod.ts');
  const guess = closest(typo.word, typo.candidates);
  return guess ? message.replace(typo.after, `${typo.after} (did you mean '${typo.show ? typo.show(guess) : guess}'?)`) : message;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Options every command that reads a data dir or prints data takes. */
export const COMMON = {
  'data-dir': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

/**
 * parseArgs with the CLI's conventions: a parse error is a usage error naming `runtime <name> --help`;
 * `--help` prints the help and yields undefined.
 * @example
 * const args = parseCommand(argv, startCommand, { port: { type: 'string' } });
 * if (!args) return 0; // help was printed
 */
export function parseCommand<O extends Options>(argv: string[], command: Pick<Command, 'name' | 'help'>, options: O, positionals = 0) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: positionals > 0, strict: true });
  } catch (error) {
    const text = (error as Error).message.replace(/\. To specify.*$/s, '');
    const unknown = /Unknown option '(-{1,2})([^']+)'/.exec(text);
    const typo = unknown ? { word: unknown[2], candidates: Object.keys(options), after: unknown[0], show: (c: string) => `--${c}` } : undefined;
    throw new CliError(`${text}; see "runtime ${command.name} --help"`, Exit.Usage, typo);
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(command.help);
    return undefined;
  }
  if (parsed.positionals.length > positionals) {
    throw new CliError(`unexpected argument "${parsed.positionals[positionals]}"; see "runtime ${command.name} --help"`, Exit.Usage);
  }
  return parsed;
}

/** Whether colours may be used on a stream: a TTY, and NO_COLOR unset or empty (https://no-color.org). */
export function useColor(stream: { isTTY?: boolean } = process.stdout, env: Env = process.env): boolean {
  return stream.isTTY === true && !env.NO_COLOR && env.TERM !== 'dumb';
}

const CODES = { red: 31, green: 32, yellow: 33, blue: 34, gray: 90, bold: 1 } as const;
export type Colour = keyof typeof CODES;

/**
 * A painter for one stream: `paint('green', 'ok')` is coloured on a TTY, plain otherwise.
 * @example const paint = painter(); console.log(paint('red', 'FAIL'));
 */
export function painter(stream: { isTTY?: boolean } = process.stdout, env: Env = process.env): (colour: Colour, text: string) => string {
  const on = useColor(stream, env);
  return (colour, text) => (on ? `\x1b[${CODES[colour]}m${text}\x1b[0m` : text);
}

/** Prints a value as indented JSON on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/**
 * Columns padded to their widest cell (the last column is not padded).
 * @example table([['NAME', 'STATUS'], ['enhancer', 'idle']]);
 */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, visible(cell).length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat(widths[i] - visible(cell).length))).join('  ').trimEnd()).join('\n');
}

function visible(text: string): string {
  return text.replace(/\x1b\[[0-9;]*m/g, '');
}

/**
 * A duration for people: 950 ms, 12.3 s, 4 min 5 s, 3 h 2 min, 2 d 1 h.
 * @example duration(65_000); // '1 min 5 s'
 */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const parts: Array<[number, string]> = [[Math.floor(s / 86400), 'd'], [Math.floor((s % 86400) / 3600), 'h'], [Math.floor((s % 3600) / 60), 'min'], [Math.floor(s % 60), 's']];
  const first = parts.findIndex(([n]) => n > 0);
  return parts.slice(first, first + 2).filter(([n]) => n > 0).map(([n, u]) => `${n} ${u}`).join(' ');
}

/**
 * Parses an age such as `30d`, `12h`, `45m`, `90s` or `2w` into milliseconds; errors name the value and the fix.
 * @example parseAge('30d', '--older-than'); // 2592000000
 */
export function parseAge(text: string, flag: string): number {
  const match = /^(\d+)\s*(s|m|h|d|w)$/.exec(text.trim());
  if (!match) throw new CliError(`${flag} is ${JSON.stringify(text)}: use a number and a unit, e.g. 30d, 12h, 45m, 90s or 2w`, Exit.Usage);
  return Number(match[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[match[2] as 's']!;
}

/**
 * An integer flag in a range; errors name the flag, the value and the range.
 * @example intFlag('5', '--priority', 1, 10, 5); // 5
 */
export function intFlag(raw: string | undefined, flag: string, min: number, max: number, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw new CliError(`${flag} is ${JSON.stringify(raw)}: use an integer from ${min} to ${max}`, Exit.Usage);
  return value;
}
