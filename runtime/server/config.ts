import { existsSync, readFileSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { ErrorCode, RuntimeError, errorMessage, parse, z } from '../protocol/mod.ts';
import { ProvidersConfig, resolveProviders } from '../llm/providers.ts';
import { BudgetsConfig, PricesConfig } from '../llm/usage.ts';
import type { Budgets, Price } from '../llm/usage.ts';
import type { ProviderSpec, RetryPolicy } from '../llm/types.ts';

export interface ServerConfig {
  port: number;
  host: string;
  dataDir: string;
  workers: number;
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
  pluginDirs: string[];
  plugins: Record<string, unknown>;
}

export function dataPaths(dataDir: string) {
  return {
    db: join(dataDir, 'orchestrator.db'),
    workspace: join(dataDir, 'workspace'),
    archive: join(dataDir, 'completed_archive'),
    logs: join(dataDir, 'logs'),
    pid: join(dataDir, 'server.pid'),
    /** { pid, url, port, version, startedAt } of the running server, for the CLI to find it. */
    server: join(dataDir, 'server.json'),
  };
}

function int(name: string, raw: string | number | undefined, fallback: number, min: number, max: number, flag: string): number {
  if (raw === undefined || raw === '') return fallback;
  const value = typeof raw === 'number' ? raw : Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RuntimeError(ErrorCode.Invalid, `${name} is ${JSON.stringify(raw)}: use an integer from ${min} to ${max} (${flag})`);
  }
  return value;
}

const ConfigFile = z.strictObject({
  port: z.number().int().min(0).max(65535).optional(),
  host: z.string().optional(),
  dataDir: z.string().optional(),
  workers: z.number().int().min(1).max(64).optional(),
  maxIterations: z.number().int().min(1).max(20).optional(),
  plugins: z.record(z.string(), z.unknown()).optional(),
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
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new RuntimeError(ErrorCode.Invalid, `${path} is not valid JSON (${errorMessage(error)}): fix the file or remove it`);
  }
  return parse(ConfigFile, raw, path);
}

/**
 * The effective config: flags over ORCHESTRATOR_* env vars over orchestrator.config.json over defaults. Errors name the setting,
 * the value and the flag or variable to fix.
 * @example resolveConfig({ port: '0' }, process.env)
 */
export function resolveConfig(flags: Partial<Record<keyof ServerConfig | 'cacheSize' | 'cacheTtl', string | number | undefined>>, env: Record<string, string | undefined>): ServerConfig {
  const file = readConfigFile(resolve(env.ORCHESTRATOR_CONFIG ?? 'orchestrator.config.json'));
  const host = String(flags.host ?? env.ORCHESTRATOR_HOST ?? file.host ?? '127.0.0.1');
  if (!/^[A-Za-z0-9.:[\]-]+$/.test(host)) throw new RuntimeError(ErrorCode.Invalid, `host is ${JSON.stringify(host)}: use an address such as 127.0.0.1 (--host or ORCHESTRATOR_HOST)`);
  return {
    port: int('port', flags.port ?? env.ORCHESTRATOR_PORT ?? file.port, 8100, 0, 65535, '--port or ORCHESTRATOR_PORT'),
    host,
    dataDir: resolve(String(flags.dataDir ?? env.ORCHESTRATOR_DATA_DIR ?? file.dataDir ?? '.orchestrator')),
    workers: int('workers', flags.workers ?? env.ORCHESTRATOR_WORKERS ?? file.workers, 2, 1, 64, '--workers or ORCHESTRATOR_WORKERS'),
    maxIterations: int('max iterations', flags.maxIterations ?? env.ORCHESTRATOR_MAX_ITERATIONS ?? file.maxIterations, 3, 1, 20, 'ORCHESTRATOR_MAX_ITERATIONS'),
    provider: String(flags.provider ?? env.ORCHESTRATOR_PROVIDER ?? 'auto'),
    providers: resolveProviders(file.providers ?? {}, env),
    routingFile: resolve(String(env.ORCHESTRATOR_ROUTING ?? 'model-routing.json')),
    cache: {
      size: int('cache size', flags.cacheSize ?? env.ORCHESTRATOR_CACHE_SIZE ?? file.cache?.size, 1000, 0, 10_000_000, '--cache-size or ORCHESTRATOR_CACHE_SIZE'),
      ttlSeconds: int('cache ttl', flags.cacheTtl ?? env.ORCHESTRATOR_CACHE_TTL ?? file.cache?.ttlSeconds, 3600, 0, 365 * 86400, '--cache-ttl (seconds) or ORCHESTRATOR_CACHE_TTL'),
      maxBytes: file.cache?.maxBytes ?? 64 * 1024 * 1024,
    },
    prices: file.prices ?? {},
    budgets: file.budgets ?? {},
    retry: file.retry ?? {},
    demoDelayMs: int('demo delay', flags.demoDelayMs ?? env.ORCHESTRATOR_DEMO_DELAY_MS, 400, 0, 60_000, 'ORCHESTRATOR_DEMO_DELAY_MS'),
    pluginDirs: [resolve(String(env.ORCHESTRATOR_PLUGIN_DIR ?? new URL('../../plugins', import.meta.url).pathname))],
    plugins: file.plugins ?? {},
  };
}
