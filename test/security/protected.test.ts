// Generated files never include configuration a tool acts on by itself (issue 13, class 5): the
// protected-files policy (runtime/protocol/protected.ts) refuses each entry, in the workspace's
// writeFiles (top level and nested, any letter case) with E_PATH and in the implementer's parser with
// E_LLM_OUTPUT, each message naming the path, the rule, why and the fix. Two lists drive it: one built
// from the policy data, and one written here by hand, so dropping an entry from the policy (or adding
// one without a case here) fails. Harmless look-alikes (docs/claude-notes.md, config.json) still pass,
// and docs/sandbox.md lists every rule and entry. ~1 s.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, PROTECTED_FILES, RuntimeError, protectedPathReason, quotePath } from '../../runtime/protocol/mod.ts';
import type { ProtectedRule } from '../../runtime/protocol/mod.ts';
import { createWorkspace } from '../../runtime/workspace/mod.ts';
import { parseImplementation } from '../../agents/mod.ts';
import { ROOT } from '../helpers/server.ts';

const base = mkdtempSync(join(tmpdir(), 'orch-protected-'));
const ws = createWorkspace({ root: join(base, 'workspace'), archiveRoot: join(base, 'archive') });
const RULES = new Map(PROTECTED_FILES.map((rule) => [rule.id, rule]));

// Written by hand from what the tools read (not from the policy): each path must be refused under
// its rule, and together they must hit every entry of the policy.
const EXPECTED: Record<string, string[]> = {
  'agent-instructions': [
    'CLAUDE.md', 'packages/api/CLAUDE.md', 'CLAUDE.local.md', '.claude/settings.json', '.claude/commands/x.md', '.mcp.json',
    'AGENTS.md', 'src/AGENTS.md', 'AGENTS.override.md', 'AGENT.md', '.codex/config.toml', 'GEMINI.md', 'lib/gemini.md',
    '.gemini/settings.json', '.github/copilot-instructions.md', '.github/instructions/ts.instructions.md',
    '.github/prompts/x.prompt.md', '.github/agents/x.agent.md', '.github/skills/x/SKILL.md', '.cursorrules',
    '.cursor/rules/x.mdc', '.windsurfrules', '.windsurf/rules/x.md', '.clinerules', '.roo/rules/x.md', '.roorules',
    '.roomodes', '.continue/config.yaml', '.continuerc.json', '.kiro/steering/x.md', '.junie/guidelines.md',
    '.amazonq/rules/x.md', '.augment-guidelines', '.augment/rules/x.md', '.trae/rules/x.md', '.goosehints', '.rules',
    'WARP.md', '.aider.conf.yml', 'opencode.json', 'opencode.jsonc', '.opencode/agent/x.md', '.openhands/setup.sh',
  ],
  'tool-config': [
    '.vscode/tasks.json', '.VSCode/settings.json', '.idea/workspace.xml', '.fleet/run.json', '.zed/tasks.json',
    '.devcontainer/devcontainer.json', '.devcontainer.json', '.gitpod.yml', '.replit', '.github/workflows/ci.yml',
    '.github/dependabot.yml', '.gitlab/ci/x.yml', '.gitlab-ci.yml', '.circleci/config.yml', '.travis.yml',
    '.buildkite/pipeline.yml', '.drone.yml', '.woodpecker/x.yml', '.woodpecker.yml', 'Jenkinsfile',
    'azure-pipelines.yml', 'bitbucket-pipelines.yml', 'appveyor.yml', '.appveyor.yml',
  ],
  'package-manager': [
    '.npmrc', 'sub/.npmrc', '.yarnrc', '.yarnrc.yml', '.yarn/releases/yarn.cjs', '.pnp.cjs', '.pnp.loader.mjs',
    '.pnpmfile.cjs', '.pnpmfile.mjs', 'pnpm-workspace.yaml', 'bunfig.toml', 'app/bunfig.toml', '.bunfig.toml',
    'node_modules/x/index.js', 'binding.gyp', 'package.yaml', 'package.json5', 'package-lock.json',
    'npm-shrinkwrap.json', 'yarn.lock', 'pnpm-lock.yaml', 'bun.lock', 'bun.lockb', 'uv.toml', 'poetry.toml',
    'venv/pip.conf', '.pypirc',
  ],
  'environment-and-hooks': [
    '.env', '.env.local', '.envrc', 'config/.env.production', 'mise.toml', 'tools/mise.toml', 'mise.local.toml',
    'mise.production.toml', 'mise/config.toml', '.mise.toml', '.mise/config.toml', '.config/mise.toml',
    '.config/mise/config.toml', '.tool-versions', '.bashrc', '.bash_profile', '.zshrc', '.zshenv', '.zprofile',
    '.zlogin', '.profile', '.git/hooks/pre-commit', '.gitmodules', '.gitattributes', '.gitconfig',
    '.husky/pre-commit', '.pre-commit-config.yaml', 'lefthook.yml', 'lefthook-local.yml', '.lefthook.yml',
    'simple-git-hooks.json', '.simple-git-hooks.cjs',
  ],
  orchestrator: ['orchestrator.config.json', 'sub/orchestrator.config.json', 'model-routing.json', '.orchestrator/token'],
};

// Names that look like protected ones but no tool acts on: each must still be accepted everywhere.
const HARMLESS = [
  'docs/claude-notes.md', 'src/agents.js', 'config.json', 'routing.js', 'src/claude.js', 'CLAUDE.md.bak', 'docs/AGENTS.txt',
  'agents/notes.md', 'docs/copilot-instructions.md', 'github/workflows.md', 'src/env.js', 'environment.md', 'mise.js',
  'docs/mise-notes.md', 'src/Jenkinsfile', 'ci/azure-pipelines.yml', 'yarn.js', 'lockfile.js', 'bunfig.js', 'npmrc.txt',
  'orchestrator.config.js', 'model-routing.js', 'plugins/x/mod.js', 'completed_archive/x.js', 'workspace/x.js',
  'Makefile', 'Dockerfile', 'tsconfig.json', 'package.json.bak', 'node_modules.txt', 'src/gemini.ts', 'warp.js',
];

/** A file block answer: a module, its test, and `path`; parsing it should fail only because of `path`. */
function answer(path: string, content = 'x'): string {
  return [
    'Files:',
    '```js file=src/index.js\nexport const a = 1;\n```',
    "```js file=test/index.test.js\nimport { a } from '../src/index.js';\nit('a', () => expect(a).toBe(1));\n```",
    `\`\`\`text file=${path}\n${content}\n\`\`\``,
  ].join('\n');
}

function failure(fn: () => unknown): unknown {
  try {
    fn();
    return null;
  } catch (error) {
    return error;
  }
}

async function writeFailure(path: string): Promise<unknown> {
  try {
    await ws.writeFiles('t1', [{ path, content: 'x\n' }]);
    return null;
  } catch (error) {
    return error;
  }
}

/** What is wrong with a refusal of `path` under `rule` (null when it names the path, the rule, why and the fix). */
function problem(error: unknown, code: string, path: string, rule: ProtectedRule, where: string): string | null {
  if (!(error instanceof RuntimeError)) return `${where} ${path}: ${error === null ? 'accepted' : `threw ${String(error)}`}`;
  const { message } = error;
  if (error.code !== code) return `${where} ${path}: ${error.code} instead of ${code}: ${message}`;
  for (const part of [quotePath(path), `rule ${rule.id}: ${rule.why}`, rule.fix]) {
    if (!message.includes(part)) return `${where} ${path}: the message lacks ${JSON.stringify(part)}: ${message}`;
  }
  if (code === ErrorCode.Path && error.details?.rule !== rule.id) return `${where} ${path}: details.rule is ${String(error.details?.rule)}`;
  return null;
}

async function refusedEverywhere(path: string, rule: ProtectedRule): Promise<string[]> {
  const found = [
    problem(await writeFailure(path), ErrorCode.Path, path, rule, 'writeFiles'),
    problem(failure(() => parseImplementation(answer(path))), ErrorCode.LlmOutput, path, rule, 'parser'),
  ];
  return found.filter((line): line is string => line !== null);
}

/** `name` with the case of every letter flipped: CLAUDE.md -> claude.MD. */
function flipCase(name: string): string {
  return [...name].map((c) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase())).join('');
}

test('the policy is well formed: kebab-case rule ids, a why and a fix each, no entry twice', () => {
  const seen = new Set<string>();
  for (const rule of PROTECTED_FILES) {
    assert.match(rule.id, /^[a-z]+(-[a-z]+)*$/);
    assert.ok(rule.why.length > 20 && rule.fix.startsWith('drop the file'), rule.id);
    assert.ok(rule.entries.length > 0, rule.id);
    for (const entry of rule.entries) {
      assert.not.ok(seen.has(entry.toLowerCase()), `${entry} listed twice`);
      seen.add(entry.toLowerCase());
    }
  }
  assert.equal([...RULES.keys()].sort(), Object.keys(EXPECTED).sort(), 'the rules this suite expects');
});

test('from the policy data: every entry is refused at the top and nested, in any case, naming its rule', async () => {
  const problems: string[] = [];
  let cases = 0;
  for (const rule of PROTECTED_FILES) {
    for (const entry of rule.entries) {
      const name = entry.replace(/^\//, '').replaceAll('*', 'x1');
      const top = entry.startsWith('/');
      for (const path of [name, flipCase(name), ...(top ? [] : [`src/deep/${name}`, `src/deep/${flipCase(name)}`])]) {
        problems.push(...(await refusedEverywhere(path, rule)));
        cases++;
      }
      if (top) {
        // Read only at the top of a repository: the same name in a folder is no tool's business.
        const nested = `src/deep/${name}`;
        if (protectedPathReason(nested) !== null) problems.push(`${nested}: refused although ${entry} is top level only`);
        if (!name.startsWith('.')) await ws.writeFiles('t1', [{ path: nested, content: 'x\n' }]);
      }
    }
  }
  assert.equal(problems, [], problems.slice(0, 10).join('\n'));
  console.log(`${cases} refusals from ${PROTECTED_FILES.reduce((n, r) => n + r.entries.length, 0)} policy entries`);
});

test('by hand: each expected path is refused under its rule, and the list covers every policy entry', async () => {
  const problems: string[] = [];
  const hit = new Set<string>();
  for (const [id, paths] of Object.entries(EXPECTED)) {
    const rule = RULES.get(id);
    if (!rule) {
      problems.push(`the policy has no rule ${id}`);
      continue;
    }
    for (const path of paths) {
      problems.push(...(await refusedEverywhere(path, rule)));
      const entry = protectedPathReason(path)?.entry;
      if (entry) hit.add(entry);
    }
  }
  assert.equal(problems, [], problems.slice(0, 10).join('\n'));
  const untested = PROTECTED_FILES.flatMap((rule) => rule.entries).filter((entry) => !hit.has(entry));
  assert.equal(untested, [], 'policy entries no hand-written path exercises: add one to EXPECTED');
});

test('the refusal reads as a fix: path, rule, why and what to do', async () => {
  const error = await writeFailure('docs/CLAUDE.md');
  assert.instance(error, RuntimeError, 'docs/CLAUDE.md was written');
  assert.is(
    (error as RuntimeError).message,
    'file path "docs/CLAUDE.md" has the protected name "CLAUDE.md" (rule agent-instructions: coding agents follow these files as the ' +
      "project owner's instructions, or run the commands and MCP servers they configure): generated files never include configuration " +
      'a tool acts on by itself; drop the file; notes for people belong in README.md or docs/; nothing was written',
  );
  const parsed = failure(() => parseImplementation(answer('Jenkinsfile')));
  assert.instance(parsed, RuntimeError, 'an answer with a Jenkinsfile was parsed');
  assert.match(
    (parsed as RuntimeError).message,
    'implementer: the model\'s answer is not a set of files: the file path "Jenkinsfile" is protected: ' +
      'it has the protected name "Jenkinsfile" at the top of the task folder (rule tool-config: ',
  );
  // A package.json that runs code on install is the same policy, refused by the parser too.
  const postinstall = '{"scripts":{"test":"node --test","postinstall":"curl x | sh"}}';
  const scripts = failure(() => parseImplementation(answer('package.json', postinstall)));
  assert.instance(scripts, RuntimeError, 'a package.json with a postinstall script was parsed');
  assert.is((scripts as RuntimeError).code, ErrorCode.LlmOutput);
  assert.match((scripts as RuntimeError).message, '"package.json" has the install-time script "postinstall"');
  assert.match((scripts as RuntimeError).message, '(rule package-manager): remove "postinstall" from "scripts"');
});

test('harmless look-alikes are written and parsed', async () => {
  const refused = HARMLESS.filter((path) => protectedPathReason(path) !== null);
  assert.equal(refused, [], 'look-alikes the policy refuses');
  await ws.writeFiles('t1', HARMLESS.map((path) => ({ path, content: `${path}\n` })));
  for (const path of HARMLESS) assert.is(readFileSync(ws.resolve('t1', path), 'utf8'), `${path}\n`);
  for (const path of HARMLESS) {
    const parsed = parseImplementation(answer(path));
    assert.ok(parsed.files.some((file) => file.path === path), path);
  }
  const manifest = parseImplementation(answer('package.json', '{"name":"x","scripts":{"test":"node --test","start":"node ."}}'));
  assert.is(manifest.files.length, 3);
});

test('docs/sandbox.md lists every rule and entry of the policy', () => {
  const doc = readFileSync(join(ROOT, 'docs/sandbox.md'), 'utf8');
  const start = doc.indexOf('## Writing generated files (the workspace)');
  assert.ok(start >= 0, 'docs/sandbox.md has the section');
  const end = doc.indexOf('\n## ', start + 1);
  const section = doc.slice(start, end < 0 ? undefined : end);
  const missing = PROTECTED_FILES.flatMap((rule) => [rule.id, ...rule.entries.map((entry) => entry.replace(/^\//, ''))]).filter(
    (text) => !section.includes(`\`${text}\``),
  );
  assert.equal(missing, [], 'rules and entries docs/sandbox.md does not list (in backticks)');
});

test.after(() => {
  rmSync(base, { recursive: true, force: true });
});

test.run();
