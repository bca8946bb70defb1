/**
 * `runtime health`: one line per check (config, server, ws, agents, store, workspace, sandbox,
 * providers) with pass, fail or warn and, when it is not a pass, the fix. Exit 0 when nothing
 * fails, 1 otherwise. The checks are real: a /ws snapshot, a write in the workspace, a sandboxed test run.
 * @module
 */
import { mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentState } from '../protocol/mod.ts';
import { dataPaths, resolveConfig, resolveDataDir, routingProblem } from '../server/mod.ts';
import { checkStoreFile } from '../store/mod.ts';
import { COMMON, Exit, painter, parseCommand, printJson } from './_output.ts';
import type { Command } from './_output.ts';
import { call, findServer, wsUrl } from './_server.ts';
import type { ServerInfo } from './_server.ts';

const HELP = `runtime health — check everything a task needs, one line each, with the fix

Usage:
  runtime health [--data-dir D] [--json]

Checks: config (valid), server (answers), ws (/ws sends its snapshot), agents (none failed, every
plugin loaded), store (SQLite answers), workspace (writable), sandbox (runs a generated test in an
isolate), providers (a model provider is configured; demo mode is a warning). Exit 0 when no check
fails, 1 otherwise.

Options:
  --data-dir D  the server's data dir (default .orchestrator, env ORCHESTRATOR_DATA_DIR)
  --json        print { ok, checks: [{ name, status, detail, fix? }] } as JSON

Examples:
  runtime health
  runtime health --json | jq '.checks[] | select(.status == "fail")'
`;

/** One check's outcome; `fix` says what to do when it is not a pass. */
export interface Check {
  name: string;
  status: 'pass' | 'fail' | 'warn';
  detail: string;
  fix?: string;
}

const pass = (name: string, detail: string): Check => ({ name, status: 'pass', detail });
const fail = (name: string, detail: string, fix: string): Check => ({ name, status: 'fail', detail, fix });

/**
 * Runs every check against the data dir (and its server, if one runs).
 * @example const checks = await runChecks('/tmp/orch', process.env); checks.every((c) => c.status !== 'fail');
 */
export async function runChecks(dataDir: string, env: Record<string, string | undefined>): Promise<Check[]> {
  const checks: Check[] = [];
  let providers: Array<{ name: string; key: string; usable?: boolean }> = [];
  try {
    const config = await resolveConfig({ dataDir }, env);
    providers = config.providers.map((p) => ({ name: p.name, key: p.keySource === 'none' ? 'none' : `set (${p.keySource})`, usable: Boolean(p.apiKey) || !/api\.(anthropic|openai|deepseek)\.com/.test(p.baseUrl) }));
    checks.push(pass('config', 'orchestrator.config.json, .env and ORCHESTRATOR_* are valid'));
    const routing = await routingProblem(config);
    if (routing) checks.push(fail('routing', routing, 'fix the file as the message says (docs/model-routing.md); the server refuses to start with it, and keeps its previous routing if it was already running'));
    else checks.push(pass('routing', existsSync(config.routingFile) ? `${config.routingFile} is valid` : 'no routing file: the default routes of the providers with keys'));
  } catch (error) {
    checks.push(fail('config', (error as Error).message, 'fix the named field, or see "runtime config --help" for every setting'));
  }
  const server = await findServer(dataDir);
  let health: any;
  if (!server) {
    checks.push(fail('server', `no server answers for ${dataDir}`, `start one: runtime start --daemon --data-dir ${dataDir}`));
  } else {
    health = await call(server, '/api/health', { allowStatus: [503] }).catch((error: Error) => ({ error: error.message }));
    if (health.error) checks.push(fail('server', `pid ${server.pid} at ${server.url} does not answer /api/health: ${health.error}`, 'look at "runtime logs --level warn"; restart it with "runtime restart"'));
    else checks.push(pass('server', `pid ${server.pid} at ${server.url}, version ${health.version}, ${health.status}`));
  }
  checks.push(server ? await wsCheck(server) : fail('ws', 'not checked: no server', 'start the server first'));
  if (server) {
    const body = await call<{ agents: AgentState[]; failures: Array<{ message: string }> }>(server, '/api/agents').catch(() => undefined);
    const failed = body?.agents.filter((a) => a.status === 'failed') ?? [];
    if (!body) checks.push(fail('agents', 'GET /api/agents did not answer', 'restart the server: runtime restart'));
    else if (failed.length || body.failures.length) {
      const what = [...failed.map((a) => `${a.name} failed (${a.lastError ?? 'no error recorded'})`), ...body.failures.map((f) => `plugin not loaded: ${f.message}`)].join('; ');
      checks.push(fail('agents', what, 'fix or remove the plugin named (plugins/), then "runtime restart"; details in "runtime logs --level warn"'));
    } else checks.push(pass('agents', `${body.agents.length} agents, none failed (${body.agents.map((a) => a.role).join(', ')})`));
  } else checks.push(fail('agents', 'not checked: no server', 'start the server first'));
  checks.push(await storeCheck(dataDir, health));
  checks.push(workspaceCheck(dataDir));
  checks.push(await sandboxCheck());
  const configured = health?.providers ?? providers;
  const usable = configured.filter((p: { key: string; usable?: boolean }) => p.key !== 'none' || p.usable === true);
  if (usable.length) checks.push(pass('providers', usable.map((p: { name: string; key: string }) => `${p.name} (key ${p.key})`).join(', ')));
  else checks.push({ name: 'providers', status: 'warn', detail: 'no provider key: demo mode, only the bundled sample requirements answer', fix: 'set ANTHROPIC_API_KEY, OPENAI_API_KEY or DEEPSEEK_API_KEY (environment or .env), or a local server in orchestrator.config.json; then runtime restart' });
  return checks;
}

async function wsCheck(server: ServerInfo): Promise<Check> {
  const started = Date.now();
  const result = await new Promise<string | true>((resolve) => {
    let socket: WebSocket;
    try {
      socket = new WebSocket(wsUrl(server, '/ws'));
    } catch (error) {
      return resolve((error as Error).message);
    }
    const timer = setTimeout(() => (socket.close(), resolve('no snapshot within 3 s')), 3000);
    socket.addEventListener('message', (event) => {
      clearTimeout(timer);
      socket.close();
      resolve(String(event.data).includes('"type":"snapshot"') ? true : `first frame was not a snapshot: ${String(event.data).slice(0, 80)}`);
    });
    socket.addEventListener('error', () => (clearTimeout(timer), resolve('connection failed')));
  });
  return result === true ? pass('ws', `/ws sent its snapshot in ${Date.now() - started} ms`) : fail('ws', result, 'a proxy in front of the server must pass WebSocket upgrades on /ws; else restart the server');
}

async function storeCheck(dataDir: string, health: any): Promise<Check> {
  if (health && !health.error) return health.store === 'ok' ? pass('store', 'SQLite answers (via the server)') : fail('store', `the server reports the store ${health.store}`, `check disk space and permissions of ${dataPaths(dataDir).db}; then runtime restart`);
  const db = dataPaths(dataDir).db;
  if (!existsSync(db)) return pass('store', `no database yet at ${db} (created at first start)`);
  try {
    const verdict = checkStoreFile(db);
    return verdict === 'ok' ? pass('store', `${db} passes quick_check`) : fail('store', `${db}: ${verdict}`, 'restore the database from a backup, or move it aside to start afresh');
  } catch (error) {
    return fail('store', `${db} cannot be opened: ${(error as Error).message}`, `check the file's permissions, or move it aside to start afresh`);
  }
}

function workspaceCheck(dataDir: string): Check {
  const dir = dataPaths(dataDir).workspace;
  const probe = join(dir, `.health-${process.pid}`);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(probe, 'ok');
    rmSync(probe);
    return pass('workspace', `${dir} is writable`);
  } catch (error) {
    return fail('workspace', `${dir} is not writable: ${(error as Error).message}`, `fix its permissions or free disk space, or choose another --data-dir`);
  }
}

async function sandboxCheck(): Promise<Check> {
  const started = Date.now();
  try {
    const { createSandbox } = await import('../../sandbox/mod.ts');
    const sandbox = createSandbox();
    try {
      const report = await sandbox.validate({
        files: { 'sum.js': 'export const sum = (a, b) => a + b;', 'sum.test.js': "import { sum } from './sum.js';\ntest('adds', () => expect(sum(1, 2)).toBe(3));" },
        entry: 'sum.js',
        tests: ['sum.test.js'],
      });
      if (report.ok) return pass('sandbox', `${sandbox.driver} ran a generated test in ${Date.now() - started} ms`);
      return fail('sandbox', `${sandbox.driver}: ${report.reason}: ${report.message}`, 'reinstall the native sandbox: npm rebuild isolated-vm (needs Node 22.18+ and a C++ toolchain), then runtime restart');
    } finally {
      await sandbox.close();
    }
  } catch (error) {
    return fail('sandbox', `the sandbox cannot start: ${(error as Error).message}`, 'run "npm install" (isolated-vm is a native module), then runtime restart');
  }
}

export const healthCommand: Command = {
  name: 'health',
  summary: 'check server, ws, agents, store, workspace, sandbox, providers (exit 0/1)',
  help: HELP,
  async run(argv, env) {
    const args = parseCommand(argv, healthCommand, COMMON);
    if (!args) return Exit.Ok;
    const checks = await runChecks(resolveDataDir(args.values['data-dir'], env), env);
    const ok = checks.every((c) => c.status !== 'fail');
    if (args.values.json) printJson({ ok, checks });
    else {
      const paint = painter();
      const mark = { pass: paint('green', 'PASS'), fail: paint('red', 'FAIL'), warn: paint('yellow', 'WARN') };
      for (const c of checks) console.log(`${mark[c.status]}  ${c.name.padEnd(10)} ${c.detail}${c.fix ? `\n      ${paint('gray', `fix: ${c.fix}`)}` : ''}`);
      console.log(ok ? paint('green', 'healthy') : paint('red', `${checks.filter((c) => c.status === 'fail').length} check(s) failed`));
    }
    return ok ? Exit.Ok : Exit.Failed;
  },
};
