import { quotePath } from './schemas.ts';

/**
 * The protected-files policy: generated files never include configuration that a tool acts on by
 * itself, when a person opens, installs, commits or starts an agent in the project. The workspace
 * refuses to write them; the implementer's parser refuses them first, so the task's error names the
 * rule. docs/sandbox.md ("Writing generated files") lists the policy for people.
 *
 * An entry is a path pattern matched against whole segments in any letter case (macOS and Windows
 * folders ignore case, and so do the tools there): `name` is a segment in any folder, `*` stands for
 * any characters within one segment, `a/b` is consecutive segments in any folder, and a leading `/`
 * means only at the top of the task folder, for files a tool reads from the top of a repository
 * only. Names starting with '.' are refused as hidden anyway (unsafePathReason); they are listed so
 * the refusal names the rule.
 */
export interface ProtectedRule {
  /** Named in every refusal, e.g. "agent-instructions". */
  readonly id: string;
  /** Why a generated project never holds these files, one line. */
  readonly why: string;
  /** What to do instead, for the refusal. */
  readonly fix: string;
  readonly entries: readonly string[];
}

export const PROTECTED_FILES: readonly ProtectedRule[] = [
  {
    id: 'agent-instructions',
    why:
      "coding agents follow these files as the project owner's instructions, or run the commands and MCP servers they configure",
    fix: 'drop the file; notes for people belong in README.md or docs/',
    entries: [
      // Claude Code: CLAUDE.md and CLAUDE.local.md in every folder from the root down to the working
      // one, and nested ones as soon as it reads a file below them; hooks and MCP servers run commands.
      'CLAUDE.md', 'CLAUDE.local.md', '.claude', '.mcp.json',
      // Codex walks from the repository root down to the working folder (AGENTS.override.md wins);
      // Copilot, Cursor, Amp and opencode read AGENTS.md too; Amp also reads AGENT.md.
      'AGENTS.md', 'AGENTS.override.md', 'AGENT.md', '.codex',
      // Gemini CLI loads GEMINI.md from the workspace and just in time from any folder a tool touches.
      'GEMINI.md', '.gemini',
      // GitHub Copilot: repository-wide and path-specific instructions, prompts, agents and skills.
      '.github/copilot-instructions.md', '.github/instructions', '.github/prompts', '.github/agents', '.github/skills',
      // Cursor, Windsurf, Cline, Roo, Continue, Kiro, Junie, Amazon Q, Augment, Trae, Goose, Zed, Warp.
      '.cursorrules', '.cursor', '.windsurfrules', '.windsurf', '.clinerules', '.roo', '.roorules', '.roomodes',
      '.continue*', '.kiro', '.junie', '.amazonq', '.augment*', '.trae', '.goosehints', '.rules', 'WARP.md',
      // aider reads .aider.conf.yml (its lint-cmd and test-cmd run after each edit); opencode its config
      // (MCP servers, permissions); OpenHands runs .openhands/setup.sh when a session starts.
      '.aider*', 'opencode.json', 'opencode.jsonc', '.opencode', '.openhands',
    ],
  },
  {
    id: 'tool-config',
    why:
      'editors, dev containers and CI run the commands these files name when the folder is opened or the branch is pushed',
    fix: 'drop the file; describe the setup in README.md instead',
    entries: [
      // VS Code tasks can run on folder open; JetBrains, Fleet and Zed run configurations and tasks.
      '.vscode', '.idea', '.fleet', '.zed',
      // postCreateCommand and friends; Gitpod and Replit run their tasks when the workspace starts.
      '.devcontainer', '.devcontainer.json', '.gitpod.yml', '.replit',
      // CI that runs on push with the repository's secrets. GitHub and GitLab read their folders at
      // the root; the single-file CIs read only the file at the top of the repository.
      '.github', '.gitlab', '/.gitlab-ci.yml', '.circleci', '/.travis.yml', '.buildkite', '/.drone.yml',
      '.woodpecker', '/.woodpecker.yml', '/Jenkinsfile', '/azure-pipelines.yml', '/bitbucket-pipelines.yml',
      '/appveyor.yml', '/.appveyor.yml',
    ],
  },
  {
    id: 'package-manager',
    why:
      'package managers act on these files by themselves on install or run: ' +
      'they redirect downloads, pin what is fetched, or run code',
    fix: 'drop the file; list dependencies and on-request scripts in package.json (or pyproject.toml)',
    entries: [
      // npm, yarn (yarnPath runs a file from .yarn on every command; .pnp.cjs is loaded into node),
      // pnpm (.pnpmfile hooks run on install; since 10.5 pnpm-workspace.yaml holds settings such as
      // onlyBuiltDependencies and configDependencies), bun (registry, and preload scripts before run/test).
      '.npmrc', '.yarnrc*', '.yarn', '.pnp.*', '.pnpmfile.*', 'pnpm-workspace.yaml', 'bunfig.toml', '.bunfig.toml',
      // Installed packages are never generated: Node resolves imports there, so one would shadow a real package.
      'node_modules',
      // npm install builds binding.gyp with node-gyp, which runs the commands it names; pnpm reads
      // package.yaml and package.json5 as the manifest, whose install scripts we do not check.
      'binding.gyp', 'package.yaml', 'package.json5',
      // A lockfile names the URL each package is fetched from and `npm ci` follows it; a model cannot
      // know real integrity hashes, so a generated one is wrong or hostile.
      'package-lock.json', 'npm-shrinkwrap.json', 'yarn.lock', 'pnpm-lock.yaml', 'bun.lock', 'bun.lockb',
      // Python installers: index URLs and credentials (uv, poetry, pip inside a virtual environment).
      'uv.toml', 'poetry.toml', 'pip.conf', '.pypirc',
    ],
  },
  {
    id: 'environment-and-hooks',
    why:
      'shells, direnv, mise and git load these files by themselves (entering the folder, starting a shell, committing) ' +
      'and run commands or set variables such as PATH',
    fix: 'drop the file; document the variables and setup steps in README.md',
    entries: [
      // dotenv loaders (this server, bun, mise) read .env*; direnv runs .envrc in bash on entering the folder.
      '.env*',
      // mise merges every config from the working folder upwards: [env], hooks and tasks, tools from
      // any backend (npm:, cargo:, ubi:); MISE_ENV selects mise.<env>.toml. asdf and mise install
      // what .tool-versions names.
      'mise.toml', 'mise.local.toml', 'mise.*.toml', 'mise/config.toml', '.mise*', '.config/mise*', '.tool-versions',
      // Shell start-up files.
      '.bash*', '.zsh*', '.zprofile', '.zlog*', '.profile',
      // git: hooks and config in .git (core.hooksPath, core.fsmonitor run commands), submodule URLs
      // fetched on clone, attributes that select filter drivers.
      '.git', '.gitmodules', '.gitattributes', '.gitconfig',
      // Hook managers install hooks that run on commit (lefthook and simple-git-hooks from their own
      // postinstall; pre-commit on `pre-commit install`).
      '.husky', '.pre-commit-config.yaml', 'lefthook.*', 'lefthook-local.*', '.lefthook*',
      'simple-git-hooks.*', '.simple-git-hooks*',
    ],
  },
  {
    id: 'orchestrator',
    why:
      'Orchestrator reads these from the folder it starts in: a generated one could point a provider at any host ' +
      'and name the variable whose key is sent there',
    fix: 'drop the file; Orchestrator is configured by its operator, never by generated code',
    entries: ['orchestrator.config.json', 'model-routing.json', '.orchestrator'],
  },
];

/** A refusal: the rule's id, the entry that matched, and a message fragment ("has the protected name ..."). */
export interface ProtectedRefusal {
  rule: string;
  entry: string;
  message: string;
}

interface Matcher {
  rule: ProtectedRule;
  entry: string;
  top: boolean;
  parts: RegExp[];
}

function matcherOf(rule: ProtectedRule, entry: string): Matcher {
  const top = entry.startsWith('/');
  const parts = (top ? entry.slice(1) : entry).split('/').map((part) => {
    const body = part.split('*').map((text) => text.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
    return new RegExp(`^${body}$`, 'i');
  });
  return { rule, entry, top, parts };
}

// The more segments an entry has, the more specific it is: .github/copilot-instructions.md names
// agent-instructions, not the tool-config rule of .github. Sorting is stable, so rule order breaks ties.
const MATCHERS = PROTECTED_FILES.flatMap((rule) => rule.entries.map((entry) => matcherOf(rule, entry))).sort(
  (a, b) => b.parts.length - a.parts.length,
);
/** Any part of any entry, as one expression (case-insensitive, anchored per alternative). */
const ANY_PART = new RegExp(MATCHERS.flatMap((m) => m.parts.map((part) => `(?:${part.source})`)).join('|'), 'i');

/**
 * Why a generated file may not have this path, or null: the rule it breaks, the entry that matched,
 * and a message that names the matched name, the rule, why and the fix. Text only (no disk access).
 * @example protectedPathReason('src/CLAUDE.md')?.rule // 'agent-instructions'
 * @example protectedPathReason('docs/claude-notes.md') // null
 */
export function protectedPathReason(path: string): ProtectedRefusal | null {
  const segments = path.split('/');
  // A match needs every part of an entry to match a segment, so a path none of whose segments matches
  // any part of any entry matches nothing: one test per segment for the common (allowed) path.
  if (!segments.some((segment) => ANY_PART.test(segment))) return null;
  for (const matcher of MATCHERS) {
    const n = matcher.parts.length;
    const last = matcher.top ? Math.min(0, segments.length - n) : segments.length - n;
    for (let start = 0; start <= last; start++) {
      if (!matcher.parts.every((part, k) => part.test(segments[start + k]))) continue;
      const { rule } = matcher;
      const name = quotePath(segments.slice(start, start + n).join('/'));
      const where = matcher.top ? ' at the top of the task folder' : '';
      return {
        rule: rule.id,
        entry: matcher.entry,
        message:
          `has the protected name ${name}${where} (rule ${rule.id}: ${rule.why}): ` +
          `generated files never include configuration a tool acts on by itself; ${rule.fix}`,
      };
    }
  }
  return null;
}

/**
 * Scripts a package manager runs by itself on install, rebuild, pack, publish, version or uninstall,
 * i.e. without the person asking for that script (npm, pnpm, yarn, bun). A package.json holding one
 * is refused under the package-manager rule; scripts run on request ("test", "start") stay allowed.
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

/**
 * Why the content of `path` may not be written, or null: a package.json (any folder, any case) must be
 * a JSON object (npm reads it with JSON.parse after dropping a BOM, and so do we) with no script from
 * INSTALL_SCRIPTS. Same policy as the names: package.json itself is fine, a script run on install is not.
 * @example protectedContentReason('package.json', '{"scripts":{"postinstall":"x"}}')?.rule // 'package-manager'
 */
export function protectedContentReason(path: string, content: string): ProtectedRefusal | null {
  const name = path.split('/').pop()?.toLowerCase();
  if (name !== 'package.json') return null;
  const refuse = (entry: string, message: string): ProtectedRefusal => ({ rule: 'package-manager', entry, message });
  let data: unknown;
  try {
    data = JSON.parse(content.replace(/^\uFEFF/, ''));
  } catch (error) {
    const why = (error as Error).message;
    return refuse(
      'package.json',
      `is not valid JSON (${why}), so its install scripts cannot be checked (rule package-manager): write package.json as plain JSON`,
    );
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    const shape = '{ "name": ..., "scripts": { "test": ... } }';
    return refuse('package.json', `is not a JSON object (rule package-manager): write package.json as ${shape}`);
  }
  for (const [key, scripts] of Object.entries(data)) {
    if (key.toLowerCase() !== 'scripts' || scripts === null || typeof scripts !== 'object') continue;
    for (const script of Object.keys(scripts)) {
      if (!INSTALL_SCRIPTS.includes(script.toLowerCase())) continue;
      return refuse(
        `package.json scripts.${script.toLowerCase()}`,
        `has the install-time script ${quotePath(script)}, which a package manager runs by itself on install ` +
          '(rule package-manager): ' +
          `remove ${quotePath(script)} from ${quotePath(key)} (scripts run on request, such as "test" or "start", are fine)`,
      );
    }
  }
  return null;
}
