import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import type { GeneratedFile } from '../protocol/mod.ts';
import { ErrorCode, RuntimeError, protectedContentReason, protectedPathReason, quotePath, unsafePathReason } from '../protocol/mod.ts';

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
    `task id ${typeof taskId === 'string' ? quotePath(taskId) : (JSON.stringify(taskId) ?? String(taskId))} cannot name a workspace folder: ` +
      "use 1 to 64 letters, digits, '-' or '_'",
    { details: { taskId } },
  );
}

/**
 * Throws E_PATH unless `path` may be written into a task folder. Text only; the disk is not read.
 * The protected-files policy (runtime/protocol/protected.ts) comes first, so a hidden name it lists,
 * such as `.npmrc`, is refused naming its rule and fix (also in `details.rule`) rather than only as
 * hidden; any other bad path gets unsafePathReason's reason and the usual hint.
 */
export function checkPath(path: unknown, extra = ''): void {
  if (typeof path !== 'string') throw pathError(ErrorCode.Path, path, `is ${JSON.stringify(path) ?? String(path)}, not a string`, extra);
  const refusal = protectedPathReason(path);
  if (refusal) {
    throw new RuntimeError(ErrorCode.Path, `file path ${showPath(path)} ${refusal.message}${extra}`, {
      details: { path, rule: refusal.rule, entry: refusal.entry, reason: refusal.message },
    });
  }
  const reason = unsafePathReason(path);
  if (reason) throw pathError(ErrorCode.Path, path, reason, extra);
}

/** A path as text for a message: quoted with quotePath (only printable ASCII), long ones cut. */
export function showPath(path: unknown): string {
  if (typeof path !== 'string') return JSON.stringify(path) ?? String(path);
  if (path.length > 300) return `${quotePath(path.slice(0, 200)).slice(0, -1)}..." (${path.length} characters)`;
  return quotePath(path);
}

export function pathError(code: typeof ErrorCode.Path | typeof ErrorCode.Invalid, path: unknown, reason: string, extra = ''): RuntimeError {
  return new RuntimeError(
    code,
    `file path ${showPath(path)} ${reason}` +
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
    checkPath(file?.path, '; nothing was written');
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
    const refused = protectedContentReason(file.path, file.content);
    if (refused) {
      throw new RuntimeError(ErrorCode.Path, `file path ${showPath(file.path)} ${refused.message}; nothing was written`, {
        details: { path: file.path, rule: refused.rule, reason: refused.message },
      });
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
