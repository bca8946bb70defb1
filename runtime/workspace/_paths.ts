import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import type { GeneratedFile } from '../protocol/mod.ts';
import { ErrorCode, RuntimeError, quotePath, unsafePathReason } from '../protocol/mod.ts';

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
 * Names a generated project must never own, in any folder and in any letter case (macOS and
 * Windows folders ignore case): each runs code, redirects installs, or holds secrets when a person
 * opens, installs or commits the project. Most start with '.', which unsafePathReason refuses
 * anyway; they are listed so the refusal says why. Matching is by a whole path segment, or a
 * segment's start where the entry ends in '*'.
 */
export const PROTECTED_NAMES: ReadonlyArray<readonly [string, string]> = [
  ['.git*', 'git metadata, hooks and attributes run commands (.git/hooks, .gitmodules, .gitattributes, .github/workflows)'],
  ['.env*', 'environment files hold secrets and direnv runs .envrc'],
  ['.npmrc', 'package-manager settings can redirect installs and run scripts'],
  ['.yarnrc*', 'package-manager settings can redirect installs and run scripts'],
  ['.pnpmfile.cjs', 'pnpm runs this file on install'],
  ['node_modules', 'installed packages are never generated'],
  ['.vscode', 'editor settings and tasks run commands when the folder is opened'],
  ['.idea', 'editor run configurations run commands'],
  ['.devcontainer', 'dev-container settings run commands when the folder is opened'],
  ['.claude', 'coding-agent settings and hooks run commands'],
  ['.codex', 'coding-agent settings and hooks run commands'],
  ['.cursor', 'coding-agent settings and rules steer other agents'],
  ['.husky', 'git hooks run commands on commit'],
  ['binding.gyp', 'npm install builds it with node-gyp, which runs the commands it names'],
  ['package.yaml', "pnpm reads it as the manifest and runs its scripts unchecked: use package.json"],
  ['package.json5', "pnpm reads it as the manifest and runs its scripts unchecked: use package.json"],
];

/**
 * Scripts a package manager runs by itself on install, rebuild, pack, publish, version or
 * uninstall, i.e. without the person asking for that script (npm, pnpm, yarn, bun). A package.json
 * with one of them is refused; scripts run only on request ("test", "start", "build") stay allowed.
 */
export const INSTALL_SCRIPTS: readonly string[] = [
  'preinstall', 'install', 'postinstall',
  'preprepare', 'prepare', 'postprepare', 'prepublish', 'prepublishonly', 'publish', 'postpublish',
  'prepack', 'pack', 'postpack',
  'preuninstall', 'uninstall', 'postuninstall',
  'preversion', 'version', 'postversion',
  'preshrinkwrap', 'shrinkwrap', 'postshrinkwrap',
  'dependencies', 'pnpm:devpreinstall',
];

function protectedReason(path: string): string | null {
  for (const segment of path.split('/')) {
    const lower = segment.toLowerCase();
    for (const [name, why] of PROTECTED_NAMES) {
      const hit = name.endsWith('*') ? lower.startsWith(name.slice(0, -1)) : lower === name;
      if (hit) return `has the protected name ${quotePath(segment)}: ${why}, so generated files never use it`;
    }
  }
  return null;
}

/**
 * Why the content of `path` may not be written, or null: a package.json (in any folder, any case)
 * must be a JSON object (npm reads it with JSON.parse after dropping a BOM, and so do we) with no
 * script from INSTALL_SCRIPTS.
 */
export function contentReason(path: string, content: string): string | null {
  const name = path.split('/').pop()?.toLowerCase();
  if (name !== 'package.json') return null;
  let data: unknown;
  try {
    data = JSON.parse(content.replace(/^\uFEFF/, ''));
  } catch (error) {
    return `is not valid JSON (${(error as Error).message}), so its install scripts cannot be checked: write package.json as plain JSON`;
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return 'is not a JSON object: write package.json as { "name": ..., "scripts": { "test": ... } }';
  for (const [key, scripts] of Object.entries(data)) {
    if (key.toLowerCase() !== 'scripts' || scripts === null || typeof scripts !== 'object') continue;
    for (const script of Object.keys(scripts)) {
      if (INSTALL_SCRIPTS.includes(script.toLowerCase())) {
        return (
          `has the install-time script ${quotePath(script)}, which a package manager runs by itself on install: ` +
          `remove ${quotePath(script)} from ${quotePath(key)} (scripts run on request, such as "test" or "start", are fine)`
        );
      }
    }
  }
  return null;
}

/** Why `path` may not be written into a task folder, or null. Text only; the disk is not read. */
export function pathReason(path: unknown): string | null {
  if (typeof path !== 'string') return `is ${JSON.stringify(path) ?? String(path)}, not a string`;
  return protectedReason(path) ?? unsafePathReason(path);
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
    const refused = contentReason(file.path, file.content);
    if (refused) {
      throw new RuntimeError(ErrorCode.Path, `file path ${showPath(file.path)} ${refused}; nothing was written`, { details: { path: file.path, reason: refused } });
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
