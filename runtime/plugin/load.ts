import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorCode, RuntimeError, errorMessage, showValue } from '../protocol/mod.ts';
import type { AnyAgentPlugin, StandardSchema } from './contract.ts';

export interface PluginFailure {
  /** Folder, file or package the plugin came from. */
  source: string;
  name: string | null;
  field: string | null;
  message: string;
}

export interface LoadedPlugin {
  plugin: AnyAgentPlugin;
  source: string;
  builtin: boolean;
  config: unknown;
}

export interface LoadOptions {
  builtins: AnyAgentPlugin[];
  /** Folders whose sub-folders are plugins (each with mod.ts, index.ts, mod.js, index.js or a package.json main). */
  dirs?: string[];
  /** Package names to import. */
  packages?: string[];
  /** Config per plugin name, validated against the plugin's schema. */
  configs?: Record<string, unknown>;
}

const NAME = /^[a-z][a-z0-9-]{0,62}$/;
const VERSION = /^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/;
/** The largest pool a plugin may declare (config may not exceed it either). */
export const MAX_CONCURRENCY = 256;
const TYPE = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/;

function fail(source: string, name: string | null, field: string, message: string): never {
  throw new RuntimeError(ErrorCode.PluginLoad, `plugin ${name ?? source}: ${field} ${message}`, {
    details: { source, name, field },
  });
}

/**
 * Checks a plugin's exported object field by field; the error names the plugin and the field at fault.
 * @example checkPlugin((await import('./plugins/x/mod.ts')).default, 'plugins/x')
 */
export function checkPlugin(value: unknown, source: string): AnyAgentPlugin {
  if (!value || typeof value !== 'object') fail(source, null, 'default export', 'is missing: export default an AgentPlugin (see plugins/README.md)');
  const p = value as Record<string, unknown>;
  const name = typeof p.name === 'string' && NAME.test(p.name) ? p.name : null;
  if (!name) fail(source, null, 'name', `is ${JSON.stringify(p.name)}: use lower-case letters, digits and '-' (e.g. "style-reviewer")`);
  if (typeof p.version !== 'string' || !VERSION.test(p.version)) fail(source, name, 'version', `is ${JSON.stringify(p.version)}: use semver such as "1.0.0"`);
  if (typeof p.role !== 'string' || !NAME.test(p.role)) fail(source, name, 'role', `is ${JSON.stringify(p.role)}: name the pipeline role it serves (e.g. "reviewer")`);
  for (const field of ['accepts', 'emits'] as const) {
    const list = p[field];
    if (!Array.isArray(list) || list.some((t) => typeof t !== 'string' || !TYPE.test(t))) {
      fail(source, name, field, `is ${JSON.stringify(list)}: list message types such as "review.request"`);
    }
  }
  if ((p.accepts as unknown[]).length === 0) fail(source, name, 'accepts', 'is empty: an agent must accept at least one request type');
  const logic = p.logic as Record<string, unknown> | undefined;
  if (!logic || typeof logic.transition !== 'function' || typeof logic.getInitialSnapshot !== 'function') {
    fail(source, name, 'logic', 'is not XState actor logic: use defineAgent(...) or setup({...}).createMachine({...})');
  }
  const c = p.concurrency;
  if (c !== undefined && c !== 'serial' && !(Number.isInteger(c) && (c as number) >= 1 && (c as number) <= MAX_CONCURRENCY)) {
    fail(source, name, 'concurrency', `is ${JSON.stringify(c)}: use an integer from 1 to ${MAX_CONCURRENCY}, or "serial" for a plugin that must serve one request at a time`);
  }
  if (p.config !== undefined && typeof (p.config as StandardSchema | null)?.['~standard']?.validate !== 'function') {
    fail(source, name, 'config', 'is not a Standard Schema (zod, valibot and arktype schemas are)');
  }
  return value as AnyAgentPlugin;
}

/** Validates a plugin's config with its schema; E_PLUGIN_CONFIG names the plugin, the field, the value and the fix. */
export async function checkConfig(plugin: AnyAgentPlugin, raw: unknown, source: string): Promise<unknown> {
  if (!plugin.config) return raw ?? {};
  const result = (await plugin.config['~standard'].validate(raw ?? {})) as {
    value?: unknown;
    issues?: ReadonlyArray<{ message: string; path?: ReadonlyArray<PropertyKey | { key: PropertyKey }> }>;
  };
  if (!result.issues) return result.value;
  const text = result.issues
    .map((issue) => {
      const path = (issue.path ?? []).map((k) => String(typeof k === 'object' ? k.key : k)).join('.') || '(root)';
      let value: unknown = raw;
      for (const k of issue.path ?? []) value = (value as Record<PropertyKey, unknown> | undefined)?.[typeof k === 'object' ? k.key : k];
      const key = issue.path?.length ? String(typeof issue.path.at(-1) === 'object' ? (issue.path.at(-1) as { key: PropertyKey }).key : issue.path.at(-1)) : undefined;
      return `config.${path}: ${issue.message} (got ${showValue(value, key)})`;
    })
    .join('; ');
  throw new RuntimeError(ErrorCode.PluginConfig, `plugin ${plugin.name}: ${text}; fix "plugins.${plugin.name}" in orchestrator.config.json`, {
    details: { source, name: plugin.name, field: `config.${result.issues[0]?.path?.map(String).join('.') ?? ''}` },
  });
}

function entryOf(dir: string): string | null {
  for (const file of ['mod.ts', 'index.ts', 'mod.js', 'index.js']) if (existsSync(join(dir, file))) return join(dir, file);
  const manifest = join(dir, 'package.json');
  if (existsSync(manifest)) {
    const main = (JSON.parse(readFileSync(manifest, 'utf8')) as { main?: string }).main;
    if (main && existsSync(join(dir, main))) return join(dir, main);
  }
  return null;
}

function failureOf(error: unknown, source: string): PluginFailure {
  const details = error instanceof RuntimeError ? error.details : undefined;
  return {
    source,
    name: (details?.name as string | null | undefined) ?? null,
    field: (details?.field as string | null | undefined) ?? null,
    message: errorMessage(error),
  };
}

/**
 * Loads built-ins, every plugin folder and listed package. A broken plugin becomes a failure entry
 * (name, field, message) and never stops the others. A drop-in plugin for a built-in's role replaces it.
 * @example const { loaded, failures } = await loadPlugins({ builtins, dirs: ['plugins'] });
 */
export async function loadPlugins(options: LoadOptions): Promise<{ loaded: LoadedPlugin[]; failures: PluginFailure[] }> {
  const failures: PluginFailure[] = [];
  const candidates: Array<{ value: unknown; source: string; builtin: boolean }> = options.builtins.map((value) => ({
    value,
    source: `agents/${value.name}`,
    builtin: true,
  }));
  for (const dir of options.dirs ?? []) {
    if (!existsSync(dir)) continue;
    for (const entry of readdirSync(dir).sort()) {
      const folder = resolve(dir, entry);
      if (entry.startsWith('.') || entry.startsWith('_') || !statSync(folder).isDirectory()) continue;
      const file = entryOf(folder);
      if (!file) {
        failures.push({ source: folder, name: null, field: 'entry', message: `plugin folder ${folder} has no mod.ts, index.ts, mod.js, index.js or package.json main` });
        continue;
      }
      try {
        candidates.push({ value: (await import(pathToFileURL(file).href)).default, source: folder, builtin: false });
      } catch (error) {
        failures.push({ source: folder, name: entry, field: 'module', message: `plugin ${entry} failed to import: ${errorMessage(error)}` });
      }
    }
  }
  for (const name of options.packages ?? []) {
    try {
      candidates.push({ value: (await import(name)).default, source: name, builtin: false });
    } catch (error) {
      failures.push({ source: name, name, field: 'package', message: `plugin package ${name} failed to import: ${errorMessage(error)}; is it installed?` });
    }
  }

  const byRole = new Map<string, LoadedPlugin>();
  const names = new Set<string>();
  for (const candidate of candidates) {
    try {
      const plugin = checkPlugin(candidate.value, candidate.source);
      const config = await checkConfig(plugin, options.configs?.[plugin.name], candidate.source);
      const held = byRole.get(plugin.role);
      if (names.has(plugin.name) && !(held?.builtin && held.plugin.name === plugin.name)) {
        throw new RuntimeError(ErrorCode.PluginLoad, `plugin ${plugin.name}: name is taken by another plugin; rename one of them`, {
          details: { source: candidate.source, name: plugin.name, field: 'name' },
        });
      }
      if (held && !held.builtin) {
        throw new RuntimeError(ErrorCode.PluginLoad, `plugin ${plugin.name}: role "${plugin.role}" is already served by plugin ${held.plugin.name} (${held.source}); remove one of them`, {
          details: { source: candidate.source, name: plugin.name, field: 'role' },
        });
      }
      if (held) names.delete(held.plugin.name);
      names.add(plugin.name);
      byRole.set(plugin.role, { plugin, source: candidate.source, builtin: candidate.builtin, config });
    } catch (error) {
      failures.push(failureOf(error, candidate.source));
    }
  }
  return { loaded: [...byRole.values()], failures };
}
