// Canary scanning for secret-leak tests: plant known values, collect everything a user or another
// process could see, and look for any piece of a canary in it. A hit is any 5-character fragment
// (LiteLLM's CVE-2024-9606 masked keys but left 5 characters visible), or the whole value URL-encoded
// or in base64/base64url (headers and query strings carry encoded text).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

/** One place a canary piece was found, with a little context to find the code that wrote it. */
export interface Hit {
  where: string;
  canary: string;
  piece: string;
  /** How many characters of the canary appear there in a row (the whole value: its length). */
  matched: number;
  context: string;
}

/** The longest run of `value` found in `text` around the fragment `piece` that starts at `at`. */
function longestMatch(text: string, at: number, value: string, piece: string): number {
  const from = value.indexOf(piece);
  if (from < 0) return piece.length; // an encoded form
  let start = 0;
  while (from - start > 0 && at - start > 0 && value[from - start - 1] === text[at - start - 1]) start++;
  let end = piece.length;
  while (from + end < value.length && text[at + end] === value[from + end]) end++;
  return start + end;
}

/** Every `size`-character substring of `value`. */
export function fragments(value: string, size = 5): string[] {
  const out = new Set<string>();
  for (let i = 0; i + size <= value.length; i++) out.add(value.slice(i, i + size));
  return [...out];
}

/** The forms a whole value may take in a header, URL or encoded blob. */
export function encodings(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  return [...new Set([encodeURIComponent(value), bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('base64').replace(/=+$/, '')])].filter((form) => form !== value);
}

/**
 * Scans every haystack for every fragment and encoding of every canary; returns all hits (none is
 * the pass). Buffers are read byte for byte (latin1), so binary files such as a SQLite -wal count.
 * @example
 * const hits = scanForCanaries({ log: output }, { ANTHROPIC_API_KEY: 'sk-ant-…' });
 * assert.equal(hits, []);
 */
export function scanForCanaries(haystacks: Record<string, string | Buffer>, canaries: Record<string, string>, size = 5): Hit[] {
  const hits: Hit[] = [];
  for (const [where, raw] of Object.entries(haystacks)) {
    const text = typeof raw === 'string' ? raw : raw.toString('latin1');
    for (const [canary, value] of Object.entries(canaries)) {
      for (const piece of [...encodings(value), ...fragments(value, size)]) {
        const at = text.indexOf(piece);
        if (at < 0) continue;
        hits.push({ where, canary, piece, matched: longestMatch(text, at, value, piece), context: JSON.stringify(text.slice(Math.max(0, at - 60), at + piece.length + 60)) });
        break; // one hit per canary per haystack is enough to name the leak
      }
    }
  }
  return hits;
}

/** Hits as lines a failing assertion can print, longest matches first. */
export function describeHits(hits: readonly Hit[]): string {
  return [...hits].sort((a, b) => b.matched - a.matched).map((h) => `${h.where}: ${h.canary} (${h.matched} chars from ${JSON.stringify(h.piece)}) in …${h.context}…`).join('\n');
}

/**
 * Every file under `dir` as a haystack named by its relative path (bytes as stored), except `skip`.
 * @example haystacksOfDir(server.dataDir, { skip: ['token'] })
 */
export function haystacksOfDir(dir: string, options: { skip?: string[]; prefix?: string } = {}): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  const walk = (path: string) => {
    for (const name of readdirSync(path)) {
      const full = join(path, name);
      const rel = relative(dir, full);
      if (options.skip?.includes(rel)) continue;
      const stat = statSync(full, { throwIfNoEntry: false });
      if (!stat) continue; // removed while we walked (a rotated log, a checkpointed -wal)
      if (stat.isDirectory()) walk(full);
      else if (stat.isFile()) {
        try {
          out[`${options.prefix ?? ''}${rel}`] = readFileSync(full);
        } catch {}
      }
    }
  };
  walk(dir);
  return out;
}

/** Every row of every table of a SQLite database as JSON text, one haystack per table. */
export function haystacksOfDatabase(file: string, prefix = 'db:'): Record<string, string> {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((t) => t.name);
    return Object.fromEntries(tables.map((t) => [`${prefix}${t}`, JSON.stringify(db.prepare(`SELECT * FROM "${t}"`).all(), (_, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : typeof v === 'bigint' ? String(v) : v))]));
  } finally {
    db.close();
  }
}
