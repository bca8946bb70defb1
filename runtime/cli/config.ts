/**
 * `runtime config`: the effective configuration, where each setting came from, and the files read;
 * secrets only ever as `set (NAME, N chars)`. An invalid setting exits 1 naming the file or variable,
 * the field, the value and the fix.
 * @module
 */
import { existsSync } from 'node:fs';
import { isSecretName, maskSecret, redactValue, secretValues } from '../protocol/mod.ts';
import { effectiveEnv, resolveConfigWithSources, routingProblem } from '../server/mod.ts';
import { CliError, COMMON, Exit, painter, parseCommand, printJson, table } from './_output.ts';
import type { Command } from './_output.ts';

const HELP = `runtime config — the effective configuration, with where each setting came from

Usage:
  runtime config [--port N] [--host H] [--workers N] [--cache-size N] [--cache-ttl S] [--log-level L] [--data-dir D] [--json]

Precedence, highest first: command-line flags > the real environment (ORCHESTRATOR_*) > .env (in the
working directory, or ORCHESTRATOR_ENV_FILE) > orchestrator.config.json (or ORCHESTRATOR_CONFIG) > defaults.
Model routing comes from model-routing.json (or ORCHESTRATOR_ROUTING). Provider keys come from the
environment or .env only (ANTHROPIC_API_KEY, OPENAI_API_KEY, DEEPSEEK_API_KEY, or the apiKeyEnv a provider
names) and are shown as "set (NAME, N chars)", never any part of the value. Exit 1 when the config is
invalid, with the file, field, value and fix.

Options:
  the flags of "runtime start", to see their effect
  --json        print { config, sources, files, environment } as JSON

Examples:
  runtime config
  runtime config --json | jq .sources
  ORCHESTRATOR_WORKERS=4 runtime config --workers 8     # the flag wins
`;

export const configCommand: Command = {
  name: 'config',
  summary: 'the effective config, where each setting came from, secrets masked',
  help: HELP,
  async run(argv, env) {
    const args = parseCommand(argv, configCommand, { ...COMMON, port: { type: 'string' }, host: { type: 'string' }, workers: { type: 'string' }, 'cache-size': { type: 'string' }, 'cache-ttl': { type: 'string' }, 'log-level': { type: 'string' } });
    if (!args) return Exit.Ok;
    const v = args.values;
    const view = await effectiveConfig({ port: v.port, host: v.host, dataDir: v['data-dir'], workers: v.workers, cacheSize: v['cache-size'], cacheTtl: v['cache-ttl'], logLevel: v['log-level'] }, env);
    // A routing file the server would refuse is a failed config: shown, and exit 1.
    const broken = Object.values(view.files).some((f) => f.error);
    if (v.json) return printJson(view), broken ? Exit.Failed : Exit.Ok;
    const paint = painter();
    const c = view.config as Record<string, any>;
    const row = (name: string, value: unknown, source?: string) => [`  ${name}`, typeof value === 'string' ? value : JSON.stringify(value), source ? paint('gray', `(${source})`) : ''];
    console.log(
      [
        'settings:',
        table([
          row('port', c.port, view.sources.port),
          row('host', c.host, view.sources.host),
          row('dataDir', c.dataDir, view.sources.dataDir),
          row('workers', c.workers, view.sources.workers),
          row('maxTasks', c.maxTasks, view.sources.maxTasks),
          row('maxIterations', c.maxIterations, view.sources.maxIterations),
          row('logLevel', c.logLevel, view.sources.logLevel),
          row('cache.size', c.cache.size, view.sources.cacheSize),
          row('cache.ttlSeconds', c.cache.ttlSeconds, view.sources.cacheTtl),
          row('drainTimeoutSeconds', c.drainTimeoutSeconds, view.sources.drainTimeoutSeconds),
          row('provider', c.provider, view.sources.provider),
          row('demoDelayMs', c.demoDelayMs, view.sources.demoDelayMs),
          row('budgets', c.budgets),
        ]),
        'providers:',
        table(c.providers.map((p: { name: string; kind: string; baseUrl: string; keyStatus: string }) => [`  ${p.name}`, p.kind, p.baseUrl, p.keyStatus.startsWith("set") ? paint("green", p.keyStatus) : "no key"])),
        'files:',
        table(Object.entries(view.files).map(([name, f]) => [`  ${name}`, f.path, f.error ? paint('red', 'INVALID') : f.exists ? 'read' : paint('gray', 'absent')])),
        ...Object.entries(view.files).flatMap(([name, f]) => (f.error ? [paint('red', `${name}: ${f.error}`)] : [])),
        ...(Object.keys(view.environment).length ? ['environment:', table(Object.entries(view.environment).map(([k, val]) => [`  ${k}`, val]))] : []),
      ].join('\n'),
    );
    return broken ? Exit.Failed : Exit.Ok;
  },
};

/**
 * The effective config as shown to people and bundled in diagnostics: secrets masked, sources and
 * files named. Throws a CliError (exit 1) when the config is invalid.
 * @example const { config, sources } = await effectiveConfig({}, process.env);
 */
export async function effectiveConfig(flags: Record<string, string | undefined>, env: Record<string, string | undefined>) {
  let resolved;
  try {
    resolved = await resolveConfigWithSources(flags, env);
  } catch (error) {
    throw new CliError(`invalid configuration: ${(error as Error).message}`);
  }
  const merged = effectiveEnv(env);
  const secrets = secretValues(merged);
  const config = {
    ...resolved.config,
    providers: resolved.config.providers.map(({ apiKey, ...p }) => ({ ...p, keyStatus: maskSecret(p.keySource, apiKey) })),
  };
  const environment: Record<string, string> = {};
  for (const [name, value] of Object.entries(merged).sort()) {
    if (value === undefined) continue;
    if (isSecretName(name) && /^(ANTHROPIC|OPENAI|DEEPSEEK|ORCHESTRATOR)_|API_KEY$/.test(name)) environment[name] = value ? maskSecret(name, value) : 'empty';
    else if (name.startsWith('ORCHESTRATOR_') || /^(ANTHROPIC|OPENAI|DEEPSEEK)_BASE_URL$/.test(name)) environment[name] = value;
  }
  const files: Record<string, { path: string; exists: boolean; error?: string }> = Object.fromEntries(Object.entries(resolved.files).map(([name, path]) => [name, { path, exists: existsSync(path) }]));
  const routing = await routingProblem(resolved.config);
  if (routing) files.routing.error = routing;
  return redactValue({ config, sources: resolved.sources, files, environment }, secrets) as { config: typeof config; sources: Record<string, string>; files: typeof files; environment: Record<string, string> };
}
