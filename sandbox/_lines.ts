// Line-delimited JSON over a byte stream: the wire between the pool and the QuickJS worker process.
import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';

/**
 * Calls `handle` with each JSON value that arrives on `stream` as one line; other lines (a stray
 * print, a half line at exit) are skipped. A line that starts like JSON but does not parse, or one
 * longer than `maxLine` characters (it is dropped, never buffered whole), goes to `garbled`.
 * Each chunk is searched once: a long line costs its length, not its length squared.
 * @example onJsonLines(process.stdin, (message) => console.error(message));
 */
export function onJsonLines(stream: Readable, handle: (message: unknown) => void, garbled?: (problem: string) => void, maxLine = Infinity): void {
  let pending: string[] = [];
  let pendingLength = 0;
  let skipping = false;

  function line(text: string): void {
    if (!text.startsWith('{')) return;
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch (error) {
      garbled?.(`a line of ${text.length} characters that is not JSON: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    handle(message);
  }

  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    let start = 0;
    for (let end = chunk.indexOf('\n'); end >= 0; end = chunk.indexOf('\n', start)) {
      const piece = chunk.slice(start, end);
      start = end + 1;
      const whole = pending.length === 0 ? piece : pending.join('') + piece;
      pending = [];
      pendingLength = 0;
      if (skipping) {
        // The end of an over-long line.
        skipping = false;
        continue;
      }
      line(whole);
    }
    if (start >= chunk.length || skipping) return;
    pending.push(chunk.slice(start));
    pendingLength += chunk.length - start;
    if (pendingLength > maxLine) {
      garbled?.(`a line longer than ${maxLine} characters`);
      pending = [];
      pendingLength = 0;
      skipping = true;
    }
  });
}

/**
 * Line-delimited JSON on a child's stdin/stdout, presented like Node's IPC channel; a line that is
 * not JSON, or too long to be a report, is emitted as 'garbled'.
 */
export function lineChannel(child: ChildProcess): void {
  if (child.stdout) onJsonLines(child.stdout, (message) => child.emit('message', message), (problem) => child.emit('garbled', problem), MAX_LINE);
  child.send = ((message: unknown, callback?: (error: Error | null) => void) => {
    const stdin = child.stdin;
    if (stdin === null || stdin.destroyed) {
      callback?.(new Error('the worker\'s stdin is closed'));
      return false;
    }
    return stdin.write(`${JSON.stringify(message)}\n`, (error) => callback?.(error ?? null));
  }) as ChildProcess['send'];
}

/** The longest line a QuickJS worker may send: a report is bounded far below this (REPORT_LIMITS). */
const MAX_LINE = 8 * 1024 * 1024;
