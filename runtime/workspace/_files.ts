import { randomBytes } from 'node:crypto';
import { lstat, mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { TEMP_FILE } from './_paths.ts';

/**
 * Disk operations of the workspace: walking a tree without following links, atomic durable writes,
 * and removing the temp files a crash left behind. Paths reaching here are already validated.
 */

export interface Found {
  /** '/'-separated, relative to the folder the walk started in. */
  rel: string;
  abs: string;
  size: number;
  mtimeMs: number;
}

function isMissing(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Every regular file under `dir`, sorted by path. Symbolic links are reported to `onLink` (which may
 * throw) and never followed; temp files of unfinished writes are skipped. A missing `dir` is empty.
 */
export async function walk(dir: string, onLink?: (rel: string) => void, prefix = ''): Promise<Found[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if (isMissing(error)) return [];
    throw error;
  }
  const found: Found[] = [];
  for (const name of names.sort()) {
    const abs = join(dir, name);
    const rel = prefix ? `${prefix}/${name}` : name;
    const stat = await lstat(abs);
    if (stat.isSymbolicLink()) onLink?.(rel);
    else if (stat.isDirectory()) found.push(...(await walk(abs, onLink, rel)));
    else if (stat.isFile() && !TEMP_FILE.test(name)) found.push({ rel, abs, size: stat.size, mtimeMs: stat.mtimeMs });
  }
  return found.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/** Deletes the `.<name>.<hex>.tmp` files under `dir` that an interrupted write left behind. */
export async function removeStaleTemps(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if (isMissing(error)) return;
    throw error;
  }
  for (const name of names) {
    const abs = join(dir, name);
    const stat = await lstat(abs);
    if (stat.isDirectory()) await removeStaleTemps(abs);
    else if (stat.isFile() && TEMP_FILE.test(name)) await rm(abs, { force: true });
  }
}

export function tempName(target: string): string {
  return join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Writes `content` to `target` so that a reader (or a crash) sees either the old file or the whole
 * new one: temp file in the same folder (same filesystem, so rename is atomic), opened with 'wx' so
 * it can never be an existing file or link, fsynced, then renamed over the target.
 */
export async function writeAtomic(target: string, content: string | Uint8Array): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  const temp = tempName(target);
  const handle = await open(temp, 'wx', 0o644);
  try {
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/**
 * Makes renames in `dirs` durable. Best effort: some platforms and runtimes cannot open a folder for
 * fsync, and the data itself is already synced.
 */
export async function syncFolders(dirs: Iterable<string>): Promise<void> {
  for (const dir of dirs) {
    try {
      const handle = await open(dir, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch {
      // See above: the renamed files are complete either way.
    }
  }
}

/** Reads a file as UTF-8, or returns null when it does not exist. */
export async function readIfExists(abs: string): Promise<string | null> {
  try {
    const handle = await open(abs, 'r');
    try {
      return await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (isMissing(error)) return null;
    throw error;
  }
}
