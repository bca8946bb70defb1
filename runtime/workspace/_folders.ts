import { closeSync, constants, openSync, statSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { lstat, mkdir, open, realpath, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, RuntimeError } from '../protocol/mod.ts';

/**
 * Opening folders of the workspace without following links: the chain every disk operation of
 * runtime/workspace goes through (_files.ts writes, reads and walks through it). Paths reaching here
 * are already validated as text and against the disk; this module makes sure that what was checked
 * is still what gets written, even when a folder is swapped for a symbolic link after the check.
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

/** An open folder that later operations go through; `path` is its real path when it was opened. */
export interface Folder {
  readonly path: string;
  /** What to put before `/<name>` to reach an entry: `/proc/self/fd/<n>` ('fd') or `path` ('path'). */
  readonly ref: string;
  readonly handle: FileHandle;
  readonly anchor: Anchor;
}

const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
export const O_DIRECTORY = constants.O_DIRECTORY ?? 0;
const O_NONBLOCK = constants.O_NONBLOCK ?? 0;
const OPEN_FOLDER = constants.O_RDONLY | O_DIRECTORY | O_NOFOLLOW;
// O_EXCL: the temp can never be an existing file or link. O_NOFOLLOW: belt and braces.
export const CREATE_TEMP = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW;
// O_NONBLOCK: a planted FIFO must not hang the open; fstat then refuses it as not a regular file.
export const OPEN_READ = constants.O_RDONLY | O_NOFOLLOW | O_NONBLOCK;

/** Codes that mean "the tree changed under us" when they come from a folder that was just checked. */
export const CHANGED = new Set(['ENOENT', 'ELOOP', 'ENOTDIR', 'EMLINK', 'EXDEV', 'EISDIR', 'ENOTEMPTY']);

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

export function codeOf(error: unknown): string | undefined {
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
export function asChanged(error: unknown, shown: string, prefix: string): unknown {
  if (error instanceof RuntimeError) return error;
  return CHANGED.has(codeOf(error) ?? '') ? changedError(shown, prefix, error) : error;
}

function folderAt(path: string, handle: FileHandle, anchor: Anchor): Folder {
  return { path, ref: anchor === 'fd' ? `/proc/self/fd/${handle.fd}` : path, handle, anchor };
}

export function entry(folder: Folder, name: string): string {
  return `${folder.ref}/${name}`;
}

/**
 * Whether `path` has no link in it now and names the same file as `handle` ('path' anchor checks);
 * `real` is where the path led instead, when it led somewhere.
 */
export async function check(path: string, handle: FileHandle): Promise<{ same: boolean; real: string | null }> {
  const real = await realpath(path).catch(() => null);
  try {
    const [now, held] = await Promise.all([lstat(path), handle.stat()]);
    return { same: real === path && now.dev === held.dev && now.ino === held.ino, real };
  } catch {
    return { same: false, real };
  }
}

export async function stillNames(path: string, handle: FileHandle): Promise<boolean> {
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

export type Opened = Folder | 'missing' | 'link' | 'file' | 'changed';

/** Opens `name` inside `parent` as a folder without following a link. */
export async function tryOpenFolder(parent: Folder, name: string): Promise<Opened> {
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
