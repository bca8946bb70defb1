import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ErrorCode, RuntimeError } from '../protocol/mod.ts';
import type { ArchiveEntry } from './mod.ts';
import { syncFolders, walk, writeAtomic } from './_files.ts';
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

/** Copies `<root>/<taskId>/` to `<archiveRoot>/<taskId>/` plus manifest.json; returns the archive folder. */
export async function archiveTask(root: string, archiveRoot: string, taskId: string, manifest: unknown): Promise<string> {
  checkTaskId(taskId);
  const text = manifestText(taskId, manifest);
  checkOnDisk(root, [taskId], taskId);
  checkOnDisk(archiveRoot, [taskId], taskId);
  const source = join(root, taskId);
  const target = join(archiveRoot, taskId);

  const files = await walk(source, (rel) => {
    throw new RuntimeError(ErrorCode.Path, `task ${taskId}: "${rel}" is a symbolic link; the archive never follows links: remove the link and archive again`, {
      details: { taskId, path: rel },
    });
  });
  if (files.some((file) => file.rel === MANIFEST_NAME)) {
    throw new RuntimeError(
      ErrorCode.Conflict,
      `task ${taskId} has its own top-level ${MANIFEST_NAME}, which the archive needs for its manifest: move that file into a folder`,
      { details: { taskId, path: MANIFEST_NAME } },
    );
  }

  await mkdir(archiveRoot, { recursive: true });
  for (const name of await readdir(archiveRoot)) {
    if (isLeftover(name, taskId)) await rm(join(archiveRoot, name), { recursive: true, force: true });
  }
  const suffix = randomBytes(6).toString('hex');
  const staging = join(archiveRoot, `.${taskId}.${suffix}.tmp`);
  try {
    await mkdir(staging);
    for (const file of files) await writeAtomic(join(staging, file.rel), await readFile(file.abs));
    await writeAtomic(join(staging, MANIFEST_NAME), text);
    await syncFolders(new Set(files.map((file) => dirname(join(staging, file.rel)))));
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
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  return target;
}

/** Every complete archive (a task folder holding manifest.json), sorted by task id. */
export async function listArchived(archiveRoot: string): Promise<ArchiveEntry[]> {
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
    const files = (await walk(dir)).map((file) => file.rel).filter((rel) => rel !== MANIFEST_NAME);
    entries.push({ taskId, archivedAt: stat.mtimeMs, files, manifest });
  }
  return entries;
}
