import { randomBytes } from 'node:crypto';
import { closeSync, constants, openSync, statSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { lstat, mkdir, open, readdir, realpath, rename, rmdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, RuntimeError } from '../protocol/mod.ts';
import { TEMP_FILE } from './_paths.ts';

/**
 * Disk operations of the workspace: opening folders without following links, atomic durable
 * writes, reads, walks, and removing the temp files a crash left behind. Paths reaching here are
 * already validated as text and against the disk; this module makes sure that what was checked is
 * still what gets written, even when a folder is swapped for a symbolic link after the check.
 *
 * Every operation goes through a chain of open folders, starting at a trusted base (the workspace or
 * archive root, which may itself be a link: the operator's choice) and opening each component with
 * O_NOFOLLOW | O_DIRECTORY, so a link anywhere below the base fails instead of being followed. How
 * the next open goes through the previous folder is the anchor:
 * - 'fd' (Linux): through `/proc/self/fd/<n>/<name>`, which the kernel resolves from the open folder
 *   itself, like openat(2). A folder swapped for a link after it was opened cannot redirect anything:
 *   writes land in the folder that was checked, or fail. This is race-free by construction.
 * - 'path' (elsewhere): through the folder's real path, verified after each open (realpath unchanged,
 *   and the handle's dev+ino equal to what the path names now) before a byte is written; on a
 *   mismatch the temp file is removed and the write fails with E_PATH. A swap that lands in the
 *   microseconds between two of those checks can still create an empty temp file or folder outside
 *   for an instant (it is removed); use Linux where that matters.
 */

export type Anchor = 'fd' | 'path';

/** The points of a write where the security suite swaps folders (see createWorkspace's `internal`). */
export type WriteStage = 'checked' | 'folder' | 'opened' | 'written';
export type StageHook = (stage: WriteStage, path: string) => void | Promise<void>;

export interface Found {
  /** '/'-separated, relative to the folder the walk started in. */
  rel: string;
  size: number;
  mtimeMs: number;
}

/** An open folder that later operations go through; `path` is its real path when it was opened. */
export interface Folder {
  readonly path: string;
  /** What to put before `/<name>` to reach an entry: `/proc/self/fd/<n>` ('fd') or `path` ('path'). */
  readonly ref: string;
  readonly handle: FileHandle;
  readonly anchor: Anchor;
}

const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const O_DIRECTORY = constants.O_DIRECTORY ?? 0;
const O_NONBLOCK = constants.O_NONBLOCK ?? 0;
const OPEN_FOLDER = constants.O_RDONLY | O_DIRECTORY | O_NOFOLLOW;
// O_EXCL: the temp can never be an existing file or link. O_NOFOLLOW: belt and braces.
const CREATE_TEMP = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW;
// O_NONBLOCK: a planted FIFO must not hang the open; fstat then refuses it as not a regular file.
const OPEN_READ = constants.O_RDONLY | O_NOFOLLOW | O_NONBLOCK;

/** Codes that mean "the tree changed under us" when they come from a folder that was just checked. */
const CHANGED = new Set(['ENOENT', 'ELOOP', 'ENOTDIR', 'EMLINK', 'EXDEV', 'EISDIR', 'ENOTEMPTY']);

let fdAnchors: boolean | undefined;

/** 'fd' where `/proc/self/fd/<n>/<name>` resolves from the open folder (Linux), else 'path'. */
export function defaultAnchor(): Anchor {
  if (fdAnchors === undefined) {
    try {
      const fd = openSync('/', constants.O_RDONLY | O_DIRECTORY);
      try {
        fdAnchors = statSync(`/proc/self/fd/${fd}/.`).ino === statSync('/').ino;
      } finally {
        closeSync(fd);
      }
    } catch {
      fdAnchors = false;
    }
  }
  return fdAnchors ? 'fd' : 'path';
}

function codeOf(error: unknown): string | undefined {
  return (error as { code?: string } | null)?.code;
}

export function linkError(shown: string, prefix: string): RuntimeError {
  return new RuntimeError(
    ErrorCode.Path,
    `path "${shown}" goes through "${prefix}", which is a symbolic link; the workspace never follows links: remove the link`,
    { details: { path: shown, link: prefix } },
  );
}

function notFolderError(shown: string, prefix: string): RuntimeError {
  return new RuntimeError(ErrorCode.Path, `path "${shown}" needs "${prefix}" to be a folder, but it is a file: remove that file or choose another path`, {
    details: { path: shown, file: prefix },
  });
}

export function changedError(shown: string, prefix: string, cause?: unknown): RuntimeError {
  const code = codeOf(cause);
  return new RuntimeError(
    ErrorCode.Path,
    `path "${shown}": "${prefix}" changed on disk while it was being ${prefix === shown ? 'written' : 'used'}` +
      `${code ? ` (${code})` : ''}, e.g. it was moved or swapped for a link; the write stopped before any byte left the folder it checked: ` +
      'find what else changes the task folder, then write again',
    { cause, details: { path: shown, changed: prefix } },
  );
}

/** Turns an fs error from an operation on a checked folder into E_PATH; other errors pass through. */
function asChanged(error: unknown, shown: string, prefix: string): unknown {
  if (error instanceof RuntimeError) return error;
  return CHANGED.has(codeOf(error) ?? '') ? changedError(shown, prefix, error) : error;
}

function folderAt(path: string, handle: FileHandle, anchor: Anchor): Folder {
  return { path, ref: anchor === 'fd' ? `/proc/self/fd/${handle.fd}` : path, handle, anchor };
}

function entry(folder: Folder, name: string): string {
  return `${folder.ref}/${name}`;
}

/**
 * Whether `path` has no link in it now and names the same file as `handle` ('path' anchor checks);
 * `real` is where the path led instead, when it led somewhere.
 */
async function check(path: string, handle: FileHandle): Promise<{ same: boolean; real: string | null }> {
  const real = await realpath(path).catch(() => null);
  try {
    const [now, held] = await Promise.all([lstat(path), handle.stat()]);
    return { same: real === path && now.dev === held.dev && now.ino === held.ino, real };
  } catch {
    return { same: false, real };
  }
}

async function stillNames(path: string, handle: FileHandle): Promise<boolean> {
  return (await check(path, handle)).same;
}

/**
 * Opens a trusted base folder (the workspace or archive root), creating it when `create`; null when
 * it does not exist. The base may be a link: its real path is what the chain starts from.
 */
export async function openBase(path: string, anchor: Anchor, create: boolean): Promise<Folder | null> {
  if (create) await mkdir(path, { recursive: true });
  let real: string;
  try {
    real = await realpath(path);
  } catch (error) {
    if (!create && codeOf(error) === 'ENOENT') return null;
    throw error;
  }
  const folder = folderAt(real, await open(real, constants.O_RDONLY | O_DIRECTORY), anchor);
  if (anchor === 'fd') {
    // The anchor relies on handle.fd being the OS descriptor (true on Node and Deno 2): check it
    // once per chain, so a runtime where it is not fails loudly instead of writing elsewhere.
    const [viaProc, held] = await Promise.all([stat(folder.ref).catch(() => null), folder.handle.stat()]);
    if (viaProc?.dev !== held.dev || viaProc?.ino !== held.ino) {
      await folder.handle.close();
      throw new RuntimeError(ErrorCode.Unsupported, `${folder.ref} does not lead to ${real} in this runtime, so the workspace cannot pin folders: please report this`);
    }
  }
  return folder;
}

type Opened = Folder | 'missing' | 'link' | 'file' | 'changed';

/** Opens `name` inside `parent` as a folder without following a link. */
async function tryOpenFolder(parent: Folder, name: string): Promise<Opened> {
  const at = entry(parent, name);
  let handle: FileHandle;
  try {
    handle = await open(at, OPEN_FOLDER);
  } catch (error) {
    const code = codeOf(error);
    if (code === 'ENOENT') return 'missing';
    if (code === 'ENOTDIR' || code === 'ELOOP' || code === 'EMLINK') {
      const found = await lstat(at).catch(() => null);
      return found?.isSymbolicLink() ? 'link' : found ? 'file' : 'changed';
    }
    throw error;
  }
  const folder = folderAt(join(parent.path, name), handle, parent.anchor);
  if (parent.anchor === 'path' && !(await stillNames(folder.path, handle))) {
    await handle.close();
    return 'changed';
  }
  return folder;
}

/**
 * Opens (or, with `create`, makes) the folder `name` inside `parent`; null when missing. E_PATH
 * naming `shown` and the component `prefix` when it is a link, a file, or changed while opening.
 */
export async function openChild(parent: Folder, name: string, options: { create: boolean; shown: string; prefix: string }): Promise<Folder | null> {
  const { create, shown, prefix } = options;
  let opened = await tryOpenFolder(parent, name);
  if (opened === 'missing' && create) {
    const at = entry(parent, name);
    try {
      await mkdir(at);
    } catch (error) {
      if (codeOf(error) !== 'EEXIST') throw asChanged(error, shown, prefix);
    }
    if (parent.anchor === 'path') {
      // A parent swapped for a link after its check makes mkdir create the folder elsewhere: remove
      // it (rmdir only ever removes an empty folder) and fail.
      const real = await realpath(at).catch(() => null);
      if (real !== at) {
        if (real !== null) await rmdir(real).catch(() => undefined);
        throw changedError(shown, prefix);
      }
    }
    opened = await tryOpenFolder(parent, name);
    if (opened === 'missing') opened = 'changed';
  }
  if (opened === 'missing') return null;
  if (opened === 'link') throw linkError(shown, prefix);
  if (opened === 'file') throw notFolderError(shown, prefix);
  if (opened === 'changed') throw changedError(shown, prefix);
  return opened;
}

/**
 * Opens `base/parts[0]/parts[1]/...` one component at a time (see the module comment); null when a
 * component (or, without `create`, the base) is missing. Messages name `shown` and the component
 * as `parts` up to it, joined by '/'. The caller closes the returned folder's handle.
 */
export async function openFolder(
  base: string,
  parts: readonly string[],
  options: { anchor: Anchor; create: boolean; shown: string },
): Promise<Folder | null> {
  let folder = await openBase(base, options.anchor, options.create);
  for (let i = 0; folder && i < parts.length; i++) {
    const parent: Folder = folder;
    try {
      folder = await openChild(parent, parts[i], { create: options.create, shown: options.shown, prefix: parts.slice(0, i + 1).join('/') });
    } finally {
      await parent.handle.close();
    }
  }
  return folder;
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
