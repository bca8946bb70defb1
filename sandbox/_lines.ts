// Line-delimited JSON over a byte stream: the wire between the pool and the QuickJS worker process.
import type { Readable } from 'node:stream';

/**
 * Calls `handle` with each JSON value that arrives on `stream` as one line; other lines (a stray
 * print, a half line at exit) are skipped.
 * @example onJsonLines(process.stdin, (message) => console.error(message));
 */
export function onJsonLines(stream: Readable, handle: (message: unknown) => void): void {
  let buffer = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffer += chunk;
    let end = buffer.indexOf('\n');
    while (end >= 0) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 1);
      end = buffer.indexOf('\n');
      if (!line.startsWith('{')) continue;
      let message: unknown;
      try {
        message = JSON.parse(line);
      } catch {
        continue;
      }
      handle(message);
    }
  });
}
