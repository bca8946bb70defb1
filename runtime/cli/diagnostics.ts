/**
 * `runtime diagnostics`: one tar.gz to attach to a bug report — versions, effective config, recent
 * logs, health, stats — with every secret redacted: secret-named fields masked, every known secret
 * value (environment and .env, the launch token, keys pasted anywhere in the config files) and
 * anything shaped like a key replaced, then a final scan that refuses to write the bundle if a known
 * secret value survived.
 * @module
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import {
  TEXT_LIMITS,
  cutText,
  mayBeSecret,
  mergeSecrets,
  redactText,
  redactValue,
  secretValues,
  secretsInConfigText,
} from '../protocol/mod.ts';
import { arch, platform, release } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { configFilePath, dataPaths, effectiveEnv, projectRoot, resolveDataDir } from '../server/mod.ts';
import { CliError, COMMON, Exit, parseCommand, printJson } from './_output.ts';
import type { Command } from './_output.ts';
import { call, findServer } from './_server.ts';
import { tarGz } from './_tar.ts';
import type { TarEntry } from './_tar.ts';

const HELP = `runtime diagnostics — a tar.gz for a bug report, every secret redacted

Usage:
  runtime diagnostics [--output FILE] [--lines N] [--data-dir D] [--json]

The bundle holds versions.json (Orchestrator, Node, OS, packages), config.json (effective config,
sources, files), health.json (the checks of "runtime health"), stats.json (status, tasks, agents,
usage, cache; when a server runs) and logs/ (the last lines of server.log and daemon.out).
Secrets never enter it: secret-named fields (*_API_KEY, *_TOKEN, *_SECRET, apiKey, …) are shown as
"set (NAME, N chars)", every secret value from the environment and .env is replaced wherever it
appears, and the bundle is not written if a known secret value would remain.

Options:
  --output FILE  where to write (default ./orchestrator-diagnostics-<time>.tar.gz)
  --lines N      log lines to include per file (default 2000)
  --data-dir D   the server's data dir (default .orchestrator, env ORCHESTRATOR_DATA_DIR)
  --json         print { path, bytes, files } as JSON

Examples:
  runtime diagnostics
  runtime diagnostics --output /tmp/orch-diag.tar.gz && tar -tzf /tmp/orch-diag.tar.gz
`;

const PACKAGES = ['xstate', 'zod', '@anthropic-ai/sdk', 'openai', 'isolated-vm', 'quickjs-emscripten', 'ws', 'typescript'];

function packageVersion(name: string): string | null {
  try {
    return JSON.parse(readFileSync(new URL(`../../node_modules/${name}/package.json`, import.meta.url), 'utf8')).version;
  } catch {
    return null;
  }
}

/**
 * The most of one log file the bundle holds: its last 2 MiB, each line redacted, then cut to
 * TEXT_LIMITS.logLine (in that order: a cut through a key would leave a piece no redaction finds).
 */
const LOG_TAIL_BYTES = 2 * 1024 * 1024;

function tailLines(file: string, lines: number, secrets: Array<[string, string]>): string | undefined {
  if (!existsSync(file)) return undefined;
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(0, size - LOG_TAIL_BYTES);
    const buffer = Buffer.alloc(size - start);
    readSync(fd, buffer, 0, buffer.length, start);
    const text = buffer.toString('utf8').split('\n');
    if (start > 0) text[0] = `[${start} earlier bytes of ${basename(file)} not included]`;
    return text.slice(-lines - 1).map((line) => cutText(redactText(line, secrets), TEXT_LIMITS.logLine)).join('\n');
  } finally {
    closeSync(fd);
  }
}

/**
 * Every value the bundle must not hold: secret-named variables of the environment and .env, credentials
 * inside any variable's URL, the launch token, and whatever in orchestrator.config.json and
 * model-routing.json is or looks like a key (a user may paste one into any field, and an error
 * message or a log line may have quoted it).
 */
function bundleSecrets(dataDir: string, env: Record<string, string | undefined>): Array<[string, string]> {
  const merged = effectiveEnv(env);
  const lists = [secretValues(env, merged)];
  for (const [name, value] of Object.entries(merged)) {
    if (value && (value.includes('://') || mayBeSecret(undefined, value))) lists.push(secretsInConfigText(value, name));
  }
  for (const path of [configFilePath(merged), merged.ORCHESTRATOR_ROUTING ? resolve(merged.ORCHESTRATOR_ROUTING) : join(projectRoot(), 'model-routing.json')]) {
    if (existsSync(path)) lists.push(secretsInConfigText(readFileSync(path, 'utf8'), basename(path)));
  }
  const token = dataPaths(dataDir).token;
  if (existsSync(token)) lists.push([['the launch token', readFileSync(token, 'utf8').trim()]]);
  return mergeSecrets(...lists.map((list) => list.filter(([, value]) => value.length >= 4)));
}

export const diagnosticsCommand: Command = {
  name: 'diagnostics',
  summary: 'a tar.gz of versions, config, logs, health and stats, secrets redacted',
  help: HELP,
  async run(argv, env) {
    const args = parseCommand(argv, diagnosticsCommand, { ...COMMON, output: { type: 'string', short: 'o' }, lines: { type: 'string' } });
    if (!args) return Exit.Ok;
    const v = args.values;
    const dataDir = resolveDataDir(v['data-dir'], env);
    const lines = Math.max(1, Number(v.lines ?? 2000) || 2000);
    const secrets = bundleSecrets(dataDir, env);
    const entries: TarEntry[] = [];
    const addJson = (name: string, value: unknown) => entries.push({ name, content: JSON.stringify(redactValue(value, secrets), null, 2) + '\n' });
    const root = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    addJson('versions.json', {
      orchestrator: root.version,
      node: process.versions.node,
      v8: process.versions.v8,
      platform: platform(),
      arch: arch(),
      osRelease: release(),
      packages: Object.fromEntries(PACKAGES.map((name) => [name, packageVersion(name)])),
      createdAt: new Date().toISOString(),
    });
    const { effectiveConfig } = await import('./config.ts');
    addJson('config.json', await effectiveConfig({ dataDir }, env).catch((error: Error) => ({ invalid: error.message })));
    const { runChecks } = await import('./health.ts');
    const checks = await runChecks(dataDir, env);
    addJson('health.json', { ok: checks.every((c) => c.status !== 'fail'), checks });
    const server = await findServer(dataDir);
    if (server) {
      const get = (path: string) => call(server, path, { allowStatus: [503] }).catch((error: Error) => ({ error: error.message }));
      const [health, project, cache, usage, agents, tasks] = await Promise.all(['/api/health', '/api/project/stats', '/api/cache/stats', '/api/usage', '/api/agents', '/api/tasks?limit=50'].map(get));
      addJson('stats.json', { server, health, project, cache, usage, agents, tasks });
    } else addJson('stats.json', { server: null, note: `no server runs for ${dataDir}` });
    const paths = dataPaths(dataDir);
    for (const [name, file] of [['logs/server.log.1', `${paths.log}.1`], ['logs/server.log', paths.log], ['logs/daemon.out', `${paths.logs}/daemon.out`]]) {
      const text = tailLines(file, lines, secrets);
      if (text !== undefined) entries.push({ name, content: text });
    }
    // The last line of defence: no known secret value leaves in any file.
    for (const entry of entries) {
      const text = String(entry.content);
      const leaked = secrets.find(([, value]) => text.includes(value));
      if (leaked) throw new CliError(`refusing to write the bundle: ${entry.name} still contains the value of ${leaked[0]} after redaction; please report this`);
    }
    const output = resolve(v.output ?? `orchestrator-diagnostics-${new Date().toISOString().replace(/[:.]/g, '-')}.tar.gz`);
    const data = tarGz(entries.map((e) => ({ ...e, name: `orchestrator-diagnostics/${e.name}` })));
    writeFileSync(output, data);
    if (v.json) printJson({ path: output, bytes: data.length, files: entries.map((e) => e.name) });
    else console.log(`wrote ${output} (${data.length} bytes): ${entries.map((e) => e.name).join(', ')}\nsecrets are redacted; look inside with: tar -xzOf ${output} | less`);
    return Exit.Ok;
  },
};
