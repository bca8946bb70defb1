import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ErrorCode, LogLevel, RuntimeError, TASKS_PER_WORKER, errorMessage, jsonSyntaxError, parse, showValue, z } from '../protocol/mod.ts';
import { BudgetsConfig, PricesConfig, ProvidersConfig, resolveProviders } from '../llm/mod.ts';
import type { Budgets, Price, ProviderSpec, RetryPolicy } from '../llm/mod.ts';
import { configFilePath, effectiveEnv, envFilePath, projectRoot } from './env.ts';
import { isLoopback } from './guard.ts';

export { configFilePath, dataPaths, effectiveEnv, envFilePath, parseDotenv, projectRoot, resolveDataDir } from './env.ts';

export interface ServerConfig {
  port: number;
  host: string;
  dataDir: string;
  /** How many requests each role serves at once (its pool of agent instances) and sandbox workers up to the cores (`--workers`). */
  workers: number;
  /**
   * How many tasks are in flight at once; the rest wait in the priority queue (ORCHESTRATOR_MAX_TASKS,
   * "maxTasks"). Default 3 × workers: one task per instance of each of the three stages every task asks
   * a model in (enhance, analyze, implement), so every pool can be busy at once while tasks pipeline.
   */
  maxTasks: number;
  maxIterations: number;
  /**
   * 'auto' (the gateway when a provider has a key or a local server is configured, else the demo),
   * 'gateway' (the gateway or an error), 'demo' (bundled transcripts) or 'transcripts:<dir>' (a test
   * provider playing your transcripts).
   */
  provider: string;
  /** Configured upstreams; keys come from the environment only and are secrets. */
  providers: ProviderSpec[];
  /** model-routing.json (ORCHESTRATOR_ROUTING); absent → default routing from the providers with keys. */
  routingFile: string;
  cache: { size: number; ttlSeconds: number; maxBytes: number };
  prices: Record<string, Price>;
  budgets: Budgets;
  retry: Partial<RetryPolicy>;
  demoDelayMs: number;
  /** Lines below this level are not logged (`--log-level`, ORCHESTRATOR_LOG_LEVEL). */
  logLevel: LogLevel;
  /** After SIGTERM, how long the server waits for in-flight stages before it stops (ORCHESTRATOR_DRAIN_TIMEOUT, seconds). */
  drainTimeoutSeconds: number;
  pluginDirs: string[];
  plugins: Record<string, unknown>;
  /** Per role: `concurrency`, the size of the role's pool of agent instances (default: `workers`). */
  agents: Record<string, { concurrency?: number }>;
  /** One stage's limit, explicit; unset, each role's is derived from its model route (docs/model-routing.md). */
  stageTimeoutMs?: number;
  /** A task's whole deadline budget; unset, derived from the stage timeouts and maxIterations. */
  taskDeadlineMs?: number;
  /** Origins whose pages may call /api/* (CORS) to embed the dashboard components (ORCHESTRATOR_UI_ORIGINS, comma-separated). */
  uiOrigins: string[];
  /**
   * Listening beyond loopback was asked for explicitly (`--remote`, ORCHESTRATOR_REMOTE=1): every
   * request then needs the launch token. A non-loopback `host` without it is refused.
   */
  remote: boolean;
  /** Host names accepted in the Host header besides localhost, 127.0.0.1 and ::1 (`--allow-host`, ORCHESTRATOR_ALLOWED_HOSTS). */
  allowedHosts: string[];
}

function int(name: string, raw: string | number | undefined, fallback: number, min: number, max: number, flag: string, from?: string): number {
  if (raw === undefined || raw === '') return fallback;
  const value = typeof raw === 'number' ? raw : Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RuntimeError(ErrorCode.Invalid, `${name} is ${JSON.stringify(raw)}${from ? ` (${from})` : ''}: use an integer from ${min} to ${max} (${flag})`);
  }
  return value;
}

const ConfigFile = z.strictObject({
  port: z.number().int().min(0).max(65535).optional(),
  host: z.string().optional(),
  dataDir: z.string().optional(),
  workers: z.number().int().min(1).max(64).optional(),
  maxTasks: z.number().int().min(1).max(1024).optional(),
  maxIterations: z.number().int().min(1).max(20).optional(),
  logLevel: z.enum(['debug', 'info', 'warn', 'error']).optional(),
  drainTimeoutSeconds: z.number().int().min(0).max(3600).optional(),
  remote: z.boolean().optional(),
  allowedHosts: z.array(z.string().regex(/^[A-Za-z0-9.-]+$/, 'a host name such as "orchestrator.local"')).optional(),
  uiOrigins: z.array(z.string()).optional(),
  plugins: z.record(z.string(), z.unknown()).optional(),
  agents: z
    .record(
      z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'a role name such as "implementer"'),
      z.strictObject({ concurrency: z.number().int().min(1).max(256).optional() }),
    )
    .optional(),
  stageTimeoutMs: z.number().int().min(1000).optional(),
  taskDeadlineMs: z.number().int().min(1000).optional(),
  providers: ProvidersConfig.optional(),
  prices: PricesConfig.optional(),
  budgets: BudgetsConfig.optional(),
  cache: z.strictObject({ size: z.number().int().min(0).optional(), ttlSeconds: z.number().int().min(0).optional(), maxBytes: z.number().int().min(1024).optional() }).optional(),
  retry: z
    .strictObject({
      maxAttempts: z.number().int().min(1).max(20).optional(),
      baseDelayMs: z.number().int().min(0).optional(),
      maxDelayMs: z.number().int().min(0).optional(),
      maxRetryAfterMs: z.number().int().min(0).optional(),
      timeoutMs: z.number().int().min(100).optional(),
      failureThreshold: z.number().int().min(1).optional(),
      cooldownMs: z.number().int().min(0).optional(),
    })
    .optional(),
});
type ConfigFile = z.infer<typeof ConfigFile>;

/** Reads orchestrator.config.json (or ORCHESTRATOR_CONFIG); errors name the file, the field and the fix. */
export function readConfigFile(path: string): ConfigFile {
  if (!existsSync(path)) return {};
  const text = readFileSync(path, 'utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw jsonSyntaxError(text, path, error, '{ "port": 8100, "workers": 2 } (or remove the file)');
  }
  try {
    return parse(ConfigFile, raw, path);
  } catch (error) {
    // One problem a line, each with its field, what it must be and what it was.
    const fields = ((error as RuntimeError).details?.fields ?? []) as Array<{ field: string; message: string; value?: unknown }>;
    const lines = fields.map((f) => `  ${f.field} ${f.message}${f.value === undefined ? '' : ` (got ${showValue(f.value)})`}`);
    const what = fields.length === 1 ? 'a problem' : `${fields.length} problems`;
    throw new RuntimeError(
      ErrorCode.Invalid,
      fields.length
        ? `${path} has ${what}:\n${lines.join('\n')}\nfix the file (README "Configuration" lists every setting), or point ORCHESTRATOR_CONFIG at another file`
        : `${errorMessage(error)}: fix the field(s) in ${path} (README "Configuration" lists every setting), or point ORCHESTRATOR_CONFIG at another file`,
      { cause: error, details: { fields } },
    );
  }
}

/** Where each simple setting of the effective config came from, highest precedence first. */
export type ConfigSource = 'flag' | 'env' | '.env' | 'config file' | 'default';

const LEVELS = Object.values(LogLevel) as string[];

function level(raw: string | undefined, fallback: LogLevel): LogLevel {
  if (raw === undefined || raw === '') return fallback;
  if (!LEVELS.includes(raw)) throw new RuntimeError(ErrorCode.Invalid, `log level is ${JSON.stringify(raw)}: use one of ${LEVELS.join(', ')} (--log-level or ORCHESTRATOR_LOG_LEVEL)`);
  return raw as LogLevel;
}

type Env = Record<string, string | undefined>;

/** Settings as `runtime start` and the other commands pass them: flag values, as typed or as numbers. */
export type ConfigFlags = Partial<Record<keyof ServerConfig | 'cacheSize' | 'cacheTtl', string | number | undefined>>;

/** The effective config, where each simple setting came from, and the files that were read. */
export interface ResolvedConfig {
  config: ServerConfig;
  sources: Record<string, ConfigSource>;
  files: { config: string; env: string; routing: string };
}

function bool(name: string, raw: string | number | undefined, how: string): boolean {
  if (raw === undefined || raw === '') return false;
  const text = String(raw).toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(text)) return true;
  if (['0', 'false', 'no', 'off'].includes(text)) return false;
  throw new RuntimeError(ErrorCode.Invalid, `${name} is ${JSON.stringify(raw)}: use 1 or 0 (${how})`);
}

/**
 * The origins allowed to embed the dashboard: each exactly what a browser sends as Origin
 * (scheme://host[:port], no path, no trailing slash), or a clear error naming the value and the fix.
 */
function originList(raw: string | number | undefined, how: string): string[] {
  const list = String(raw ?? '').split(',').map((o) => o.trim()).filter(Boolean);
  for (const origin of list) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {}
    if (!parsed || !/^https?:$/.test(parsed.protocol) || parsed.origin !== origin) {
      const hint = parsed && /^https?:$/.test(parsed.protocol) ? `; did you mean ${parsed.origin}?` : '';
      throw new RuntimeError(ErrorCode.Invalid, `UI origin ${JSON.stringify(origin)} is not an origin: give the embedding page's scheme, host and port as the browser sends them, e.g. https://wiki.example or http://127.0.0.1:5173, no path or trailing slash${hint} (${how})`);
    }
  }
  return list;
}

function hostList(raw: string | number | undefined, how: string): string[] {
  const list = String(raw ?? '').split(',').map((n) => n.trim().toLowerCase()).filter(Boolean);
  for (const name of list) {
    if (!/^[a-z0-9.-]+$/.test(name)) throw new RuntimeError(ErrorCode.Invalid, `allowed host ${JSON.stringify(name)} is not a host name: use names such as orchestrator.local, comma-separated (${how})`);
  }
  return list;
}

/**
 * The effective config: flags over the real environment over `.env` over orchestrator.config.json over
 * defaults. Errors name the file or variable, the field, the value and the fix.
 * @example resolveConfig({ port: '0' }, process.env)
 */
export function resolveConfig(flags: ConfigFlags, env: Record<string, string | undefined>): ServerConfig {
  return resolveConfigWithSources(flags, env).config;
}

/**
 * The effective config, where each simple setting came from, and the files that were read.
 * @example resolveConfigWithSources({}, process.env).sources.port; // 'default'
 */
export function resolveConfigWithSources(flags: ConfigFlags, realEnv: Env): ResolvedConfig {
  const env = effectiveEnv(realEnv);
  const configPath = configFilePath(env);
  const root = projectRoot();
  // A path setting: a flag or variable as typed (from the working directory), the config file's
  // relative to that file, the default in the project root.
  const place = (picked: string | number | undefined, name: string, fallback: string): string =>
    picked === undefined ? join(root, fallback) : sources[name] === 'config file' ? resolve(dirname(configPath), String(picked)) : resolve(String(picked));
  const file = readConfigFile(configPath);
  const sources: Record<string, ConfigSource> = {};
  // The value of one setting and, as a side effect, where it came from.
  const pick = (name: string, flag: string | number | undefined, envName: string | undefined, fromFile: string | number | undefined): string | number | undefined => {
    if (flag !== undefined && flag !== '') return (sources[name] = 'flag'), flag;
    if (envName && env[envName] !== undefined && env[envName] !== '') return (sources[name] = realEnv[envName] !== undefined ? 'env' : '.env'), env[envName];
    if (fromFile !== undefined) return (sources[name] = 'config file'), fromFile;
    sources[name] = 'default';
    return undefined;
  };
  const origin = (name: string): string => {
    const envName = { port: 'ORCHESTRATOR_PORT', workers: 'ORCHESTRATOR_WORKERS', maxTasks: 'ORCHESTRATOR_MAX_TASKS', maxIterations: 'ORCHESTRATOR_MAX_ITERATIONS', cacheSize: 'ORCHESTRATOR_CACHE_SIZE', cacheTtl: 'ORCHESTRATOR_CACHE_TTL', demoDelayMs: 'ORCHESTRATOR_DEMO_DELAY_MS', drainTimeoutSeconds: 'ORCHESTRATOR_DRAIN_TIMEOUT' }[name];
    switch (sources[name]) {
      case 'flag': return 'from the command line';
      case 'env': return `from ${envName} in the environment`;
      case '.env': return `from ${envName} in ${envFilePath(realEnv)}`;
      case 'config file': return `from "${name}" in ${configPath}`;
      default: return 'default';
    }
  };
  const host = String(pick('host', flags.host, 'ORCHESTRATOR_HOST', file.host) ?? '127.0.0.1');
  if (!/^[A-Za-z0-9.:[\]-]+$/.test(host)) throw new RuntimeError(ErrorCode.Invalid, `host is ${JSON.stringify(host)}: use an address such as 127.0.0.1 (--host or ORCHESTRATOR_HOST)`);
  const workers = int('workers', pick('workers', flags.workers, 'ORCHESTRATOR_WORKERS', file.workers), 2, 1, 64, '--workers or ORCHESTRATOR_WORKERS', origin('workers'));
  const config: ServerConfig = {
    port: int('port', pick('port', flags.port, 'ORCHESTRATOR_PORT', file.port), 8100, 0, 65535, '--port or ORCHESTRATOR_PORT', origin('port')),
    host,
    dataDir: place(pick('dataDir', flags.dataDir, 'ORCHESTRATOR_DATA_DIR', file.dataDir), 'dataDir', '.orchestrator'),
    workers,
    maxTasks: int('max tasks', pick('maxTasks', flags.maxTasks, 'ORCHESTRATOR_MAX_TASKS', file.maxTasks), TASKS_PER_WORKER * workers, 1, 1024, 'ORCHESTRATOR_MAX_TASKS or "maxTasks" in the config file', origin('maxTasks')),
    maxIterations: int('max iterations', pick('maxIterations', flags.maxIterations, 'ORCHESTRATOR_MAX_ITERATIONS', file.maxIterations), 3, 1, 20, 'ORCHESTRATOR_MAX_ITERATIONS', origin('maxIterations')),
    provider: String(pick('provider', flags.provider, 'ORCHESTRATOR_PROVIDER', undefined) ?? 'auto'),
    providers: resolveProviders(file.providers ?? {}, env),
    routingFile: place(pick('routingFile', undefined, 'ORCHESTRATOR_ROUTING', undefined), 'routingFile', 'model-routing.json'),
    cache: {
      size: int('cache size', pick('cacheSize', flags.cacheSize, 'ORCHESTRATOR_CACHE_SIZE', file.cache?.size), 1000, 0, 10_000_000, '--cache-size or ORCHESTRATOR_CACHE_SIZE', origin('cacheSize')),
      ttlSeconds: int('cache ttl', pick('cacheTtl', flags.cacheTtl, 'ORCHESTRATOR_CACHE_TTL', file.cache?.ttlSeconds), 3600, 0, 365 * 86400, '--cache-ttl (seconds) or ORCHESTRATOR_CACHE_TTL', origin('cacheTtl')),
      maxBytes: file.cache?.maxBytes ?? 64 * 1024 * 1024,
    },
    prices: file.prices ?? {},
    budgets: file.budgets ?? {},
    retry: file.retry ?? {},
    demoDelayMs: int('demo delay', pick('demoDelayMs', flags.demoDelayMs, 'ORCHESTRATOR_DEMO_DELAY_MS', undefined), 400, 0, 60_000, 'ORCHESTRATOR_DEMO_DELAY_MS', origin('demoDelayMs')),
    logLevel: level(pick('logLevel', flags.logLevel, 'ORCHESTRATOR_LOG_LEVEL', file.logLevel) as string | undefined, 'info'),
    drainTimeoutSeconds: int('drain timeout', pick('drainTimeoutSeconds', flags.drainTimeoutSeconds, 'ORCHESTRATOR_DRAIN_TIMEOUT', file.drainTimeoutSeconds), 25, 0, 3600, 'ORCHESTRATOR_DRAIN_TIMEOUT (seconds)', origin('drainTimeoutSeconds')),
    pluginDirs: [resolve(String(pick('pluginDirs', undefined, 'ORCHESTRATOR_PLUGIN_DIR', undefined) ?? new URL('../../plugins', import.meta.url).pathname))],
    plugins: file.plugins ?? {},
    agents: file.agents ?? {},
    ...(file.stageTimeoutMs === undefined ? {} : { stageTimeoutMs: file.stageTimeoutMs }),
    ...(file.taskDeadlineMs === undefined ? {} : { taskDeadlineMs: file.taskDeadlineMs }),
    uiOrigins: originList(pick('uiOrigins', flags.uiOrigins, 'ORCHESTRATOR_UI_ORIGINS', file.uiOrigins?.join(',')), '--ui-origin, ORCHESTRATOR_UI_ORIGINS or "uiOrigins" in the config file'),
    remote: bool('remote', pick('remote', flags.remote, 'ORCHESTRATOR_REMOTE', file.remote === undefined ? undefined : String(file.remote)), '--remote or ORCHESTRATOR_REMOTE'),
    allowedHosts: hostList(pick('allowedHosts', flags.allowedHosts, 'ORCHESTRATOR_ALLOWED_HOSTS', file.allowedHosts?.join(',')), '--allow-host, ORCHESTRATOR_ALLOWED_HOSTS or "allowedHosts" in the config file'),
  };
  if (!isLoopback(host) && !config.remote) {
    throw new RuntimeError(
      ErrorCode.Invalid,
      `host is ${JSON.stringify(host)}, which other machines can reach: the API runs agents and spends your model keys, so listening there must be asked for explicitly. Add --remote (or ORCHESTRATOR_REMOTE=1): every request then needs the launch token from <data dir>/token (docs/security.md). Or keep the default --host 127.0.0.1`,
      { details: { field: 'host', value: host } },
    );
  }
  return { config, sources, files: { config: configPath, env: envFilePath(realEnv), routing: config.routingFile } };
}
