/**
 * The isolate's `console`: formats its arguments to one string inside the isolate and hands only
 * that string out. Output stops at the byte budget (counted in UTF-16 units here; the host keeps the
 * exact byte cap), so a logging loop cannot flood the host with calls.
 *
 * `createConsole` runs INSIDE the isolate (shipped via Function.prototype.toString): its body must
 * stay self-contained.
 */
import type { Formatter } from './_format.ts';

export type SandboxConsole = Record<string, (...args: unknown[]) => void>;

export function createConsole(fmt: Formatter, line: (text: string) => void, truncated: () => void, limit: number): SandboxConsole {
  const now = Date.now;
  let used = 0;
  let indent = '';
  const counters = new Map<string, number>();
  const timers = new Map<string, number>();

  function write(prefix: string, args: unknown[]): void {
    if (used >= limit) return;
    const text = prefix + indent + fmt.formatArgs(args);
    line(text.slice(0, limit - used));
    used += text.length + 1;
    if (used >= limit) truncated();
  }

  const label = (value: unknown) => (value === undefined ? 'default' : String(value));

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
      if (!condition) write('[error] ', ['Assertion failed' + (args.length > 0 ? ':' : ''), ...args]);
    },
    group: (...args) => {
      if (args.length > 0) write('', args);
      indent += '  ';
    },
    groupEnd: () => {
      indent = indent.slice(2);
    },
    count: (name) => {
      const key = label(name);
      counters.set(key, (counters.get(key) ?? 0) + 1);
      write('', [`${key}: ${counters.get(key)}`]);
    },
    time: (name) => {
      timers.set(label(name), now());
    },
    timeEnd: (name) => {
      const key = label(name);
      write('', [`${key}: ${now() - (timers.get(key) ?? now())}ms`]);
    },
  };
}
