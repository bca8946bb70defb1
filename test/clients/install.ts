/**
 * Installs the real Claude Code and Codex CLIs for the end-to-end test, on demand, into
 * `<repo>/.cache/clients` (outside the product's package.json and lockfile: together they are ~750 MB).
 * Idempotent: when both native binaries exist and answer `--version` with the pinned version, it
 * returns at once. Returns the paths of the native binaries, not of npm's wrappers, so a client runs
 * without a Node of its own on PATH.
 *
 * Script: `node test/clients/install.ts` prints `{ claude, codex, installed, ms }` as JSON.
 * @module
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The pinned client versions (the notes' tested Codex; the newest Claude Code on the registry list). */
export const CLIENT_VERSIONS = { claude: '2.1.328', codex: '0.169.0' } as const;

/** The folder the clients install into. */
export const CLIENTS_DIR = new URL('../../.cache/clients', import.meta.url).pathname;

/** Where the installed clients are. */
export interface InstalledClients {
  /** The Claude Code native binary. */
  claude: string;
  /** The Codex native binary. */
  codex: string;
  /** True when this call ran npm install. */
  installed: boolean;
  ms: number;
}

const CODEX_TRIPLE: Record<string, string> = {
  'linux-x64': 'x86_64-unknown-linux-musl',
  'linux-arm64': 'aarch64-unknown-linux-musl',
  'darwin-x64': 'x86_64-apple-darwin',
  'darwin-arm64': 'aarch64-apple-darwin',
};

/** Candidate paths of each native binary in `dir`, best first. */
function candidates(dir: string): { claude: string[]; codex: string[] } {
  const platform = `${process.platform}-${process.arch}`;
  const modules = join(dir, 'node_modules');
  // Claude Code's postinstall copies the platform binary over bin/claude.exe; when npm skipped the
  // script, the platform package's own binary is the same file.
  const claude = [join(modules, '@anthropic-ai/claude-code/bin/claude.exe'), join(modules, `@anthropic-ai/claude-code-${platform}/claude`)];
  const triple = CODEX_TRIPLE[platform];
  const codex = triple ? [join(modules, `@openai/codex-${platform}/vendor/${triple}/bin/codex`), join(modules, `@openai/codex/vendor/${triple}/bin/codex`)] : [];
  return { claude, codex };
}

/** The first candidate that exists and prints `version` for --version. */
async function working(paths: string[], version: string): Promise<string | undefined> {
  for (const path of paths) {
    if (!existsSync(path)) continue;
    try {
      const { stdout } = await run(path, ['--version'], { timeout: 30_000, env: { PATH: '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', DISABLE_AUTOUPDATER: '1' } });
      if (stdout.includes(version)) return path;
    } catch {}
  }
  return undefined;
}

/**
 * Makes sure both clients are installed and answer --version; installs them with npm otherwise.
 * Throws with npm's output or the missing binary's expected paths when that fails.
 * @example
 * const { claude, codex } = await installClients();
 */
export async function installClients(options: { dir?: string; log?: (line: string) => void } = {}): Promise<InstalledClients> {
  const dir = options.dir ?? CLIENTS_DIR;
  const log = options.log ?? ((line: string) => console.error(line));
  const started = Date.now();
  const paths = candidates(dir);
  if (!paths.codex.length) throw new Error(`Codex CLI has no native build for ${process.platform}-${process.arch} in this installer: run the client test on linux or macOS (x64 or arm64)`);
  let claude = await working(paths.claude, CLIENT_VERSIONS.claude);
  let codex = await working(paths.codex, CLIENT_VERSIONS.codex);
  if (claude && codex) return { claude, codex, installed: false, ms: Date.now() - started };

  mkdirSync(dir, { recursive: true });
  const packages = [`@anthropic-ai/claude-code@${CLIENT_VERSIONS.claude}`, `@openai/codex@${CLIENT_VERSIONS.codex}`];
  log(`installing ${packages.join(' ')} into ${dir} (~750 MB on disk, once)…`);
  // npm is found on PATH; its own Node may be older than ours, which only matters to Claude Code's
  // engines field (a warning: the client is a native binary).
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  try {
    await run(npm, ['install', '--prefix', dir, '--no-audit', '--no-fund', '--no-save', '--no-package-lock', '--include=optional', ...packages], {
      timeout: 15 * 60_000,
      maxBuffer: 16 * 1024 * 1024,
      env: { ...process.env, npm_config_update_notifier: 'false' },
    });
  } catch (error) {
    const e = error as { message: string; code?: unknown; stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') throw new Error(`npm is not on PATH (${process.env.PATH}): install Node.js with npm, or install the clients by hand: npm install --prefix ${dir} ${packages.join(' ')}`);
    throw new Error(`npm install of the clients failed: ${e.message}\n${e.stderr ?? ''}${e.stdout ?? ''}`.trim());
  }
  claude = await working(paths.claude, CLIENT_VERSIONS.claude);
  codex = await working(paths.codex, CLIENT_VERSIONS.codex);
  if (!claude) throw new Error(`Claude Code ${CLIENT_VERSIONS.claude} was installed but no native binary answers --version at ${paths.claude.join(' or ')}`);
  if (!codex) throw new Error(`Codex CLI ${CLIENT_VERSIONS.codex} was installed but no native binary answers --version at ${paths.codex.join(' or ')}`);
  const ms = Date.now() - started;
  log(`installed Claude Code ${CLIENT_VERSIONS.claude} and Codex CLI ${CLIENT_VERSIONS.codex} in ${(ms / 1000).toFixed(1)} s`);
  return { claude, codex, installed: true, ms };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  installClients().then(
    (result) => console.log(JSON.stringify(result)),
    (error) => {
      console.error(`install: ${(error as Error).message}`);
      process.exit(1);
    },
  );
}
