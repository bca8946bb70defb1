/**
 * Model routing: which models serve a role (and a task's complexity), in fallback order, and which
 * models a proxy client's model name maps to. Read from model-routing.json, or derived from the
 * providers that have keys; reloaded when the file changes. See docs/model-routing.md.
 * @module
 */
import { readFileSync, watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { ErrorCode, RuntimeError, didYouMean, errorMessage, hideSecrets, jsonSyntaxError, showValue, z } from '../protocol/mod.ts';
import type { Deployment, ModelParams, ProviderSpec } from './types.ts';

/** The complexities a role may route by (what the analyst reports), plus a catch-all. */
export const COMPLEXITIES = ['simple', 'complex', 'default'] as const;
export type Complexity = (typeof COMPLEXITIES)[number];

/** A role's models: one list, or lists per complexity. */
export type RouteTarget = Deployment[] | Partial<Record<Complexity, Deployment[]>>;

/** A parsed, validated routing. */
export interface Routing {
  routes: Record<string, RouteTarget>;
  aliases: Record<string, Deployment[]>;
  /** The file it came from, or 'default routing (ANTHROPIC_API_KEY, …)'. */
  source: string;
}

const ROLE = /^[a-z][a-z0-9-]*$/;
const TOP_LEVEL = ['routes', 'aliases', '$schema'];
const PARAM_KEYS = ['model', 'maxTokens', 'temperature', 'topP', 'timeoutMs'];
const EXAMPLE = '"anthropic/claude-sonnet-5-5"';

const EntryObject = z.strictObject({
  model: z.string({ error: `must be a string "provider/model", e.g. ${EXAMPLE}` }),
  maxTokens: z
    .number({ error: 'must be a whole number of tokens, e.g. 8000' })
    .int({ error: 'must be a whole number of tokens, e.g. 8000' })
    .positive({ error: 'must be a positive number of tokens, e.g. 8000' })
    .optional(),
  temperature: z
    .number({ error: 'must be a number from 0 to 2, e.g. 0.2' })
    .min(0, { error: 'must be from 0 to 2, e.g. 0.2' })
    .max(2, { error: 'must be from 0 to 2, e.g. 0.2' })
    .optional(),
  topP: z
    .number({ error: 'must be a number above 0 and at most 1, e.g. 0.9' })
    .gt(0, { error: 'must be above 0 and at most 1, e.g. 0.9' })
    .max(1, { error: 'must be above 0 and at most 1, e.g. 0.9' })
    .optional(),
  timeoutMs: z
    .number({ error: 'must be a whole number of milliseconds, e.g. 60000' })
    .int({ error: 'must be a whole number of milliseconds, e.g. 60000' })
    .positive({ error: 'must be a positive number of milliseconds, e.g. 60000' })
    .optional(),
});

type Path = Array<string | number>;
interface Issue {
  path: Path;
  value: unknown;
  message: string;
}

function pathText(path: Path): string {
  let text = '';
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(key)) text += text ? `.${key}` : key;
    else text += `[${JSON.stringify(key)}]`;
  }
  return text || '(root)';
}


function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The provider a bare model name most likely belongs to, for the fix of an entry without '/'. */
function providerGuess(model: string, known: readonly string[]): string {
  const guess = /^claude/i.test(model) ? 'anthropic' : /^(gpt|o\d|chatgpt)/i.test(model) ? 'openai' : /^deepseek/i.test(model) ? 'deepseek' : undefined;
  return guess && known.includes(guess) ? guess : (known[0] ?? 'anthropic');
}

/** Turns one route entry into a Deployment, or reports why it cannot. */
function entry(value: unknown, path: Path, known: readonly string[], issues: Issue[]): Deployment | undefined {
  let spec: string;
  let params: ModelParams = {};
  let specPath = path;
  if (typeof value === 'string') {
    spec = value;
  } else if (isObject(value)) {
    const result = EntryObject.safeParse(value);
    if (!result.success) {
      for (const issue of result.error.issues) {
        if (issue.code === 'unrecognized_keys') {
          for (const key of issue.keys) {
            // Named, never quoted: an unknown field is where a pasted key ends up.
            issues.push({
              path: [...path, key],
              value: undefined,
              message: `is not a model setting${didYouMean(key, PARAM_KEYS)}: remove it; allowed are ${PARAM_KEYS.join(', ')}`,
            });
          }
        } else {
          const field = issue.path.map((k) => (typeof k === 'symbol' ? String(k) : k));
          const got = field.length ? value[String(field[0])] : value;
          issues.push({ path: [...path, ...field], value: got, message: got === undefined ? `is required; ${issue.message}` : issue.message });
        }
      }
      return undefined;
    }
    const { model, ...rest } = result.data;
    spec = model;
    params = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) as ModelParams;
    specPath = [...path, 'model'];
  } else {
    issues.push({ path, value, message: `must be "provider/model" (e.g. ${EXAMPLE}) or an object { "model": "provider/model", "maxTokens": 8000, ... }` });
    return undefined;
  }
  if (spec !== spec.trim() || spec === '') {
    issues.push({ path: specPath, value: spec, message: `must be "provider/model" without spaces around it, e.g. ${EXAMPLE}` });
    return undefined;
  }
  const slash = spec.indexOf('/');
  if (slash < 0) {
    issues.push({ path: specPath, value: spec, message: `must be "provider/model": put the provider first, e.g. "${providerGuess(spec, known)}/${spec}"` });
    return undefined;
  }
  const provider = spec.slice(0, slash);
  const model = spec.slice(slash + 1);
  if (!provider || !model) {
    issues.push({ path: specPath, value: spec, message: `must name a provider and a model on both sides of the first '/', e.g. ${EXAMPLE}` });
    return undefined;
  }
  if (!known.includes(provider)) {
    const use = known.length ? `use one of ${known.join(', ')}` : 'no provider is configured: set ANTHROPIC_API_KEY, OPENAI_API_KEY or DEEPSEEK_API_KEY';
    issues.push({
      path: specPath,
      value: spec,
      message: `provider '${provider}' is not configured${didYouMean(provider, known)}: ${use}, or add it under providers in orchestrator.config.json`,
    });
    return undefined;
  }
  return { id: `${provider}/${model}`, provider, model, params };
}

function list(value: unknown, path: Path, known: readonly string[], issues: Issue[]): Deployment[] | undefined {
  if (!Array.isArray(value)) {
    issues.push({ path, value, message: `must be a list of models in fallback order, e.g. [${EXAMPLE}]` });
    return undefined;
  }
  if (!value.length) {
    issues.push({ path, value, message: `must list at least one model, e.g. [${EXAMPLE}]; remove the key to use the "default" route instead` });
    return undefined;
  }
  const before = issues.length;
  const out = value.map((item, i) => entry(item, [...path, i], known, issues));
  return issues.length === before ? (out as Deployment[]) : undefined;
}

function target(value: unknown, path: Path, known: readonly string[], issues: Issue[]): RouteTarget | undefined {
  if (Array.isArray(value)) return list(value, path, known, issues);
  if (!isObject(value)) {
    issues.push({ path, value, message: `must be a list of models, e.g. [${EXAMPLE}], or an object of lists by complexity { "simple": [...], "complex": [...], "default": [...] }` });
    return undefined;
  }
  const keys = Object.keys(value);
  if (!keys.length) {
    issues.push({ path, value, message: `must hold at least one of ${COMPLEXITIES.join(', ')}, e.g. { "default": [${EXAMPLE}] }` });
    return undefined;
  }
  const out: Array<[string, Deployment[]]> = [];
  for (const key of keys) {
    if (!(COMPLEXITIES as readonly string[]).includes(key)) {
      issues.push({ path: [...path, key], value: key, message: `is not a complexity${didYouMean(key, COMPLEXITIES)}: use ${COMPLEXITIES.join(', ')}` });
      continue;
    }
    const deployments = list(value[key], [...path, key], known, issues);
    if (deployments) out.push([key, deployments]);
  }
  return Object.fromEntries(out);
}

/**
 * Parses and validates a model-routing.json text. `knownProviders` are the configured provider names.
 * Throws E_INVALID naming the file, each bad JSON path, its value and the fix.
 * @example
 * const routing = parseRouting('{"routes":{"default":["anthropic/claude-sonnet-4-5"]}}', 'model-routing.json', ['anthropic']);
 * routing.routes.default; // [{ id: 'anthropic/claude-sonnet-4-5', provider: 'anthropic', model: 'claude-sonnet-4-5', params: {} }]
 */
export function parseRouting(text: string, file: string, knownProviders: readonly string[]): Routing {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw jsonSyntaxError(text, file, error, `{ "routes": { "default": [${EXAMPLE}] } } (see docs/model-routing.md)`);
  }
  const issues: Issue[] = [];
  const routes: Array<[string, RouteTarget]> = [];
  const aliases: Array<[string, Deployment[]]> = [];
  if (!isObject(json)) {
    issues.push({ path: [], value: json, message: `must be an object with "routes", e.g. { "routes": { "default": [${EXAMPLE}] } }` });
  } else {
    for (const key of Object.keys(json)) {
      if (!TOP_LEVEL.includes(key)) {
        issues.push({ path: [key], value: undefined, message: `is not a routing field${didYouMean(key, TOP_LEVEL)}: remove it; allowed are routes, aliases, $schema` });
      }
    }
    if (!('routes' in json)) {
      issues.push({ path: ['routes'], value: undefined, message: `is required: add "routes": { "default": [${EXAMPLE}] }` });
    } else if (!isObject(json.routes)) {
      issues.push({ path: ['routes'], value: json.routes, message: `must be an object of role → models, e.g. { "default": [${EXAMPLE}] }` });
    } else {
      for (const [role, value] of Object.entries(json.routes)) {
        if (!ROLE.test(role)) {
          issues.push({ path: ['routes', role], value: role, message: `is not a role name: use lowercase letters, digits and '-', starting with a letter (e.g. "implementer"), or "default"` });
          continue;
        }
        const routed = target(value, ['routes', role], knownProviders, issues);
        if (routed) routes.push([role, routed]);
      }
    }
    if (json.aliases !== undefined) {
      if (!isObject(json.aliases)) {
        issues.push({ path: ['aliases'], value: json.aliases, message: `must be an object of model name → models, e.g. { "fast": ["deepseek/deepseek-chat"] }` });
      } else {
        for (const [name, value] of Object.entries(json.aliases)) {
          if (!name.trim()) {
            issues.push({ path: ['aliases', name], value: name, message: 'must be the model name a client asks for, e.g. "fast": remove the empty key' });
            continue;
          }
          const deployments = list(value, ['aliases', name], knownProviders, issues);
          if (deployments) aliases.push([name, deployments]);
        }
      }
    }
  }
  if (issues.length) {
    const text = issues
      .slice(0, 10)
      .map((i) => `${pathText(i.path)}: ${i.message}${i.value === undefined ? '' : ` (got ${showValue(i.value, i.path.at(-1))})`}`)
      .join('; ');
    const more = issues.length > 10 ? `; and ${issues.length - 10} more` : '';
    throw new RuntimeError(ErrorCode.Invalid, `${file}: ${text}${more}`, {
      details: { file, issues: issues.map((i) => ({ path: pathText(i.path), value: hideSecrets(i.value, i.path.at(-1)), message: i.message })) },
    });
  }
  return { routes: Object.fromEntries(routes), aliases: Object.fromEntries(aliases), source: file };
}

/**
 * Why a routing names roles no agent serves, or null: each such key (a misspelled "implementr" would
 * otherwise be accepted and never used, the role falling back to "default"), with a "did you mean" and
 * the roles there are. `served`: the roles of the loaded agents, plugins included.
 * @example unknownRoutedRoles(routing, ['enhancer', 'implementer'])?.message; // 'model-routing.json: routes.implementr is not a role …'
 */
export function unknownRoutedRoles(routing: Routing, served: readonly string[]): RuntimeError | null {
  const roles = [...new Set(served)].sort();
  const unknown = Object.keys(routing.routes).filter((role) => role !== 'default' && !roles.includes(role));
  if (!unknown.length) return null;
  const text = unknown
    .map((role) => `routes.${role} is not a role any agent serves${didYouMean(role, roles)}: the roles are ${roles.join(', ')} and "default"; fix the key or remove it (a plugin's own role counts once the plugin loads)`)
    .join('; ');
  return new RuntimeError(ErrorCode.Invalid, `${routing.source}: ${text}`, { details: { file: routing.source, roles: unknown } });
}

/**
 * Reads and parses a routing file (errors as in parseRouting; a missing file is E_NOT_FOUND).
 * @example const routing = loadRouting('model-routing.json', ['anthropic', 'openai']);
 */
export function loadRouting(file: string, knownProviders: readonly string[]): Routing {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new RuntimeError(ErrorCode.NotFound, `${file}: no such file: create it (see docs/model-routing.md) or remove it from the configuration to use the default routing`, {
        cause: error,
      });
    }
    throw new RuntimeError(ErrorCode.Invalid, `${file}: cannot be read (${errorMessage(error)}): check the path and its permissions`, { cause: error });
  }
  return parseRouting(text, file, knownProviders);
}

/** Per built-in provider: the model for routes.default and for the light roles. */
export { defaultRouting } from './_default-routing.ts';

function pickTarget(value: RouteTarget | undefined, complexity: string | undefined): Deployment[] | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return value;
  const byComplexity = complexity !== undefined && Object.hasOwn(value, complexity) ? value[complexity as Complexity] : undefined;
  return byComplexity ?? value.default;
}

/**
 * The ordered deployments for a role: role+complexity, else the role's default or list, else
 * routes.default. Throws E_INVALID naming the role and the fix when nothing matches.
 * @example
 * resolveRoute(routing, 'implementer', 'complex').map((d) => d.id); // ['anthropic/claude-opus-4-5', 'anthropic/claude-sonnet-4-5']
 */
export function resolveRoute(routing: Routing, role: string, complexity?: string): Deployment[] {
  const own = Object.hasOwn(routing.routes, role) ? pickTarget(routing.routes[role], complexity) : undefined;
  const found = own?.length ? own : Object.hasOwn(routing.routes, 'default') ? pickTarget(routing.routes.default, complexity) : undefined;
  if (found?.length) return [...found];
  const what = complexity === undefined ? `role '${role}'` : `role '${role}' (complexity '${complexity}')`;
  throw new RuntimeError(
    ErrorCode.Invalid,
    `no model is routed for ${what} in ${routing.source}: add "${role}": [${EXAMPLE}] or a "default" route under routes in model-routing.json`,
    { details: { role, complexity, source: routing.source } },
  );
}

/**
 * The deployments a proxy client's model name is an alias for, or undefined.
 * @example resolveAlias(routing, 'fast')?.map((d) => d.id); // ['deepseek/deepseek-chat', 'openai/gpt-5-mini']
 */
export function resolveAlias(routing: Routing, model: string): Deployment[] | undefined {
  return Object.hasOwn(routing.aliases, model) ? [...routing.aliases[model]] : undefined;
}

/**
 * Reloads the routing when its file changes. The directory is watched, so creating or atomically
 * replacing the file is seen; events are debounced (100 ms) and unchanged content is ignored. A valid
 * file → onChange; an invalid one → onError, and the caller keeps the routing it has. Returns stop().
 * @example
 * const stop = watchRouting('model-routing.json', ['anthropic'], { onChange: (r) => (routing = r), onError: (e) => log.warn(e.message) });
 */
export function watchRouting(
  file: string,
  knownProviders: readonly string[],
  handlers: { onChange(routing: Routing): void; onError(error: RuntimeError): void },
): () => void {
  const path = resolve(file);
  const dir = dirname(path);
  const name = basename(path);
  let last: string | null = null;
  try {
    last = readFileSync(path, 'utf8');
  } catch {
    // Not there yet: its creation will be the first change.
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  const reload = (): void => {
    timer = undefined;
    if (stopped) return;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      if (last === null) return;
      last = null;
      const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'was removed' : `cannot be read (${errorMessage(error)})`;
      handlers.onError(new RuntimeError(ErrorCode.NotFound, `${file} ${why}: the previous routing stays in force; restore the file to change it`, { cause: error }));
      return;
    }
    if (text === last) return;
    last = text;
    let routing: Routing;
    try {
      routing = parseRouting(text, file, knownProviders);
    } catch (error) {
      handlers.onError(error instanceof RuntimeError ? error : new RuntimeError(ErrorCode.Invalid, `${file}: ${errorMessage(error)}`, { cause: error }));
      return;
    }
    handlers.onChange(routing);
  };

  let watcher: FSWatcher;
  try {
    watcher = watch(dir, (_event, changed) => {
      if (stopped || (changed != null && changed.toString() !== name)) return;
      if (timer !== undefined) clearTimeout(timer);
      timer = setTimeout(reload, 100);
    });
  } catch (error) {
    throw new RuntimeError(ErrorCode.NotFound, `cannot watch ${dir} for changes to ${name} (${errorMessage(error)}): create the folder or fix the path`, { cause: error });
  }
  watcher.on('error', (error) => {
    handlers.onError(new RuntimeError(ErrorCode.Invalid, `watching ${dir} for ${name} failed (${errorMessage(error)}): restart the server to reload the routing`, { cause: error }));
  });
  return () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
    watcher.close();
  };
}
