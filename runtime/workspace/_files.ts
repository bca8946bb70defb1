/**
 * Disk operations of the workspace on folders opened by _folders.ts: atomic durable writes, reads,
 * walks, and removing the temp files a crash (or an earlier attempt) left behind.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { lstat, open, readdir, realpath, rename, rmdir, stat, unlink } from 'node:fs/promises';
import { ErrorCode, RuntimeError } from '../protocol/mod.ts';
import { join } from 'node:path';
import { TEMP_FILE } from './_paths.ts';
import { CHANGED, CREATE_TEMP, O_DIRECTORY, OPEN_READ, asChanged, changedError, check, codeOf, entry, linkError, stillNames, tryOpenFolder } from './_folders.ts';
import type { Folder } from './_folders.ts'

/** The points of a write where the security suite swaps folders (see createWorkspace's `internal`). */
export type WriteStage = 'checked' | 'folder' | 'opened' | 'written';
export type StageHook = (stage: WriteStage, path: string) => void | Promise<void>;

export interface Found {
  /** '/'-separated, relative to the folder the walk started in. */
  rel: string;
  size: number;
  mtimeMs: number;
}

export function tempName(name: string): string {
  return `.${name}.${randomBytes(6).toString('hex')}.tmp`;
}

/**
 * Unlinks those of `paths` that are still the file held by `handle` (dev+ino), never anything else.
 * With the 'path' anchor the file may sit behind a link that comes and goes (it was created through
 * it), so this retries until the file has no name left (nlink 0), a bounded number of times; a
 * folder flipped fast enough between a link and a real folder can still keep an empty temp file
 * (never a byte of content) outside, which is the residual risk of that anchor.
 */
async function removeOwn(paths: string[], handle: FileHandle, retries: number): Promise<void> {
  const own = await handle.stat();
  for (let attempt = 0; attempt <= retries; attempt++) {
    for (const path of paths) {
      const found = await lstat(path).catch(() => null);
      if (found && found.dev === own.dev && found.ino === own.ino) await unlink(path).catch(() => undefined);
    }
    if ((await handle.stat()).nlink === 0 || attempt === retries) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * Writes `content` to `name` in `folder` so that a reader (or a crash) sees either the old file or
 * the whole new one: a temp file in the same folder, created exclusively through the folder's
 * anchor, verified ('path' anchor) before the first byte, fsynced, then renamed over the target
 * (which replaces a hard link or a file rather than writing through it). `shown` names the path in
 * errors; `stage` lets the security suite act between the steps.
 */
export async function writeAtomic(folder: Folder, name: string, content: string | Uint8Array, shown: string, stage?: StageHook): Promise<void> {
  await stage?.('folder', shown);
  // 'path' anchor: the folder must still be the one opened, or the temp would be created elsewhere.
  if (folder.anchor === 'path' && !(await stillNames(folder.path, folder.handle))) throw changedError(shown, shown);
  const temp = tempName(name);
  let handle: FileHandle;
  try {
    handle = await open(entry(folder, temp), CREATE_TEMP, 0o644);
  } catch (error) {
    throw asChanged(error, shown, shown);
  }
  const candidates = [entry(folder, temp)];
  try {
    if (folder.anchor === 'path') {
      const seen = await check(join(folder.path, temp), handle);
      if (seen.real !== null && seen.real !== candidates[0]) candidates.push(seen.real);
      if (!seen.same) throw changedError(shown, shown);
    }
    await stage?.('opened', shown);
    await handle.writeFile(content);
    await handle.sync();
    await stage?.('written', shown);
    await rename(entry(folder, temp), entry(folder, name));
    if (folder.anchor === 'path' && !(await stillNames(join(folder.path, name), handle))) throw changedError(shown, shown);
  } catch (error) {
    await removeOwn(folder.anchor === 'path' ? [...candidates, entry(folder, name)] : candidates, handle, folder.anchor === 'path' ? 200 : 0);
    throw asChanged(error, shown, shown);
  } finally {
    await handle.close();
  }
}

/**
 * Reads the regular file `name` in `folder` without following a link; refuses a FIFO, a device or a
 * file with more than one name (a hard link could expose a file from outside the task folder).
 */
export async function readIn(folder: Folder, name: string, shown: string): Promise<Buffer> {
  let handle: FileHandle;
  try {
    handle = await open(entry(folder, name), OPEN_READ);
  } catch (error) {
    const code = codeOf(error);
    if (code === 'ELOOP' || code === 'EMLINK') throw linkError(shown, shown);
    throw asChanged(error, shown, shown);
  }
  try {
    const found = await handle.stat();
    if (!found.isFile()) {
      throw new RuntimeError(ErrorCode.Path, `path "${shown}" is not a regular file (a folder, FIFO, socket or device): the workspace only reads files it wrote`, {
        details: { path: shown },
      });
    }
    if (found.nlink > 1) {
      throw new RuntimeError(
        ErrorCode.Path,
        `path "${shown}" is a hard link (${found.nlink} names for one file), which could expose a file from outside the task folder: remove the link and write the file again`,
        { details: { path: shown, links: found.nlink } },
      );
    }
    if (folder.anchor === 'path' && !(await stillNames(join(folder.path, name), handle))) throw changedError(shown, shown);
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/**
 * Every regular file under `folder`, sorted by path. Symbolic links (also a folder swapped for one
 * during the walk) are reported to `onLink` (which may throw) and never followed; temp files of
 * unfinished writes are skipped; entries that vanish during the walk are skipped.
 */
export async function walk(folder: Folder, onLink?: (rel: string) => void, prefix = ''): Promise<Found[]> {
  let names: string[];
  try {
    names = await readdir(folder.ref);
  } catch (error) {
    if (CHANGED.has(codeOf(error) ?? '')) return [];
    throw error;
  }
  const found: Found[] = [];
  for (const name of names.sort()) {
    const rel = prefix ? `${prefix}/${name}` : name;
    const info = await lstat(entry(folder, name)).catch(() => null);
    if (!info) continue;
    if (info.isSymbolicLink()) onLink?.(rel);
    else if (info.isDirectory()) {
      const child = await tryOpenFolder(folder, name);
      if (child === 'link' || child === 'changed') onLink?.(rel);
      else if (typeof child === 'object') {
        try {
          found.push(...(await walk(child, onLink, rel)));
        } finally {
          await child.handle.close();
        }
      }
    } else if (info.isFile() && !TEMP_FILE.test(name)) found.push({ rel, size: info.size, mtimeMs: info.mtimeMs });
  }
  return found.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/** Deletes the `.<name>.<hex>.tmp` files under `folder` that an interrupted write left behind. */
export async function removeStaleTemps(folder: Folder): Promise<void> {
  let entries;
  try {
    // Types come from the directory listing itself (never following a link): no lstat per entry.
    entries = await readdir(folder.ref, { withFileTypes: true });
  } catch (error) {
    if (CHANGED.has(codeOf(error) ?? '')) return;
    throw error;
  }
  for (const found of entries) {
    if (found.isDirectory()) {
      const child = await tryOpenFolder(folder, found.name);
      if (typeof child !== 'object') continue; // swapped for a link meanwhile: never followed
      try {
        await removeStaleTemps(child);
      } finally {
        await child.handle.close();
      }
    } else if (found.isFile() && TEMP_FILE.test(found.name)) {
      if (folder.anchor === 'path' && (await realpath(folder.path).catch(() => null)) !== folder.path) return;
      await unlink(entry(folder, found.name)).catch(() => undefined);
    }
  }
}

/**
 * Removes everything under `folder` whose path is not in `keep` (or a folder on the way to one):
 * files, temp files and links (unlinked, never followed), then the folders left empty. Returns the
 * removed paths. Used after a task's final batch is written, so the folder holds exactly that batch.
 */
export async function removeExcept(folder: Folder, keep: ReadonlySet<string>, prefix = ''): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(folder.ref, { withFileTypes: true });
  } catch (error) {
    if (CHANGED.has(codeOf(error) ?? '')) return [];
    throw error;
  }
  const removed: string[] = [];
  for (const found of entries) {
    const rel = prefix ? `${prefix}/${found.name}` : found.name;
    if (keep.has(rel)) continue;
    if (folder.anchor === 'path' && (await realpath(folder.path).catch(() => null)) !== folder.path) return removed;
    if (found.isDirectory()) {
      const child = await tryOpenFolder(folder, found.name);
      if (typeof child === 'object') {
        try {
          removed.push(...(await removeExcept(child, keep, rel)));
        } finally {
          await child.handle.close();
        }
      }
      const needed = [...keep].some((path) => path.startsWith(`${rel}/`));
      if (!needed && (await rmdir(entry(folder, found.name)).then(() => true, () => false))) removed.push(`${rel}/`);
    } else {
      await unlink(entry(folder, found.name)).then(() => removed.push(rel), () => undefined);
    }
  }
  return removed;
}

/**
 * Makes renames in `dirs` durable. Best effort: some platforms and runtimes cannot open a folder for
 * fsync, and the data itself is already synced.
 */
export async function syncFolders(dirs: Iterable<Folder | string>): Promise<void> {
  for (const dir of dirs) {
    try {
      if (typeof dir !== 'string') {
        await dir.handle.sync();
        continue;
      }
      const handle = await open(dir, constants.O_RDONLY | O_DIRECTORY);
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
