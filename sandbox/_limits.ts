/**
 * How much text a sandbox report may carry, and the one way text is cut to fit. Generated code
 * decides what its errors, test names, failure messages and console lines say, so each has a cap,
 * enforced three times: inside the engine where the harness formats it (so a 20 MB message does
 * not even leave the engine), in the worker before the report is sent, and in the parent pool
 * when the report arrives (`boundReport`, the choke point for both engines).
 *
 * A cut string ends with the marker "…cut (N bytes more)", N being the UTF-8 bytes removed;
 * the rest of the product recognises it by that wording (`CUT_MARKER`).
 *
 * `createClipper` runs INSIDE the isolate too (shipped via Function.prototype.toString): its body
 * must stay self-contained, with the built-ins it uses passed in as primordials.
 */
import type { Primordials } from './_primordials.ts';

/**
 * The caps (bytes are UTF-8; "JSON bytes" are what the value takes in the report's JSON, escapes
 * included). Together they keep a report's JSON under 160 KiB whatever the code does:
 * message ≤ 6 × 4 KiB once escaped, results ≤ 64 KiB, console ≤ 64 KiB, the rest a few hundred bytes.
 */
export const REPORT_LIMITS = Object.freeze({
  /** The report's `message`. */
  messageBytes: 4096,
  /** One test's name (its describe path included). */
  testNameBytes: 512,
  /** One test's failure message. */
  testMessageBytes: 2048,
  /** Test results per report, a summary entry included. */
  results: 500,
  /** JSON bytes of all test results together, a summary entry included. */
  resultsJsonBytes: 64 * 1024,
  /** One console line. */
  consoleLineBytes: 8192,
  /** JSON bytes of all console lines together, the truncation notice included. */
  consoleJsonBytes: 64 * 1024,
  /** `location.file`. */
  fileBytes: 512,
  /** What the limits above guarantee for a whole report's JSON (checked by the tests). */
  reportJsonBytes: 256 * 1024,
});

export type ReportLimits = typeof REPORT_LIMITS;

/** The marker a cut string carries, `…cut (1234 bytes more)` (a location or a hint may follow it); group 1 is N. */
export const CUT_MARKER = /…cut \((\d+) bytes more\)/;

export interface Clipper {
  /** UTF-8 bytes of `text` from `from` on (a lone surrogate counts 3, as TextEncoder writes it). */
  utf8Length(text: string, from?: number): number;
  /** `text` if it fits in `maxBytes`, else its start and the marker, in `maxBytes` at most. */
  clip(text: string, maxBytes: number): string;
  /** `head` cut so that `head + tail` fits in `maxBytes` (the tail, a location or a hint, is kept whole). */
  clipHead(head: string, tail: string, maxBytes: number): string;
  /** UTF-8 bytes of `value` as JSON. */
  jsonBytes(value: unknown): number;
}

/**
 * `byteLength`, when given (the host's native count), replaces the JavaScript count of a whole
 * string; inside an engine there is none, and the count below is the fastest both engines have.
 */
export function createClipper(p: Primordials, byteLength?: (text: string) => number): Clipper {
  // Room kept for the marker: '…cut (' is 8 bytes, ' bytes more)' 12, the number at most 16 digits.
  const MARKER_ROOM = 36;
  const charCodeAt = p.StringPrototypeCharCodeAt;
  const exec = p.RegExpPrototypeExec;
  // Every quantifier is bounded: QuickJS's regular-expression engine keeps a backtracking entry per
  // repetition, and an unbounded one over a 20 MB string runs out of memory.
  const ASCII_RUN = /[\x00-\x7f]{0,65536}/y;
  // Runs of characters of one UTF-8 width (a pair of surrogates is 4 bytes, a lone one 3).
  const RUN = new p.RegExp('[\\x00-\\x7f]{1,65536}|[\\u0080-\\u07ff]{1,65536}|(?:[\\ud800-\\udbff][\\udc00-\\udfff]){1,32768}'
    + '|[\\u0800-\\ud7ff\\ue000-\\uffff]{1,65536}|[\\ud800-\\udfff]', 'y');
  const ASCII_PREFIX = /[\x00-\x7f]{0,8192}/y;
  let lastText: string | undefined;
  let lastMax = 0;
  let lastClip = '';

  function utf8Length(text: string, from = 0): number {
    if (byteLength !== undefined) return byteLength(from === 0 ? text : p.StringPrototypeSlice(text, from));
    // ASCII first, in long sticky runs: the common case, and the fastest scan QuickJS has.
    ASCII_RUN.lastIndex = from;
    while (ASCII_RUN.lastIndex < text.length) {
      const before = ASCII_RUN.lastIndex;
      exec(ASCII_RUN, text);
      if (ASCII_RUN.lastIndex === before) break;
    }
    if (ASCII_RUN.lastIndex >= text.length) return text.length - from;
    let bytes = ASCII_RUN.lastIndex - from;
    RUN.lastIndex = ASCII_RUN.lastIndex;
    while (RUN.lastIndex < text.length) {
      const start = RUN.lastIndex;
      if (exec(RUN, text) === null) break;
      const length = RUN.lastIndex - start;
      const unit = charCodeAt(text, start);
      if (unit < 0x80) bytes += length;
      else if (unit < 0x800) bytes += 2 * length;
      else if (unit >= 0xd800 && unit <= 0xdfff) bytes += length === 1 ? 3 : 2 * length;
      else bytes += 3 * length;
    }
    return bytes;
  }

  /** How many UTF-16 units of `text` fit in `room` bytes, and their bytes (a surrogate pair is never split). */
  function prefix(text: string, room: number): { end: number; bytes: number } {
    ASCII_PREFIX.lastIndex = 0;
    exec(ASCII_PREFIX, text);
    let end = p.MathMin(ASCII_PREFIX.lastIndex, room);
    let bytes = end;
    while (end < text.length) {
      const unit = charCodeAt(text, end);
      let width = unit < 0x80 ? 1 : unit < 0x800 ? 2 : 3;
      let units = 1;
      if (unit >= 0xd800 && unit <= 0xdbff && end + 1 < text.length) {
        const next = charCodeAt(text, end + 1);
        if (next >= 0xdc00 && next <= 0xdfff) {
          width = 4;
          units = 2;
        }
      }
      if (bytes + width > room) break;
      bytes += width;
      end += units;
    }
    return { end, bytes };
  }

  function clip(text: string, maxBytes: number): string {
    // Each UTF-16 unit is at most 3 bytes: short text needs no counting.
    if (text.length * 3 <= maxBytes) return text;
    if (text === lastText && maxBytes === lastMax) return lastClip;
    const room = maxBytes - MARKER_ROOM;
    const kept = prefix(text, room);
    let result = text;
    if (kept.end < text.length) {
      const rest = utf8Length(text, kept.end);
      if (kept.bytes + rest > maxBytes) {
        // A copy through JSON: a slice would keep the whole original string alive (V8 slices share it).
        const start = p.JSONParse(p.JSONStringify(p.StringPrototypeSlice(text, 0, kept.end))) as string;
        result = start + '…cut (' + rest + ' bytes more)';
      }
    }
    lastText = text;
    lastMax = maxBytes;
    lastClip = result;
    return result;
  }

  function clipHead(head: string, tail: string, maxBytes: number): string {
    const tailBytes = tail.length * 3 <= maxBytes / 2 ? tail.length * 3 : utf8Length(tail);
    if (tailBytes > maxBytes / 2) return clip(head + tail, maxBytes);
    return clip(head, maxBytes - tailBytes) + tail;
  }

  return {
    utf8Length,
    clip,
    clipHead,
    jsonBytes: (value) => utf8Length(p.JSONStringify(value) ?? 'null'),
  };
}
