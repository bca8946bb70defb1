import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import type { GeneratedFile } from '../protocol/mod.ts';
import { ErrorCode, RuntimeError, unsafePathReason } from '../protocol/mod.ts';

/**
 * Every check that stands between a path chosen by a model and the disk. Generated paths are data
 * from an LLM, so they are treated like user input: validated as text first, then against what is
 * actually on disk (symbolic links, files where folders should be).
 */

const TASK_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The file `archive` writes next to the copied files; a task may not own one at its top level. */
export const MANIFEST_NAME = 'manifest.json';

/** Names of the temp files of an atomic write: `.<name>.<12 hex>.tmp`. No valid path starts with '.'. */
export const TEMP_FILE = /^\..+\.[0-9a-f]{12}\.tmp$/;

export function isTaskId(name: unknown): name is string {
  return typeof name === 'string' && TASK_ID.test(name);
}

export function checkTaskId(taskId: unknown): string {
  if (isTaskId(taskId)) return taskId;
  throw new RuntimeError(
    ErrorCode.Path,
    `task id ${JSON.stringify(taskId) ?? String(taskId)} cannot name a workspace folder: ` +
      "use 1 to 64 letters, digits, '-' or '_'",
    { details: { taskId } },
  );
}

// Names a generated project must never own: repository metadata, secrets, installed packages.
function protectedReason(path: string): string | null {
  for (const segment of path.split('/')) {
    const lower = segment.toLowerCase();
    if (lower === '.git' || lower === '.npmrc' || lower === 'node_modules' || lower.startsWith('.env')) {
      return `has the protected name "${segment}" (.git, .env*, .npmrc and node_modules are never written)`;
    }
  }
  return null;
}

/** Why `path` may not be written into a task folder, or null. Text only; the disk is not read. */
export function pathReason(path: unknown): string | null {
  if (typeof path !== 'string') return `is ${JSON.stringify(path) ?? String(path)}, not a string`;
  return protectedReason(path) ?? unsafePathReason(path);
}

export function pathError(code: typeof ErrorCode.Path | typeof ErrorCode.Invalid, path: unknown, reason: string, extra = ''): RuntimeError {
  return new RuntimeError(
    code,
    `file path ${JSON.stringify(path) ?? String(path)} ${reason}` +
      "; give a relative '/'-separated path inside the task folder, such as 'src/index.js'" +
      extra,
    { details: { path, reason } },
  );
}

/**
 * Walks `root/parts[0]/parts[1]/...` with lstat, stopping at the first component that does not
 * exist yet. Refuses a symbolic link anywhere below the root (a planted link would let a write land
 * outside the workspace) and a file where a folder is needed. `root` itself may be a link: it is
 * the operator's choice, not the model's.
 */
export function checkOnDisk(root: string, parts: readonly string[], shown: string): void {
  let current = root;
  for (let i = 0; i < parts.length; i++) {
    current = join(current, parts[i]);
    const prefix = parts.slice(0, i + 1).join('/');
    let stat;
    try {
      stat = lstatSync(current);
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') return;
      throw new RuntimeError(ErrorCode.Path, `path "${shown}": cannot inspect "${prefix}" (${(error as Error).message}): check the folder's permissions`, {
        cause: error,
        details: { path: shown },
      });
    }
    if (stat.isSymbolicLink()) {
      throw new RuntimeError(
        ErrorCode.Path,
        `path "${shown}" goes through "${prefix}", which is a symbolic link; the workspace never follows links: remove the link`,
        { details: { path: shown, link: prefix } },
      );
    }
    if (i < parts.length - 1 && !stat.isDirectory()) {
      throw new RuntimeError(
        ErrorCode.Path,
        `path "${shown}" needs "${prefix}" to be a folder, but it is a file: remove that file or choose another path`,
        { details: { path: shown, file: prefix } },
      );
    }
  }
}

/**
 * Checks a whole batch before anything is written, so a bad entry never leaves half a batch on
 * disk: each path's text, duplicates (also by case, since macOS and Windows folders ignore it) and a
 * path used both as a file and as a folder.
 */
export function checkBatch(files: readonly GeneratedFile[]): void {
  if (!Array.isArray(files)) {
    throw new RuntimeError(ErrorCode.Invalid, `files is ${typeof files}, not an array: pass [{ path, content }, ...]`);
  }
  const seen = new Map<string, string>();
  for (const file of files) {
    const reason = pathReason(file?.path);
    if (reason) throw pathError(ErrorCode.Path, file?.path, reason, '; nothing was written');
    if (file.path === MANIFEST_NAME) {
      throw new RuntimeError(
        ErrorCode.Path,
        `file path "${file.path}" is reserved at the top of a task folder for the archive manifest: put it in a folder, e.g. 'config/${MANIFEST_NAME}'; nothing was written`,
        { details: { path: file.path } },
      );
    }
    if (typeof file.content !== 'string') {
      throw new RuntimeError(ErrorCode.Invalid, `file "${file.path}" has content of type ${typeof file.content}: pass the text as a string; nothing was written`);
    }
    const key = file.path.toLowerCase();
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      const how = earlier === file.path ? 'appears twice' : `differs from "${earlier}" only in case`;
      throw new RuntimeError(ErrorCode.Invalid, `file path "${file.path}" ${how} in one batch: keep one entry per file; nothing was written`, {
        details: { path: file.path },
      });
    }
    seen.set(key, file.path);
  }
  for (const path of seen.values()) {
    const segments = path.split('/');
    for (let i = 1; i < segments.length; i++) {
      const folder = seen.get(segments.slice(0, i).join('/').toLowerCase());
      if (folder !== undefined) {
        throw new RuntimeError(ErrorCode.Invalid, `file path "${folder}" is also the folder of "${path}" in one batch: rename one of them; nothing was written`, {
          details: { path: folder },
        });
      }
    }
  }
}
