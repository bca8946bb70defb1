/**
 * Size limits on text that comes from generated code, a model or a plugin and is kept or shown by
 * the runtime: a task's error, its findings, log lines, console frames. Every cut is visible, with
 * the same marker the sandbox uses for what generated code prints ("…cut (N bytes more)"), so a
 * reader knows text is missing and how much.
 * @module
 */

/** The limits, in UTF-8 bytes. */
export const TEXT_LIMITS = {
  /** A task's error message (task rows, views, /ws frames, logs). */
  taskError: 4 * 1024,
  /** One finding sent back to the implementer, and how many. */
  finding: 2 * 1024,
  findings: 20,
  /** One server log line, one dashboard console line. */
  logLine: 8 * 1024,
} as const;

/** The marker at the end of cut text. */
export function cutMarker(bytesMore: number): string {
  return `…cut (${bytesMore} bytes more)`;
}

const encoder = new TextEncoder();

/**
 * `text` if it fits in `maxBytes` UTF-8 bytes, else its head (whole characters only) and the cut
 * marker, the two together within `maxBytes`.
 * @example cutText('M'.repeat(1e7), 100); // 'MMM…M…cut (9999927 bytes more)': 100 bytes
 */
export function cutText(text: string, maxBytes: number): string {
  // A UTF-16 unit is at most 3 UTF-8 bytes: short text needs no counting.
  if (text.length * 3 <= maxBytes) return text;
  const total = byteLength(text);
  if (total <= maxBytes) return text;
  const room = Math.max(0, maxBytes - encoder.encode(cutMarker(total)).length);
  let head = text.slice(0, room);
  let bytes = encoder.encode(head).length;
  while (bytes > room) {
    head = head.slice(0, head.length - Math.ceil((bytes - room) / 3));
    bytes = encoder.encode(head).length;
  }
  // Never half a surrogate pair (it would encode as U+FFFD, three bytes of nothing).
  if (/[\uD800-\uDBFF]$/.test(head)) {
    head = head.slice(0, -1);
    bytes = encoder.encode(head).length;
  }
  return head + cutMarker(total - bytes);
}

/** UTF-8 length, encoded a megabyte at a time (no full copy of a huge string). */
function byteLength(text: string): number {
  let bytes = 0;
  for (let at = 0; at < text.length; at += 1 << 20) bytes += encoder.encode(text.slice(at, at + (1 << 20))).length;
  return bytes;
}

/**
 * Findings as the fix loop and the task view keep them: strings, at most TEXT_LIMITS.findings of
 * them, each cut to TEXT_LIMITS.finding; the count of any left out is the last line.
 * @example boundFindings(Array(30).fill('x: failed')).at(-1); // '… 10 more findings not kept'
 */
export function boundFindings(findings: unknown): string[] {
  if (!Array.isArray(findings)) return [];
  const kept = findings.slice(0, TEXT_LIMITS.findings).map((finding) => cutText(String(finding), TEXT_LIMITS.finding));
  if (findings.length > TEXT_LIMITS.findings) kept.push(`… ${findings.length - TEXT_LIMITS.findings} more findings not kept`);
  return kept;
}
