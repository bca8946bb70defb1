/**
 * The cheap half of configuration: `.env` parsing, the environment the server sees, and where a data
 * dir keeps its files. No imports, so `runtime status` and friends resolve the data dir in a few
 * milliseconds without loading the gateway (config.ts re-exports these).
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

type Env = Record<string, string | undefined>;

/**
 * The files of a data dir.
 * @example dataPaths('.orchestrator').server; // '.orchestrator/server.json'
 */
export function dataPaths(dataDir: string) {
  return {
    db: join(dataDir, 'orchestrator.db'),
    workspace: join(dataDir, 'workspace'),
    archive: join(dataDir, 'completed_archive'),
    logs: join(dataDir, 'logs'),
    /** The rotating JSON-lines log of a daemon (`runtime start --daemon`); server.log.1… are older. */
    log: join(dataDir, 'logs', 'server.log'),
    pid: join(dataDir, 'server.pid'),
    /** The port a running server listens on (plain text), beside the pid file. */
    port: join(dataDir, 'server.port'),
    /** { pid, url, port, version, startedAt } of the running server, for the CLI to find it. */
    server: join(dataDir, 'server.json'),
    /** Written by `runtime stop`: how long the server may drain before it stops. */
    stopRequest: join(dataDir, 'stop-request.json'),
    backups: join(dataDir, 'backups'),
    /** The per-launch token (mode 0600): the CLI sends it, the dashboard gets it in its page (runtime/server/guard.ts). */
    token: join(dataDir, 'token'),
  };
}

/**
 * Parses a `.env` file: `KEY=VALUE` lines, optional `export ` prefix, `#` comments (whole-line, or
 * after an unquoted value following whitespace), single quotes (literal), double quotes (with \n, \t,
 * \" and \\ escapes, may span lines). Errors name the file, the line and the fix.
 * @example parseDotenv('export A="x y" # note\nB=1', '.env'); // { A: 'x y', B: '1' }
 */
export function parseDotenv(text: string, file = '.env'): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i].trim();
    if (!line || line.startsWith('#')) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*)$/.exec(line);
    if (!match) throw new Error(`${file}:${lineNo}: ${JSON.stringify(line.slice(0, 40))} is not KEY=VALUE: write e.g. ORCHESTRATOR_PORT=8100, or start the line with # to comment it out`);
    const [, key, rest] = match;
    const quote = rest[0];
    if (quote === '"' || quote === "'") {
      let body = rest.slice(1);
      // A double-quoted value may continue on the next lines until its closing quote.
      while (!closes(body, quote) && quote === '"' && i + 1 < lines.length) body += '\n' + lines[++i];
      const end = closingIndex(body, quote);
      if (end === -1) throw new Error(`${file}:${lineNo}: the value of ${key} opens a ${quote === '"' ? 'double' : 'single'} quote that never closes: add the closing ${quote}`);
      const tail = body.slice(end + 1).trim();
      if (tail && !tail.startsWith('#')) throw new Error(`${file}:${lineNo}: unexpected text after the quoted value of ${key}: ${JSON.stringify(tail.slice(0, 20))}; put comments after a #`);
      const raw = body.slice(0, end);
      out[key] = quote === "'" ? raw : raw.replace(/\\([nrt"\\])/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\' })[c]!);
    } else {
      out[key] = rest.replace(/\s+#.*$/, '').trim();
    }
  }
  return out;
}

function closingIndex(body: string, quote: string): number {
  for (let i = 0; i < body.length; i++) {
    if (quote === '"' && body[i] === '\\') i++;
    else if (body[i] === quote) return i;
  }
  return -1;
}

function closes(body: string, quote: string): boolean {
  return closingIndex(body, quote) !== -1;
}

/** What marks a folder as an Orchestrator project: its config, its routing file or its data dir. */
const PROJECT_MARKERS = ['orchestrator.config.json', 'model-routing.json', '.orchestrator'];

/**
 * The project the working directory belongs to, found like git finds a repository: the nearest folder,
 * from `cwd` up, holding orchestrator.config.json, model-routing.json or .orchestrator/; else the
 * nearest holding a package.json; else `cwd` itself. The files the runtime reads or makes by default
 * (.env, the config, the routing file, the data dir) are that folder's, so a command run from a
 * subfolder (docs/) talks to the same server and data as one run at the top.
 * @example projectRoot('/home/me/project/docs'); // '/home/me/project' when .orchestrator/ is there
 */
export function projectRoot(cwd: string = process.cwd()): string {
  const start = resolve(cwd);
  const nearest = (names: string[]): string | undefined => {
    for (let dir = start; ; dir = dirname(dir)) {
      if (names.some((name) => existsSync(join(dir, name)))) return dir;
      if (dirname(dir) === dir) return undefined;
    }
  };
  return nearest(PROJECT_MARKERS) ?? nearest(['package.json']) ?? start;
}

/**
 * The `.env` file the server reads: ORCHESTRATOR_ENV_FILE (from the working directory), else `.env`
 * in the project root (projectRoot).
 * @example envFilePath(process.env); // '/home/me/project/.env'
 */
export function envFilePath(env: Env): string {
  return env.ORCHESTRATOR_ENV_FILE ? resolve(env.ORCHESTRATOR_ENV_FILE) : join(projectRoot(), '.env');
}

/**
 * The environment the server sees: the real environment over the `.env` file (a variable set in the
 * real environment, even to '', wins).
 * @example effectiveEnv(process.env).ORCHESTRATOR_PORT;
 */
export function effectiveEnv(env: Env): Env {
  const file = envFilePath(env);
  if (!existsSync(file)) return { ...env };
  return { ...parseDotenv(readFileSync(file, 'utf8'), file), ...env };
}

/** The config file: ORCHESTRATOR_CONFIG (from the working directory), else the project root's orchestrator.config.json. */
export function configFilePath(env: Env): string {
  return env.ORCHESTRATOR_CONFIG ? resolve(env.ORCHESTRATOR_CONFIG) : join(projectRoot(), 'orchestrator.config.json');
}

/**
 * The data dir without validating the whole config: `--data-dir` > ORCHESTRATOR_DATA_DIR (real env,
 * then .env) > "dataDir" in the config file (relative to that file) > `.orchestrator` in the project
 * root (projectRoot). A flag or variable is taken from the working directory, as typed. Used by the CLI
 * commands that only talk to a running server.
 * @example resolveDataDir(undefined, process.env); // '/home/me/project/.orchestrator', from /home/me/project/docs too
 */
export function resolveDataDir(flag: string | undefined, env: Env): string {
  if (flag) return resolve(flag);
  const merged = effectiveEnv(env);
  if (merged.ORCHESTRATOR_DATA_DIR) return resolve(merged.ORCHESTRATOR_DATA_DIR);
  const configPath = configFilePath(merged);
  try {
    const file = JSON.parse(readFileSync(configPath, 'utf8'));
    if (typeof file?.dataDir === 'string' && file.dataDir) return resolve(dirname(configPath), file.dataDir);
  } catch {}
  return join(projectRoot(), '.orchestrator');
}
