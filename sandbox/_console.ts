/**
 * The isolate's `console`: formats its arguments to one string inside the isolate and hands only
 * that string out, each line cut to its byte cap (with the "…cut (N bytes more)" marker). Output
 * stops at the run's budget (counted in UTF-16 units here, so each line is cheap to count; the host
 * keeps the exact JSON-byte cap), so a logging loop cannot flood the host with calls.
 *
 * `createConsole` runs INSIDE the isolate (shipped via Function.prototype.toString): its body must
 * stay self-contained, with the built-ins it uses passed in as primordials.
 */
import type { Formatter } from './_format.ts';
import type { Clipper } from './_limits.ts';
import type { Primordials } from './_primordials.ts';

export type SandboxConsole = Record<string, (...args: unknown[]) => void>;

export interface ConsoleOutput {
  line(text: string): void;
  truncated(): void;
  /** UTF-16 units of output per run. */
  budget: number;
  /** UTF-8 bytes per line. */
  lineBytes: number;
}

export function createConsole(p: Primordials, fmt: Formatter, clipper: Clipper, output: ConsoleOutput): SandboxConsole {
  let used = 0;
  let indent = '';
  const counters = new p.Map<string, number>();
  const timers = new p.Map<string, number>();

  function write(prefix: string, args: unknown[]): void {
    if (used >= output.budget) return;
    const text = clipper.clip(prefix + indent + fmt.formatArgs(args), output.lineBytes);
    output.line(text);
    used += text.length + 1;
    if (used >= output.budget) output.truncated();
  }

  const label = (value: unknown) => (value === undefined ? 'default' : p.String(value));

  return {
    log: (...args) => write('', args),
    info: (...args) => write('', args),
    debug: (...args) => write('', args),
    warn: (...args) => write('[warn] ', args),
    error: (...args) => write('[error] ', args),
    trace: (...args) => write('[trace] ', args),
    dir: (value) => write('', [fmt.format(value)]),
    table: (value) => write('', [fmt.format(value)]),
    assert: (condition, ...args) => {
      if (condition) return;
      const parts: unknown[] = ['Assertion failed' + (args.length > 0 ? ':' : '')];
      for (let i = 0; i < args.length; i++) p.append(parts, args[i]);
      write('[error] ', parts);
    },
    group: (...args) => {
      if (args.length > 0) write('', args);
      indent += '  ';
    },
    groupEnd: () => {
      indent = p.StringPrototypeSlice(indent, 2);
    },
    count: (name) => {
      const key = label(name);
      const count = (p.MapPrototypeGet(counters, key) ?? 0) + 1;
      p.MapPrototypeSet(counters, key, count);
      write('', [key + ': ' + count]);
    },
    time: (name) => {
      p.MapPrototypeSet(timers, label(name), p.DateNow());
    },
    timeEnd: (name) => {
      const key = label(name);
      const now = p.DateNow();
      write('', [key + ': ' + (now - (p.MapPrototypeGet(timers, key) ?? now)) + 'ms']);
    },
  };
}
