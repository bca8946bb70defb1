/**
 * The server's log sinks: JSON lines on stdout/stderr (foreground) or in a size-rotated file
 * (`--daemon`: `server.log`, then `server.log.1` … `server.log.<keep>`, oldest dropped), both filtered
 * by level. One line: `{"ts","level","msg","taskId"?}`.
 * @module
 */
import { closeSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { LogLevel } from '../protocol/mod.ts';

export const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

type Sink = (level: LogLevel, text: string, fields?: { taskId?: string }) => void;

/** One log line as written: ISO time, level, message, and the task it is about, if any. */
export function logLine(level: LogLevel, text: string, fields?: { taskId?: string }): string {
  return JSON.stringify({ ts: new Date().toISOString(), level, msg: text, ...fields }) + '\n';
}

/**
 * A file that rotates by size: when a write would pass `maxBytes`, `file` becomes `file.1`, `file.1`
 * becomes `file.2` … and `file.<keep>` is dropped. Writes are synchronous so the last lines before a
 * crash are on disk.
 * @example
 * const out = createRotatingFile('/tmp/d/logs/server.log', { maxBytes: 1_000_000, keep: 5 });
 * out.write('{"msg":"hi"}\n');
 */
export function createRotatingFile(file: string, options: { maxBytes?: number; keep?: number } = {}) {
  const maxBytes = options.maxBytes ?? 5 * 1024 * 1024;
  const keep = Math.max(1, options.keep ?? 5);
  mkdirSync(dirname(file), { recursive: true });
  let fd = openSync(file, 'a');
  let size = statSync(file).size;

  function rotate(): void {
    closeSync(fd);
    rmSync(`${file}.${keep}`, { force: true });
    for (let i = keep - 1; i >= 1; i--) {
      try {
        renameSync(`${file}.${i}`, `${file}.${i + 1}`);
      } catch {}
    }
    renameSync(file, `${file}.1`);
    fd = openSync(file, 'a');
    size = 0;
  }

  return {
    write(text: string): void {
      const bytes = Buffer.byteLength(text);
      if (size > 0 && size + bytes > maxBytes) rotate();
      writeSync(fd, text);
      size += bytes;
    },
    close(): void {
      closeSync(fd);
    },
  };
}

/**
 * The foreground sink: info and debug on stdout, warn and error on stderr, below `level` dropped.
 * @example startApp(config, consoleSink('info'));
 */
export function consoleSink(level: LogLevel): Sink {
  return (at, text, fields) => {
    if (LEVEL_RANK[at] < LEVEL_RANK[level]) return;
    (at === 'error' || at === 'warn' ? process.stderr : process.stdout).write(logLine(at, text, fields));
  };
}

/**
 * The daemon sink: a rotating file (ORCHESTRATOR_LOG_MAX_BYTES, ORCHESTRATOR_LOG_KEEP), below `level` dropped.
 * @example startApp(config, fileSink('/tmp/d/logs/server.log', 'info', process.env));
 */
export function fileSink(file: string, level: LogLevel, env: Record<string, string | undefined>): Sink {
  const out = createRotatingFile(file, { maxBytes: Number(env.ORCHESTRATOR_LOG_MAX_BYTES) || undefined, keep: Number(env.ORCHESTRATOR_LOG_KEEP) || undefined });
  return (at, text, fields) => {
    if (LEVEL_RANK[at] >= LEVEL_RANK[level]) out.write(logLine(at, text, fields));
  };
}
