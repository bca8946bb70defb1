import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, RuntimeError } from '../protocol/mod.ts';
import type { ArchiveEntry } from './mod.ts';
import type { Found, StageHook } from './_files.ts';
import { readIn, syncFolders, walk, writeAtomic } from './_files.ts';
import type { Anchor, Folder } from './_folders.ts';
import { changedError, openFolder } from './_folders.ts';
import { checkOnDisk, checkTaskId, MANIFEST_NAME } from './_paths.ts';

/**
 * The archive keeps a finished task's files and its manifest after the workspace is cleaned. An
 * archive is built in a hidden staging folder and swapped in by rename, so a crash never leaves a
 * half-copied archive under the task's name, and archiving again replaces rather than adds.
 */

// Staging (`.tmp`) and replaced (`.old`) folders of one task; a crash can leave either behind.
function isLeftover(name: string, taskId: string): boolean {
  return name.startsWith(`.${taskId}.`) && (name.endsWith('.tmp') || name.endsWith('.old'));
}

function manifestText(taskId: string, manifest: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(manifest === undefined ? null : manifest, null, 2);
  } catch (error) {
    throw new RuntimeError(
      ErrorCode.Invalid,
      `manifest of task ${taskId} is not JSON-serialisable (${(error as Error).message}): pass plain data without cycles or BigInts`,
      { cause: error },
    );
  }
  return `${text}\n`;
}

interface ArchiveContext {
  root: string;
  archiveRoot: string;
  anchor: Anchor;
  stage?: StageHook;
}

/**
 * Copies `<root>/<taskId>/` to `<archiveRoot>/<taskId>/` plus manifest.json; returns the archive
 * folder. Copy only: nothing is ever extracted. Every source file is read through folders opened
 * without following links (a link, a folder swapped for one, a FIFO or a hard link fails with E_PATH
 * naming the path) and the staging folder is removed on any failure, so a refused archive leaves
 * neither a partial archive nor a byte outside the archive root.
 */
export async function archiveTask(context: ArchiveContext, taskId: string, manifest: unknown): Promise<string> {
  const { root, archiveRoot, anchor, stage } = context;
  checkTaskId(taskId);
  const text = manifestText(taskId, manifest);
  checkOnDisk(root, [taskId], taskId);
  checkOnDisk(archiveRoot, [taskId], taskId);
  const target = join(archiveRoot, taskId);

  const task = await openFolder(root, [taskId], { anchor, create: false, shown: taskId });
  let files: Found[] = [];
  try {
    if (task) {
      files = await walk(task, (rel) => {
        throw new RuntimeError(ErrorCode.Path, `task ${taskId}: "${rel}" is a symbolic link; the archive never follows links: remove the link and archive again`, {
          details: { taskId, path: rel },
        });
      });
    }
  } finally {
    await task?.handle.close();
  }
  if (files.some((file) => file.rel === MANIFEST_NAME)) {
    throw new RuntimeError(
      ErrorCode.Conflict,
      `task ${taskId} has its own top-level "${MANIFEST_NAME}", which the archive needs for its manifest: move that file into a folder`,
      { details: { taskId, path: MANIFEST_NAME } },
    );
  }
  await stage?.('checked', taskId);

  await mkdir(archiveRoot, { recursive: true });
  for (const name of await readdir(archiveRoot)) {
    if (isLeftover(name, taskId)) await rm(join(archiveRoot, name), { recursive: true, force: true });
  }
  const suffix = randomBytes(6).toString('hex');
  const stagingName = `.${taskId}.${suffix}.tmp`;
  const staging = join(archiveRoot, stagingName);
  const folders = new Map<string, Folder>();
  try {
    await mkdir(staging);
    const into = async (dirs: string[], shown: string): Promise<Folder> => {
      const key = dirs.join('/');
      let folder = folders.get(key);
      if (!folder) {
        folder = (await openFolder(archiveRoot, [stagingName, ...dirs], { anchor, create: true, shown })) as Folder;
        folders.set(key, folder);
      }
      return folder;
    };
    for (const file of files) {
      const shown = `${taskId}/${file.rel}`;
      const dirs = file.rel.split('/');
      const name = dirs.pop() as string;
      const source = await openFolder(root, [taskId, ...dirs], { anchor, create: false, shown });
      if (!source) throw changedError(shown, shown);
      let content: Buffer;
      try {
        content = await readIn(source, name, shown);
      } finally {
        await source.handle.close();
      }
      await writeAtomic(await into(dirs, shown), name, content, shown);
    }
    await writeAtomic(await into([], `${taskId}/${MANIFEST_NAME}`), MANIFEST_NAME, text, `${taskId}/${MANIFEST_NAME}`);
    await syncFolders(folders.values());
    for (const folder of folders.values()) await folder.handle.close();
    folders.clear();
    // rename cannot replace a non-empty folder, so the old archive steps aside first; the window in
    // which neither exists only costs a re-run, since the source is still in the workspace.
    const old = join(archiveRoot, `.${taskId}.${suffix}.old`);
    let replaced = false;
    try {
      await rename(target, old);
      replaced = true;
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT') throw error;
    }
    await rename(staging, target);
    await syncFolders([archiveRoot]);
    if (replaced) await rm(old, { recursive: true, force: true });
  } catch (error) {
    for (const folder of folders.values()) await folder.handle.close();
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  return target;
}

/** Every complete archive (a task folder holding manifest.json), sorted by task id. */
export async function listArchived(archiveRoot: string, anchor: Anchor): Promise<ArchiveEntry[]> {
  let names: string[];
  try {
    names = await readdir(archiveRoot);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return [];
    throw error;
  }
  const entries: ArchiveEntry[] = [];
  for (const taskId of names.sort()) {
    if (taskId.startsWith('.')) continue; // staging or replaced folders
    const dir = join(archiveRoot, taskId);
    if (!(await lstat(dir)).isDirectory()) continue;
    const manifestPath = join(dir, MANIFEST_NAME);
    let stat;
    try {
      stat = await lstat(manifestPath);
    } catch {
      continue; // not an archive written by this module
    }
    if (!stat.isFile()) continue;
    let manifest: unknown;
    try {
      manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
    } catch (error) {
      throw new RuntimeError(
        ErrorCode.Invalid,
        `archive manifest ${manifestPath} is not valid JSON (${(error as Error).message}): restore it, or archive task ${taskId} again`,
        { cause: error, details: { taskId, path: manifestPath } },
      );
    }
    const folder = await openFolder(archiveRoot, [taskId], { anchor, create: false, shown: taskId });
    let found: Found[] = [];
    try {
      if (folder) found = await walk(folder);
    } finally {
      await folder?.handle.close();
    }
    const files = found.map((file) => file.rel).filter((rel) => rel !== MANIFEST_NAME);
    entries.push({ taskId, archivedAt: stat.mtimeMs, files, manifest });
  }
  return entries;
}
