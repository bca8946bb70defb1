/**
 * The folders where generated code lives: `<root>/<taskId>/...` while a task runs, and
 * `<archiveRoot>/<taskId>/` (plus manifest.json) once it is done. Paths come from a model, so every
 * one is validated as text and against the disk (no symbolic links, ever) before anything is
 * written, and writes are atomic so a crash and a resume leave the same files as one clean run.
 * @module
 */
import { lstat, readFile } from 'node:fs/promises';
import { dirname, join, resolve as resolvePath } from 'node:path';
import type { GeneratedFile } from '../protocol/mod.ts';
import { ErrorCode, RuntimeError } from '../protocol/mod.ts';
import { archiveTask, listArchived } from './_archive.ts';
import { removeStaleTemps, syncFolders, walk, writeAtomic } from './_files.ts';
import { checkBatch, checkOnDisk, checkTaskId, isTaskId, pathError, pathReason } from './_paths.ts';

/**
 * A file in the workspace. `path` is relative to the workspace root and '/'-separated.
 * @example { path: 't1/src/index.js', size: 120, mtimeMs: 1730000000000 }
 */
export interface WorkspaceFile {
  path: string;
  size: number;
  mtimeMs: number;
}

/**
 * One archived task. `files` are relative to the task's archive folder (manifest.json excluded);
 * `archivedAt` is when its manifest was last written.
 * @example const [entry] = await workspace.listArchive(); entry.files; // ['src/index.js']
 */
export interface ArchiveEntry {
  taskId: string;
  archivedAt: number;
  files: string[];
  manifest: unknown;
}

/**
 * The workspace API. Task ids are 1 to 64 letters, digits, '-' or '_'; anything else is E_PATH.
 * @example
 * const ws = createWorkspace({ root: 'data/workspace', archiveRoot: 'data/archive' });
 * await ws.writeFiles('t1', [{ path: 'src/index.js', content: 'export {}' }]); // ['t1/src/index.js']
 * await ws.readFile('t1/src/index.js'); // 'export {}'
 */
export interface Workspace {
  /** Absolute. */
  readonly root: string;
  /** Absolute. */
  readonly archiveRoot: string;
  /** The absolute folder of a task (not created here). */
  taskDir(taskId: string): string;
  /** The absolute path of `relPath` inside the task folder; E_PATH if the path is unsafe or crosses a symbolic link. */
  resolve(taskId: string, relPath: string): string;
  /**
   * Writes a batch atomically per file, after checking every path (one bad path refuses the whole
   * batch). Files not in the batch are left alone. Returns the written paths relative to the root.
   */
  writeFiles(taskId: string, files: GeneratedFile[]): Promise<string[]>;
  /** Files of one task, or of every task when `taskId` is omitted, sorted by path. */
  listFiles(taskId?: string): Promise<WorkspaceFile[]>;
  /** Reads `<taskId>/<file>` (relative to the root) as UTF-8; E_NOT_FOUND when missing. */
  readFile(path: string): Promise<string>;
  /** Copies the task folder and a manifest.json into the archive, replacing an earlier archive; returns its folder. */
  archive(taskId: string, manifest: unknown): Promise<string>;
  /** Every archived task, sorted by task id. */
  listArchive(): Promise<ArchiveEntry[]>;
}

/**
 * Creates a workspace over two folders (made on first write). Operations on one task run one at a
 * time, so a write and an archive of the same task never interleave.
 * @example
 * const ws = createWorkspace({ root: '/var/orchestrator/workspace', archiveRoot: '/var/orchestrator/archive' });
 * await ws.writeFiles('t1', implementation.files);
 * await ws.archive('t1', { requirement, score: 0.92 });
 */
export function createWorkspace(options: { root: string; archiveRoot: string }): Workspace {
  const root = resolvePath(options.root);
  const archiveRoot = resolvePath(options.archiveRoot);
  const queues = new Map<string, Promise<unknown>>();

  // Chains the task's operations: the stale-temp cleanup of one write must not delete the temp
  // file of another write still in flight.
  function exclusive<T>(taskId: string, fn: () => Promise<T>): Promise<T> {
    const run = (queues.get(taskId) ?? Promise.resolve()).then(fn, fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    queues.set(taskId, tail);
    void tail.then(() => {
      if (queues.get(taskId) === tail) queues.delete(taskId);
    });
    return run;
  }

  function taskDir(taskId: string): string {
    return join(root, checkTaskId(taskId));
  }

  function resolve(taskId: string, relPath: string): string {
    checkTaskId(taskId);
    const reason = pathReason(relPath);
    if (reason) throw pathError(ErrorCode.Path, relPath, reason);
    checkOnDisk(root, [taskId, ...relPath.split('/')], `${taskId}/${relPath}`);
    return join(root, taskId, ...relPath.split('/'));
  }

  async function writeFiles(taskId: string, files: GeneratedFile[]): Promise<string[]> {
    checkTaskId(taskId);
    checkBatch(files);
    return exclusive(taskId, async () => {
      // Disk checks run inside the queue so they see the state the writes will meet.
      const targets = files.map((file) => resolve(taskId, file.path));
      for (const [i, target] of targets.entries()) {
        const stat = await lstat(target).catch(() => null);
        if (stat?.isDirectory()) {
          throw pathError(ErrorCode.Path, files[i].path, 'is an existing folder', '; nothing was written');
        }
      }
      await removeStaleTemps(join(root, taskId));
      for (const [i, target] of targets.entries()) await writeAtomic(target, files[i].content);
      await syncFolders(new Set(targets.map((target) => dirname(target))));
      return files.map((file) => `${taskId}/${file.path}`);
    });
  }

  async function listFiles(taskId?: string): Promise<WorkspaceFile[]> {
    let found;
    if (taskId === undefined) {
      // Only task folders count; anything else at the top of the root is not ours to report.
      found = (await walk(root)).filter((file) => file.rel.includes('/') && isTaskId(file.rel.split('/')[0]));
    } else {
      checkOnDisk(root, [checkTaskId(taskId)], taskId);
      found = (await walk(join(root, taskId))).map((file) => ({ ...file, rel: `${taskId}/${file.rel}` }));
    }
    return found.map((file) => ({ path: file.rel, size: file.size, mtimeMs: file.mtimeMs }));
  }

  async function readWorkspaceFile(path: string): Promise<string> {
    const slash = typeof path === 'string' ? path.indexOf('/') : -1;
    if (slash <= 0) {
      throw pathError(ErrorCode.Path, path, 'does not start with a task id', "; read '<taskId>/<file>', e.g. 't1/src/index.js'");
    }
    const target = resolve(path.slice(0, slash), path.slice(slash + 1));
    const stat = await lstat(target).catch(() => null);
    if (!stat?.isFile()) {
      throw new RuntimeError(
        ErrorCode.NotFound,
        `workspace file "${path}" ${stat ? 'is a folder' : 'does not exist'}: list the task's files with listFiles('${path.slice(0, slash)}')`,
        { details: { path } },
      );
    }
    return readFile(target, 'utf8');
  }

  return {
    root,
    archiveRoot,
    taskDir,
    resolve,
    writeFiles,
    listFiles,
    readFile: readWorkspaceFile,
    async archive(taskId, manifest) {
      checkTaskId(taskId);
      return exclusive(taskId, () => archiveTask(root, archiveRoot, taskId, manifest));
    },
    listArchive: () => listArchived(archiveRoot),
  };
}
