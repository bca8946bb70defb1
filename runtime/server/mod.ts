/**
 * The server: wires store, workspace, bus, plugins, supervisor, tasks and sandbox, and serves the HTTP
 * API, the dashboard and /ws.
 *
 * Importing this module costs a few milliseconds (env.ts: node:fs and node:path only), because every
 * `runtime` command imports it to find the data dir. The config (zod schemas, the providers' SDKs) and
 * the app (everything above) load on the first call that needs them, so their entry points here are async.
 * @module
 */
import type { App, LogSink } from './app.ts';
import type { ConfigFlags, ResolvedConfig, ServerConfig } from './config.ts';

type Env = Record<string, string | undefined>;

/**
 * The data dir and the environment the server sees: where a data dir keeps its files, `.env` parsing and
 * merging (the real environment wins), and which data dir a command means (flag, ORCHESTRATOR_DATA_DIR, default).
 * @example dataPaths('.orchestrator').pid; // '.orchestrator/server.pid'
 */
export { configFilePath, dataPaths, effectiveEnv, envFilePath, parseDotenv, projectRoot, resolveDataDir } from './env.ts';

export type { App, LogSink } from './app.ts';
export type { ConfigFlags, ConfigSource, ResolvedConfig, ServerConfig } from './config.ts';
export type { Hub, HubEvent, HubState, ServerFrame } from './hub.ts';

/**
 * The effective config: flags over the real environment over `.env` over orchestrator.config.json over
 * defaults. Errors name the file or variable, the field, the value and the fix.
 * @example const config = await resolveConfig({ port: '0' }, process.env);
 */
export async function resolveConfig(flags: ConfigFlags, env: Env): Promise<ServerConfig> {
  return (await import('./config.ts')).resolveConfig(flags, env);
}

/**
 * The effective config, where each simple setting came from, and the files that were read.
 * @example (await resolveConfigWithSources({}, process.env)).sources.port; // 'default'
 */
export async function resolveConfigWithSources(flags: ConfigFlags, env: Env): Promise<ResolvedConfig> {
  return (await import('./config.ts')).resolveConfigWithSources(flags, env);
}

/**
 * What is wrong with the routing file the server would read, as a sentence, or null (fine, or no file):
 * what `runtime config` and `runtime health` report, and what stops the server at start.
 * @example await routingProblem(config); // 'model-routing.json: routes.implementr is not a role any agent serves (did you mean …'
 */
export async function routingProblem(config: ServerConfig): Promise<string | null> {
  return (await import('./_routing-check.ts')).routingProblem(config);
}

/**
 * Builds and starts the whole runtime under `config.dataDir`: store, workspace, bus, plugins,
 * supervisor, tasks (resumed), sandbox, HTTP API and /ws. Without `log`, lines go to the console.
 * @example const app = await startApp(await resolveConfig({ port: 0 }, process.env));
 */
export async function startApp(config: ServerConfig, log?: LogSink): Promise<App> {
  return (await import('./app.ts')).startApp(config, log);
}
