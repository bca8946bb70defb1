import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RuntimeError } from '../../runtime/protocol/mod.ts';
import { defaultRouting, loadRouting, parseRouting, resolveAlias, resolveRoute, watchRouting } from '../../runtime/llm/routing.ts';
import type { Routing } from '../../runtime/llm/routing.ts';
import type { ProviderSpec } from '../../runtime/llm/types.ts';

const KNOWN = ['anthropic', 'openai', 'deepseek', 'ollama'];
const FILE = '/etc/orchestrator/model-routing.json';

const EXAMPLE = {
  $schema: './model-routing.schema.json',
  routes: {
    default: ['anthropic/claude-sonnet-4-5', { model: 'openai/gpt-5', maxTokens: 8000, temperature: 0.2, timeoutMs: 60000 }],
    enhancer: ['anthropic/claude-haiku-4-5'],
    implementer: {
      simple: ['anthropic/claude-haiku-4-5'],
      complex: ['anthropic/claude-opus-4-5', 'anthropic/claude-sonnet-4-5'],
      default: ['anthropic/claude-sonnet-4-5'],
    },
    reviewer: { complex: ['ollama/qwen2.5-coder:7b'] },
  },
  aliases: { fast: ['deepseek/deepseek-chat', 'openai/gpt-5-mini'] },
};

const ids = (list: Array<{ id: string }> | undefined) => list?.map((d) => d.id);

function invalid(value: unknown, ...fragments: Array<string | RegExp>): RuntimeError {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  try {
    parseRouting(text, FILE, KNOWN);
  } catch (error) {
    assert.instance(error, RuntimeError);
    const e = error as RuntimeError;
    assert.is(e.code, 'E_INVALID');
    assert.ok(e.message.startsWith(`${FILE}: `), e.message);
    for (const fragment of fragments) {
      if (typeof fragment === 'string') assert.ok(e.message.includes(fragment), `expected "${fragment}" in: ${e.message}`);
      else assert.match(e.message, fragment);
    }
    return e;
  }
  throw new Error('expected E_INVALID');
}

test('a valid file: ids, params, complexity lists, aliases; $schema ignored; model names may hold / and :', () => {
  const routing = parseRouting(JSON.stringify(EXAMPLE), FILE, KNOWN);
  assert.is(routing.source, FILE);
  assert.equal(routing.routes.default, [
    { id: 'anthropic/claude-sonnet-4-5', provider: 'anthropic', model: 'claude-sonnet-4-5', params: {} },
    { id: 'openai/gpt-5', provider: 'openai', model: 'gpt-5', params: { maxTokens: 8000, temperature: 0.2, timeoutMs: 60000 } },
  ]);
  assert.equal(Object.keys(routing.routes), ['default', 'enhancer', 'implementer', 'reviewer']);
  const implementer = routing.routes.implementer as Record<string, Array<{ id: string }>>;
  assert.equal(ids(implementer.complex), ['anthropic/claude-opus-4-5', 'anthropic/claude-sonnet-4-5']);
  assert.equal(ids(routing.aliases.fast), ['deepseek/deepseek-chat', 'openai/gpt-5-mini']);
  const local = resolveRoute(routing, 'reviewer', 'complex')[0];
  assert.equal([local.provider, local.model, local.id], ['ollama', 'qwen2.5-coder:7b', 'ollama/qwen2.5-coder:7b']);
  const nested = parseRouting('{"routes":{"default":["ollama/library/llama3:8b"]}}', FILE, KNOWN).routes.default as Array<{ provider: string; model: string }>;
  assert.equal([nested[0].provider, nested[0].model], ['ollama', 'library/llama3:8b']);
  assert.equal(parseRouting('{"routes":{}}', FILE, KNOWN).aliases, {});
});

test('bad JSON names the file, the line and the column', () => {
  const e = invalid('{\n  "routes": {\n    "default": ["anthropic/claude-sonnet-4-5",]\n  }\n}', 'not valid JSON at line 3, column', 'fix the syntax');
  assert.match(e.message, /line 3, column 47: Unexpected token/);
  invalid('   ', 'the file is empty', '"routes"');
});

test('an unknown top-level key names it, with a did-you-mean and the allowed keys', () => {
  invalid({ route: { default: ['anthropic/x'] }, routes: {} }, 'route: is not a routing field', "did you mean 'routes'?", 'allowed are routes, aliases, $schema');
  invalid({ aliases: {} }, 'routes: is required');
  invalid(['anthropic/x'], '(root): must be an object with "routes"');
});

test('an empty list names its path and the fix', () => {
  invalid({ routes: { enhancer: [] } }, 'routes.enhancer: must list at least one model', '(got [])');
  invalid({ routes: {}, aliases: { fast: [] } }, 'aliases.fast: must list at least one model');
});

test('an entry without "/" names its path, value and a provider-first fix', () => {
  invalid({ routes: { default: ['anthropic/claude-sonnet-4-5', 'gpt-5'] } }, 'routes.default[1]: must be "provider/model"', 'e.g. "openai/gpt-5"', '(got "gpt-5")');
  invalid({ routes: { default: ['/gpt-5'] } }, 'routes.default[0]: must name a provider and a model');
  invalid({ routes: { default: [42] } }, 'routes.default[0]: must be "provider/model"', '(got 42)');
});

test('an unknown provider names the JSON path, the value, the configured providers and where to add one', () => {
  invalid(
    { routes: { implementer: { complex: ['anthropic/claude-opus-4-5', { model: 'antropic/claude-sonnet-4-5' }] } } },
    "routes.implementer.complex[1].model: provider 'antropic' is not configured (did you mean 'anthropic'?): use one of anthropic, openai, deepseek, ollama, or add it under providers in orchestrator.config.json",
    '(got "antropic/claude-sonnet-4-5")',
  );
  assert.throws(() => parseRouting('{"routes":{"default":["openai/gpt-5"]}}', FILE, []), /no provider is configured: set ANTHROPIC_API_KEY/);
});

test('an unknown model setting and a negative maxTokens are named with the allowed values', () => {
  invalid({ routes: { default: [{ model: 'openai/gpt-5', maxToken: 8000 }] } }, 'routes.default[0].maxToken: is not a model setting', "did you mean 'maxTokens'?", 'allowed are model, maxTokens');
  invalid({ routes: { default: [{ model: 'openai/gpt-5', maxTokens: -5 }] } }, 'routes.default[0].maxTokens: must be a positive number of tokens', '(got -5)');
  invalid({ routes: { default: [{ model: 'openai/gpt-5', temperature: 3 }] } }, 'routes.default[0].temperature: must be from 0 to 2', '(got 3)');
  invalid({ routes: { default: [{ maxTokens: 10 }] } }, 'routes.default[0].model: is required');
});

test('a bad role name and an unknown complexity key are named', () => {
  invalid({ routes: { Implementer: ['anthropic/x'] } }, 'routes.Implementer: is not a role name', 'lowercase letters', '(got "Implementer")');
  invalid({ routes: { implementer: { medium: ['anthropic/x'] } } }, 'routes.implementer.medium: is not a complexity', 'use simple, complex, default');
  invalid({ routes: { implementer: {} } }, 'routes.implementer: must hold at least one of simple, complex, default');
  invalid({ routes: { implementer: 'anthropic/x' } }, 'routes.implementer: must be a list of models');
});

test('several problems are reported together', () => {
  const e = invalid({ routes: { enhancer: [], default: ['gpt-5'] } }, 'routes.enhancer:', 'routes.default[0]:');
  assert.is((e.details!.issues as unknown[]).length, 2);
});

test('resolveRoute: role+complexity, else the role default or list, else routes.default; nothing → error', () => {
  const routing = parseRouting(JSON.stringify(EXAMPLE), FILE, KNOWN);
  assert.equal(ids(resolveRoute(routing, 'implementer', 'complex')), ['anthropic/claude-opus-4-5', 'anthropic/claude-sonnet-4-5']);
  assert.equal(ids(resolveRoute(routing, 'implementer', 'simple')), ['anthropic/claude-haiku-4-5']);
  assert.equal(ids(resolveRoute(routing, 'implementer', 'medium')), ['anthropic/claude-sonnet-4-5']);
  assert.equal(ids(resolveRoute(routing, 'implementer')), ['anthropic/claude-sonnet-4-5']);
  assert.equal(ids(resolveRoute(routing, 'enhancer', 'complex')), ['anthropic/claude-haiku-4-5']);
  assert.equal(ids(resolveRoute(routing, 'reviewer', 'simple')), ['anthropic/claude-sonnet-4-5', 'openai/gpt-5']);
  assert.equal(ids(resolveRoute(routing, 'validator')), ['anthropic/claude-sonnet-4-5', 'openai/gpt-5']);
  assert.equal(ids(resolveRoute(routing, 'constructor')), ['anthropic/claude-sonnet-4-5', 'openai/gpt-5']);
  resolveRoute(routing, 'validator').pop();
  assert.is(resolveRoute(routing, 'validator').length, 2);

  const noDefault = parseRouting('{"routes":{"enhancer":["anthropic/claude-haiku-4-5"]}}', FILE, KNOWN);
  try {
    resolveRoute(noDefault, 'implementer', 'complex');
    assert.unreachable('expected E_INVALID');
  } catch (error) {
    assert.instance(error, RuntimeError);
    assert.is((error as RuntimeError).code, 'E_INVALID');
    assert.match((error as RuntimeError).message, /no model is routed for role 'implementer' \(complexity 'complex'\) in \/etc\/orchestrator\/model-routing\.json/);
    assert.match((error as RuntimeError).message, /add "implementer": \[.*\] or a "default" route under routes/);
  }
});

test('resolveAlias: a known alias gives its list; anything else is undefined', () => {
  const routing = parseRouting(JSON.stringify(EXAMPLE), FILE, KNOWN);
  assert.equal(ids(resolveAlias(routing, 'fast')), ['deepseek/deepseek-chat', 'openai/gpt-5-mini']);
  assert.is(resolveAlias(routing, 'claude-sonnet-4-5'), undefined);
  assert.is(resolveAlias(routing, 'toString'), undefined);
});

function provider(name: string, apiKey?: string, kind: ProviderSpec['kind'] = name === 'anthropic' ? 'anthropic' : 'openai'): ProviderSpec {
  const env = `${name.toUpperCase()}_API_KEY`;
  return { name, kind, baseUrl: `https://${name}.example`, keySource: apiKey ? env : 'none', apiKey };
}

const routeIds = (routing: Routing | null, role: string) => ids(routing ? resolveRoute(routing, role) : undefined);

test('defaultRouting for each single key', () => {
  const anthropic = defaultRouting([provider('anthropic', 'sk-a'), provider('openai'), provider('deepseek')]);
  assert.is(anthropic?.source, 'default routing (ANTHROPIC_API_KEY)');
  assert.equal(routeIds(anthropic, 'default'), ['anthropic/claude-sonnet-5-5']);
  assert.equal(routeIds(anthropic, 'enhancer'), ['anthropic/claude-haiku-5-5']);
  assert.equal(routeIds(anthropic, 'analyst'), ['anthropic/claude-haiku-5-5']);
  assert.equal(routeIds(anthropic, 'implementer'), ['anthropic/claude-sonnet-5-5']);

  const openai = defaultRouting([provider('anthropic'), provider('openai', 'sk-o')]);
  assert.equal(routeIds(openai, 'default'), ['openai/gpt-5.5']);
  assert.equal(routeIds(openai, 'enhancer'), ['openai/gpt-5.4-mini']);

  const deepseek = defaultRouting([provider('deepseek', 'sk-d')]);
  assert.equal(routeIds(deepseek, 'default'), ['deepseek/deepseek-chat']);
  assert.equal(routeIds(deepseek, 'analyst'), ['deepseek/deepseek-chat']);

  const ollama = defaultRouting([provider('anthropic'), { name: 'ollama', kind: 'openai', baseUrl: 'http://127.0.0.1:11434/v1', keySource: 'none' }]);
  assert.equal(routeIds(ollama, 'default'), ['ollama/qwen2.5-coder:7b']);
  assert.is(ollama?.source, 'default routing (ollama)');
});

test('defaultRouting with several keys: anthropic, openai, deepseek, then locals, as fallbacks in every list', () => {
  const routing = defaultRouting([
    { name: 'lmstudio', kind: 'openai', baseUrl: 'http://127.0.0.1:1234/v1', keySource: 'none' },
    provider('deepseek', 'sk-d'),
    provider('openai', 'sk-o'),
    provider('anthropic', 'sk-a'),
  ]);
  assert.equal(routeIds(routing, 'default'), ['anthropic/claude-sonnet-5-5', 'openai/gpt-5.5', 'deepseek/deepseek-chat', 'lmstudio/default']);
  assert.equal(routeIds(routing, 'enhancer'), ['anthropic/claude-haiku-5-5', 'openai/gpt-5.4-mini', 'deepseek/deepseek-chat', 'lmstudio/default']);
  assert.is(routing?.source, 'default routing (ANTHROPIC_API_KEY, OPENAI_API_KEY, DEEPSEEK_API_KEY, lmstudio)');
});

test('defaultRouting with no usable provider is null (the demo runs)', () => {
  assert.is(defaultRouting([]), null);
  assert.is(defaultRouting([provider('anthropic'), provider('openai'), provider('deepseek')]), null);
  assert.is(defaultRouting([{ name: 'demo', kind: 'demo', baseUrl: '', keySource: 'none' }]), null);
});

test('loadRouting reads the file; a missing file is E_NOT_FOUND naming it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'orch-routing-'));
  try {
    const file = join(dir, 'model-routing.json');
    writeFileSync(file, JSON.stringify(EXAMPLE));
    assert.equal(ids(resolveRoute(loadRouting(file, KNOWN), 'enhancer')), ['anthropic/claude-haiku-4-5']);
    assert.throws(() => loadRouting(join(dir, 'nope.json'), KNOWN), (e: RuntimeError) => e.code === 'E_NOT_FOUND' && e.message.includes('nope.json: no such file'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Polls until `check` holds; `ms` is a safety limit (the watcher answers in ~100 ms, slower on a busy machine). */
async function until(check: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the watcher');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('watchRouting: a valid file → onChange, an invalid one → onError only, valid again → onChange', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'orch-routing-'));
  const file = join(dir, 'model-routing.json');
  const changes: Routing[] = [];
  const errors: RuntimeError[] = [];
  const stop = watchRouting(file, KNOWN, { onChange: (r) => changes.push(r), onError: (e) => errors.push(e) });
  try {
    writeFileSync(file, JSON.stringify({ routes: { default: ['anthropic/claude-sonnet-4-5'] } }));
    await until(() => changes.length === 1);
    assert.equal(routeIds(changes[0], 'default'), ['anthropic/claude-sonnet-4-5']);

    // Replaced atomically (write + rename), as editors and deploy tools do.
    writeFileSync(`${file}.tmp`, JSON.stringify({ routes: { default: ['antropic/claude-sonnet-4-5'] } }));
    renameSync(`${file}.tmp`, file);
    await until(() => errors.length >= 1);
    assert.is(errors[0].code, 'E_INVALID');
    assert.match(errors[0].message, /routes\.default\[0\]: provider 'antropic' is not configured/);
    await new Promise((resolve) => setTimeout(resolve, 250));
    assert.is(changes.length, 1);

    writeFileSync(file, JSON.stringify({ routes: { default: ['openai/gpt-5'] } }));
    await until(() => changes.length === 2);
    assert.equal(routeIds(changes[1], 'default'), ['openai/gpt-5']);

    // Saving the same content again (an editor's touch) is not a change.
    writeFileSync(file, JSON.stringify({ routes: { default: ['openai/gpt-5'] } }));
    await new Promise((resolve) => setTimeout(resolve, 250));
    assert.is(changes.length, 2);
  } finally {
    stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
