/**
 * The folders where generated code lives: `<root>/<taskId>/...` while a task runs, and
 * `<archiveRoot>/<taskId>/` (plus manifest.json) once it is done. Paths come from a model, so every
 * one is validated as text and against the disk (no symbolic links, ever) before anything is
 * written, and writes are atomic so a crash and a resume leave the same files as one clean run.
 *
 * The rules a generated path meets (each refusal is E_PATH naming the path, quoted ASCII-only):
 * - text (unsafePathReason in runtime/protocol): relative, '/'-separated, ASCII letters, digits,
 *   '.', '_' and '-' only (nothing is percent-decoded or Unicode-normalised: lookalike dots and
 *   slashes, control characters, '~', ':' and spaces are refused as characters); no '..' or '.'
 *   segment, no empty segment, no segment starting with '.' or '-' or ending with '.', no Windows
 *   device name (CON, nul.txt, com1.js, LPT9), at most 128 characters a segment, 512 in all, 8 deep;
 * - the protected-files policy (PROTECTED_FILES in runtime/protocol, listed in docs/sandbox.md),
 *   in any folder and any case unless an entry says top level only: agent instructions (CLAUDE.md,
 *   AGENTS.md, .cursor ...), tool configs (.vscode, .github, Jenkinsfile ...), package-manager files
 *   (.npmrc, bunfig.toml, lockfiles, node_modules ...), environment and hook files (.env*, mise.toml,
 *   .git, lefthook.* ...) and Orchestrator's own (orchestrator.config.json, model-routing.json); each
 *   refusal names the rule (details.rule). And manifest.json at the top of a task folder (the archive's);
 * - content (same policy): a package.json (any folder, any case) must be a JSON object without a
 *   script a package manager runs by itself (INSTALL_SCRIPTS: preinstall, install, postinstall,
 *   prepare, prepublish, prepack, postpack, dependencies, ...); "test", "start" and "build" are fine;
 * - disk: no symbolic link below the root, no file where a folder is needed; then every write goes
 *   through folders opened one component at a time without following links (_files.ts), so a
 *   folder swapped for a link after the checks fails the write instead of redirecting it, and the
 *   atomic rename replaces a hard link instead of writing through it. Reads go the same way and
 *   refuse hard links, FIFOs and devices.
 * test/security/paths.test.ts proves these (docs/RELIABILITY.md rows files.*).
 * @module
 */
import { lstat } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import type { GeneratedFile } from '../protocol/mod.ts';
import { ErrorCode, RuntimeError } from '../protocol/mod.ts';
import { archiveTask, listArchived } from './_archive.ts';
import type { StageHook } from './_files.ts';
import { readIn, removeExcept, removeStaleTemps, syncFolders, walk, writeAtomic } from './_files.ts';
import type { Anchor, Folder } from './_folders.ts';
import { changedError, defaultAnchor, openBase, openFolder } from './_folders.ts';
import { checkBatch, checkOnDisk, checkPath, checkTaskId, isTaskId, pathError } from './_paths.ts';

export type { StageHook, WriteStage } from './_files.ts';
export type { Anchor } from './_folders.ts';

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
  /**
   * Makes the task folder hold exactly this batch: writes it like `writeFiles`, then removes every
   * other file, link and emptied folder (files of an earlier attempt). A crash part-way leaves whole
   * new files plus old extras, never a partial file; calling it again with the batch converges.
   */
  replaceFiles(taskId: string, files: GeneratedFile[]): Promise<string[]>;
  /** Files of one task, or of every task when `taskId` is omitted, sorted by path. */
  listFiles(taskId?: string): Promise<WorkspaceFile[]>;
  /** Reads `<taskId>/<file>` (relative to the root) as UTF-8; E_NOT_FOUND when missing. */
  readFile(path: string): Promise<string>;
  /** Copies the task folder and a manifest.json into the archive, replacing an earlier archive; returns its folder. */
  archive(taskId: string, manifest: unknown): Promise<string>;
  /** Every archived task, sorted by task id. */
  listArchive(): Promise<ArchiveEntry[]>;
}

export interface WorkspaceOptions {
  root: string;
  archiveRoot: string;
  /**
   * Internal, used only by the security suites (test/security/paths.test.ts): `anchor` forces how
   * folders are pinned while writing ('fd' needs Linux's /proc/self/fd and is the default there;
   * 'path' is the portable fallback, see _files.ts), and `onStage` runs at each step of a write
   * (after the checks, with the folder open, with the temp open, before the rename) so a test can
   * swap a folder for a link exactly there. Production code never sets it.
   */
  internal?: { anchor?: Anchor; onStage?: StageHook };
}

/**
 * Creates a workspace over two folders (made on first write). Operations on one task run one at a
 * time, so a write and an archive of the same task never interleave.
 * @example
 * const ws = createWorkspace({ root: '/var/orchestrator/workspace', archiveRoot: '/var/orchestrator/archive' });
 * await ws.writeFiles('t1', implementation.files);
 * await ws.archive('t1', { requirement, score: 0.92 });
 */
export function createWorkspace(options: WorkspaceOptions): Workspace {
  const root = resolvePath(options.root);
  const archiveRoot = resolvePath(options.archiveRoot);
  const anchor = options.internal?.anchor ?? defaultAnchor();
  if (anchor === 'fd' && defaultAnchor() !== 'fd') {
    throw new RuntimeError(ErrorCode.Invalid, "internal.anchor 'fd' needs /proc/self/fd (Linux): leave internal.anchor unset");
  }
  const stage = options.internal?.onStage;
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
    checkPath(relPath);
    checkOnDisk(root, [taskId, ...relPath.split('/')], `${taskId}/${relPath}`);
    return join(root, taskId, ...relPath.split('/'));
  }

  async function writeFiles(taskId: string, files: GeneratedFile[]): Promise<string[]> {
    checkTaskId(taskId);
    checkBatch(files);
    return exclusive(taskId, () => writeBatch(taskId, files));
  }

  async function replaceFiles(taskId: string, files: GeneratedFile[]): Promise<string[]> {
    checkTaskId(taskId);
    checkBatch(files);
    return exclusive(taskId, async () => {
      const written = await writeBatch(taskId, files);
      const task = await openFolder(root, [taskId], { anchor, create: false, shown: taskId });
      if (task) {
        try {
          await removeExcept(task, new Set(files.map((file) => file.path)));
          await syncFolders([task]);
        } finally {
          await task.handle.close();
        }
      }
      return written;
    });
  }

  // Runs inside the task's queue.
  async function writeBatch(taskId: string, files: GeneratedFile[]): Promise<string[]> {
    // Disk checks run inside the queue so they see the state the writes will meet.
    const targets = files.map((file) => resolve(taskId, file.path));
    for (const [i, target] of targets.entries()) {
      const stat = await lstat(target).catch(() => null);
      if (stat?.isDirectory()) {
        throw pathError(ErrorCode.Path, files[i].path, 'is an existing folder', '; nothing was written');
      }
    }
    const task = await openFolder(root, [taskId], { anchor, create: false, shown: taskId });
    if (task) {
      try {
        await removeStaleTemps(task);
      } finally {
        await task.handle.close();
      }
    }
    // Each file goes through folders opened one component at a time from the root, so a folder
    // swapped for a link after the checks above fails the write instead of redirecting it.
    const folders = new Map<string, Folder>();
    try {
      for (const file of files) {
        const shown = `${taskId}/${file.path}`;
        const parts = file.path.split('/');
        const name = parts.pop() as string;
        await stage?.('checked', shown);
        const key = parts.join('/');
        let folder = folders.get(key);
        if (!folder) {
          folder = (await openFolder(root, [taskId, ...parts], { anchor, create: true, shown })) as Folder;
          folders.set(key, folder);
        }
        await writeAtomic(folder, name, file.content, shown, stage);
      }
      await syncFolders(folders.values());
    } finally {
      for (const folder of folders.values()) await folder.handle.close();
    }
    return files.map((file) => `${taskId}/${file.path}`);
  }

  async function listFiles(taskId?: string): Promise<WorkspaceFile[]> {
    let found;
    if (taskId === undefined) {
      // Only task folders count; anything else at the top of the root is not ours to report.
      const base = await openBase(root, anchor, false);
      try {
        found = base ? (await walk(base)).filter((file) => file.rel.includes('/') && isTaskId(file.rel.split('/')[0])) : [];
      } finally {
        await base?.handle.close();
      }
    } else {
      checkOnDisk(root, [checkTaskId(taskId)], taskId);
      const task = await openFolder(root, [taskId], { anchor, create: false, shown: taskId });
      try {
        found = task ? (await walk(task)).map((file) => ({ ...file, rel: `${taskId}/${file.rel}` })) : [];
      } finally {
        await task?.handle.close();
      }
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
        `workspace file "${path}" ${stat?.isDirectory() ? 'is a folder' : stat ? 'is not a regular file' : 'does not exist'}: list the task's files with listFiles('${path.slice(0, slash)}')`,
        { details: { path } },
      );
    }
    // Read through the same chain of folders as a write: a folder swapped for a link since the
    // check above fails the read instead of exposing a file from outside.
    const taskId = path.slice(0, slash);
    const parts = path.slice(slash + 1).split('/');
    const name = parts.pop() as string;
    const folder = await openFolder(root, [taskId, ...parts], { anchor, create: false, shown: path });
    if (!folder) throw changedError(path, path);
    try {
      return (await readIn(folder, name, path)).toString('utf8');
    } finally {
      await folder.handle.close();
    }
  }

  return {
    root,
    archiveRoot,
    taskDir,
    resolve,
    writeFiles,
    replaceFiles,
    listFiles,
    readFile: readWorkspaceFile,
    async archive(taskId, manifest) {
      checkTaskId(taskId);
      return exclusive(taskId, () => archiveTask({ root, archiveRoot, anchor, stage }, taskId, manifest));
    },
    listArchive: () => listArchived(archiveRoot, anchor),
  };
}
