/**
 * A minimal ustar writer and reader (regular files only) with gzip from node:zlib: enough for
 * diagnostics bundles and reset backups, readable by `tar -xzf`.
 * @module
 */
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import type { Dirent } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';

/** One file in an archive: a '/'-separated path and its bytes. */
export interface TarEntry {
  name: string;
  content: string | Uint8Array;
  mtimeMs?: number;
}

function field(header: Buffer, offset: number, length: number, text: string): void {
  header.write(text, offset, length, 'utf8');
}

function octal(header: Buffer, offset: number, length: number, value: number): void {
  field(header, offset, length, value.toString(8).padStart(length - 1, '0') + '\0');
}

/** Splits a long path into ustar's prefix (≤ 155 bytes) and name (≤ 100 bytes) at a '/'. */
function splitName(path: string): [string, string] {
  if (Buffer.byteLength(path) <= 100) return ['', path];
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100) return [prefix, name];
  }
  throw new Error(`"${path}" is too long for a tar archive (255 bytes, with a '/' within the last 100): shorten the path`);
}

/**
 * A gzipped ustar archive of `entries`.
 * @example writeFileSync('bundle.tar.gz', tarGz([{ name: 'a/hello.txt', content: 'hi' }]));
 */
export function tarGz(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const body = typeof entry.content === 'string' ? Buffer.from(entry.content, 'utf8') : Buffer.from(entry.content);
    const header = Buffer.alloc(512);
    const [prefix, name] = splitName(entry.name);
    field(header, 0, 100, name);
    octal(header, 100, 8, 0o644);
    octal(header, 108, 8, 0);
    octal(header, 116, 8, 0);
    octal(header, 124, 12, body.length);
    octal(header, 136, 12, Math.floor((entry.mtimeMs ?? Date.now()) / 1000));
    field(header, 148, 8, '        ');
    field(header, 156, 1, '0');
    field(header, 257, 6, 'ustar\0');
    field(header, 263, 2, '00');
    field(header, 345, 155, prefix);
    let sum = 0;
    for (const byte of header) sum += byte;
    field(header, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
    blocks.push(header, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

/**
 * The files of a gzipped ustar archive (what tarGz writes).
 * @example untarGz(readFileSync('bundle.tar.gz')).map((e) => e.name);
 */
export function untarGz(data: Uint8Array): Array<{ name: string; content: Buffer }> {
  const tar = gunzipSync(data);
  const out: Array<{ name: string; content: Buffer }> = [];
  for (let offset = 0; offset + 512 <= tar.length; ) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const text = (start: number, length: number) => header.subarray(start, start + length).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(text(124, 12).trim() || '0', 8);
    const prefix = text(345, 155);
    const name = prefix ? `${prefix}/${text(0, 100)}` : text(0, 100);
    out.push({ name, content: Buffer.from(tar.subarray(offset + 512, offset + 512 + size)) });
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/**
 * Every regular file under `dir` as entries named `<as>/<relative path>` (missing dir: none).
 * @example filesUnder('/tmp/d/workspace', 'workspace');
 */
export function filesUnder(dir: string, as: string): TarEntry[] {
  // lstat walk: a link planted in the data dir (a folder link into ~/.ssh, a file link to a secret)
  // is skipped, never followed into the backup.
  const entries: TarEntry[] = [];
  const walk = (folder: string, prefix: string): void => {
    let names: Dirent[];
    try {
      names = readdirSync(folder, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const path = join(folder, entry.name);
      const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(path, rel);
      else if (entry.isFile()) {
        const stat = lstatSync(path, { throwIfNoEntry: false });
        if (stat?.isFile()) entries.push({ name: `${as}/${rel}`, content: readFileSync(path), mtimeMs: stat.mtimeMs });
      }
    }
  };
  walk(dir, '');
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return entries;
}
